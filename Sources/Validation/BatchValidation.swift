import Foundation
import Workers
import Sandbox
import Store
import Synchronization

/// Counts for the summary table a batch ends with.
public struct ValidationSummary: Sendable {
    public var tried = 0
    public var alreadyFinished = 0
    public var byStatus: [ValidationStatus: Int] = [:]
    public var byReason: [ValidationReason: Int] = [:]
    public var environments = Set<String>()
    public var failedEnvironments = Set<String>()
    public var seconds = 0.0
    public var interrupted = false

    public init() {}

    mutating func add(_ result: TaskValidation) {
        tried += 1
        byStatus[result.status, default: 0] += 1
        if let reason = result.reason { byReason[reason, default: 0] += 1 }
        if let environment = result.environment {
            if environment.status == .built { environments.insert(environment.key) } else { failedEnvironments.insert(environment.key) }
        }
    }

    /// A plain-text table: tasks tried, valid, invalid by reason, infrastructure errors.
    public var table: String {
        var rows: [(String, String)] = [
            ("tasks tried", "\(tried)"),
            ("skipped (already validated)", "\(alreadyFinished)"),
            ("environments built or reused", "\(environments.count)"),
            ("environments failed", "\(failedEnvironments.count)"),
            ("valid", "\(byStatus[.valid] ?? 0)"),
            ("invalid", "\(byStatus[.invalid] ?? 0)"),
        ]
        for reason in ValidationReason.allCases where reason != .infrastructure {
            if let count = byReason[reason] { rows.append(("  \(reason.rawValue)", "\(count)")) }
        }
        rows.append(("infrastructure errors", "\(byStatus[.error] ?? 0)"))
        rows.append(("wall time", String(format: "%.1f s", seconds)))
        if interrupted { rows.append(("interrupted", "resume with the same command")) }
        let width = rows.map(\.0.count).max() ?? 0
        return rows.map { $0.0.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + $0.1 }.joined(separator: "\n")
    }
}

/// Validates many tasks in parallel, saving each task's result in its own transaction, so an
/// interrupted batch resumes where it stopped: tasks with a validation verdict are skipped.
public enum BatchValidation {
    public static func run(tasks: [TaskRecord], validator: Validator, store: TaskStore, force: Bool = false,
                           stop: StopFlag = StopFlag(),
                           progress: @escaping @Sendable (_ done: Int, _ total: Int) -> Void = { _, _ in }) throws -> ValidationSummary {
        let started = Date()
        var summary = ValidationSummary()
        let finished = force ? [] : try store.finishedInstanceIDs(kind: .validation)
        let pending = tasks.filter { !finished.contains($0.instanceID) }
        summary.alreadyFinished = tasks.count - pending.count

        let shared = Mutex(summary)
        progress(0, pending.count)
        // A failed save stops the batch: the store is what resuming relies on.
        try WorkerPool.forEach(pending, workers: validator.options.jobs, stop: stop) { task in
            let result = validator.validate(task)
            try store.save(tasks: [result.task], runs: result.runs, verdicts: [result.verdict],
                           environments: result.environment.map { [$0] } ?? [])
            let done: Int = shared.withLock { $0.add(result); return $0.tried }
            progress(done, pending.count)
        }
        summary = shared.withLock { $0 }
        summary.interrupted = stop.isStopped && summary.tried < pending.count
        summary.seconds = Date().timeIntervalSince(started)
        return summary
    }
}
