import AgentSandbox
import Environments
import Evaluation
import Foundation
import Sample
import SampleFixtures
import Sandbox
import Serving
import Store
import XCTest
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Files that sandboxed code leaves behind are data, never paths to follow: a model patch that
/// turns its run's `test.log` and `junit.xml` into links to host files, and an agent that plants
/// links in its workspace (or swaps a folder and a link while Forge reads and writes there),
/// must never get a host file served, parsed, read or written.
final class FileServingAttackTests: XCTestCase {
    /// A patch whose code, imported by the tests, replaces the run folder's files (the sandbox's
    /// `$HOME`) with links to `targets` when the interpreter exits, after pytest wrote them; an
    /// empty target plants a FIFO instead (which blocks whoever opens it to read).
    private static func linkingHook(_ targets: [String: String]) -> String {
        let pairs = targets.map { "(\(pythonLiteral($0.key)), \(pythonLiteral($0.value)))" }.joined(separator: ", ")
        return """

        import atexit as _forge_atexit, os as _forge_os
        def _forge_plant():
            for _name, _target in [\(pairs)]:
                _path = _forge_os.path.join(_forge_os.environ.get("HOME", "."), _name)
                try:
                    _forge_os.remove(_path)
                except OSError:
                    pass
                if _target:
                    _forge_os.symlink(_target, _path)
                else:
                    _forge_os.mkfifo(_path)
        _forge_atexit.register(_forge_plant)

        """
    }

    func testLogsOfARunAreNeverServedThroughLinksItPlanted() async throws {
        let sample = try await ValidatedSample.shared()
        let bait = try Bait(in: ValidatedSample.base.appendingPathComponent("bait-logs").path)
        let task = sample.task(1)
        let file = try XCTUnwrap(PatchText.touchedPaths(task.patch).first)
        let patch = try sample.makePatch(task, first: task.patch) {
            try append(Self.linkingHook(["test.log": bait.path, "junit.xml": bait.path]), to: file, under: $0)
        }
        let server = try await AttackServer.start(sample)
        let client = LoopbackClient(base: server.base, model: "attacker", timeout: 240)
        let scored = try await client.score(task.instanceID, patch)
        XCTAssertEqual(scored.status, 200, scored.text)
        let folder = "/logs/\(try XCTUnwrap(scored.json["patch_key"] as? String).prefixed("patch-"))/\(task.instanceID)"
        for url in ["\(folder)/test.log", "\(folder)/junit.xml", try XCTUnwrap(scored.json["log_url"] as? String)] {
            let answer = try await client.get(url)
            XCTAssertFalse(answer.text.contains(bait.content.trimmingCharacters(in: .newlines)), "\(url) served the host file \(bait.path)")
            // The links were not kept: no log, so log_url points at the report.
            if !url.hasSuffix("/report.json") { XCTAssertEqual(answer.status, 404, "\(url): \(answer.text.prefix(200))") }
        }
        bait.assertUntouched()
        await server.stop()
    }

