import AgentSandbox
import Foundation
import SampleFixtures
import Serving
import XCTest
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Both servers take a key in `X-API-Key`, compare it in constant time, refuse to listen beyond
/// loopback without one, and the agent sandbox server bounds the actions it runs at once.
final class ApiKeyTests: XCTestCase {
    func testRewardServerRefusesRequestsWithoutTheKey() async throws {
        let sample = try await ValidatedSample.shared()
        let server = try await AttackServer.start(sample, apiKey: "reward-key")
        let client = LoopbackClient(base: server.base, model: "attacker", timeout: 240)
        let task = sample.task(1)
        for path in ["/tasks", "/tasks/\(task.instanceID)", "/metrics", "/openapi.yaml", "/logs/patch-\(String(repeating: "0", count: 32))/\(task.instanceID)/test.log"] {
            for key: String? in [nil, "wrong-key", "reward-ke", "reward-key-and-more", ""] {
                let answer = try await client.get(path, key: .some(key))
                XCTAssertEqual(answer.status, 401, "\(path) with key \(key ?? "none"): \(answer.text)")
                XCTAssertEqual((answer.json["error"] as? [String: Any])?["code"] as? String, "unauthorized", answer.text)
            }
        }
        let unscored = try await client.score(task.instanceID, task.patch, key: .some("wrong-key"))
        XCTAssertEqual(unscored.status, 401, unscored.text)
        let allowed = try await client.get("/tasks", key: .some("reward-key"))
        XCTAssertEqual(allowed.status, 200, allowed.text)
        let health = try await client.get("/health", key: .some(nil))
        XCTAssertEqual(health.status, 200, "liveness probes carry no key")
        await server.stop()
    }

    func testSandboxServerRefusesRequestsWithoutTheKey() async throws {
        let sample = try await ValidatedSample.shared()
        let host = try sample.makeHost()
        _ = try await onThread { try host.open(instanceID: sample.task(1).instanceID) }
        let server = try await AttackSandboxServer.start(host, apiKey: "sandbox-key")
        let client = LoopbackClient(base: "http://127.0.0.1:\(server.port)", apiKey: "sandbox-key", timeout: 120)
        for key in ["wrong-key", "sandbox-ke", "sandbox-key!", ""] {
            let answer = try await client.post("/execute", ["command": ["true"]], key: .some(key))
            XCTAssertEqual(answer.status, 401, "key \(key): \(answer.json)")
        }
        // As SWE-ReX's server (FastAPI's APIKeyHeader): a missing key is 403.
        let missing = try await client.post("/execute", ["command": ["true"]], key: .some(nil))
        XCTAssertEqual(missing.status, 403, "\(missing.json)")
        let allowed = try await client.post("/execute", ["command": ["true"]])
        XCTAssertEqual(allowed.status, 200, "\(allowed.json)")
        await server.stop()
    }

    /// A guess wrong at its first byte and one wrong at its last take the same time to refuse.
    func testKeysAreComparedInConstantTime() throws {
        let length = 1 << 20
        let key = String(repeating: "k", count: length)
        let apiKey = try XCTUnwrap(APIKey(key))
        XCTAssertTrue(apiKey.accepts(key))
        let wrongFirst = "x" + String(repeating: "k", count: length - 1)
        let wrongLast = String(repeating: "k", count: length - 1) + "x"
        for guess in [wrongFirst, wrongLast, String(key.dropLast()), key + "k", ""] { XCTAssertFalse(apiKey.accepts(guess)) }
        XCTAssertNil(APIKey(""), "an empty key would accept an empty header")
        func median(_ guess: String) -> Double {
            var times: [Double] = []
            for _ in 0..<15 {
                let start = DispatchTime.now().uptimeNanoseconds
                XCTAssertFalse(apiKey.accepts(guess))
                times.append(Double(DispatchTime.now().uptimeNanoseconds - start))
            }
            return times.sorted()[times.count / 2]
        }
        _ = median(wrongLast) // warm up
        let (first, last) = (median(wrongFirst), median(wrongLast))
        XCTAssertLessThan(max(first, last) / min(first, last), 3, "first byte wrong: \(first) ns, last byte wrong: \(last) ns")
    }

