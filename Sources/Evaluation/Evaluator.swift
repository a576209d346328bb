import Environments
import Foundation
import Git
import PathRules
import Sandbox
import Store
import TestReports
import Validation

/// Settings for an evaluation run.
public struct EvaluationOptions: Sendable {
    /// Names the run: folders, report files and the store's verdict kind.
    public var runID: String
    /// `<workspace>/evals`: each run writes `<runID>/<model>/<instance_id>/` under it.
    public var evaluationsDirectory: String
    /// Predictions scored in parallel.
    public var jobs: Int
    public var useSandbox: Bool
    /// Overrides the recipe's test time limit (seconds); a run that hits it is an error.
    public var timeout: Double?
    /// Which files each instance folder and the run's report hold.
    public var layout: EvaluationLayout
    /// SWE-bench's exact semantics, for comparisons: the model patch, then `test_patch` over it
    /// with only its own files reset; other changes to test infrastructure stay and nothing is
    /// `tests_modified`. Off (Forge's semantics): every test and test-infrastructure file is put
    /// back, and a patch whose changes to them affect the run scores `tests_modified`.
    public var swebenchSemantics: Bool

    public init(runID: String, evaluationsDirectory: String, jobs: Int = 1, useSandbox: Bool = true, timeout: Double? = nil,
                layout: EvaluationLayout = .forge, swebenchSemantics: Bool = false) {
        self.runID = runID; self.evaluationsDirectory = evaluationsDirectory; self.jobs = jobs
        self.useSandbox = useSandbox; self.timeout = timeout; self.layout = layout; self.swebenchSemantics = swebenchSemantics
    }
}

/// The files an evaluation writes.
public enum EvaluationLayout: String, Sendable, CaseIterable {
    /// Forge's: patch.diff, apply.log, test.log, junit.xml and report.json per instance.
    case forge
    /// SWE-bench's (`logs/run_evaluation/<run>/<model>/<instance>/`): report.json only for
    /// predictions whose tests ran (errors and patches that did not apply have none, as in
    /// SWE-bench), test_output.txt with the results between SWE-bench's markers, eval.sh,
    /// run_instance.log; Forge's own result in forge_report.json. See `SWEBenchLogs`.
    case swebench
}

extension TaskRecord {
    /// Valid by SWE-bench's rule (FAIL_TO_PASS non-empty, PASS_TO_FAIL empty): only these are scored.
    public var isEvaluable: Bool { !failToPass.isEmpty && passToFail.isEmpty }
}

/// Everything one scored prediction produced, ready for one store transaction.
public struct InstanceEvaluation: Sendable {
    public var result: InstanceResult
    public var verdict: VerdictRecord
    public var runs: [TestRunRecord]
    public var environment: EnvironmentRecord?
}

/// Scores predictions the way validation runs tasks: the validator prepares (or reuses) the
/// task's environment, `TestRunner` exports `base_commit` into a fresh folder, applies
/// `test_patch` and the model patch and runs the tests in the sandbox. Each model's runs live
/// in its own folder tree, so one model's files are never seen by another's.
public final class Evaluator: Sendable {
    public let options: EvaluationOptions
    /// Names the scoring rules; stores of verdicts (the reward server's, RL's `rewards.jsonl`)
    /// key on it, so a verdict reached under older rules — before test infrastructure was put
    /// back, say — is never reused. Change it whenever the same patch could score differently.
    public static let scoringRules = "forge-2:tests-restored"
    private struct Clone {
        let validator: Validator
        let runner: TestRunner
    }
    private let clones: [String: Clone]

    /// `clones`: repository (`owner/name`) → path of a local clone holding its commits.
    public init(clones: [String: String], environments: EnvironmentBuilder, options: EvaluationOptions) throws {
        self.options = options
        var opened: [String: Clone] = [:]
        for (repo, path) in clones {
            // Two handles: environment checkouts and run exports lock separately, and libgit2
            // handles must not be used from two threads at once.
            let validator = Validator(repository: try Repository.open(path), environments: environments,
                                      options: ValidationOptions(reruns: 0, jobs: options.jobs, useSandbox: options.useSandbox))
            opened[repo] = Clone(validator: validator, runner: TestRunner(repository: try Repository.open(path), useSandbox: options.useSandbox))
        }
        self.clones = opened
    }

