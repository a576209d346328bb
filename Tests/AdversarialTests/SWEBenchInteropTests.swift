import Evaluation
import Foundation
import Sample
import SampleFixtures
import Store
import TestReports
import XCTest

/// SWE-bench interop, checked with the real `swebench` (pinned) and `datasets` on the validated
/// sample: exported rows go through `make_test_spec`, a Forge eval run is regraded by
/// `get_logs_eval`/`make_run_report` to the same resolved set, a `datasets` round trip is
/// lossless, and JUnit and SWE-bench test ids grade alike.
final class SWEBenchInteropTests: XCTestCase {
    static let swebenchVersion = "5.0.2"

    /// A uv venv with swebench and datasets, cached under the temp dir between runs.
    static let python: Result<String, Error> = Result {
        let venv = ValidatedSample.base.appendingPathComponent("swebench-\(swebenchVersion)-venv").path
        let python = venv + "/bin/python"
        if FileManager.default.isExecutableFile(atPath: python),
           (try? run([python, "-c", "import swebench, datasets"]).status) == 0 { return python }
        try? FileManager.default.removeItem(atPath: venv)
        guard try run(["uv", "venv", "-q", "--python", "3.11", venv]).status == 0 else { throw CommandError("uv venv failed") }
        let install = try run(["uv", "pip", "install", "-q", "--python", python, "swebench==\(swebenchVersion)", "datasets"])
        guard install.status == 0 else {
            try? FileManager.default.removeItem(atPath: venv)
            throw XCTSkip("PyPI unreachable, cannot install swebench==\(swebenchVersion) and datasets: \(install.output.suffix(300))")
        }
        return python
    }

    struct CommandError: Error, CustomStringConvertible { let description: String; init(_ text: String) { description = text } }

    @discardableResult
    static func run(_ argv: [String], in directory: String? = nil) throws -> (status: Int32, output: String) {
        try runProcess("/usr/bin/env", argv, in: directory)
    }

    /// Runs `forge` and fails the test unless it exits 0.
    @discardableResult
    func forge(_ arguments: [String], in directory: String? = nil, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let result = try Self.run([forgeExecutablePath] + arguments, in: directory)
        XCTAssertEqual(result.status, 0, "forge \(arguments.joined(separator: " ")): \(result.output.suffix(1500))", file: file, line: line)
        return result.output
    }

    /// Runs a Python script in the swebench venv; its stdout's last line, parsed as JSON.
    func python(_ script: String, in directory: String? = nil, file: StaticString = #filePath, line: UInt = #line) throws -> Any {
        let interpreter = try Self.python.get()
        let path = try scratch() + "/check.py"
        try script.write(toFile: path, atomically: true, encoding: .utf8)
        let result = try Self.run([interpreter, path], in: directory)
        XCTAssertEqual(result.status, 0, result.output.suffix(3000).description, file: file, line: line)
        let last = result.output.split(separator: "\n").last.map(String.init) ?? ""
        return try JSONSerialization.jsonObject(with: Data(last.utf8), options: [.fragmentsAllowed])
    }

