import AgentSandbox
import Environments
import Evaluation
import Foundation
import Sample
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
        let sample = try await AttackSample.shared()
        let bait = try Bait(in: AttackSample.base.appendingPathComponent("bait-logs").path)
        let task = sample.task(1)
        let file = try XCTUnwrap(PatchText.touchedPaths(task.patch).first)
        let patch = try sample.makePatch(task, first: task.patch) {
            try appendText(Self.linkingHook(["test.log": bait.path, "junit.xml": bait.path]), to: file, under: $0)
        }
        let server = try await AttackServer.start(sample)
        let client = AttackClient(base: server.base)
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
        let sample = try await AttackSample.shared()
        let task = sample.task(1)
        let forged = AttackSample.base.appendingPathComponent("bait-junit/all-passed-\(UUID().uuidString.prefix(8)).xml").path
        try FileManager.default.createDirectory(atPath: (forged as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Self.allPassed(task.failToPass + task.passToPass).write(toFile: forged, atomically: true, encoding: .utf8)
        let file = try XCTUnwrap(PatchText.touchedPaths(task.patch).first)
        let patch = try sample.makePatch(task) { try appendText(Self.linkingHook(["junit.xml": forged]), to: file, under: $0) }
        let server = try await AttackServer.start(sample)
        let scored = try await AttackClient(base: server.base).score(task.instanceID, patch)
        XCTAssertEqual(scored.status, 200, scored.text)
        XCTAssertEqual(scored.json["status"] as? String, "unresolved", scored.text)
        XCTAssertEqual(scored.json["reward"] as? Double, 0, scored.text)
        await server.stop()
    }

    /// A sandboxed command that leaves a link where its log was (a helper's scratch folder is
    /// reused between runs) must not make the next command's log write through it.
    func testALogLinkLeftBySandboxedCodeIsNotWrittenThrough() throws {
        let folder = AttackSample.base.appendingPathComponent("log-link-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let bait = try Bait(in: AttackSample.base.appendingPathComponent("bait-log-link").path)
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
        let sample = try await AttackSample.shared()
        let task = sample.task(1)
        let file = try XCTUnwrap(PatchText.touchedPaths(task.patch).first)
        let patch = try sample.makePatch(task, first: task.patch) {
            try appendText(Self.linkingHook(["test.log": "", "junit.xml": ""]), to: file, under: $0)
        }
        let server = try await AttackServer.start(sample)
        var client = AttackClient(base: server.base)
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
        let sample = try await AttackSample.shared()
        let baitFolder = "/var/tmp/forge-adversarial-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: baitFolder) }
        let bait = try Bait(in: baitFolder, name: "target.txt")
        let secret = bait.content.trimmingCharacters(in: .newlines)
        let host = try sample.sandboxHost()
        let task = sample.task(1)
        _ = try await onThread { try host.open(instanceID: task.instanceID) }
        let server = try await AttackSandboxServer.start(host)
        let client = AttackRexClient(base: "http://127.0.0.1:\(server.port)")
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

extension AttackSample {
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

    /// An agent sandbox host over this sample, its folders fresh.
    func sandboxHost() throws -> SandboxHost {
        let name = String(UUID().uuidString.prefix(6))
        return try SandboxHost(root: root.appendingPathComponent("sandboxes-\(name)").path, store: store,
                               clones: [SampleRepository.repoName: clone], environments: builder,
                               evaluationsDirectory: root.appendingPathComponent("sandbox-evals-\(name)").path,
                               options: AgentSandboxOptions(outputCap: 64 << 10, maxActionTimeout: 60))
    }
}

/// A `RewardServer` running in this process on an ephemeral loopback port.
final class AttackServer: @unchecked Sendable {
    let port: Int
    private let task: Task<Void, Error>

    static func start(_ sample: AttackSample, apiKey: String? = nil) async throws -> AttackServer {
        let server = try RewardServer(configuration: sample.serverConfiguration(apiKey: apiKey), store: sample.store, environments: sample.builder)
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let task = Task { try await server.run { port in continuation.yield(port); continuation.finish() } }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next(), port > 0 else { task.cancel(); throw NSError(domain: "server", code: 1) }
        return AttackServer(port: port, task: task)
    }

    private init(port: Int, task: Task<Void, Error>) { self.port = port; self.task = task }

    func stop() async { task.cancel(); _ = await task.result }

    var base: String { "http://127.0.0.1:\(port)" }
}

/// A `SandboxServer` running in this process on an ephemeral loopback port.
final class AttackSandboxServer: @unchecked Sendable {
    let port: Int
    private let task: Task<Void, Error>

    static func start(_ host: SandboxHost, apiKey: String? = "attack-key", maxConcurrentActions: Int? = nil) async throws -> AttackSandboxServer {
        var configuration = SandboxServerConfiguration(host: "127.0.0.1", port: 0, apiKey: apiKey, idleTimeout: nil)
        if let maxConcurrentActions { configuration.maxConcurrentActions = maxConcurrentActions }
        let server = SandboxServer(configuration: configuration, host: host)
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let task = Task { try await server.run { port in continuation.yield(port); continuation.finish() } }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next(), port > 0 else { task.cancel(); throw NSError(domain: "server", code: 1) }
        return AttackSandboxServer(port: port, task: task)
    }

    private init(port: Int, task: Task<Void, Error>) { self.port = port; self.task = task }

    func stop() async { task.cancel(); _ = await task.result }
}

/// A loopback HTTP client for the reward server: answers as status, headers and body.
struct AttackClient: Sendable {
    let base: String
    var apiKey: String?
    var timeout: Double = 240

    struct Answer: @unchecked Sendable {
        var status: Int
        var headers: [AnyHashable: Any]
        var body: Data
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    func get(_ path: String, key: String?? = .none) async throws -> Answer {
        try await send(URLRequest(url: URL(string: base + path)!), key: key)
    }

    func score(_ instanceID: String, _ patch: String, key: String?? = .none) async throws -> Answer {
        var request = URLRequest(url: URL(string: base + "/score")!)
        request.httpMethod = "POST"
        request.httpBody = try JSONSerialization.data(withJSONObject: ["instance_id": instanceID, "model_patch": patch,
                                                                       "model_name_or_path": "attacker"])
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        return try await send(request, key: key)
    }

    private func send(_ original: URLRequest, key: String??) async throws -> Answer {
        var request = original
        request.timeoutInterval = timeout
        if let value = key ?? apiKey { request.setValue(value, forHTTPHeaderField: "X-API-Key") }
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = response as! HTTPURLResponse
        return Answer(status: http.statusCode, headers: http.allHeaderFields, body: data)
    }
}

/// A loopback client for the agent sandbox server (SWE-ReX's JSON endpoints).
struct AttackRexClient: Sendable {
    let base: String
    var apiKey: String? = "attack-key"

    struct Answer: @unchecked Sendable {
        var status: Int
        var headers: [AnyHashable: Any]
        var json: [String: Any]
    }

    func post(_ path: String, _ object: [String: Any], key: String?? = .none) async throws -> Answer {
        var request = URLRequest(url: URL(string: base + path)!)
        request.httpMethod = "POST"
        request.httpBody = try JSONSerialization.data(withJSONObject: object)
        request.timeoutInterval = 120
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        if let value = key ?? apiKey { request.setValue(value, forHTTPHeaderField: "X-API-Key") }
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = response as! HTTPURLResponse
        return Answer(status: http.statusCode, headers: http.allHeaderFields,
                      json: (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:])
    }

    func run(_ command: String, session: String = "default", timeout: Double = 30) async throws -> Answer {
        try await post("/run_in_session", ["command": command, "session": session, "timeout": timeout, "check": "silent"])
    }
}

/// Appends `text` to a file of a checkout.
func appendText(_ text: String, to file: String, under root: URL) throws {
    let url = root.appendingPathComponent(file)
    try (try String(contentsOf: url, encoding: .utf8) + text).write(to: url, atomically: true, encoding: .utf8)
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