    /// A link from `junit.xml` to a host file that says every test passed must not be parsed:
    /// the run's own log decides, and a patch that fixes nothing scores 0.
    func testJUnitLinkedToAHostFileIsNotParsed() async throws {
        let sample = try await ValidatedSample.shared()
        let task = sample.task(1)
        let forged = ValidatedSample.base.appendingPathComponent("bait-junit/all-passed-\(UUID().uuidString.prefix(8)).xml").path
        try FileManager.default.createDirectory(atPath: (forged as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Self.allPassed(task.failToPass + task.passToPass).write(toFile: forged, atomically: true, encoding: .utf8)
        let file = try XCTUnwrap(PatchText.touchedPaths(task.patch).first)
        let patch = try sample.makePatch(task) { try append(Self.linkingHook(["junit.xml": forged]), to: file, under: $0) }
        let server = try await AttackServer.start(sample)
        let scored = try await LoopbackClient(base: server.base, model: "attacker", timeout: 240).score(task.instanceID, patch)
        XCTAssertEqual(scored.status, 200, scored.text)
        XCTAssertEqual(scored.json["status"] as? String, "unresolved", scored.text)
        XCTAssertEqual(scored.json["reward"] as? Double, 0, scored.text)
        await server.stop()
    }

    /// A sandboxed command that leaves a link where its log was (a helper's scratch folder is
    /// reused between runs) must not make the next command's log write through it.
    func testALogLinkLeftBySandboxedCodeIsNotWrittenThrough() throws {
        let folder = ValidatedSample.base.appendingPathComponent("log-link-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let bait = try Bait(in: ValidatedSample.base.appendingPathComponent("bait-log-link").path)
        let sandbox = try Sandbox(policy: .bubblewrap(workDirectory: folder))
        let log = folder + "/helper.log"
        let plant = try sandbox.run(Command("/bin/sh", ["-c", "rm -f \(log) && ln -s \(bait.path) \(log)"], logPath: log,
                                            environment: ["PATH": "/usr/bin:/bin"], workingDirectory: folder))
        XCTAssertTrue(plant.succeeded, plant.logTail())
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: log), bait.path)
        XCTAssertThrowsError(try sandbox.run(Command("/bin/echo", ["overwritten"], logPath: log, workingDirectory: folder)))
        bait.assertUntouched()
    }

    /// FIFOs in place of the log and the JUnit XML are neither read (a reader would block) nor served.
    func testFIFOsLeftInTheRunFolderAreNeitherReadNorServed() async throws {
        let sample = try await ValidatedSample.shared()
        let task = sample.task(1)
        let file = try XCTUnwrap(PatchText.touchedPaths(task.patch).first)
        let patch = try sample.makePatch(task, first: task.patch) {
            try append(Self.linkingHook(["test.log": "", "junit.xml": ""]), to: file, under: $0)
        }
        let server = try await AttackServer.start(sample)
        var client = LoopbackClient(base: server.base, model: "attacker", timeout: 240)
        client.timeout = 60
        let scored = try await client.score(task.instanceID, patch)
        XCTAssertEqual(scored.status, 200, scored.text)
        XCTAssertEqual(scored.json["reward"] as? Double, 0, "no results were read, so nothing passed: \(scored.text)")
        // Nor kept to be served.
        client.timeout = 10
        let folder = "/logs/\(try XCTUnwrap(scored.json["patch_key"] as? String).prefixed("patch-"))/\(task.instanceID)"
        for url in ["\(folder)/test.log", "\(folder)/junit.xml"] {
            let answer = try await client.get(url)
            XCTAssertEqual(answer.status, 404, url)
        }
        await server.stop()
    }

    /// pytest's xunit1 JUnit XML in which every test id passed.
    private static func allPassed(_ ids: [String]) -> String {
        let cases = ids.map { id -> String in
            let parts = id.components(separatedBy: "::")
            let file = parts[0], module = String(file.dropLast(3)).replacingOccurrences(of: "/", with: ".")
            let classname = ([module] + parts.dropFirst().dropLast()).joined(separator: ".")
            return #"<testcase classname="\#(classname)" name="\#(parts.last!)" file="\#(file)" time="0.001"/>"#
        }
        return #"<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" tests="\#(ids.count)">"#
            + cases.joined() + "</testsuite></testsuites>\n"
    }

    /// Links the agent plants in its workspace, and a folder swapped with a link while
    /// `read_file`/`write_file` run, never reach a host file.
    func testAgentSandboxFilesNeverFollowLinksOutOfTheWorkspace() async throws {
        let sample = try await ValidatedSample.shared()
        let baitFolder = "/var/tmp/forge-adversarial-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: baitFolder) }
        let bait = try Bait(in: baitFolder, name: "target.txt")
        let secret = bait.content.trimmingCharacters(in: .newlines)
        let host = try sample.makeHost()
        let task = sample.task(1)
        _ = try await onThread { try host.open(instanceID: task.instanceID) }
        let server = try await AttackSandboxServer.start(host)
        let client = LoopbackClient(base: "http://127.0.0.1:\(server.port)", apiKey: "attack-key", timeout: 120)
        let created = try await client.post("/create_session", [:])
        XCTAssertEqual(created.status, 200, "\(created.json)")

        // Planted links: to the bait's folder, to the bait itself, and an absolute one.
        let planted = try await client.run("ln -s \(baitFolder) out && ln -s \(bait.path) file.txt && mkdir -p sub && ln -s ../out sub/up && echo planted")
        XCTAssertEqual(planted.json["output"] as? String, "planted\n", "\(planted.json)")
        for path in ["out/target.txt", "file.txt", "sub/up/target.txt", "/tmp/testbed/out/target.txt"] {
            let read = try await client.post("/read_file", ["path": path])
            XCTAssertNotEqual(read.status, 200, path)
            XCTAssertFalse("\(read.json)".contains(secret), "read_file \(path) read \(bait.path)")
            let write = try await client.post("/write_file", ["path": path, "content": "written by the agent\n"])
            XCTAssertNotEqual(write.status, 200, path)
        }
        bait.assertUntouched()

        // The race: `x` flips between a folder holding target.txt and a link to the bait's folder.
        let swapper = """
        import os, shutil, time
        open("d/target.txt", "w").write("decoy\\n") if os.path.isdir("d") else None
        end = time.time() + 90
        while time.time() < end:
            for a, b in (("d", "x"), ("x", "d"), ("l", "x"), ("x", "l")):
                try:
                    os.rename(a, b)
                except OSError:
                    if os.path.isdir("x") and not os.path.islink("x") and os.path.isdir("d"):
                        shutil.rmtree("x", ignore_errors=True)
        """
        let started = try await client.run("mkdir -p d && ln -s \(baitFolder) l && printf '%s' \(shellQuote(swapper)) > /tmp/swap.py "
            + "&& (nohup python3 /tmp/swap.py >/dev/null 2>&1 &) && echo racing")
        XCTAssertEqual(started.json["output"] as? String, "racing\n", "\(started.json)")
        var reads = 0, decoys = 0, refusals = 0
        try await withThrowingTaskGroup(of: (Bool, Bool, Bool).self) { group in
            for worker in 0..<4 {
                group.addTask {
                    var leaked = false, decoy = false, refused = false
                    for round in 0..<150 {
                        if (round + worker) % 2 == 0 {
                            let read = try await client.post("/read_file", ["path": "x/target.txt"])
                            leaked = leaked || "\(read.json)".contains(secret)
                            decoy = decoy || (read.json["content"] as? String) == "decoy\n"
                            refused = refused || "\(read.json)".contains("PermissionError")
                        } else {
                            _ = try await client.post("/write_file", ["path": "x/target.txt", "content": "decoy\n"])
                        }
                    }
                    return (leaked, decoy, refused)
                }
            }
            for try await (leaked, decoy, refused) in group {
                reads += 1
                XCTAssertFalse(leaked, "read_file read the host file through the swapped link")
                if decoy { decoys += 1 }
                if refused { refusals += 1 }
            }
        }
        XCTAssertEqual(reads, 4)
        // Both states were seen: the folder (its file read) and the link (refused).
        XCTAssertGreaterThan(decoys, 0, "the race never showed the folder: the test did not exercise the swap")
        XCTAssertGreaterThan(refusals, 0, "the race never showed the link: the test did not exercise the swap")
        bait.assertUntouched()
        await server.stop()
    }
}

// MARK: - Servers and clients on loopback

extension ValidatedSample {
    /// A reward server configuration over this sample, on an ephemeral loopback port.
    func serverConfiguration(apiKey: String? = nil) -> ServerConfiguration {
        let name = String(UUID().uuidString.prefix(6))
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0, clones: [SampleRepository.repoName: clone],
                                                evaluationsDirectory: root.appendingPathComponent("evals-\(name)").path,
                                                snapshotsDirectory: root.appendingPathComponent("snapshots-\(name)").path,
                                                scoring: ScoringOptions(workers: 1, queueCapacity: 8, requestTimeout: 180))
        configuration.apiKey = apiKey
        return configuration
    }
}

