import Foundation
import Store

/// One task as the report shows it: the task, its verdict of the report's kind (if any) and the
/// test runs behind that verdict.
public struct ReportedTask: Hashable, Sendable {
    public var task: TaskRecord
    public var verdict: VerdictRecord?
    /// The verdict's runs (its `runIDs`); without a verdict, the task's runs of the kind's purpose.
    public var runs: [TestRunRecord]

    /// The verdict's status, or `pending` when there is none yet.
    public var status: String { verdict?.status ?? RunReport.pending }

    /// The reason's category: the text before the first `: ` (Validation writes `category: detail`).
    public var reasonCategory: String? {
        guard let reason = verdict?.reason, !reason.isEmpty else { return nil }
        if let colon = reason.range(of: ": ") { return String(reason[..<colon.lowerBound]) }
        return reason
    }

    /// Wall seconds of all its runs together.
    public var testSeconds: Double { runs.reduce(0) { $0 + $1.wallSeconds } }
}

/// Tasks of one repository and how many of them succeeded (valid, or resolved for an evaluation).
public struct RepositoryYield: Hashable, Sendable {
    public init(repo: String, byStatus: [String: Int]) { self.repo = repo; self.byStatus = byStatus }

    public var repo: String
    /// Tasks by status, e.g. `["valid": 3, "invalid": 2]`.
    public var byStatus: [String: Int]
    public var total: Int { byStatus.values.reduce(0, +) }
}

/// Everything one report page shows, read from a task store for one verdict kind.
///
/// For `validation` the report covers every task in the store (a task without a verdict is
/// `pending`): yield = valid / mined. For `eval:<run id>` it covers the tasks that have a verdict
/// of that kind: resolve rate = resolved / evaluated.
public struct RunReport: Sendable {
    public static let pending = "pending"

    public var storePath: String
    public var kind: VerdictKind
    public var generatedAt: Date
    /// Ordered by instance id.
    public var tasks: [ReportedTask]
    /// All environments in the store, ordered by key.
    public var environments: [EnvironmentRecord]
    /// Verdicts of this kind whose task is no longer in the store (counted, not listed).
    public var orphanVerdicts: Int

    /// Reads the store. Throws the store's errors (`StoreError`) unchanged.
    public init(store: TaskStore, kind: VerdictKind = .validation, now: Date = Date()) throws {
        storePath = store.path
        self.kind = kind
        generatedAt = now
        let verdicts = try store.verdicts(kind: kind)
        let byID = Dictionary(verdicts.map { ($0.instanceID, $0) }, uniquingKeysWith: { first, _ in first })
        var candidates = try store.tasks()
        if kind != .validation { candidates = candidates.filter { byID[$0.instanceID] != nil } }
        let purpose = kind == .validation ? "validate" : "eval"
        tasks = try candidates.map { task in
            let verdict = byID[task.instanceID]
            // One query per task (not per run): the store has no bulk lookup by run id.
            var runs = try store.runs(instanceID: task.instanceID)
            if let verdict, !verdict.runIDs.isEmpty {
                let wanted = Set(verdict.runIDs)
                runs = runs.filter { wanted.contains($0.id) }
            } else {
                runs = runs.filter { $0.purpose == purpose }
            }
            runs.sort { ($0.phase == .before ? 0 : 1, $0.attempt, $0.createdAt) < ($1.phase == .before ? 0 : 1, $1.attempt, $1.createdAt) }
            return ReportedTask(task: task, verdict: verdict, runs: runs)
        }
        let known = Set(candidates.map(\.instanceID))
        orphanVerdicts = verdicts.filter { !known.contains($0.instanceID) }.count
        environments = try store.environments()
    }

    /// Whether this report is about an evaluation run rather than validation.
    public var isEvaluation: Bool { kind != .validation }

    /// The status that counts as success: `valid`, or `resolved` for an evaluation.
    public var successStatus: String { isEvaluation ? "resolved" : "valid" }

    /// Task counts by status, most common first (ties by name).
    public var statusCounts: [(status: String, count: Int)] {
        countsSorted(tasks.map(\.status))
    }

    /// Counts of reason categories (tasks without a reason are left out), most common first.
    public var reasonCounts: [(reason: String, count: Int)] {
        countsSorted(tasks.compactMap(\.reasonCategory)).map { (reason: $0.status, count: $0.count) }
    }

    /// Per repository, ordered by repository name.
    public var repositories: [RepositoryYield] {
        var byRepo: [String: [String: Int]] = [:]
        for task in tasks { byRepo[task.task.repo, default: [:]][task.status, default: 0] += 1 }
        return byRepo.keys.sorted().map { RepositoryYield(repo: $0, byStatus: byRepo[$0]!) }
    }

    /// Every run behind the report's tasks.
    public var runs: [TestRunRecord] { tasks.flatMap(\.runs) }

    public func count(status: String) -> Int { tasks.filter { $0.status == status }.count }

    private func countsSorted(_ values: [String]) -> [(status: String, count: Int)] {
        var counts: [String: Int] = [:]
        for value in values { counts[value, default: 0] += 1 }
        return counts.map { (status: $0.key, count: $0.value) }
            .sorted { $0.count != $1.count ? $0.count > $1.count : $0.status < $1.status }
    }
}
