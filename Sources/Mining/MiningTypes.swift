import Foundation
import Git
import Store

/// Which pull requests become tasks.
public struct MiningOptions: Sendable {
    /// Keep only PRs that change both tests and non-test code (SWE-bench's rule).
    public var requireTestAndCode: Bool
    /// Largest `patch` + `test_patch`, in changed lines (added + deleted); nil = no limit.
    public var maxPatchLines: Int?
    /// Largest `patch` + `test_patch`, in bytes; nil = no limit.
    public var maxPatchBytes: Int?
    /// Keep PRs created at or after this instant.
    public var createdAfter: Date?
    /// Keep PRs created at or before this instant.
    public var createdBefore: Date?
    /// When non-empty, keep only PRs that change at least one matching file.
    public var includePaths: [PathGlob]
    /// Skip PRs that change any matching file.
    public var excludePaths: [PathGlob]
    /// At most this many of a PR's commits are read for messages and links (GitHub lists 250).
    public var maxCommitsPerPullRequest: Int
    /// Threads that build tasks (each opens its own handle on the repository). Defaults to the
    /// processor count, at most 8: beyond that, object reads contend more than they gain.
    public var workers: Int

    public init(requireTestAndCode: Bool = true, maxPatchLines: Int? = nil, maxPatchBytes: Int? = nil,
                createdAfter: Date? = nil, createdBefore: Date? = nil, includePaths: [PathGlob] = [],
                excludePaths: [PathGlob] = [], maxCommitsPerPullRequest: Int = 250,
                workers: Int = min(8, ProcessInfo.processInfo.activeProcessorCount)) {
        self.requireTestAndCode = requireTestAndCode; self.maxPatchLines = maxPatchLines
        self.maxPatchBytes = maxPatchBytes; self.createdAfter = createdAfter; self.createdBefore = createdBefore
        self.includePaths = includePaths; self.excludePaths = excludePaths
        self.maxCommitsPerPullRequest = maxCommitsPerPullRequest
        self.workers = max(1, workers)
    }
}

/// What a mining run remembers for the next one (persist it; pass it back as `previous`).
public struct MiningState: Codable, Hashable, Sendable {
    /// The branch and tag tips walked so far: their history is not walked again.
    public var tips: [ObjectID]
    /// PRs already turned into a task or skipped for good: never reported again.
    public var minedPullNumbers: Set<Int>
    /// Patch-ids of default-branch first-parent commits, computed for rebase detection.
    public var patchIDs: [ObjectID: ObjectID]
    /// PR refs found not merged, with the head they had: unchanged, they are only compared with
    /// the default branch's new commits next time.
    public var unmergedPullHeads: [Int: ObjectID]
    /// The default branch's tip when the state was saved: rebase discovery compares unchanged PR
    /// refs only with the part of the default branch's line this tip does not reach. Nil in
    /// states saved before it was recorded.
    public var defaultTip: ObjectID?
    /// The discovery rules the state was made with (`MiningState.currentRules` when saved).
    public var rules: Int

    /// Bumped whenever a change to how landings are recognised can find PRs in history already
    /// walked (a merge subject read another way): a state saved under other rules is not resumed
    /// from, or those PRs would stay skipped for good.
    public static let currentRules = 2

    public init(tips: [ObjectID] = [], minedPullNumbers: Set<Int> = [], patchIDs: [ObjectID: ObjectID] = [:],
                unmergedPullHeads: [Int: ObjectID] = [:], defaultTip: ObjectID? = nil, rules: Int = MiningState.currentRules) {
        self.tips = tips; self.minedPullNumbers = minedPullNumbers; self.patchIDs = patchIDs
        self.unmergedPullHeads = unmergedPullHeads; self.defaultTip = defaultTip; self.rules = rules
    }

    /// Whether a run may resume from this state, or must walk the whole history again.
    public var isCurrent: Bool { rules == Self.currentRules }

    private enum CodingKeys: String, CodingKey {
        case tips, minedPullNumbers = "mined_pull_numbers", patchIDs = "patch_ids", unmergedPullHeads = "unmerged_pull_heads"
        case defaultTip = "default_tip", rules
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        tips = try container.decode([ObjectID].self, forKey: .tips)
        minedPullNumbers = try container.decode(Set<Int>.self, forKey: .minedPullNumbers)
        let pairs = try container.decode([String: ObjectID].self, forKey: .patchIDs)
        patchIDs = [:]
        for (commit, patchID) in pairs {
            guard let id = ObjectID(hex: commit) else {
                throw DecodingError.dataCorruptedError(forKey: .patchIDs, in: container, debugDescription: "not an object id: \(commit)")
            }
            patchIDs[id] = patchID
        }
        let heads = try container.decodeIfPresent([String: ObjectID].self, forKey: .unmergedPullHeads) ?? [:]
        unmergedPullHeads = [:]
        for (number, head) in heads {
            guard let pull = Int(number) else {
                throw DecodingError.dataCorruptedError(forKey: .unmergedPullHeads, in: container, debugDescription: "not a PR number: \(number)")
            }
            unmergedPullHeads[pull] = head
        }
        defaultTip = try container.decodeIfPresent(ObjectID.self, forKey: .defaultTip)
        // States saved before rules were recorded count as rules 1.
        rules = try container.decodeIfPresent(Int.self, forKey: .rules) ?? 1
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(tips, forKey: .tips)
        try container.encode(minedPullNumbers.sorted(), forKey: .minedPullNumbers)
        try container.encode(Dictionary(uniqueKeysWithValues: patchIDs.map { ($0.key.hex, $0.value) }), forKey: .patchIDs)
        try container.encode(Dictionary(uniqueKeysWithValues: unmergedPullHeads.map { (String($0.key), $0.value) }),
                             forKey: .unmergedPullHeads)
        try container.encodeIfPresent(defaultTip, forKey: .defaultTip)
        try container.encode(rules, forKey: .rules)
    }
}

