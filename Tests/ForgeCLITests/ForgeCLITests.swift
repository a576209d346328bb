import Foundation
import SampleFixtures
import XCTest

/// Runs the built `forge` executable the way a user would: exit codes, output and files.
final class ForgeCLITests: ForgeCommandTestCase {
    @discardableResult
    private func run(_ arguments: [String], executable: String? = nil, in dir: String? = nil) throws -> (status: Int32, output: String) {
        try runProcess(executable ?? forgeExecutablePath, arguments, in: dir ?? directory)
    }

    func testSampleMineExportImportRoundTrip() throws {
        XCTAssertEqual(try run(["sample", "create", "sample"]).status, 0)
        let mined = try run(["mine", "sample/textkit", "--repo", "forge-sample/textkit",
                             "--metadata", "sample/metadata.jsonl", "--db", "a.db"])
        XCTAssertEqual(mined.status, 0, mined.output)
        XCTAssertTrue(mined.output.contains("tasks: 5 new (merge 2, rebase 1, squash 2)"), mined.output)
        XCTAssertTrue(mined.output.contains("#4: pull request ref never landed"), mined.output)

        // A second run walks nothing new and changes nothing.
        let again = try run(["mine", "sample/textkit", "--repo", "forge-sample/textkit", "--db", "a.db"])
        XCTAssertTrue(again.output.contains("0 commits walked"), again.output)
        XCTAssertTrue(again.output.contains("0 inserted, 0 updated, 0 unchanged"), again.output)

        // Not validated: a plain export leaves them out (SWE-bench grades empty lists as resolved).
        XCTAssertEqual(try run(["export", "--db", "a.db", "--out", "none.jsonl"]).status, 0)
        XCTAssertEqual(try String(contentsOfFile: directory + "/none.jsonl", encoding: .utf8), "")
        XCTAssertEqual(try run(["export", "--db", "a.db", "--all", "--out", "a.jsonl"]).status, 0)
        XCTAssertEqual(try run(["import", "b.jsonl", "--db", "b.db"]).status, 1, "missing file fails")
        XCTAssertEqual(try run(["import", "a.jsonl", "--db", "b.db"]).status, 0)
        XCTAssertEqual(try run(["export", "--db", "b.db", "--all", "--out", "b.jsonl"]).status, 0)
        let first = try String(contentsOfFile: directory + "/a.jsonl", encoding: .utf8)
        let second = try String(contentsOfFile: directory + "/b.jsonl", encoding: .utf8)
        XCTAssertEqual(first.split(separator: "\n").count, 5)

        // SWE-bench's shape: list fields are JSON strings.
        let record = try JSONSerialization.jsonObject(with: Data(first.split(separator: "\n")[0].utf8)) as! [String: Any]
        XCTAssertEqual(record["instance_id"] as? String, "forge-sample__textkit-1")
        XCTAssertTrue(record["FAIL_TO_PASS"] is String)
        XCTAssertEqual(record["status"] as? String, "not_validated")
        XCTAssertEqual(record["problem_statement"] as? String,
                       "slugify leaves double dashes around punctuation\n`slugify(\"Hello, World!\")` returns `hello--world`; I expected `hello-world`.\nLeading and trailing spaces also leave extra dashes.")
        // Import keeps exactly what export wrote.
        XCTAssertEqual(first, second)

        let shown = try run(["tasks", "show", "forge-sample__textkit-3", "--db", "a.db"])
        XCTAssertTrue(shown.output.contains("\"merge_style\" : \"rebase\""), shown.output)
    }

    func testDemoWithARelativeWorkspaceValidatesTheSample() throws {
        let demo = try run(["demo", "--workspace", "ws", "--no-train"])
        XCTAssertEqual(demo.status, 0, demo.output)
        XCTAssertFalse(demo.output.contains("did not apply"), demo.output)
        let validLine = demo.output.split(separator: "\n").first { $0.hasPrefix("valid ") }
        let valid = validLine.flatMap { Int($0.split(separator: " ").last ?? "") }
        XCTAssertGreaterThan(valid ?? 0, 0, demo.output)
    }

