import Foundation
import Workers
import Sandbox
import Git
import Mining
import Store
import Validation
import XCTest

/// How a batch behaves around the tasks: hanging tests, interruption and resume, the network.
final class BatchBehaviourTests: XCTestCase {
    /// A test that loops forever before the fix is killed at the recipe's timeout (5 s, from the
    /// repository override in the recipes copy), recorded as such, and the next task still runs.
    func testHangingTestIsKilledAtTheTimeoutAndTheBatchContinues() throws {
        let git = try FixtureRepo("hang")
        try git.commit("Initial import", [
            "pyproject.toml": PythonFixture.pyproject,
            "calc/__init__.py": PythonFixture.initModule,
            "calc/count.py": """
            def steps_to_zero(n, step=2):
                \"\"\"How many steps of `step` bring n down to zero or below.\"\"\"
                steps = 0
                while n != 0:
                    n -= step
                    steps += 1
                return steps


            def is_even(n):
                return n % 2 == 1

            """,
            "tests/test_count.py": """
            from calc.count import steps_to_zero, is_even


            def test_even_start():
                assert steps_to_zero(4) == 2

            """,
        ])
        let fixedLoop = """
            def steps_to_zero(n, step=2):
                \"\"\"How many steps of `step` bring n down to zero or below.\"\"\"
                steps = 0
                while n > 0:
                    n -= step
                    steps += 1
                return steps

            """
        try git.mergePullRequest(1, branch: "odd-start", [
            ("Stop at zero or below", [
                "calc/count.py": fixedLoop + "\n\ndef is_even(n):\n    return n % 2 == 1\n",
                "tests/test_count.py": "from calc.count import steps_to_zero, is_even\n\n\ndef test_even_start():\n    assert steps_to_zero(4) == 2\n\n\ndef test_odd_start():\n    assert steps_to_zero(3) == 2\n",
            ]),
        ])
        try git.mergePullRequest(2, branch: "is-even", [
            ("Fix is_even", [
                "calc/count.py": fixedLoop + "\n\ndef is_even(n):\n    return n % 2 == 0\n",
                "tests/test_count.py": "from calc.count import steps_to_zero, is_even\n\n\ndef test_even_start():\n    assert steps_to_zero(4) == 2\n\n\ndef test_odd_start():\n    assert steps_to_zero(3) == 2\n\n\ndef test_is_even():\n    assert is_even(4)\n",
            ]),
        ])
        let tasks = try Miner(repository: try Repository.open(git.path), repo: Harness.hangRepo).mine().tasks
            .sorted { ($0.pullNumber ?? 0) < ($1.pullNumber ?? 0) }
        XCTAssertEqual(tasks.compactMap(\.pullNumber), [1, 2])

        let store = try Harness.store()
        try store.save(tasks: tasks)
        let summary = try BatchValidation.run(tasks: tasks, validator: try Harness.validator(git, reruns: 0), store: store)
        XCTAssertEqual(summary.tried, 2)
        XCTAssertEqual(summary.byReason[.timeout], 1)

        let hung = try XCTUnwrap(try store.verdict(instanceID: tasks[0].instanceID, kind: .validation))
        XCTAssertEqual(hung.status, "invalid")
        XCTAssertEqual(hung.reason, "timeout: before run 0 hit \(Int(Harness.shortTimeout)) s")
        let runs = try store.runs(instanceID: tasks[0].instanceID)
        XCTAssertEqual(runs.count, 1, "the first timeout ends the task")
        let run = try XCTUnwrap(runs.first)
        XCTAssertTrue(run.timedOut)
        XCTAssertNil(run.exitStatus, "killed, so no exit status")
        XCTAssertGreaterThanOrEqual(run.wallSeconds, Harness.shortTimeout - 0.5)
        XCTAssertLessThan(run.wallSeconds, Harness.shortTimeout + 10, "killed promptly after the timeout")
        // Nothing of the killed run is left running.
        let runFolder = try XCTUnwrap(run.logPath.map { ($0 as NSString).deletingLastPathComponent })
        XCTAssertEqual(processes(mentioning: runFolder), [], "processes of the killed run survive")

        let next = try XCTUnwrap(try store.verdict(instanceID: tasks[1].instanceID, kind: .validation))
        XCTAssertEqual(next.status, "valid", next.reason ?? "")
        XCTAssertEqual(next.failToPass, ["tests/test_count.py::test_is_even"])
        XCTAssertEqual(next.passToPass, ["tests/test_count.py::test_even_start", "tests/test_count.py::test_odd_start"])
    }

