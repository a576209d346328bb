import Foundation
import GRDB

/// One synthesised bug that was tried: kept as a task or discarded with the reason. Keyed by the
/// repository and the mutant's tree id, so the same resulting tree is never tried twice (a
/// resumed run skips it; two shards that made it merge into one row).
public struct SynthesisCandidateRecord: Codable, FetchableRecord, PersistableRecord, Hashable, Sendable {
    public static let databaseTableName = "synthesis_candidate"

    public var key: String
    public var repo: String
    public var sourceCommit: String
    public var strategy: String
    public var description: String
    public var status: Status
    public var reason: String?
    public var instanceID: String?
    public var testsRun: Int
    public var seconds: Double
    public var triedAt: Date

    public enum Status: String, Codable, Hashable, Sendable, DatabaseValueConvertible { case kept, discarded }

    enum CodingKeys: String, CodingKey {
        case key, repo, sourceCommit = "source_commit", strategy, description, status, reason
        case instanceID = "instance_id", testsRun = "tests_run", seconds, triedAt = "tried_at"
    }

    public init(key: String, repo: String, sourceCommit: String, strategy: String, description: String,
                status: Status, reason: String? = nil, instanceID: String? = nil, testsRun: Int, seconds: Double,
                triedAt: Date = Date()) {
        self.key = key; self.repo = repo; self.sourceCommit = sourceCommit; self.strategy = strategy
        self.description = description; self.status = status; self.reason = reason; self.instanceID = instanceID
        self.testsRun = testsRun; self.seconds = seconds; self.triedAt = triedAt
    }

    /// `repo:tree`.
    public static func key(repo: String, tree: String) -> String { "\(repo):\(tree)" }
}

extension TaskStore {
    /// Saves one tried candidate and, when kept, its task, verdict and runs, in one transaction.
    public func saveSynthesis(_ candidate: SynthesisCandidateRecord, task: TaskRecord? = nil,
                              verdict: VerdictRecord? = nil, runs: [TestRunRecord] = []) throws {
        try write { db in
            if let task { _ = try Self.upsert([task], in: db) }
            for run in runs { try run.save(db) }
            if let verdict { try verdict.save(db) }
            try candidate.save(db)
        }
    }

    /// The keys of every candidate tried for `repo`.
    public func synthesisCandidateKeys(repo: String) throws -> Set<String> {
        try read { db in
            Set(try String.fetchAll(db, sql: "SELECT key FROM synthesis_candidate WHERE repo = ?", arguments: [repo]))
        }
    }

    /// Every candidate tried for `repo`, oldest first.
    public func synthesisCandidates(repo: String) throws -> [SynthesisCandidateRecord] {
        try read { db in
            try SynthesisCandidateRecord.filter(Column("repo") == repo).order(Column("tried_at"), Column("key")).fetchAll(db)
        }
    }
}
