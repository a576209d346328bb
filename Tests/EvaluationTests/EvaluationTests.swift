import Environments
import Foundation
import Sample
import SampleFixtures
import Store
import Validation
import XCTest
@testable import Evaluation

/// The whole path on the embedded sample: mined, validated in bubblewrap (once, shared), then
/// predictions scored in the same warm environments.
final class EvaluationTests: XCTestCase {
    var sample: ValidatedSample!

    override func setUpWithError() throws {
        sample = try ValidatedSample.shared()
        XCTAssertEqual(sample.validation.byStatus[.valid], 3, "the sample has three valid tasks")
        XCTAssertEqual(Set(sample.tasks.keys), Set([1, 2, 3].map { TaskRecord.instanceID(repo: SampleRepository.repoName, pullNumber: $0) }))
    }

    private func run(_ predictions: [Prediction], runID: String, timeout: Double? = nil, environments: EnvironmentBuilder? = nil,
                     retryErrors: Bool = false, tasks: [TaskRecord]? = nil) throws -> EvaluationSummary {
        let evaluator = try sample.evaluator(runID: runID, timeout: timeout, environments: environments)
        return try BatchEvaluation.run(predictions: predictions, tasks: tasks ?? sample.allTasks, evaluator: evaluator, store: sample.store,
                                       retryErrors: retryErrors)
    }

    private func result(_ summary: EvaluationSummary, _ model: String, _ number: Int) throws -> InstanceResult {
        let line = try XCTUnwrap(summary.models.first { $0.report.model == model }, "no report for \(model)")
        return try XCTUnwrap(line.results[TaskRecord.instanceID(repo: SampleRepository.repoName, pullNumber: number)])
    }