    /// The store's verdict kind for one model's results in this run.
    public func verdictKind(model: String) -> VerdictKind {
        .evaluation(runID: "\(options.runID)/\(Prediction.directoryName(model: model))")
    }

    /// `<evals>/<runID>`: the run's report files and one folder per model.
    public var runDirectory: String { "\(options.evaluationsDirectory)/\(options.runID)" }

    /// `<evals>/<runID>/<model>/<instance_id>`: patch.diff, test.log, junit.xml, apply.log, report.json.
    public func instanceDirectory(model: String, instanceID: String) -> String {
        "\(runDirectory)/\(Prediction.directoryName(model: model))/\(Identifier.pathComponent(instanceID))"
    }

    /// Where Forge's full result for one prediction is kept (what a resumed run reads).
    public func resultFile(model: String, instanceID: String) -> String {
        instanceDirectory(model: model, instanceID: instanceID) + (options.layout == .swebench ? "/forge_report.json" : "/report.json")
    }

    /// Scores one prediction against its task. Problems become the result's status; nothing throws.
    public func evaluate(_ prediction: Prediction, task: TaskRecord) -> InstanceEvaluation {
        let folder = instanceDirectory(model: prediction.model, instanceID: prediction.instanceID)
        let fileManager = FileManager.default
        try? fileManager.removeItem(atPath: folder) // leftovers of an interrupted attempt
        var result = InstanceResult(instanceID: prediction.instanceID, model: prediction.model, status: .error)
        var runs: [TestRunRecord] = []
        var environmentRecord: EnvironmentRecord?
        do {
            try fileManager.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try Data((prediction.patch ?? "").utf8).write(to: URL(fileURLWithPath: folder + "/patch.diff"))
            try score(prediction, task: task, folder: folder, into: &result, runs: &runs, environment: &environmentRecord)
        } catch {
            result.status = .error
            result.reason = "\(error)"
        }
        do {
            try InstanceReportFile.write(result, to: resultFile(model: prediction.model, instanceID: prediction.instanceID))
            if options.layout == .swebench {
                try SWEBenchLogs.write(result, prediction: prediction, task: task, environment: environmentRecord,
                                       results: runs.first?.results, folder: folder)
            }
        } catch {
            // Without its report the result cannot be resumed or served: an infrastructure error.
            result.status = .error
            result.reason = "saving the result failed: \(error)"
        }
        return InstanceEvaluation(result: result, verdict: verdict(for: result, runs: runs), runs: runs, environment: environmentRecord)
    }

