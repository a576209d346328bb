import AgentSandbox
import Foundation
import Sample
import SampleFixtures
import Store
import XCTest

/// Two sandboxes of two tasks served at once by one server, checked from inside (actions) and
/// from outside (the host's files and processes), plus the protocol's answers to bad requests.
final class IsolationTests: XCTestCase {
    func testActionsStayInTheirWorkspaceWithoutNetworkOrLaterHistory() async throws {
        let sample = try await ValidatedSample.shared()
        let host = try sample.makeHost()
        let (one, two) = (try XCTUnwrap(sample.validTask(1)), try XCTUnwrap(sample.validTask(2)))
        let first = try await onThread { try host.open(instanceID: one.instanceID) }
        let second = try await onThread { try host.open(instanceID: two.instanceID) }
        let server = try await RunningSandboxServer.start(host)
        let a = LoopbackClient(base: "http://127.0.0.1:\(server.port)/sandboxes/\(one.instanceID)", apiKey: "test-key", timeout: 120)
        let b = LoopbackClient(base: "http://127.0.0.1:\(server.port)/sandboxes/\(two.instanceID)", apiKey: "test-key", timeout: 120)
        for client in [a, b] {
            let created = try await client.post("/create_session", [:])
            XCTAssertEqual(created.status, 200)
        }

        // Writes land in the workspace only; a writable host folder outside it stays untouched.
        let outside = "/var/tmp/forge-sandbox-outside-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: outside) }
        let write = try await a.run("echo x > \(outside)/escaped; echo y > /tmp/testbed/inside.txt; echo $?")
        // /var/tmp is hidden (an empty read-only tmpfs), so the folder is not even there.
        let refused = "\(write.json["output"] ?? "")"
        XCTAssertTrue(refused.contains("Read-only file system") || refused.contains("No such file or directory"), "\(write.json)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: outside + "/escaped"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: first.folder + "/testbed/inside.txt"))
        for path in ["/usr/forge-escape", sample.clone + "/escape"] {
            let answer = try await a.run("touch \(path)")
            XCTAssertNotEqual(answer.json["exit_code"] as? Int, 0, path)
        }

        // The other task's workspace, the clone with the later history, and the store are invisible.
        for path in [second.folder + "/testbed", second.folder, sample.clone, sample.root.path + "/forge.db"] {
            let answer = try await a.run("ls \(path)")
            XCTAssertNotEqual(answer.json["exit_code"] as? Int, 0, "\(path) is visible: \(answer.json)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: second.folder + "/testbed/inside.txt"))
        let theirs = try await b.run("ls /tmp/testbed/inside.txt")
        XCTAssertNotEqual(theirs.json["exit_code"] as? Int, 0)

        // No network: a server on the host's loopback (this one) is unreachable from inside.
        let network = try await a.run("curl -sS -m 5 http://127.0.0.1:\(server.port)/is_alive")
        XCTAssertNotEqual(network.json["exit_code"] as? Int, 0, "\(network.json)")
        let answer1 = try await a.get("/is_alive")
        XCTAssertEqual(answer1.status, 200) // reachable from outside

        // git log --all shows base_commit and its ancestors, nothing later, and later objects are absent.
        let log = try await a.run("git log --all --format=%H")
        let inside = Set("\(log.json["output"] ?? "")".split(separator: "\n").map(String.init))
        let ancestry = Set(try sample.git(["rev-list", one.baseCommit]).split(separator: "\n").map(String.init))
        XCTAssertEqual(inside, ancestry)
        let later = Set(try sample.git(["rev-list", "--all"]).split(separator: "\n").map(String.init)).subtracting(ancestry)
        XCTAssertFalse(later.isEmpty, "the sample should have commits after the base")
        for commit in later.prefix(5) {
            let answer = try await a.run("git cat-file -e \(commit)")
            XCTAssertNotEqual(answer.json["exit_code"] as? Int, 0, "later commit \(commit) is in the workspace")
        }
        let refs = try await a.run("git for-each-ref --format='%(refname)'; git remote")
        XCTAssertEqual("\(refs.json["output"] ?? "")", "refs/heads/main\n")

        // Closing one sandbox removes its files and processes and leaves the other running.
        let answer2 = try await a.post("/close", [:])
        XCTAssertEqual(answer2.status, 200)
        XCTAssertFalse(FileManager.default.fileExists(atPath: first.folder))
        XCTAssertEqual(processes(mentioning: first.folder), [])
        let answer3 = try await b.run("echo still here")
        XCTAssertEqual(answer3.json["output"] as? String, "still here\n")
        await server.stop()
        XCTAssertFalse(FileManager.default.fileExists(atPath: second.folder))
        XCTAssertEqual(processes(mentioning: second.folder), [])
    }

    func testBadInputIsAnsweredInTheProtocolsFormat() async throws {
        let sample = try await ValidatedSample.shared()
        let host = try sample.makeHost()
        let task = try XCTUnwrap(sample.validTask(2))
        _ = try await onThread { try host.open(instanceID: task.instanceID) }
        let server = try await RunningSandboxServer.start(host)
        let client = LoopbackClient(base: "http://127.0.0.1:\(server.port)", apiKey: "test-key", timeout: 120)
        let answer4 = try await client.post("/create_session", ["session": "s"])
        XCTAssertEqual(answer4.status, 200, "\(answer4.json)")

        let unknown = try await client.run("true", session: "missing")
        XCTAssertEqual(unknown.status, 511)
        XCTAssertEqual(unknown.classPath, "swerex.exceptions.SessionDoesNotExistError")
        XCTAssertTrue(unknown.message.contains("'missing'"), unknown.message)
        let twice = try await client.post("/create_session", ["session": "s"])
        XCTAssertEqual(twice.classPath, "swerex.exceptions.SessionExistsError")

        let malformed = try await client.post("/run_in_session", body: Data("{not json".utf8))
        XCTAssertEqual(malformed.status, 422)
        XCTAssertEqual(((malformed.json["detail"] as? [[String: Any]])?.first?["type"] as? String), "json_invalid")
        let wrongType = try await client.post("/run_in_session", ["command": 5, "session": "s"])
        XCTAssertEqual(wrongType.status, 422)
        XCTAssertEqual(((wrongType.json["detail"] as? [[String: Any]])?.first?["loc"] as? [String]), ["body", "command"])

        let wrongKey = try await client.post("/run_in_session", body: Data(#"{"command": "true", "session": "s"}"#.utf8), key: "nope")
        XCTAssertEqual(wrongKey.status, 401)
        XCTAssertEqual(wrongKey.json["detail"] as? String, "Invalid API Key")
        let noKey = try await client.post("/run_in_session", body: Data(#"{"command": "true", "session": "s"}"#.utf8), key: .some(nil))
        XCTAssertEqual(noKey.status, 403)

        // Paths that leave the workspace: absolute, through .., and through a link made inside.
        let answer5 = try await client.run("ln -s /etc/passwd /tmp/testbed/link && mkdir -p /tmp/testbed/d && ln -s /etc /tmp/testbed/d/up", session: "s")
        XCTAssertEqual(answer5.status, 200)
        for path in ["/etc/passwd", "/tmp/testbed/../etc/passwd", "../etc/hostname", "/tmp/testbed/link", "d/up/hostname"] {
            let read = try await client.post("/read_file", ["path": path])
            XCTAssertEqual(read.status, 511, path)
            XCTAssertEqual(read.classPath, "builtins.PermissionError", "\(path): \(read.json)")
        }
        let write = try await client.post("/write_file", ["path": "/tmp/testbed/d/up/evil", "content": "x"])
        XCTAssertEqual(write.classPath, "builtins.PermissionError")
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/etc/evil"))
        let answer6 = try await client.post("/read_file", ["path": "/tmp/testbed/none.txt"])
        XCTAssertEqual(answer6.classPath, "builtins.FileNotFoundError")
        let answer7 = try await client.post("/run_in_session", ["session": "s", "command": "x", "check": "maybe"])
        XCTAssertEqual(answer7.status, 422)
        let answer8 = try await LoopbackClient(base: "http://127.0.0.1:\(server.port)/sandboxes/nobody", apiKey: "test-key", timeout: 120).get("/is_alive")
        XCTAssertEqual(answer8.status, 404)

        // Output is capped; the session and the server keep working after all of the above.
        let flood = try await client.run("head -c 300000 /dev/zero | tr '\\0' a; echo", session: "s")
        let output = try XCTUnwrap(flood.json["output"] as? String)
        XCTAssertLessThan(output.utf8.count, 70 << 10)
        XCTAssertTrue(output.contains("output truncated"), String(output.suffix(200)))
        let answer9 = try await client.run("echo fine", session: "s")
        XCTAssertEqual(answer9.json["output"] as? String, "fine\n")
        let answer10 = try await client.get("/is_alive")
        XCTAssertEqual(answer10.json["is_alive"] as? Bool, true)
        await server.stop()
    }

    func testIdleSandboxesAndCrashLeftoversAreRemoved() async throws {
        let sample = try await ValidatedSample.shared()
        let host = try sample.makeHost()
        let task = try XCTUnwrap(sample.validTask(1))
        // A folder of a process that no longer runs (a crashed server) goes when the next host starts.
        let stale = host.root + "/999999999-\(task.instanceID)"
        try FileManager.default.createDirectory(atPath: stale + "/testbed", withIntermediateDirectories: true)
        _ = try SandboxHost(root: host.root, store: sample.store, clones: [SampleRepository.repoName: sample.clone],
                            environments: sample.builder, evaluationsDirectory: sample.root.appendingPathComponent("evals-stale").path)
        XCTAssertFalse(FileManager.default.fileExists(atPath: stale))

        let sandbox = try await onThread { try host.open(instanceID: task.instanceID) }
        let server = try await RunningSandboxServer.start(host, idleTimeout: 1)
        let client = LoopbackClient(base: "http://127.0.0.1:\(server.port)", apiKey: "test-key", timeout: 120)
        let answer11 = try await client.post("/create_session", [:])
        XCTAssertEqual(answer11.status, 200)
        // A session left with a background job, then the agent goes away.
        let answer12 = try await client.run("sleep 300 &")
        XCTAssertEqual(answer12.status, 200)
        let deadline = Date().addingTimeInterval(10)
        while host.sandbox(task.instanceID) != nil && Date() < deadline { try await Task.sleep(for: .milliseconds(100)) }
        XCTAssertNil(host.sandbox(task.instanceID))
        XCTAssertFalse(FileManager.default.fileExists(atPath: sandbox.folder))
        XCTAssertEqual(processes(mentioning: sandbox.folder), [])
        await server.stop()
    }
}
