import Foundation
import Store

/// The instance files of an evaluation in SWE-bench's layout (`--layout swebench`), so that
/// `swebench.harness.grading.get_logs_eval` regrades a Forge run and
/// `swebench.harness.reporting.make_run_report` counts it as SWE-bench counts its own:
/// - `report.json` only where the tests ran (resolved or unresolved). SWE-bench writes none
///   for errors or for a patch that did not apply, and counts a missing one as an error.
/// - `test_output.txt`: each test's outcome as pytest's `-rA` summary prints it (`PASSED <id>`),
///   between SWE-bench's start/end markers, then the test command's exit status. The outcomes
///   are Forge's, read from JUnit XML; the raw log goes to `run_instance.log` instead, since
///   text a test prints there could pose as a marker or a result line.
/// - `eval.sh`: the task's `eval_script` (the one it was imported with, else Forge's).
/// - `run_instance.log`: Forge's verdict and reason, the patch log and the raw test log.
enum SWEBenchLogs {
    static func write(_ result: InstanceResult, prediction: Prediction, task: TaskRecord, environment: EnvironmentRecord?,
                      results: [String: String]?, folder: String) throws {
        let imported = task.extraFields["eval_script"].flatMap { try? JSONDecoder().decode(String.self, from: Data($0.utf8)) }
        let script = imported ?? SWEBenchExport.evalScript(for: task, environment: environment.map(LockedEnvironment.init(record:)))
        try write(script, to: folder + "/eval.sh")

        var log = "Forge evaluation of \(prediction.instanceID) for \(prediction.model): \(result.status.rawValue)\n"
        if !result.reason.isEmpty { log += "reason: \(result.reason)\n" }
        for name in ["apply.log", "test.log"] {
            if let text = try? String(contentsOfFile: "\(folder)/\(name)", encoding: .utf8) { log += "\n===== \(name)\n" + text }
        }
        try write(log, to: folder + "/run_instance.log")

        guard result.status == .resolved || result.status == .unresolved else { return }
        var output = SWEBenchExport.startMarker + "\n"
        for (id, status) in (results ?? [:]).sorted(by: { $0.key < $1.key }) {
            let line = id.map { $0.isNewline ? " " : $0 }
            output += "\(status.uppercased()) \(String(line))\n"
        }
        output += SWEBenchExport.endMarker + "\n"
        if let exit = result.exitStatus { output += ">>>>> Test Exit Code: \(exit)\n" }
        try write(output, to: folder + "/test_output.txt")
        try InstanceReportFile.write(result, to: folder + "/report.json")
    }

    private static func write(_ text: String, to path: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}

/// One model's `<model>.<run_id>.json` with the keys and counting of SWE-bench's
/// `make_run_report`: `total_instances` is every dataset row (the gradable tasks in scope: the
/// rows `forge export` writes); a prediction is empty when its
/// patch is `""` or null; completed when its `report.json` exists (tests ran), resolved when
/// that says so; every other predicted dataset row is an error. `infra_failure_ids` are the
/// errors Forge attributes to the infrastructure.
struct SWEBenchRunReport: Encodable {
    var totalInstances = 0, submittedInstances = 0, completedInstances = 0, resolvedInstances = 0
    var unresolvedInstances = 0, infraFailureInstances = 0, ambiguousFailureInstances = 0
    var emptyPatchInstances = 0, errorInstances = 0
    var completedIDs: [String] = [], incompleteIDs: [String] = [], emptyPatchIDs: [String] = []
    var submittedIDs: [String] = [], resolvedIDs: [String] = [], unresolvedIDs: [String] = []
    var infraFailureIDs: [String] = [], ambiguousFailureIDs: [String] = []
    var failureReasons: [String: String] = [:]
    var errorIDs: [String] = []
    var schemaVersion = 2

    enum CodingKeys: String, CodingKey {
        case totalInstances = "total_instances", submittedInstances = "submitted_instances"
        case completedInstances = "completed_instances", resolvedInstances = "resolved_instances"
        case unresolvedInstances = "unresolved_instances", infraFailureInstances = "infra_failure_instances"
        case ambiguousFailureInstances = "ambiguous_failure_instances", emptyPatchInstances = "empty_patch_instances"
        case errorInstances = "error_instances", completedIDs = "completed_ids", incompleteIDs = "incomplete_ids"
        case emptyPatchIDs = "empty_patch_ids", submittedIDs = "submitted_ids", resolvedIDs = "resolved_ids"
        case unresolvedIDs = "unresolved_ids", infraFailureIDs = "infra_failure_ids"
        case ambiguousFailureIDs = "ambiguous_failure_ids", failureReasons = "failure_reasons"
        case errorIDs = "error_ids", schemaVersion = "schema_version"
    }

    /// - Parameters:
    ///   - predictions: the model's predictions as given (one per instance id).
    ///   - dataset: every task in scope, by instance id.
    ///   - results: Forge's results, by instance id.
    init(predictions: [Prediction], dataset: [String], results: [String: InstanceResult]) {
        let byID = Dictionary(predictions.map { ($0.instanceID, $0) }, uniquingKeysWith: { first, _ in first })
        totalInstances = dataset.count
        submittedIDs = byID.keys.sorted()
        submittedInstances = submittedIDs.count
        for id in dataset.sorted() {
            guard let prediction = byID[id] else { incompleteIDs.append(id); continue }
            if (prediction.patch ?? "").isEmpty { emptyPatchIDs.append(id); continue }
            let result = results[id]
            switch result?.status {
            case .resolved?: completedIDs.append(id); resolvedIDs.append(id)
            case .unresolved?: completedIDs.append(id); unresolvedIDs.append(id)
            default:
                errorIDs.append(id)
                if let result, !result.reason.isEmpty { failureReasons[id] = result.reason }
                if result?.status == .error { infraFailureIDs.append(id) }
            }
        }
        completedInstances = completedIDs.count; resolvedInstances = resolvedIDs.count
        unresolvedInstances = unresolvedIDs.count; infraFailureInstances = infraFailureIDs.count
        emptyPatchInstances = emptyPatchIDs.count; errorInstances = errorIDs.count
    }

    func write(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try encoder.encode(self).write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}