    private func score(_ prediction: Prediction, task: TaskRecord, folder: String, into result: inout InstanceResult,
                       runs: inout [TestRunRecord], environment environmentRecord: inout EnvironmentRecord?) throws {
        let patch = prediction.patch ?? ""
        result.testPathsTouched = PatchPaths.touched(patch).filter { TestInfrastructure.kind(of: $0) != nil }
        if prediction.isEmptyPatch {
            result.status = .emptyPatch
            result.reason = "no patch"
            return
        }
        guard task.isEvaluable else {
            result.reason = task.failToPass.isEmpty ? "task has no FAIL_TO_PASS tests: validate it first (forge validate)"
                : "task is not valid: its gold patch breaks PASS_TO_FAIL tests"
            return
        }
        guard let clone = clones[task.repo] else {
            result.reason = "no clone of \(task.repo) given (--clone \(task.repo)=PATH)"
            return
        }
        var environment: PreparedEnvironment
        do {
            environment = try clone.validator.environment(for: task)
        } catch let failure as EnvironmentFailure {
            environmentRecord = failure.storeRecord
            result.reason = "environment failed: \(failure)"
            return
        }
        environmentRecord = environment.storeRecord
        result.environmentKey = environment.key
        if let timeout = options.timeout { environment.testTimeout = timeout }

        // SWE-bench applies the model patch, resets the files test_patch changes and applies
        // test_patch. So does Forge, and it resets every other test-infrastructure file too
        // (`TestInfrastructureGuard`), judging the tree the patch tools left rather than the patch text.
        let testFiles = Self.testFiles(holding: task.failToPass + task.passToPass, ecosystem: environment.ecosystem)
        let testPatchPaths = Set(PatchPaths.touched(task.testPatch))
        let applier = ModelPatchApplier(testPatchPaths: testPatchPaths, runTestFiles: testFiles.map(Set.init),
                                        swebenchSemantics: options.swebenchSemantics)
        var spec = TestRunSpec(task: task, phase: .after, attempt: 0,
                               patches: [(name: ModelPatchApplier.modelPatchName, text: patch), (name: "test_patch", text: task.testPatch)],
                               runsDirectory: runDirectory, purpose: Prediction.directoryName(model: prediction.model))
        spec.testFiles = testFiles
        spec.patchApplier = applier
        let outcome = try clone.runner.run(spec, environment: environment)
        var record = outcome.record
        record.purpose = "eval"
        result.applyMethod = applier.appliedWith
        result.patchFixes = applier.repairs
        result.restoredTestFiles = applier.restoredPaths
        result.replacedByTestPatch = applier.restoredPaths.filter(testPatchPaths.contains)
        collect(runFolder: spec.folder, into: folder, record: &record, result: &result)
        runs.append(record)

        let affecting = applier.runAffectingChanges
        if !affecting.isEmpty {
            result.status = .testsModified
            result.reason = "the patch changes the tests or their infrastructure (put back, tests not run): "
                + affecting.prefix(3).joined(separator: ", ") + (affecting.count > 3 ? ", …" : "")
            return
        }
        if case .patchDidNotApply(let name, let message)? = outcome.failure {
            if name == ModelPatchApplier.modelPatchName {
                result.status = .patchFailed
                result.reason = "patch did not apply: " + (message.split(separator: "\n").last.map(String.init) ?? message)
            } else {
                result.reason = "\(name) did not apply (the task is broken): \(message)"
            }
            return
        }
        result.testCommand = record.command
        result.exitStatus = record.exitStatus
        result.timedOut = record.timedOut
        result.wallSeconds = record.wallSeconds
        if record.timedOut {
            result.reason = "timeout: the tests ran past \(Int(environment.testTimeout)) s"
            return
        }
        if let limit = record.resourceLimit {
            result.reason = limit
            return
        }
        let report = outcome.report
        if report.isEmpty, Self.isInfrastructureExit(record.exitStatus, logFormat: environment.testRunner.logFormat) {
            let exit = record.exitStatus.map { "exit \($0)" } ?? "killed"
            // pytest exits 4 when conftest cannot be imported, so a patch that breaks a module conftest imports
            // looks like a broken runner. The same run without the model patch tells them apart: if that one
            // reports tests, the patch broke collection, and that counts against it (in SWE-bench, too, a
            // patch after which no test reports is unresolved). An error here would leave an RL sample out
            // instead of scoring it 0.
            var control = TestRunSpec(task: task, phase: .after, attempt: 1, patches: [(name: "test_patch", text: task.testPatch)],
                                      runsDirectory: runDirectory, purpose: Prediction.directoryName(model: prediction.model) + ".control")
            control.testFiles = testFiles
            let controlOutcome = try clone.runner.run(control, environment: environment)
            try? FileManager.default.removeItem(atPath: control.folder)
            var controlRecord = controlOutcome.record
            controlRecord.purpose = "eval-control"
            controlRecord.logPath = nil; controlRecord.junitPath = nil
            runs.append(controlRecord)
            guard !controlOutcome.report.isEmpty else {
                result.reason = "the test command produced no results (\(exit)), nor without the patch; see \(result.logFile ?? "the log")"
                return
            }
            result.failToPass = TestListStatus(success: [], failure: task.failToPass)
            result.passToPass = TestListStatus(success: [], failure: task.passToPass)
            result.status = .unresolved
            result.reason = "the patch breaks test collection: no results with it (\(exit)), results without it; see \(result.logFile ?? "the log")"
            return
        }
        // The task's lists may hold JUnit ids or SWE-bench's truncated ones: the matcher takes both.
        let matcher = TestIDMatcher(report)
        func split(_ ids: [String]) -> TestListStatus {
            TestListStatus(success: ids.filter { matcher.status(of: $0) == .passed }, failure: ids.filter { matcher.status(of: $0) != .passed })
        }
        result.failToPass = split(task.failToPass)
        result.passToPass = split(task.passToPass)
        let failing = result.failToPass.failure.map { "FAIL_TO_PASS \($0)" } + result.passToPass.failure.map { "PASS_TO_PASS \($0)" }
        if failing.isEmpty {
            result.status = .resolved
            result.reason = ""
        } else {
            result.status = .unresolved
            result.reason = "\(failing.count) test(s) not passing: " + failing.prefix(3).joined(separator: ", ")
                + (failing.count > 3 ? ", …" : "")
        }
    }

