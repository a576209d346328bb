import Foundation
import Workers
import Sandbox
import Store
import Synchronization
import Validation

/// One model's report: SWE-bench's `<model>.<run_id>.json` keys (schema 2), then Forge's.
/// `completed = resolved + unresolved`; patches that did not apply are model failures, so they
/// are in `unresolved_ids` and listed again in `patch_apply_failed_ids`; `error_ids` holds
/// infrastructure errors only.
public struct ModelReport: Codable, Hashable, Sendable {
    public var totalInstances = 0
    public var submittedInstances = 0
    public var completedInstances = 0
    public var resolvedInstances = 0
    public var unresolvedInstances = 0
    public var emptyPatchInstances = 0
    public var errorInstances = 0
    public var completedIDs: [String] = []
    public var incompleteIDs: [String] = []
    public var emptyPatchIDs: [String] = []
    public var submittedIDs: [String] = []
    public var resolvedIDs: [String] = []
    public var unresolvedIDs: [String] = []
    public var errorIDs: [String] = []
    public var schemaVersion = 2
    // Forge's.
    public var model = ""
    public var runID = ""
    public var patchApplyFailedInstances = 0
    public var patchApplyFailedIDs: [String] = []
    public var applyMethod: [String: String] = [:]
    public var patchFixes: [String: [String]] = [:]
    public var touchesTestsIDs: [String] = []
    /// Patches whose changes to the tests affected the run: unresolved, reward 0.
    public var testsModifiedIDs: [String] = []
    /// Predicted instance ids the store does not know (not scored).
    public var unknownIDs: [String] = []
    /// Instance id → the one-line reason, for errors and patch failures.
    public var errorReasons: [String: String] = [:]

    public init() {}

    enum CodingKeys: String, CodingKey {
        case totalInstances = "total_instances", submittedInstances = "submitted_instances"
        case completedInstances = "completed_instances", resolvedInstances = "resolved_instances"
        case unresolvedInstances = "unresolved_instances", emptyPatchInstances = "empty_patch_instances"
        case errorInstances = "error_instances", completedIDs = "completed_ids", incompleteIDs = "incomplete_ids"
        case emptyPatchIDs = "empty_patch_ids", submittedIDs = "submitted_ids", resolvedIDs = "resolved_ids"
        case unresolvedIDs = "unresolved_ids", errorIDs = "error_ids", schemaVersion = "schema_version"
        case model = "model_name_or_path", runID = "run_id"
        case patchApplyFailedInstances = "patch_apply_failed_instances", patchApplyFailedIDs = "patch_apply_failed_ids"
        case applyMethod = "apply_method", patchFixes = "patch_fixes", touchesTestsIDs = "touches_tests_ids"
        case testsModifiedIDs = "tests_modified_ids", unknownIDs = "unknown_ids", errorReasons = "error_reasons"
    }

    /// Builds the report from every result of the model (fresh and resumed).
    init(model: String, runID: String, results: [InstanceResult], evaluableTaskIDs: Set<String>, unknownIDs: [String]) {
        self.model = model
        self.runID = runID
        self.unknownIDs = unknownIDs.sorted()
        let sorted = results.sorted { $0.instanceID < $1.instanceID }
        submittedIDs = sorted.map(\.instanceID)
        totalInstances = evaluableTaskIDs.union(submittedIDs).count
        incompleteIDs = evaluableTaskIDs.subtracting(submittedIDs).sorted()
        for result in sorted {
            let id = result.instanceID
            switch result.status {
            case .resolved: resolvedIDs.append(id)
            case .unresolved: unresolvedIDs.append(id)
            case .patchFailed: unresolvedIDs.append(id); patchApplyFailedIDs.append(id)
            case .testsModified: unresolvedIDs.append(id); testsModifiedIDs.append(id)
            case .emptyPatch: emptyPatchIDs.append(id)
            case .error: errorIDs.append(id)
            }
            if [.resolved, .unresolved, .patchFailed, .testsModified].contains(result.status) { completedIDs.append(id) }
            if [.error, .patchFailed, .testsModified].contains(result.status) { errorReasons[id] = result.reason }
            if let method = result.applyMethod { applyMethod[id] = method.rawValue }
            if !result.patchFixes.isEmpty { patchFixes[id] = result.patchFixes.map(\.rawValue) }
            if result.touchesTests { touchesTestsIDs.append(id) }
        }
        submittedInstances = submittedIDs.count
        completedInstances = completedIDs.count
        resolvedInstances = resolvedIDs.count
        unresolvedInstances = unresolvedIDs.count
        emptyPatchInstances = emptyPatchIDs.count
        errorInstances = errorIDs.count
        patchApplyFailedInstances = patchApplyFailedIDs.count
    }

