import Evaluation
import Foundation
import Sample
import SampleFixtures
import Serving
import Store
import XCTest
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

// Ids that would become paths outside Forge's folders: refused where they enter, with one line
// naming the culprit, a non-zero exit (or a 400), and nothing written.

final class UnsafeIdTests: XCTestCase {
    private var directory = ""

    override func setUp() {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("unsafe-ids-\(UUID().uuidString.prefix(8))").path
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

    private func forge(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try runForge(arguments, in: directory)
    }

    private func sqlite(_ database: String, _ sql: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        process.arguments = [database, sql]
        try process.run()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, sql)
    }

    /// A copy of the validated sample store where task 1 is called `id` (written as an older
    /// Forge, which checked nothing, would have imported it).
    private func storeWithTask(named id: String, _ sample: ValidatedSample) throws -> (path: String, task: TaskRecord) {
        let path = directory + "/unsafe-\(UUID().uuidString.prefix(6)).db"
        let task = sample.task(1)
        try sqlite(sample.databasePath, "VACUUM INTO '\(path)'")
        try sqlite(path, "UPDATE task SET instance_id = '\(id)' WHERE instance_id = '\(task.instanceID)'")
        return (path, task)
    }

    func testIdentifierRules() {
        for good in ["django__django-11099", "owner__name.synth-0a1b", "a", "x+y"] {
            XCTAssertNoThrow(try Identifier.checkInstanceID(good), good)
        }
        for bad in ["", ".", "..", "../../../x", "a/b", ".hidden", "a\0b", "a\nb", "-x", String(repeating: "a", count: 201)] {
            XCTAssertThrowsError(try Identifier.checkInstanceID(bad), bad.debugDescription)
        }
        for good in ["gpt-4", "org/model", "org/model-v1.5"] {
            XCTAssertNoThrow(try Identifier.checkModelName(good), good)
        }
        for bad in ["", "..", "org/../x", "org//x", "/abs", "a\u{1}b", "trailing/"] {
            XCTAssertThrowsError(try Identifier.checkModelName(bad), bad.debugDescription)
        }
        for id in ["..", "../../x", ".", "a/b", "\0"] {
            let component = Identifier.pathComponent(id)
            XCTAssertFalse(component.contains("/") || component == "." || component == ".." || component.hasPrefix("."), component)
        }
        do { try Identifier.checkInstanceID("a\nb") } catch { XCTAssertFalse(error.description.contains("\n"), error.description) }
    }