/// A `RewardServer` over the sample, on an ephemeral loopback port.
enum AttackServer {
    static func start(_ sample: ValidatedSample, apiKey: String? = nil) async throws -> LoopbackServer {
        try await LoopbackServer.start(try RewardServer(configuration: sample.serverConfiguration(apiKey: apiKey), store: sample.store,
                                                        environments: sample.builder))
    }
}

/// A `SandboxServer` over `host`, on an ephemeral loopback port.
enum AttackSandboxServer {
    static func start(_ host: SandboxHost, apiKey: String? = "attack-key", maxConcurrentActions: Int? = nil) async throws -> LoopbackServer {
        var configuration = SandboxServerConfiguration(host: "127.0.0.1", port: 0, apiKey: apiKey, idleTimeout: nil)
        if let maxConcurrentActions { configuration.maxConcurrentActions = maxConcurrentActions }
        return try await LoopbackServer.start(SandboxServer(configuration: configuration, host: host))
    }
}

/// A Python string literal.
func pythonLiteral(_ text: String) -> String {
    "'" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") + "'"
}

/// A POSIX shell word.
func shellQuote(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'" }

extension String {
    /// `self` with `prefix` in front, unless it is there already.
    func prefixed(_ prefix: String) -> String { hasPrefix(prefix) ? self : prefix + self }
}