    func write(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try encoder.encode(self).write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}

/// What a batch did, per model, for the summary table.
public struct EvaluationSummary: Sendable {
    public struct ModelLine: Sendable {
        public var report: ModelReport
        /// Where the report JSON was written.
        public var reportPath: String
        /// Predictions whose finished verdict was reused.
        public var skipped: Int
        public var results: [String: InstanceResult]
    }
    public var models: [ModelLine] = []
    public var seconds = 0.0
    public var interrupted = false
    /// Predictions evaluated in this invocation (not resumed).
    public var evaluated = 0

    /// One row per model: submitted, completed, resolved (%), unresolved, patch failed, empty, errors.
    public var table: String {
        var rows = [["model", "submitted", "completed", "resolved", "unresolved", "patch failed", "empty", "errors", "unknown", "resumed"]]
        for line in models {
            let report = line.report
            let share = report.submittedInstances == 0 ? 0 : 100 * Double(report.resolvedInstances) / Double(report.submittedInstances)
            rows.append([report.model, "\(report.submittedInstances)", "\(report.completedInstances)",
                         "\(report.resolvedInstances) (\(String(format: "%.1f", share))%)",
                         "\(report.unresolvedInstances)", "\(report.patchApplyFailedInstances)", "\(report.emptyPatchInstances)",
                         "\(report.errorInstances)", "\(report.unknownIDs.count)", "\(line.skipped)"])
        }
        let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        var lines = rows.map { row in
            row.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }.joined(separator: "  ")
        }
        lines.insert(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  "), at: 1)
        lines.append(String(format: "evaluated %d prediction(s) in %.1f s", evaluated, seconds))
        if interrupted { lines.append("interrupted: resume with the same command") }
        for line in models { lines.append("report: \(line.reportPath)") }
        return lines.joined(separator: "\n")
    }
}

/// Scores many predictions in parallel, saving each result (verdict, run, environment) in its
/// own transaction as it finishes: an interrupted run resumes where it stopped, skipping
/// predictions with a finished verdict of this run whose `report.json` is still there.
public enum BatchEvaluation {
    /// - Parameters:
    ///   - tasks: the tasks in scope (e.g. one shard); their evaluable ones (non-empty
    ///     FAIL_TO_PASS) make `total_instances`. Predictions for other tasks are ignored.
    ///   - unknownIDs: instance ids the store lacks: listed in the reports of models predicting them.
    ///   - retryErrors: evaluate predictions that ended in an infrastructure error again.
    ///   - force: evaluate everything again.
    public static func run(predictions: [Prediction], tasks: [TaskRecord], unknownIDs: Set<String> = [],
                           evaluator: Evaluator, store: TaskStore, retryErrors: Bool = false, force: Bool = false,
                           stop: StopFlag = StopFlag(),
                           progress: @escaping @Sendable (_ done: Int, _ total: Int) -> Void = { _, _ in }) throws -> EvaluationSummary {
        let started = Date()
        let taskByID = Dictionary(tasks.map { ($0.instanceID, $0) }, uniquingKeysWith: { first, _ in first })
        let evaluable = Set(tasks.filter(\.isEvaluable).map(\.instanceID))
        var models: [String] = []
        var byModel: [String: [Prediction]] = [:]
        var unknownByModel: [String: [String]] = [:]
        var seen = Set<[String]>()
        var folders: [String: String] = [:] // folder name → model
        var predictionsByModel: [String: [Prediction]] = [:] // as given, for SWE-bench's report
        for prediction in predictions {
            guard seen.insert([prediction.model, prediction.instanceID]).inserted else { continue } // scored once
            predictionsByModel[prediction.model, default: []].append(prediction)
            let folder = prediction.modelDirectoryName
            if let other = folders[folder], other != prediction.model { throw EvaluationError.modelNamesClash(other, prediction.model, folder: folder) }
            folders[folder] = prediction.model
            let known = taskByID[prediction.instanceID] != nil
            guard known || unknownIDs.contains(prediction.instanceID) else { continue } // another shard's
            if byModel[prediction.model] == nil { models.append(prediction.model); byModel[prediction.model] = [] }
            if known { byModel[prediction.model]!.append(prediction) } else { unknownByModel[prediction.model, default: []].append(prediction.instanceID) }
        }

        // Resume: reuse finished results whose report.json survived.
        var results: [String: [String: InstanceResult]] = [:]
        var skipped: [String: Int] = [:]
        var pending: [Prediction] = []
        for model in models {
            let finished = force ? [] : try store.finishedInstanceIDs(kind: evaluator.verdictKind(model: model))
            for prediction in byModel[model] ?? [] {
                let path = evaluator.resultFile(model: model, instanceID: prediction.instanceID)
                if finished.contains(prediction.instanceID), let result = InstanceReportFile.read(path, instanceID: prediction.instanceID),
                   !(retryErrors && result.status == .error) {
                    results[model, default: [:]][prediction.instanceID] = result
                    skipped[model, default: 0] += 1
                } else {
                    pending.append(prediction)
                }
            }
        }

        let finishedNow = Mutex((results: results, done: 0))
        progress(0, pending.count)
        // A failed save stops the batch: the store is what resuming relies on.
        try WorkerPool.forEach(pending, workers: evaluator.options.jobs, stop: stop) { prediction in
            let evaluation = evaluator.evaluate(prediction, task: taskByID[prediction.instanceID]!)
            try store.save(runs: evaluation.runs, verdicts: [evaluation.verdict], environments: evaluation.environment.map { [$0] } ?? [])
            let count: Int = finishedNow.withLock { finished in
                finished.results[prediction.model, default: [:]][prediction.instanceID] = evaluation.result
                finished.done += 1
                return finished.done
            }
            progress(count, pending.count)
        }
        let done: Int
        (results, done) = finishedNow.withLock { $0 }

        var summary = EvaluationSummary()
        summary.evaluated = done
        summary.interrupted = stop.isStopped && done < pending.count
        for model in models {
            let modelResults = results[model] ?? [:]
            let report = ModelReport(model: model, runID: evaluator.options.runID, results: Array(modelResults.values),
                                     evaluableTaskIDs: evaluable, unknownIDs: unknownByModel[model] ?? [])
            let path = "\(evaluator.runDirectory)/\(Prediction.directoryName(model: model)).\(evaluator.options.runID).json"
            switch evaluator.options.layout {
            case .forge: try report.write(to: path)
            case .swebench:
                try SWEBenchRunReport(predictions: predictionsByModel[model] ?? [], dataset: evaluable.sorted(),
                                      results: modelResults).write(to: path)
            }
            summary.models.append(.init(report: report, reportPath: path, skipped: skipped[model] ?? 0, results: modelResults))
        }
        summary.seconds = Date().timeIntervalSince(started)
        return summary
    }
}

/// A batch that cannot start.
public enum EvaluationError: Error, CustomStringConvertible, Hashable, Sendable {
    /// Two model names map to one folder name (e.g. `a/b` and `a__b`): their files would mix.
    case modelNamesClash(String, String, folder: String)

    public var description: String {
        switch self {
        case .modelNamesClash(let first, let second, let folder):
            return "models '\(first)' and '\(second)' would share the folder '\(folder)': rename one"
        }
    }
}

/// Which tasks a set of predictions is scored against, read from the store.
public struct EvaluationScope: Sendable {
    /// The tasks of the predicted repositories (in the shard): `total_instances` counts their
    /// evaluable ones; predictions for them are scored.
    public var tasks: [TaskRecord]
    /// Predicted instance ids the store does not hold at all.
    public var unknownIDs: Set<String>
    /// Repositories of the predicted tasks in the shard: each needs a clone.
    public var repositories: [String]

    public init(predictions: [Prediction], store: TaskStore, shard: Shard? = nil) throws {
        let predicted = Set(predictions.map(\.instanceID))
        var repos = Set<String>()
        var known = Set<String>()
        for id in predicted.sorted() {
            guard let task = try store.task(id: id) else { continue }
            known.insert(id)
            if shard?.contains(id) ?? true { repos.insert(task.repo) }
        }
        unknownIDs = predicted.subtracting(known)
        repositories = repos.sorted()
        tasks = try repositories.flatMap { try store.tasks(matching: TaskFilter(repo: $0, shard: shard)) }
    }
}