    func testImportRefusesAPathLikeInstanceID() throws {
        let sample = try ValidatedSample.shared()
        var line = TaskJSONL.line(for: sample.task(1))
        line = line.replacingOccurrences(of: "\"instance_id\":\"\(sample.task(1).instanceID)\"", with: "\"instance_id\":\"../../../x\"")
        XCTAssertTrue(line.contains("../../../x"))
        let dataset = directory + "/evil.jsonl"
        try (TaskJSONL.line(for: sample.task(2)) + "\n" + line + "\n").write(toFile: dataset, atomically: true, encoding: .utf8)
        let database = directory + "/import.db"
        let (status, output) = try forge(["import", dataset, "--db", database])
        XCTAssertNotEqual(status, 0, output)
        XCTAssertTrue(output.contains("evil.jsonl:2") && output.contains("../../../x"), output)
        XCTAssertEqual(output.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "\n").count, 1, output)
        XCTAssertEqual(try TaskStore(path: database).tasks().count, 0, "nothing imported")
    }

    func testEvalRefusesAPredictionWhoseIDLeavesTheWorkspace() throws {
        let sample = try ValidatedSample.shared()
        // `<workspace>/evals/<run>/<model>/<id>` with this id is the bait folder beside the workspace.
        let workspace = directory + "/ws"
        let bait = try Bait(in: directory + "/victim")
        let id = "../../../../victim"
        let (database, task) = try storeWithTask(named: id, sample)
        let predictions = directory + "/preds.jsonl"
        let object: [String: Any] = ["instance_id": id, "model_name_or_path": "m", "model_patch": task.patch]
        try Data(try JSONSerialization.data(withJSONObject: object)).write(to: URL(fileURLWithPath: predictions))
        let (status, output) = try forge(["eval", "--predictions", predictions, "--db", database, "--clone", sample.clone,
                                          "--workspace", workspace, "--run-id", "r"])
        XCTAssertNotEqual(status, 0, output)
        XCTAssertTrue(output.contains("preds.jsonl:1") && output.contains("unsafe instance_id"), output)
        bait.assertUntouched()
        XCTAssertFalse(FileManager.default.fileExists(atPath: workspace + "/evals/r"), "nothing written")

        // A model name that climbs out is refused the same way.
        let climbing: [String: Any] = ["instance_id": task.instanceID, "model_name_or_path": "../../x", "model_patch": ""]
        try Data(try JSONSerialization.data(withJSONObject: climbing)).write(to: URL(fileURLWithPath: predictions))
        let (modelStatus, modelOutput) = try forge(["eval", "--predictions", predictions, "--db", sample.databasePath,
                                                    "--clone", sample.clone, "--workspace", workspace, "--run-id", "r"])
        XCTAssertNotEqual(modelStatus, 0, modelOutput)
        XCTAssertTrue(modelOutput.contains("unsafe model_name_or_path"), modelOutput)

        // Paths built from an unchecked id (a hand-made store) stay inside their folder.
        let evaluator = try Evaluator(clones: [:], environments: sample.builder, options: EvaluationOptions(runID: "r", evaluationsDirectory: workspace + "/evals"))
        XCTAssertTrue(evaluator.instanceDirectory(model: "m", instanceID: id).hasPrefix(workspace + "/evals/r/m/"))
        XCTAssertFalse(evaluator.instanceDirectory(model: "m", instanceID: id).contains("/../"))
    }

    func testMergeMineAndSandboxRefuseUnsafeIDs() throws {
        let sample = try ValidatedSample.shared()
        let (shard, _) = try storeWithTask(named: "../x", sample)
        let merged = directory + "/merged.db"
        let (status, output) = try forge(["store", "merge", "--db", merged, shard])
        XCTAssertNotEqual(status, 0, output)
        XCTAssertTrue(output.contains("../x"), output)
        XCTAssertEqual(try TaskStore(path: merged).tasks().count, 0, "nothing merged")

        let (mineStatus, mineOutput) = try forge(["mine", sample.clone, "--repo", "../evil", "--db", directory + "/mine.db"])
        XCTAssertNotEqual(mineStatus, 0, mineOutput)
        XCTAssertTrue(mineOutput.contains("unsafe repo"), mineOutput)

        let (sandboxStatus, sandboxOutput) = try forge(["sandbox", "serve", "--task", "../../x", "--db", sample.databasePath, "--port", "0"])
        XCTAssertNotEqual(sandboxStatus, 0, sandboxOutput)
        XCTAssertTrue(sandboxOutput.contains("unsafe instance_id"), sandboxOutput)
    }

    func testScoreAndTaskRoutesAnswer400() async throws {
        let sample = try await ValidatedSample.shared()
        let configuration = ServerConfiguration(host: "127.0.0.1", port: 0, clones: [SampleRepository.repoName: sample.clone],
                                                evaluationsDirectory: directory + "/evals", snapshotsDirectory: directory + "/snapshots")
        let server = try RewardServer(configuration: configuration, store: sample.store, environments: sample.builder)
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let running = Task { try await server.run { port in continuation.yield(port); continuation.finish() } }
        defer { running.cancel() }
        var iterator = ports.makeAsyncIterator()
        let next = await iterator.next()
        let port = try XCTUnwrap(next)
        let bait = try Bait(in: directory + "/victim")

        func send(_ path: String, body: [String: Any]? = nil) async throws -> (Int, [String: Any]) {
            var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
            if let body {
                request.httpMethod = "POST"
                request.httpBody = try JSONSerialization.data(withJSONObject: body)
            }
            let (data, response) = try await URLSession.shared.data(for: request)
            return ((response as? HTTPURLResponse)?.statusCode ?? 0, (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:])
        }
        for (id, model) in [("../../../victim", "m"), (sample.task(1).instanceID, "../../victim")] {
            let (status, json) = try await send("/score", body: ["instance_id": id, "model_patch": sample.task(1).patch, "model_name_or_path": model])
            XCTAssertEqual(status, 400, "\(json)")
            let message = (json["error"] as? [String: Any])?["message"] as? String ?? ""
            XCTAssertTrue(message.contains("unsafe"), "\(json)")
        }
        let (taskStatus, taskJSON) = try await send("/tasks/.hidden")
        XCTAssertEqual(taskStatus, 400, "\(taskJSON)")
        bait.assertUntouched()
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory + "/evals"), "nothing scored")
        running.cancel()
        _ = await running.result
    }
}
