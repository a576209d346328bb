import Foundation
import GRDB

/// A task that both stores hold with different content, and which copy the merge kept.
public struct TaskConflict: Hashable, Sendable, CustomStringConvertible {
    public enum Winner: String, Hashable, Sendable { case existing, incoming }

    public var instanceID: String
    public var winner: Winner
    /// SWE-bench / JSONL names of the fields that differ.
    public var differingFields: [String]
    /// Why the winner won (`updated_at` later, `created_at` later, or the content tie-break).
    public var reason: String

    public var description: String {
        "\(instanceID): differs in \(differingFields.joined(separator: ", ")); kept \(winner.rawValue) copy (\(reason))"
    }
}

/// What a table other than `task` gained from a merge.
public struct UnionCounts: Hashable, Sendable, CustomStringConvertible {
    /// Keys only the other store had.
    public var added = 0
    /// Keys both had with different content, where the other store's row won.
    public var replaced = 0
    /// Keys both had, identical or where this store's row won.
    public var kept = 0

    public var description: String { "\(added) added, \(replaced) replaced, \(kept) kept" }
}

/// The outcome of `TaskStore.merge(from:)`.
public struct MergeReport: Hashable, Sendable, CustomStringConvertible {
    public var tasks = UpsertCounts()
    public var conflicts: [TaskConflict] = []
    public var runs = UnionCounts()
    public var verdicts = UnionCounts()
    public var environments = UnionCounts()
    public var miningStates = UnionCounts()
    public var synthesisCandidates = UnionCounts()

    public var description: String {
        var lines = ["tasks: \(tasks), \(conflicts.count) conflicts", "test runs: \(runs)",
                     "verdicts: \(verdicts)", "environments: \(environments)", "mining states: \(miningStates)",
                     "synthesis candidates: \(synthesisCandidates)"]
        lines += conflicts.map { "conflict: \($0)" }
        return lines.joined(separator: "\n")
    }
}

extension TaskStore {
    /// Merges another store (e.g. one shard's results) into this one, in one transaction.
    ///
    /// Tasks upsert by instance id. When both stores hold an id with different content, the copy
    /// written later (`updated_at`) wins, then the later `created_at`, then — so that merging
    /// A into B and B into A agree — the copy whose JSONL line sorts last; each such case is
    /// listed in `conflicts`. Runs, verdicts, environments and mining states union by key; on a
    /// key clash the finished verdict (then the later `finished_at`), the later environment or
    /// run `created_at`, the later mining-state `updated_at` wins. The other file is opened as a
    /// store (so a newer-schema file is refused, an older one is migrated) and not otherwise changed.
    @discardableResult
    public func merge(from otherPath: String) throws -> MergeReport {
        guard FileManager.default.fileExists(atPath: otherPath) else {
            throw StoreError.missingDatabase(path: otherPath)
        }
        let mine = URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
        let theirs = URL(fileURLWithPath: otherPath).standardizedFileURL.resolvingSymlinksInPath().path
        guard mine != theirs else { throw StoreError.mergeIntoItself(path: otherPath) }
        let other = try TaskStore(path: otherPath)
        return try write { db in
            try other.pool.read { source in try Self.merge(source, into: db) }
        }
    }

