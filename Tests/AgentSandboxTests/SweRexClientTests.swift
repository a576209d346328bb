import AgentSandbox
import Foundation
import Sample
import SampleFixtures
import Store
import XCTest

/// The real `swe-rex` package from PyPI, in a uv venv kept between test runs, drives the server
/// with its own `RemoteRuntime` client, unmodified.
final class SweRexClientTests: XCTestCase {
    /// `<base>/rexvenv` with swe-rex installed (made once; uv's cache makes a rebuild quick).
    static func sweRexPython() throws -> String {
        let venv = ValidatedSample.base.appendingPathComponent("rexvenv").path
        let python = venv + "/bin/python"
        // swe-rex's RemoteRuntime imports aiohttp, which the package does not declare (SWE-agent brings it).
        if (try? runProgram(python, ["-c", "import swerex.runtime.remote"])) != nil { return python }
        let search = (ProcessInfo.processInfo.environment["PATH"] ?? "") + ":/root/.pyenv/shims:/usr/local/bin:/usr/bin:\(NSHomeDirectory())/.local/bin"
        guard let uv = search.split(separator: ":").map({ "\($0)/uv" }).first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw XCTSkip("uv is not installed: cannot install swe-rex")
        }
        try? FileManager.default.removeItem(atPath: venv)
        var environment = ProcessInfo.processInfo.environment
        environment["UV_CACHE_DIR"] = ValidatedSample.base.appendingPathComponent("uv-cache").path
        try runProgram(uv, ["venv", "-q", "--python", "3.11", venv], environment: environment)
        try runProgram(uv, ["pip", "install", "-q", "--python", python, "swe-rex", "aiohttp"], environment: environment)
        return python
    }

    func testRemoteRuntimeDrivesASandboxAndSubmits() async throws {
        let python = try Self.sweRexPython()
        let sample = try await ValidatedSample.shared()
        let host = try sample.makeHost()
        let task = try XCTUnwrap(sample.validTask(1))
        let sandbox = try await onThread { try host.open(instanceID: task.instanceID) }
        let server = try await RunningSandboxServer.start(host)
        let scratch = sample.root.appendingPathComponent("swerex-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        let gold = scratch.appendingPathComponent("gold.diff")
        try task.patch.write(to: gold, atomically: true, encoding: .utf8)
        let script = scratch.appendingPathComponent("drive.py")
        try Self.script.write(to: script, atomically: true, encoding: .utf8)

        let output = try await onThread { try runProgram(python, [script.path, "\(server.port)", "test-key", gold.path, scratch.path]) }
        XCTAssertTrue(output.contains("ALL OK"), output)

        // /close removed the sandbox: no folder, no process left.
        XCTAssertNil(host.sandbox(task.instanceID))
        XCTAssertFalse(FileManager.default.fileExists(atPath: sandbox.folder))
        XCTAssertEqual(processes(mentioning: sandbox.folder), [])
        // Both submissions were recorded as SWE-bench prediction lines.
        let lines = try String(contentsOfFile: host.predictionsFile, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 2)
        let first = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: String])
        XCTAssertEqual(first["instance_id"], task.instanceID)
        XCTAssertEqual(first["model_name_or_path"], "swe-rex-test")
        XCTAssertEqual(first["model_patch"].map { PatchFiles.touched($0) }, PatchFiles.touched(task.patch))
        await server.stop()
    }

    static let script = #"""
    import asyncio, json, os, sys, time, urllib.request
    from swerex.runtime.remote import RemoteRuntime
    from swerex.runtime.abstract import (BashAction, BashInterruptAction, CloseBashSessionRequest, Command,
        CreateBashSessionRequest, ReadFileRequest, UploadRequest, WriteFileRequest)
    from swerex.exceptions import (BashIncorrectSyntaxError, CommandTimeoutError, NonZeroExitCodeError,
        SessionDoesNotExistError)

    port, key, gold_path, scratch = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]

    def submit():
        request = urllib.request.Request(f"http://127.0.0.1:{port}/forge/submit", method="POST",
            data=json.dumps({"model_name_or_path": "swe-rex-test"}).encode(),
            headers={"X-API-Key": key, "Content-Type": "application/json"})
        return json.load(urllib.request.urlopen(request, timeout=300))

    async def main():
        rt = RemoteRuntime(host="http://127.0.0.1", port=port, auth_token=key)
        await rt.wait_until_alive(timeout=10)
        assert (await rt.is_alive()).is_alive
        await rt.create_session(CreateBashSessionRequest(session="main"))
        run = lambda command, **kw: rt.run_in_session(BashAction(session="main", command=command, **kw))

        # State persists between actions: cd, exported variables, functions.
        r = await run("cd textkit && export FORGE_STATE=kept && greet() { echo hello-$1; }", check="raise")
        assert r.exit_code == 0, r
        r = await run("pwd; echo $FORGE_STATE; greet you", check="raise")
        assert r.output.split() == ["/tmp/testbed/textkit", "kept", "hello-you"], r
        r = await run("echo partial-line; (exit 7)", check="silent")
        assert (r.output, r.exit_code) == ("partial-line\n", 7), r
        try:
            await run("false")
            raise AssertionError("no NonZeroExitCodeError")
        except NonZeroExitCodeError:
            pass
        try:
            await run("if then fi")
            raise AssertionError("no BashIncorrectSyntaxError")
        except BashIncorrectSyntaxError:
            pass

        # Files, both ways.
        await rt.write_file(WriteFileRequest(path="/tmp/testbed/notes/todo.txt", content="fix it\n"))
        assert (await rt.read_file(ReadFileRequest(path="/tmp/testbed/notes/todo.txt"))).content == "fix it\n"
        r = await run("cat ../notes/todo.txt", check="raise")
        assert r.output == "fix it\n", r
        upload = os.path.join(scratch, "upload.txt")
        open(upload, "w").write("uploaded\n")
        await rt.upload(UploadRequest(source_path=upload, target_path="/tmp/testbed/notes/upload.txt"))
        assert (await rt.read_file(ReadFileRequest(path="notes/upload.txt"))).content == "uploaded\n"
        await run("rm -r /tmp/testbed/notes", check="raise")

        # A timeout interrupts the command; the session goes on where it was.
        started = time.time()
        try:
            await run("sleep 60", timeout=1)
            raise AssertionError("no CommandTimeoutError")
        except CommandTimeoutError:
            pass
        assert time.time() - started < 10, time.time() - started
        try:
            await run("while true; do :; done", timeout=1)
            raise AssertionError("no CommandTimeoutError")
        except CommandTimeoutError:
            pass
        r = await run("pwd; echo $FORGE_STATE", check="raise")
        assert r.output.split() == ["/tmp/testbed/textkit", "kept"], r
        assert (await rt.run_in_session(BashInterruptAction(session="main"))).exit_code == 0

        # The network: this very server listens on the host's loopback; the sandbox cannot reach it.
        r = await run(f"curl -sS -m 5 http://127.0.0.1:{port}/is_alive", check="silent")
        assert r.exit_code != 0, r
        r = await run(f"python -c \"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}/is_alive', timeout=5)\"", check="silent")
        assert r.exit_code != 0 and "URLError" in r.output, r
        alive = urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/is_alive", headers={"X-API-Key": key}), timeout=5)
        assert json.load(alive)["is_alive"] is True

        # One-off commands.
        r = await rt.execute(Command(command="echo out; echo err >&2; exit 3", shell=True))
        assert (r.stdout, r.stderr, r.exit_code) == ("out\n", "err\n", 3), r
        r = await rt.execute(Command(command=["git", "log", "--format=%s"], cwd="/tmp/testbed"))
        assert r.exit_code == 0 and r.stdout.strip(), r

        try:
            await rt.run_in_session(BashAction(session="nope", command="true"))
            raise AssertionError("no SessionDoesNotExistError")
        except SessionDoesNotExistError:
            pass

        # The gold patch, applied by the agent, resolves the task; undone, nothing is left to score.
        await rt.write_file(WriteFileRequest(path="/tmp/testbed/gold.diff", content=open(gold_path).read()))
        await run("cd /tmp/testbed && git apply gold.diff && rm gold.diff", check="raise")
        verdict = submit()
        assert verdict["resolved"] is True and verdict["reward"] == 1 and verdict["status"] == "resolved", verdict
        assert verdict["f2p_passed"] == verdict["f2p_total"] > 0, verdict
        await run("git checkout -q -- . && git clean -fdq", check="raise")
        verdict = submit()
        assert verdict["resolved"] is False and verdict["reward"] == 0 and verdict["model_patch"] == "", verdict

        await rt.close_session(CloseBashSessionRequest(session="main"))
        await rt.close()
        print("ALL OK")

    asyncio.run(main())
    """#
}

/// Lists every process whose command line mentions `text`.
func processes(mentioning text: String) -> [Int32] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return names.compactMap(Int32.init).filter { pid in
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
        return String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self).contains(text)
    }
}

/// Files a diff touches, for comparing patches made by different tools.
enum PatchFiles {
    static func touched(_ patch: String) -> [String] {
        patch.split(separator: "\n").filter { $0.hasPrefix("diff --git ") }.map { String($0) }.sorted()
    }
}