    /// A batch stopped after its first task resumes with the second, leaving the first's runs alone.
    func testInterruptedBatchResumesWithoutRedoingFinishedTasks() throws {
        let fixture = try PythonValidationTests.validatedCalc().fixture
        let tasks = [fixture.tasks[1]!, fixture.tasks[2]!]
        let store = try Harness.store()
        try store.save(tasks: tasks)
        let validator = try Harness.validator(fixture.repository, reruns: 0)

        let stop = StopFlag()
        let first = try BatchValidation.run(tasks: tasks, validator: validator, store: store, stop: stop) { done, _ in
            if done == 1 { stop.stop() } // what Ctrl-C does
        }
        XCTAssertTrue(first.interrupted)
        XCTAssertEqual(first.tried, 1)
        XCTAssertTrue(first.table.contains("interrupted"), first.table)
        XCTAssertEqual(try store.finishedInstanceIDs(kind: .validation), [tasks[0].instanceID])
        XCTAssertNil(try store.verdict(instanceID: tasks[1].instanceID, kind: .validation))
        let runsBefore = try store.runs(instanceID: tasks[0].instanceID)
        XCTAssertEqual(runsBefore.count, 2)
        let verdictBefore = try XCTUnwrap(try store.verdict(instanceID: tasks[0].instanceID, kind: .validation))
        let logDates = try runsBefore.map { try modificationDate($0.logPath!) }

        let second = try BatchValidation.run(tasks: tasks, validator: validator, store: store)
        XCTAssertFalse(second.interrupted)
        XCTAssertEqual(second.alreadyFinished, 1)
        XCTAssertEqual(second.tried, 1)
        XCTAssertEqual(Set(try store.runs(instanceID: tasks[0].instanceID).map(\.id)), Set(runsBefore.map(\.id)),
                       "the finished task's runs were redone")
        XCTAssertEqual(try store.verdict(instanceID: tasks[0].instanceID, kind: .validation), verdictBefore)
        XCTAssertEqual(try runsBefore.map { try modificationDate($0.logPath!) }, logDates, "its logs were rewritten")
        XCTAssertEqual(try store.verdict(instanceID: tasks[1].instanceID, kind: .validation)?.reason, "no FAIL_TO_PASS")
        XCTAssertEqual(try store.runs(instanceID: tasks[1].instanceID).count, 2)

        // A third run has nothing left to do; --force would redo both.
        let third = try BatchValidation.run(tasks: tasks, validator: validator, store: store)
        XCTAssertEqual(third.tried, 0)
        XCTAssertEqual(third.alreadyFinished, 2)
    }

    /// A test connecting to a server the test process runs on the host's 127.0.0.1 fails in the
    /// sandbox (its own network namespace) and passes without it: the control shows the test
    /// really depends on that connection.
    func testNetworkIsUnreachableInsideTheSandbox() throws {
        let server = try GreetingServer()
        defer { server.stop() }
        let git = try FixtureRepo("net")
        let base = try git.commit("Initial import", [
            "pyproject.toml": PythonFixture.pyproject,
            "calc/__init__.py": PythonFixture.initModule,
            "calc/net.py": """
            import socket


            def greeting(host, port, timeout=5.0):
                \"\"\"The first line a server sends.\"\"\"
                raise NotImplementedError

            """,
            "tests/test_net.py": """
            from calc import net


            def test_module_imports():
                assert callable(net.greeting)

            """,
        ])
        let head = try git.commit("Read the server's greeting", [
            "calc/net.py": """
            import socket


            def greeting(host, port, timeout=5.0):
                \"\"\"The first line a server sends.\"\"\"
                with socket.create_connection((host, port), timeout=timeout) as connection:
                    return connection.makefile().readline().strip()

            """,
            "tests/test_net.py": """
            from calc import net


            def test_module_imports():
                assert callable(net.greeting)


            def test_greeting():
                assert net.greeting("127.0.0.1", \(server.port)) == "hello from the host"

            """,
        ])
        let task = try git.task("forge-tests__net-1", repo: "forge-tests/net", base: base, head: head,
                                code: ["calc"], tests: ["tests"])

        let sandboxed = try Harness.validator(git, reruns: 0).validate(task)
        XCTAssertEqual(sandboxed.verdict.status, "invalid")
        XCTAssertEqual(sandboxed.verdict.reason, "no FAIL_TO_PASS")
        XCTAssertEqual(sandboxed.verdict.passToPass, ["tests/test_net.py::test_module_imports"])
        let after = try XCTUnwrap(sandboxed.runs.first { $0.phase == .after })
        XCTAssertEqual(after.results["tests/test_net.py::test_greeting"], "failed")
        let afterLog = log(of: after)
        XCTAssertTrue(afterLog.contains("ConnectionRefusedError") || afterLog.contains("Network is unreachable"), afterLog)
        XCTAssertEqual(server.connections, 0, "a sandboxed test reached the host")

        let unsandboxed = try Harness.validator(git, reruns: 0, sandbox: false).validate(task)
        XCTAssertEqual(unsandboxed.verdict.status, "valid", unsandboxed.verdict.reason ?? "")
        XCTAssertEqual(unsandboxed.verdict.failToPass, ["tests/test_net.py::test_greeting"])
        XCTAssertEqual(server.connections, 1, "the after run outside the sandbox connects once")
    }

    private func modificationDate(_ path: String) throws -> Date {
        try XCTUnwrap(try FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date)
    }

    /// Pids of live processes whose command line mentions `text`.
    private func processes(mentioning text: String) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).filter { pid in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            return String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self).contains(text)
        }.sorted()
    }
}