    private static func merge(_ source: Database, into db: Database) throws -> MergeReport {
        var report = MergeReport()
        let incomingTasks = try TaskRow.order(Column("instance_id")).fetchCursor(source)
        while let incoming = try incomingTasks.next() {
            do { try Identifier.checkInstanceID(incoming.instanceID) } catch {
                throw StoreError.invalidTask(instanceID: incoming.instanceID, field: "instance_id", reason: "in the store merged from: \(error)")
            }
            guard let existing = try TaskRow.fetchOne(db, key: incoming.instanceID) else {
                try incoming.insert(db)
                report.tasks.inserted += 1
                continue
            }
            let (old, new) = (existing.task, incoming.task)
            if old == new {
                report.tasks.unchanged += 1
                continue
            }
            let (incomingWins, reason) = decide(existing, incoming)
            report.conflicts.append(TaskConflict(instanceID: incoming.instanceID,
                                                 winner: incomingWins ? .incoming : .existing,
                                                 differingFields: differingFields(old, new), reason: reason))
            if incomingWins {
                try incoming.update(db)
                report.tasks.updated += 1
            } else {
                report.tasks.unchanged += 1
            }
        }

        report.runs = try union(TestRunRecord.self, from: source, into: db, key: { ["id": $0.id] }) {
            $1.createdAt > $0.createdAt
        }
        report.verdicts = try union(VerdictRecord.self, from: source, into: db,
                                    key: { ["instance_id": $0.instanceID, "kind": $0.kind.rawValue] }) { old, new in
            switch (old.finishedAt, new.finishedAt) {
            case (nil, .some): return true
            case let (.some(oldDate), .some(newDate)): return newDate > oldDate
            default: return false
            }
        }
        report.environments = try union(EnvironmentRecord.self, from: source, into: db, key: { ["key": $0.key] }) {
            $1.createdAt > $0.createdAt
        }
        report.miningStates = try union(MiningStateRecord.self, from: source, into: db, key: { ["repo": $0.repo] }) {
            $1.updatedAt > $0.updatedAt
        }
        // Candidates are keyed by the mutant's tree, identical on every shard: the later try wins.
        report.synthesisCandidates = try union(SynthesisCandidateRecord.self, from: source, into: db,
                                               key: { ["key": $0.key] }) { $1.triedAt > $0.triedAt }
        return report
    }

    private static func decide(_ existing: TaskRow, _ incoming: TaskRow) -> (incomingWins: Bool, reason: String) {
        if existing.updatedAt != incoming.updatedAt {
            return (incoming.updatedAt > existing.updatedAt, "its updated_at is later")
        }
        if existing.createdAtUTC != incoming.createdAtUTC {
            return (incoming.createdAtUTC > existing.createdAtUTC, "same updated_at, its created_at is later")
        }
        let incomingLine = TaskJSONL.line(for: incoming.task), existingLine = TaskJSONL.line(for: existing.task)
        return (Array(incomingLine.utf8).lexicographicallyPrecedes(Array(existingLine.utf8)) == false,
                "same updated_at and created_at, its JSONL line sorts last")
    }

    private static func differingFields(_ a: TaskRecord, _ b: TaskRecord) -> [String] {
        var fields: [String] = []
        func check<Value: Equatable>(_ name: String, _ path: KeyPath<TaskRecord, Value>) {
            if a[keyPath: path] != b[keyPath: path] { fields.append(name) }
        }
        check("repo", \.repo); check("base_commit", \.baseCommit); check("patch", \.patch)
        check("test_patch", \.testPatch); check("problem_statement", \.problemStatement)
        check("hints_text", \.hintsText); check("created_at", \.createdAt); check("version", \.version)
        check("environment_setup_commit", \.environmentSetupCommit); check("FAIL_TO_PASS", \.failToPass)
        check("PASS_TO_PASS", \.passToPass); check("pull_number", \.pullNumber)
        check("issue_numbers", \.issueNumbers); check("merge_commit", \.mergeCommit)
        check("merge_style", \.mergeStyle); check("statement_source", \.statementSource)
        check("language", \.language); check("PASS_TO_FAIL", \.passToFail); check("FLAKY", \.flaky)
        check("other_patch", \.otherPatch); check("license", \.license)
        check("difficulty_level", \.difficultyLevel); check("synthesis_strategy", \.synthesisStrategy)
        check("test_id_format", \.testIDFormat); check("extra_fields", \.extraFields)
        return fields
    }

    /// Copies every row of `Record`'s table from `source`; on a key clash keeps the existing row
    /// unless `incomingWins(existing, incoming)`.
    private static func union<Record: FetchableRecord & PersistableRecord & Equatable>(
        _ type: Record.Type, from source: Database, into db: Database,
        key: (Record) -> [String: any DatabaseValueConvertible],
        incomingWins: (Record, Record) -> Bool
    ) throws -> UnionCounts {
        var counts = UnionCounts()
        let rows = try Record.fetchCursor(source)
        while let incoming = try rows.next() {
            if let existing = try Record.fetchOne(db, key: key(incoming)) {
                if existing != incoming, incomingWins(existing, incoming) {
                    try incoming.update(db)
                    counts.replaced += 1
                } else {
                    counts.kept += 1
                }
            } else {
                try incoming.insert(db)
                counts.added += 1
            }
        }
        return counts
    }
}