    func testNonLoopbackHostsNeedAKey() throws {
        for (host, loopback) in [("127.0.0.1", true), ("127.1.2.3", true), ("localhost", true), ("::1", true), ("[::1]", true),
                                 ("0.0.0.0", false), ("::", false), ("10.0.0.1", false), ("example.com", false), ("128.0.0.1", false)] {
            XCTAssertEqual(APIKey.isLoopback(host), loopback, host)
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("forge-apikey-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        // The store's folder is a regular file: a command that got past validation fails there,
        // before it listens anywhere.
        let blocker = directory.appendingPathComponent("not-a-folder")
        try Data().write(to: blocker)
        let store = ["--db", blocker.path + "/forge.db", "--workspace", directory.path]
        for arguments in [["serve", "--host", "0.0.0.0", "--port", "0"] + store,
                          ["sandbox", "serve", "--task", "x__y-1", "--host", "0.0.0.0", "--port", "0"] + store,
                          ["serve", "--host", "::", "--port", "0"] + store] {
            let (status, output) = try runForge(arguments, in: directory)
            XCTAssertEqual(status, 1, "\(arguments): \(output)")
            let lines = output.split(separator: "\n").filter { !$0.hasPrefix("Usage:") && !$0.hasPrefix("  See ") && !$0.isEmpty }
            XCTAssertEqual(lines.count, 1, output)
            XCTAssertTrue(output.contains("--api-key"), output)
            XCTAssertTrue(output.contains("loopback"), output)
        }
        // With a key, or on loopback, validation lets the command through (it then fails on the store).
        for arguments in [["serve", "--host", "0.0.0.0", "--api-key", "k", "--port", "0"] + store,
                          ["serve", "--host", "127.0.0.1", "--port", "0"] + store] {
            let (status, output) = try runForge(arguments, in: directory)
            XCTAssertEqual(status, 1, "\(arguments): \(output)")
            XCTAssertFalse(output.contains("loopback"), "\(arguments): \(output)")
            XCTAssertFalse(output.contains("listening"), "\(arguments): \(output)")
        }
        let (status, output) = try runForge(["sandbox", "serve", "--task", "x__y-1", "--max-concurrent-actions", "0"] + store, in: directory)
        XCTAssertEqual(status, 64, output)
        XCTAssertTrue(output.contains("--max-concurrent-actions"), output)
    }

    /// Past its bound, the sandbox server answers 429 at once instead of starting another action.
    func testSandboxServerBoundsConcurrentActions() async throws {
        let sample = try await ValidatedSample.shared()
        let host = try sample.makeHost()
        _ = try await onThread { try host.open(instanceID: sample.task(1).instanceID) }
        let server = try await AttackSandboxServer.start(host, maxConcurrentActions: 1)
        let client = LoopbackClient(base: "http://127.0.0.1:\(server.port)", apiKey: "attack-key", timeout: 120)
        let slow = Task { try await client.post("/execute", ["command": ["sleep", "4"], "timeout": 30]) }
        try await Task.sleep(for: .seconds(1))
        let refused = try await client.post("/execute", ["command": ["true"]])
        XCTAssertEqual(refused.status, 429, "\(refused.json)")
        XCTAssertTrue("\(refused.json["detail"] ?? "")".contains("1 action"), "\(refused.json)")
        XCTAssertNotNil(refused.headers["Retry-After"], "\(refused.headers)")
        let finished = try await slow.value
        XCTAssertEqual(finished.status, 200, "\(finished.json)")
        let after = try await client.post("/execute", ["command": ["true"]])
        XCTAssertEqual(after.status, 200, "\(after.json)")
        await server.stop()
    }

    /// Runs the built `forge` with a time limit: (exit status, stdout and stderr).
    private func runForge(_ arguments: [String], in directory: URL) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: forgeExecutablePath)
        process.arguments = arguments
        process.currentDirectoryURL = directory
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let deadline = DispatchTime.now() + 30
        let killer = DispatchWorkItem { if process.isRunning { process.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: deadline, execute: killer)
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        killer.cancel()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