    /// `forge train pretrain` stopped by a real SIGINT mid-run exits 130 after checkpointing; the
    /// same command resumes and ends on the same metrics as a run that was never interrupted.
    func testTrainingSurvivesSIGINTAndResumesOnTheSameTrajectory() throws {
        XCTAssertEqual(try run(["sample", "create", "sample"]).status, 0)
        XCTAssertEqual(try run(["mine", "sample/textkit", "--repo", "forge-sample/textkit", "--db", "t.db"]).status, 0)
        let stage = ["train", "pretrain", "--db", "t.db", "--clone", "sample/textkit", "--vocab-size", "400", "--layers", "1",
                     "--d-model", "64", "--heads", "2", "--context", "128", "--top-k", "16", "--steps", "40", "--batch", "4",
                     "--eval-every", "10", "--checkpoint-every", "1000"]
        let straight = try run(stage + ["--out", "straight"])
        XCTAssertEqual(straight.status, 0, straight.output)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: forgeExecutablePath)
        process.arguments = stage + ["--out", "interrupted"]
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let metrics = directory + "/interrupted/metrics.jsonl"
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline, (try? String(contentsOfFile: metrics, encoding: .utf8))?.split(separator: "\n").count ?? 0 < 6 {
            usleep(20_000)
        }
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 130, "an interrupted stage exits 130")
        let state = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: directory + "/interrupted/checkpoint/state.json"))) as! [String: Any]
        let stoppedAt = state["step"] as! Int
        XCTAssertGreaterThan(stoppedAt, 0)
        XCTAssertLessThan(stoppedAt, 40, "the signal arrived mid-run")

        let resumed = try run(stage + ["--out", "interrupted"])
        XCTAssertEqual(resumed.status, 0, resumed.output)
        XCTAssertTrue(resumed.output.contains("resuming at step \(stoppedAt) of 40"), resumed.output)
        func losses(_ folder: String) throws -> [Double] {
            try String(contentsOfFile: directory + "/\(folder)/metrics.jsonl", encoding: .utf8).split(separator: "\n").map {
                (try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Double])["train_loss"]!
            }
        }
        let expected = try losses("straight"), got = try losses("interrupted")
        XCTAssertEqual(got.count, expected.count, "one metrics line per step, none repeated")
        for (a, b) in zip(got, expected) { XCTAssertEqual(a, b, accuracy: 1e-4) }
        // A different setting in the same folder is refused, naming it.
        let changed = try run(stage.map { $0 == "40" ? "41" : $0 } + ["--out", "interrupted"])
        XCTAssertEqual(changed.status, 1)
        XCTAssertTrue(changed.output.contains("was started with other settings"), changed.output)
    }

    func testShardsPartitionTasksAndMergeBack() throws {
        try run(["sample", "create", "sample"])
        var seen: [String] = []
        for shard in 1...3 {
            let result = try run(["mine", "sample/textkit", "--repo", "forge-sample/textkit", "--shard", "\(shard)/3", "--db", "s\(shard).db"])
            XCTAssertEqual(result.status, 0, result.output)
            let listed = try run(["tasks", "list", "--db", "s\(shard).db"]).output
            seen += listed.split(separator: "\n").filter { $0.hasPrefix("forge-sample__") }.map { String($0.split(separator: "\t")[0]) }
        }
        XCTAssertEqual(seen.sorted(), ["forge-sample__textkit-1", "forge-sample__textkit-2", "forge-sample__textkit-3",
                                       "forge-sample__textkit-6", "forge-sample__textkit-7"], "each task in exactly one shard")
        let merged = try run(["store", "merge", "--db", "all.db", "s1.db", "s2.db", "s3.db"])
        XCTAssertEqual(merged.status, 0, merged.output)
        XCTAssertTrue(try run(["tasks", "list", "--db", "all.db"]).output.contains("5 task(s)"))
    }

    func testBadInputFailsWithOneClearLine() throws {
        let notRepo = try run(["mine", directory!, "--repo", "a/b", "--db", "x.db"])
        XCTAssertEqual(notRepo.status, 1)
        XCTAssertTrue(notRepo.output.contains("not a git repository: \(directory!)"), notRepo.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory + "/x.db"), "no store written for bad input")

        try run(["sample", "create", "sample"])
        try "{\"number\": 1}\n{\"number\": \n".write(toFile: directory + "/meta.jsonl", atomically: true, encoding: .utf8)
        let metadata = try run(["mine", "sample/textkit", "--repo", "a/b", "--metadata", "meta.jsonl", "--db", "x.db"])
        XCTAssertEqual(metadata.status, 1)
        XCTAssertTrue(metadata.output.contains("meta.jsonl:"), metadata.output)

        let shard = try run(["tasks", "list", "--shard", "4/3", "--db", "x.db"])
        XCTAssertNotEqual(shard.status, 0)
        XCTAssertTrue(shard.output.contains("--shard"), shard.output)

        let missing = try run(["tasks", "show", "nope-1", "--db", "x.db"])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.output.contains("no task with instance id 'nope-1'"), missing.output)
    }
}