    func scratch() throws -> String {
        let url = ValidatedSample.base.appendingPathComponent("interop-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url.path
    }

    static func jsonLines(_ path: String) throws -> [[String: Any]] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map {
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
    }

    func testMakeTestSpecAcceptsEveryExportedRowAndOnlyGradableTasksAreExported() async throws {
        let sample = try await ValidatedSample.shared()
        let directory = try scratch()
        try forge(["export", "--db", sample.databasePath, "--out", directory + "/tasks.jsonl"])
        try forge(["export", "--db", sample.databasePath, "--all", "--out", directory + "/all.jsonl"])
        let rows = try Self.jsonLines(directory + "/tasks.jsonl")
        XCTAssertEqual(Set(rows.compactMap { $0["instance_id"] as? String }), Set(sample.tasks.keys), "the valid tasks, and only they")
        let all = try Self.jsonLines(directory + "/all.jsonl")
        XCTAssertGreaterThan(all.count, rows.count, "the sample has tasks that are not valid")
        for row in all {
            let gradable = sample.tasks[row["instance_id"] as! String] != nil
            XCTAssertEqual(row["status"] as? String == "valid", gradable, "\(row["instance_id"]!): \(row["status"] ?? "no status")")
            if !gradable { XCTAssertNotNil(row["status_reason"] as? String) }
        }
        XCTAssertNil(rows.first?["status"], "status only with --all")

        let checked = try python("""
        import json, sys
        from swebench.harness.utils import load_swebench_dataset, make_test_spec
        import datasets
        rows = load_swebench_dataset("\(directory)/tasks.jsonl")
        hf = datasets.load_dataset("json", data_files="\(directory)/tasks.jsonl", split="train")
        out = []
        for row in list(rows) + list(hf):
            spec = make_test_spec(row)
            script = spec.eval_script
            assert ">>>>> Start Test Output" in script and ">>>>> End Test Output" in script, script
            assert "SWEBENCH_TEST_EXIT_CODE=$?" in script, "the exit code line goes right after the test command"
            assert spec.FAIL_TO_PASS and spec.log_parser == "parse_log_pytest" and spec.eval_type == "pass_and_fail"
            assert "dockerfile" in spec.image_assets and spec.image.startswith("sweb.eval.x86_64.")
            out.append(spec.instance_id)
        print(json.dumps(out))
        """)
        XCTAssertEqual((checked as? [String]).map(Set.init), Set(sample.tasks.keys))
        XCTAssertEqual((checked as? [String])?.count, 2 * sample.tasks.count)
    }

    func testDatasetsRoundTripIsLossless() async throws {
        let sample = try await ValidatedSample.shared()
        let directory = try scratch()
        try forge(["export", "--db", sample.databasePath, "--out", directory + "/tasks.jsonl"])
        _ = try python("""
        import datasets, json
        d = datasets.load_dataset("json", data_files="\(directory)/tasks.jsonl", split="train")
        d.to_json("\(directory)/hf.jsonl")
        print(json.dumps(str(d.features["created_at"])))
        """)
        let written = try String(contentsOfFile: directory + "/hf.jsonl", encoding: .utf8)
        XCTAssertTrue(written.contains(#""created_at":1"#), "datasets writes created_at as epoch milliseconds")
        try forge(["import", "--db", directory + "/copy.db", directory + "/hf.jsonl"])
        try forge(["export", "--db", directory + "/copy.db", "--out", directory + "/again.jsonl"])
        let before = try Self.jsonLines(directory + "/tasks.jsonl"), after = try Self.jsonLines(directory + "/again.jsonl")
        XCTAssertEqual(before.count, after.count)
        for (first, second) in zip(before, after) {
            for key in Set(first.keys).union(second.keys) {
                XCTAssertEqual(first[key].map { $0 as! NSObject }, second[key].map { $0 as! NSObject }, "\(first["instance_id"]!): \(key)")
            }
        }
    }

    /// A Forge eval run in SWE-bench's layout, regraded by swebench: same resolved set.
    func testSWEBenchRegradesAForgeRunToTheSameVerdicts() async throws {
        let sample = try await ValidatedSample.shared()
        let directory = try scratch()
        try forge(["export", "--db", sample.databasePath, "--id-format", "swebench", "--out", directory + "/tasks.jsonl"])
        // SWE-agent's form (an object keyed by instance id): gold patches, one empty, one that
        // is another task's patch (applies or not, but does not fix this one).
        let ids = sample.tasks.keys.sorted()
        var predictions: [String: [String: Any]] = [:]
        for (index, id) in ids.enumerated() {
            let patch: Any = index == 0 ? NSNull() : index == 1 ? sample.tasks[ids[2]]!.patch : sample.tasks[id]!.patch
            predictions[id] = ["instance_id": id, "model_name_or_path": "org/model", "model_patch": patch]
        }
        try JSONSerialization.data(withJSONObject: predictions).write(to: URL(fileURLWithPath: directory + "/preds.json"))
        let runID = "interop-\(UUID().uuidString.prefix(6))"
        try forge(["eval", "--predictions", directory + "/preds.json", "--db", sample.databasePath, "--clone", sample.clone,
                   "--workspace", sample.root.path, "--run-id", runID, "--jobs", "2"])
        let logs = sample.root.path + "/logs/run_evaluation/\(runID)"
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: logs + "/org__model.\(runID).json"))) as? [String: Any])
        let forgeResolved = try XCTUnwrap(report["resolved_ids"] as? [String])
        XCTAssertEqual(Set(forgeResolved), Set(ids.dropFirst(2)), "gold patches resolve, the others do not")
        XCTAssertEqual(report["empty_patch_ids"] as? [String], [ids[0]])
        XCTAssertEqual(report["total_instances"] as? Int, ids.count, "SWE-bench's total_instances: every dataset row")
        for id in ids.dropFirst() {
            for name in ["test_output.txt", "run_instance.log", "eval.sh"] {
                let path = "\(logs)/org__model/\(id)/\(name)"
                XCTAssertTrue(FileManager.default.fileExists(atPath: path) || (name == "test_output.txt" && id == ids[1]), path)
            }
        }