    /// pytest ids name their file (`tests/test_x.py::T::t`): run those files only. Other runners'
    /// ids do not, so the test patch's files are run (nil).
    static func testFiles(holding ids: [String], ecosystem: Ecosystem) -> [String]? {
        guard ecosystem == .python, !ids.isEmpty else { return nil }
        var files: [String] = [], seen = Set<String>()
        for id in ids {
            guard let range = id.range(of: "::") else { return nil }
            let file = String(id[..<range.lowerBound])
            guard file.hasSuffix(".py") else { return nil }
            if seen.insert(file).inserted { files.append(file) }
        }
        return files
    }

    /// No results and an exit that says the runner itself did not work (killed, not found, or
    /// pytest's internal/usage errors). Other exits without results — a model patch that breaks
    /// collection, say — count against the model, as in SWE-bench.
    static func isInfrastructureExit(_ status: Int?, logFormat: String) -> Bool {
        guard let status else { return true }
        if status == 126 || status == 127 { return true }
        return logFormat == "pytest" && (status == 3 || status == 4)
    }

    /// Moves the run's log, JUnit XML and patch logs into the instance folder: regular files only,
    /// as the tested code could have left links to host files in their place (the server reads
    /// what it serves without following links too).
    private func collect(runFolder: String, into folder: String, record: inout TestRunRecord, result: inout InstanceResult) {
        let fileManager = FileManager.default
        let moves = [("test.log", "test.log"), ("junit.xml", "junit.xml"), ("apply.log", "apply.log"),
                     ("model_patch.normalized.diff", "model_patch.applied.diff")]
        // A file that cannot be moved is missing from the instance folder, and the record then
        // names no log (checked below): the run's result stands either way.
        for (from, to) in moves where SafeFile.isRegularFile(atPath: "\(runFolder)/\(from)") {
            try? fileManager.removeItem(atPath: "\(folder)/\(to)")
            try? fileManager.moveItem(atPath: "\(runFolder)/\(from)", toPath: "\(folder)/\(to)")
        }
        try? fileManager.removeItem(atPath: runFolder)
        if SafeFile.isRegularFile(atPath: folder + "/test.log") {
            record.logPath = folder + "/test.log"
            result.logFile = "test.log"
        } else {
            record.logPath = nil
        }
        if SafeFile.isRegularFile(atPath: folder + "/junit.xml") {
            record.junitPath = folder + "/junit.xml"
            result.junitFile = "junit.xml"
        } else {
            record.junitPath = nil
        }
    }

    private func verdict(for result: InstanceResult, runs: [TestRunRecord]) -> VerdictRecord {
        VerdictRecord(instanceID: result.instanceID, kind: verdictKind(model: result.model), status: result.status.rawValue,
                      reason: result.reason.isEmpty ? nil : result.reason,
                      failToPass: result.failToPass.success, passToPass: result.passToPass.success,
                      passToFail: result.passToPass.failure, runIDs: runs.map(\.id), finishedAt: Date())
    }
}