/// Why a pull request did not become a task.
public enum SkipReason: Hashable, Sendable, CustomStringConvertible {
    /// A `refs/pull/N/head` whose changes never reached the default branch.
    case notMerged
    /// The PR's head is in the history of some branch or tag, but not the default branch's, and
    /// no commit there names the PR (a fast-forward into a maintenance or feature branch).
    case landedElsewhere(String)
    /// The clone lacks commits the task needs (shallow clone): which, and why.
    case historyIncomplete(String)
    /// The PR's head and base are the same tree.
    case emptyDiff
    case noTestChanges
    case noCodeChanges
    case patchTooLarge(lines: Int, bytes: Int)
    case outsideDateRange(createdAt: String)
    case excludedPath(String)
    case noIncludedPath
    /// An object the task needs is absent from the clone (partial clones, damaged mirrors):
    /// its id, and what was being read when it was found missing.
    case missingObject(id: String, operation: String)

    /// The reason without its details, for counting skips by kind.
    public var category: String {
        switch self {
        case .landedElsewhere: return "landed off the default branch unnamed"
        case .historyIncomplete: return "history incomplete"
        case .patchTooLarge: return "patch too large"
        case .outsideDateRange: return "outside the date range"
        case .excludedPath: return "changes an excluded path"
        case .missingObject: return "object missing from the clone"
        default: return description
        }
    }

    public var description: String {
        switch self {
        case .notMerged: return "pull request ref never landed on the default branch"
        case .landedElsewhere(let detail): return "landed off the default branch without a commit naming it: \(detail)"
        case .historyIncomplete(let detail): return "history incomplete: \(detail)"
        case .emptyDiff: return "no changes between base and head"
        case .noTestChanges: return "no test changes"
        case .noCodeChanges: return "no non-test code changes"
        case .patchTooLarge(let lines, let bytes): return "patch too large (\(lines) changed lines, \(bytes) bytes)"
        case .outsideDateRange(let createdAt): return "created \(createdAt), outside the date range"
        case .excludedPath(let path): return "changes excluded path \(path)"
        case .noIncludedPath: return "changes no included path"
        case .missingObject(let id, let operation): return "object \(id) missing from the clone (\(operation))"
        }
    }
}

extension SkipReason {
    /// The skip for a read that failed because an object is not in the clone; nil for any other
    /// error (a corrupt object stays an error: the clone is damaged in a way a user must see).
    static func missingObject(_ error: Error) -> SkipReason? {
        guard let error = error as? GitError, error.code == .notFound else { return nil }
        let text = error.operation + " " + error.message
        let id = text.range(of: "[0-9a-f]{40}", options: .regularExpression).map { String(text[$0]) } ?? "unknown"
        return .missingObject(id: id, operation: error.operation)
    }
}

/// A pull request that was found but not turned into a task.
public struct SkippedPullRequest: Hashable, Sendable, CustomStringConvertible {
    public let number: Int
    public let reason: SkipReason
    public var description: String { "#\(number): \(reason)" }
}

/// The outcome of one mining run.
public struct MiningResult: Sendable {
    /// New tasks, by pull request number.
    public var tasks: [TaskRecord]
    public var skipped: [SkippedPullRequest]
    /// Pass this to the next run.
    public var state: MiningState
    /// Commits walked in this run (0 when nothing changed since `previous`).
    public var commitsWalked: Int
}

/// One batch of a streaming mining run: write its tasks and its state in one transaction.
public struct MiningBatch: Sendable {
    /// Tasks built in this batch, by pull request number.
    public var tasks: [TaskRecord]
    /// PRs of this batch that did not become tasks.
    public var skipped: [SkippedPullRequest]
    /// The state after this batch: saved with its tasks, a stopped run resumes after them.
    public var state: MiningState
    /// True for the run's last batch (its state records the walked tips).
    public var isLast: Bool
}

/// What a streaming mining run did, without its tasks (they went to the batches).
public struct MiningSummary: Sendable {
    public var commitsWalked: Int
    /// Tasks built in all batches.
    public var taskCount = 0
    /// Tasks by merge style (`merge`, `squash`, `rebase`).
    public var tasksByStyle: [String: Int] = [:]
    /// Every PR found and not turned into a task, with its reason.
    public var skipped: [SkippedPullRequest] = []
    /// Pass this to the next run.
    public var state = MiningState()

    init(commitsWalked: Int) { self.commitsWalked = commitsWalked }

    mutating func record(_ tasks: [TaskRecord]) {
        taskCount += tasks.count
        for task in tasks { tasksByStyle[task.mergeStyle?.rawValue ?? "unknown", default: 0] += 1 }
    }
}