    func testGoldPatchesResolveAndEmptyPatchesScoreEmpty() throws {
        var predictions = [1, 2, 3].map { Prediction(instanceID: sample.task($0).instanceID, model: "gold", patch: sample.task($0).patch) }
        predictions.append(Prediction(instanceID: sample.task(1).instanceID, model: "nothing", patch: nil))
        predictions.append(Prediction(instanceID: sample.task(2).instanceID, model: "nothing", patch: "\n"))
        let summary = try run(predictions, runID: "gold")

        let gold = try XCTUnwrap(summary.models.first { $0.report.model == "gold" }).report
        XCTAssertEqual(gold.resolvedIDs, [1, 2, 3].map { sample.task($0).instanceID })
        XCTAssertEqual([gold.submittedInstances, gold.completedInstances, gold.resolvedInstances, gold.errorInstances], [3, 3, 3, 0])
        XCTAssertEqual(gold.totalInstances, 3, "the three valid tasks")
        XCTAssertEqual(Set(gold.applyMethod.values), ["git_apply"])
        for number in [1, 2, 3] {
            let result = try result(summary, "gold", number)
            XCTAssertEqual(result.failToPass.success.sorted(), sample.task(number).failToPass.sorted())
            XCTAssertEqual(result.passToPass.failure, [])
            // Only the files holding FAIL_TO_PASS / PASS_TO_PASS ran.
            let files = Set(sample.task(number).failToPass.map { String($0.prefix { $0 != ":" }) })
            XCTAssertEqual(Set(result.testCommand.filter { $0.hasPrefix("tests/") }), files)
        }

        let nothing = try XCTUnwrap(summary.models.first { $0.report.model == "nothing" }).report
        XCTAssertEqual(nothing.emptyPatchIDs, [sample.task(1).instanceID, sample.task(2).instanceID])
        XCTAssertEqual([nothing.completedInstances, nothing.resolvedInstances, nothing.errorInstances], [0, 0, 0])
        XCTAssertEqual(nothing.incompleteIDs, [sample.task(3).instanceID])

        // SWE-bench's report file and per-instance logs, each model in its own folder.
        let runFolder = sample.root.appendingPathComponent("evals/gold").path
        let data = try XCTUnwrap(FileManager.default.contents(atPath: runFolder + "/gold.gold.json"))
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        for key in ["total_instances", "submitted_instances", "completed_instances", "resolved_instances", "unresolved_instances",
                    "empty_patch_instances", "error_instances", "submitted_ids", "completed_ids", "resolved_ids", "unresolved_ids",
                    "empty_patch_ids", "error_ids", "patch_apply_failed_ids", "apply_method", "touches_tests_ids"] {
            XCTAssertNotNil(json[key], "report lacks \(key)")
        }
        XCTAssertEqual(json["resolved_instances"] as? Int, 3)
        let instance = runFolder + "/gold/" + sample.task(3).instanceID
        for file in ["patch.diff", "test.log", "junit.xml", "report.json", "apply.log"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: "\(instance)/\(file)"), "missing \(file)")
        }
        XCTAssertEqual(try String(contentsOfFile: instance + "/patch.diff", encoding: .utf8), sample.task(3).patch)
        XCTAssertTrue(try String(contentsOfFile: instance + "/test.log", encoding: .utf8).contains("passed"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: runFolder + "/nothing/" + sample.task(3).instanceID))
        let verdict = try XCTUnwrap(sample.store.verdict(instanceID: sample.task(3).instanceID, kind: .evaluation(runID: "gold/gold")))
        XCTAssertEqual(verdict.status, "resolved")
        XCTAssertEqual(try sample.store.run(id: verdict.runIDs[0])?.purpose, "eval")
    }

    func testModelFailuresAreUnresolvedOrPatchFailed() throws {
        let task = sample.task(3)
        // Gold plus a slip that breaks the PASS_TO_PASS test of hours and minutes.
        let breaksPassToPass = try sample.makePatch(task, first: task.patch) {
            try replace(#""h": 3600"#, with: #""h": 7200"#, in: "textkit/duration.py", under: $0)
        }
        let doesNotApply = """
            diff --git a/textkit/duration.py b/textkit/duration.py
            --- a/textkit/duration.py
            +++ b/textkit/duration.py
            @@ -30,3 +30,3 @@ def nowhere():
            -    return totally_different
            +    return something_else
             # nothing like this exists

            """
        let summary = try run([Prediction(instanceID: task.instanceID, model: "breaks", patch: breaksPassToPass),
                               Prediction(instanceID: task.instanceID, model: "garbled", patch: doesNotApply)], runID: "failures")
        let broken = try result(summary, "breaks", 3)
        XCTAssertEqual(broken.status, .unresolved)
        XCTAssertEqual(broken.passToPass.failure, ["tests/test_duration.py::test_hours_and_minutes"])
        XCTAssertEqual(broken.failToPass.failure, [], "the fix itself is there")
        XCTAssertEqual(broken.applyMethod, .gitApply)

        let garbled = try result(summary, "garbled", 3)
        XCTAssertEqual(garbled.status, .patchFailed)
        XCTAssertNil(garbled.applyMethod)
        XCTAssertTrue(garbled.reason.hasPrefix("patch did not apply"), garbled.reason)
        let report = try XCTUnwrap(summary.models.first { $0.report.model == "garbled" }).report
        XCTAssertEqual(report.patchApplyFailedIDs, [task.instanceID])
        XCTAssertEqual(report.unresolvedIDs, [task.instanceID], "a patch that does not apply is the model's failure")
        XCTAssertEqual(report.errorIDs, [], "not an infrastructure error")
        let log = try String(contentsOfFile: sample.evaluator(runID: "failures").instanceDirectory(model: "garbled", instanceID: task.instanceID) + "/apply.log", encoding: .utf8)
        for method in ["git_apply", "git_apply_recount", "patch_fuzz (dry run)"] { XCTAssertTrue(log.contains("$ model_patch: \(method)\n"), log) }
    }

    func testRepairedAndFuzzyPatchesResolveAndRecordTheMethod() throws {
        let task = sample.task(3)
        let gold = task.patch
        XCTAssertTrue(gold.contains("@@ -16,4 +16,6 @@"), gold)
        let variants: [(model: String, patch: String, method: ApplyMethod, fixes: [PatchText.Fix])] = [
            ("crlf", gold.replacingOccurrences(of: "\n", with: "\r\n"), .gitApply, [.crlf]),
            ("no-newline", String(gold.dropLast()), .gitApply, [.trailingNewline]),
            ("miscounted", gold.replacingOccurrences(of: "@@ -16,4 +16,6 @@", with: "@@ -16,7 +16,9 @@"), .gitApplyRecount, []),
            // The first context line drifted: only a fuzzy patch(1) finds the place.
            ("drifted", gold.replacingOccurrences(of: "             raise ValueError(f\"bad duration: {text!r}\")\n         total",
                                                  with: "             raise ValueError(f\"bad  duration: {text!r}\")\n         total"),
             .patchFuzz, []),
        ]
        XCTAssertNotEqual(variants[3].patch, gold)
        let summary = try run(variants.map { Prediction(instanceID: task.instanceID, model: $0.model, patch: $0.patch) }, runID: "repairs")
        for variant in variants {
            let result = try result(summary, variant.model, 3)
            XCTAssertEqual(result.status, .resolved, "\(variant.model): \(result.reason)")
            XCTAssertEqual(result.applyMethod, variant.method, variant.model)
            XCTAssertEqual(result.patchFixes, variant.fixes, variant.model)
            let report = try XCTUnwrap(summary.models.first { $0.report.model == variant.model }).report
            XCTAssertEqual(report.applyMethod[task.instanceID], variant.method.rawValue)
        }
    }

    func testBinaryFilesAndTestFileChanges() throws {
        let task = sample.task(3)
        let binary = try sample.makePatch(task, first: task.patch) {
            try Data([0x89, 0x50, 0x4E, 0x47, 0x00, 0xFF, 0x10, 0x00]).write(to: $0.appendingPathComponent("textkit/logo.bin"))
        }
        XCTAssertTrue(binary.contains("GIT binary patch"), binary)
        // Changes the file test_patch also changes: test_patch's version wins, as in SWE-bench,
        // and the change affects the run: tests_modified.
        let editsPatchedTest = try sample.makePatch(task, first: task.patch) {
            try replace("def test_uppercase_units", with: "def test_uppercase_units_renamed", in: "tests/test_duration.py", under: $0)
        }
        // Weakens a test file test_patch does not touch and the run does not execute: put back,
        // flagged, not punished.
        let editsOtherTest = try sample.makePatch(task, first: task.patch) {
            try "def test_nothing():\n    pass\n".write(to: $0.appendingPathComponent("tests/test_slug.py"), atomically: true, encoding: .utf8)
        }
        let summary = try run([Prediction(instanceID: task.instanceID, model: "binary", patch: binary),
                               Prediction(instanceID: task.instanceID, model: "patched-test", patch: editsPatchedTest),
                               Prediction(instanceID: task.instanceID, model: "other-test", patch: editsOtherTest)], runID: "files")
        let withBinary = try result(summary, "binary", 3)
        XCTAssertEqual(withBinary.status, .resolved, withBinary.reason)
        XCTAssertEqual(withBinary.applyMethod, .gitApply)
        XCTAssertFalse(withBinary.touchesTests)

        let patchedTest = try result(summary, "patched-test", 3)
        XCTAssertEqual(patchedTest.status, .testsModified, patchedTest.reason)
        XCTAssertEqual(patchedTest.replacedByTestPatch, ["tests/test_duration.py"])
        XCTAssertEqual(patchedTest.restoredTestFiles, ["tests/test_duration.py"])
        XCTAssertEqual(patchedTest.testPathsTouched, ["tests/test_duration.py"])

        let otherTest = try result(summary, "other-test", 3)
        XCTAssertEqual(otherTest.status, .resolved, otherTest.reason)
        XCTAssertEqual(otherTest.testPathsTouched, ["tests/test_slug.py"])
        XCTAssertEqual(otherTest.replacedByTestPatch, [])
        XCTAssertEqual(otherTest.restoredTestFiles, ["tests/test_slug.py"])
        XCTAssertEqual(try XCTUnwrap(summary.models.first { $0.report.model == "other-test" }).report.touchesTestsIDs, [task.instanceID])
    }

    func testInfrastructureFailuresAreErrorsNotUnresolved() throws {
        let task = sample.task(3)
        // An environment that cannot be built: the repository's recipe wants a Python nobody has.
        let broken = try sample.unbuildableEnvironments()
        let noEnvironment = try run([Prediction(instanceID: task.instanceID, model: "m", patch: task.patch)], runID: "no-env", environments: broken)
        let failed = try result(noEnvironment, "m", 3)
        XCTAssertEqual(failed.status, .error)
        XCTAssertTrue(failed.reason.hasPrefix("environment failed: missing-interpreter"), failed.reason)
        let report = noEnvironment.models[0].report
        XCTAssertEqual([report.errorInstances, report.unresolvedInstances, report.completedInstances], [1, 0, 0])
        XCTAssertEqual(report.errorReasons[task.instanceID], failed.reason)

        // A patch whose import hangs runs into the time limit: an error too, not a model failure.
        let hangs = try sample.makePatch(task, first: task.patch) {
            try replace("import re\n", with: "import re\nimport time\ntime.sleep(120)\n", in: "textkit/duration.py", under: $0)
        }
        let started = Date()
        let timeout = try run([Prediction(instanceID: task.instanceID, model: "m", patch: hangs)], runID: "timeout", timeout: 2)
        XCTAssertLessThan(Date().timeIntervalSince(started), 30)
        let timedOut = try result(timeout, "m", 3)
        XCTAssertEqual(timedOut.status, .error)
        XCTAssertTrue(timedOut.timedOut)
        XCTAssertTrue(timedOut.reason.hasPrefix("timeout"), timedOut.reason)
        XCTAssertEqual(timeout.models[0].report.errorIDs, [task.instanceID])
        XCTAssertEqual(timeout.models[0].report.unresolvedIDs, [])
    }

    /// pytest exits 4 when conftest cannot be imported: a patch that breaks a module conftest imports
    /// is the model's failure (unresolved, as in SWE-bench), told apart from a broken runner by the
    /// same run without the patch; when that run reports nothing either, it stays an error.
    func testAPatchThatBreaksCollectionIsUnresolvedAndABrokenRunnerAnError() throws {
        let original = sample.task(3)
        let pathLine = "sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))\n"
        func conftest(importing module: String) throws -> TaskRecord {
            var task = original
            task.testPatch = try sample.makePatch(original, first: original.testPatch) {
                try replace(pathLine, with: pathLine + "import \(module)  # noqa: F401\n", in: "tests/conftest.py", under: $0)
            }
            return task
        }
        let others = sample.allTasks.filter { $0.instanceID != original.instanceID }
        let breaks = try sample.makePatch(original, first: original.patch) {
            try replace("import re\n", with: "import re\n)\n", in: "textkit/duration.py", under: $0)
        }
        let importsTheFix = try conftest(importing: "textkit.duration")
        let broken = try result(try run([Prediction(instanceID: original.instanceID, model: "m", patch: breaks)], runID: "collection",
                                        tasks: others + [importsTheFix]), "m", 3)
        XCTAssertEqual(broken.exitStatus, 4, "pytest's usage-error exit, as for a broken runner")
        XCTAssertEqual(broken.status, .unresolved, broken.reason)
        XCTAssertTrue(broken.reason.hasPrefix("the patch breaks test collection"), broken.reason)
        XCTAssertEqual(broken.failToPass.failure, original.failToPass)
        let gold = try result(try run([Prediction(instanceID: original.instanceID, model: "m", patch: original.patch)], runID: "collection-gold",
                                      tasks: others + [importsTheFix]), "m", 3)
        XCTAssertEqual(gold.status, .resolved, "the changed conftest itself works: \(gold.reason)")

        let importsNothingThere = try conftest(importing: "no_such_module_anywhere")
        let runner = try result(try run([Prediction(instanceID: original.instanceID, model: "m", patch: original.patch)], runID: "collection-broken",
                                        tasks: others + [importsNothingThere]), "m", 3)
        XCTAssertEqual(runner.status, .error)
        XCTAssertTrue(runner.reason.hasPrefix("the test command produced no results (exit 4), nor without the patch"), runner.reason)
    }

    func testResumeSkipsFinishedPredictions() throws {
        let first = [1, 2].map { Prediction(instanceID: sample.task($0).instanceID, model: "resumer", patch: sample.task($0).patch) }
        let before = try run(first, runID: "resume")
        XCTAssertEqual(before.evaluated, 2)
        let evaluator = try sample.evaluator(runID: "resume")
        let report1 = evaluator.instanceDirectory(model: "resumer", instanceID: sample.task(1).instanceID) + "/report.json"
        let written = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: report1)[.modificationDate] as? Date)

        let all = first + [Prediction(instanceID: sample.task(3).instanceID, model: "resumer", patch: "")]
        let after = try run(all, runID: "resume")
        XCTAssertEqual(after.evaluated, 1, "only the new prediction runs")
        XCTAssertEqual(after.models[0].skipped, 2)
        XCTAssertEqual(after.models[0].report.resolvedIDs, first.map(\.instanceID), "resumed results are still reported")
        XCTAssertEqual(after.models[0].report.emptyPatchIDs, [sample.task(3).instanceID])
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: report1)[.modificationDate] as? Date, written)
        XCTAssertEqual(try sample.store.finishedInstanceIDs(kind: evaluator.verdictKind(model: "resumer")).count, 3)

        // A lost report.json means the prediction runs again.
        try FileManager.default.removeItem(atPath: report1)
        let again = try run(all, runID: "resume")
        XCTAssertEqual(again.evaluated, 1)
        XCTAssertEqual(again.models[0].report.resolvedInstances, 2)
    }

    func testModelNamesSharingAFolderAreRefused() throws {
        let id = sample.task(1).instanceID
        XCTAssertThrowsError(try run([Prediction(instanceID: id, model: "org/m", patch: ""),
                                      Prediction(instanceID: id, model: "org__m", patch: "")], runID: "clash")) { error in
            XCTAssertEqual("\(error)", "models 'org/m' and 'org__m' would share the folder 'org__m': rename one")
        }
    }
}