        let regraded = try python("""
        import json, pathlib
        from swebench.harness.utils import load_swebench_dataset, make_test_spec, get_predictions_from_file
        from swebench.harness.grading import get_eval_report
        from swebench.harness.reporting import make_run_report
        dataset = load_swebench_dataset("\(directory)/tasks.jsonl")
        preds = {p["instance_id"]: p for p in get_predictions_from_file("\(directory)/preds.json", "", "test")}
        resolved = []
        for row in dataset:
            folder = pathlib.Path("logs/run_evaluation/\(runID)/org__model") / row["instance_id"]
            if (folder / "report.json").exists():
                report = get_eval_report(make_test_spec(row), preds[row["instance_id"]], str(folder / "test_output.txt"), True)
                if report[row["instance_id"]]["resolved"]:
                    resolved.append(row["instance_id"])
        path = make_run_report(preds, dataset, "\(runID)", report_dir="\(directory)")
        made = json.loads(pathlib.Path(path).read_text())
        print(json.dumps({"regraded": sorted(resolved), "report": made}))
        """, in: sample.root.path) as? [String: Any]
        XCTAssertEqual(regraded?["regraded"] as? [String], forgeResolved.sorted(), "get_logs_eval on test_output.txt")
        let made = try XCTUnwrap(regraded?["report"] as? [String: Any])
        for key in ["resolved_ids", "unresolved_ids", "error_ids", "empty_patch_ids", "completed_ids", "incomplete_ids",
                    "submitted_ids", "total_instances", "submitted_instances", "completed_instances", "error_instances"] {
            XCTAssertEqual((made[key] as? NSObject), (report[key] as? NSObject), "make_run_report's \(key) differs from Forge's")
        }
    }

    /// The same gold patches graded against JUnit ids and against SWE-bench's truncated ids.
    func testTruncatedAndJUnitIDsGradeAlike() async throws {
        let sample = try await ValidatedSample.shared()
        let directory = try scratch()
        try forge(["export", "--db", sample.databasePath, "--id-format", "swebench", "--out", directory + "/swe.jsonl"])
        let rows = try Self.jsonLines(directory + "/swe.jsonl")
        let cut = try rows.flatMap { row in
            try ["FAIL_TO_PASS", "PASS_TO_PASS"].flatMap { try JSONDecoder().decode([String].self, from: Data((row[$0] as? String ?? "[]").utf8)) }
        }
        let junit = sample.tasks.values.flatMap { $0.failToPass + $0.passToPass }
        let truncated = junit.filter { TestIDMatcher.swebenchForm($0) != $0 }
        XCTAssertFalse(truncated.isEmpty, "the sample has ids with whitespace")
        XCTAssertTrue(truncated.allSatisfy { !cut.contains($0) && cut.contains(TestIDMatcher.swebenchForm($0)) })

        // A second store holding the tasks with SWE-bench's ids, both graded with gold patches.
        let swebenchDB = directory + "/swe.db"
        try forge(["import", "--db", swebenchDB, directory + "/swe.jsonl"])
        let stored = try TaskStore(path: swebenchDB)
        XCTAssertTrue(try stored.tasks().allSatisfy { $0.testIDFormat == .swebench })
        var verdicts: [[String: String]] = []
        for db in [sample.databasePath, swebenchDB] {
            let runID = "ids-\(UUID().uuidString.prefix(6))"
            try forge(["eval", "--predictions", "gold", "--db", db, "--clone", sample.clone, "--workspace", sample.root.path,
                       "--run-id", runID, "--jobs", "2", "--layout", "forge"])
            let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: sample.root.path + "/evals/\(runID)/gold.\(runID).json"))) as? [String: Any])
            var verdict: [String: String] = [:]
            for key in ["resolved_ids", "unresolved_ids", "error_ids"] {
                for id in report[key] as? [String] ?? [] { verdict[id] = key }
            }
            verdicts.append(verdict)
        }
        XCTAssertEqual(verdicts[0], verdicts[1])
        XCTAssertEqual(Set(verdicts[1].filter { $0.value == "resolved_ids" }.keys), Set(sample.tasks.keys), "gold resolves every task in both forms")
    }

    /// SWE-agent's keyed form reads like the list; a key that names another instance is refused.
    func testKeyedPredictionsAndEpochMillisecondTimestamps() throws {
        let keyed = #"{"a__b-1": {"instance_id": "a__b-1", "model_name_or_path": "m", "model_patch": null}}"#
        XCTAssertEqual(try PredictionsFile.parse(Data(keyed.utf8), file: "preds.json").map(\.instanceID), ["a__b-1"])
        let lying = #"{"a__b-1": {"instance_id": "a__b-2", "model_name_or_path": "m", "model_patch": ""}}"#
        XCTAssertThrowsError(try PredictionsFile.parse(Data(lying.utf8), file: "preds.json")) { error in
            XCTAssertEqual("\(error)", "preds.json: prediction under key 'a__b-1' has instance_id 'a__b-2'")
        }
        let row = ##"{"instance_id":"a__b-1","repo":"a/b","base_commit":"c","patch":"","test_patch":"","problem_statement":"","created_at":1679496710000,"image":"x","eval_script":"#!/bin/bash"}"##
        let directory = try scratch()
        try row.write(toFile: directory + "/d.jsonl", atomically: true, encoding: .utf8)
        let task = try XCTUnwrap(try TaskJSONL.read(contentsOf: directory + "/d.jsonl").first)
        XCTAssertEqual(task.createdAt, "2023-03-22T14:51:50Z")
        XCTAssertEqual(task.testIDFormat, .swebench, "another tool's dataset")
        XCTAssertEqual(task.extraFields, ["image": "\"x\"", "eval_script": "\"#!/bin/bash\""], "kept as JSON text")
    }
}
