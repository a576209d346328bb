import Foundation
import GRDB

extension MergeStyle: DatabaseValueConvertible {}
extension StatementSource: DatabaseValueConvertible {}
extension TestIDFormat: DatabaseValueConvertible {}

/// How a `TaskRecord` sits in the `task` table: its fields, plus the canonical UTC creation time
/// the store sorts and filters on, plus when this store last changed the row.
struct TaskRow: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "task"

    var instanceID: String
    var repo: String
    var baseCommit: String
    var patch: String
    var testPatch: String
    var problemStatement: String
    var hintsText: String
    var createdAt: String
    var createdAtUTC: String
    var version: String
    var environmentSetupCommit: String
    var failToPass: [String]
    var passToPass: [String]
    var pullNumber: Int?
    var issueNumbers: [Int]
    var mergeCommit: String?
    var mergeStyle: MergeStyle?
    var statementSource: StatementSource
    var language: String?
    var passToFail: [String]
    var flaky: [String]
    var otherPatch: String
    var license: String?
    var difficultyLevel: Int?
    var synthesisStrategy: String?
    var testIDFormat: TestIDFormat
    var extraFields: [String: String]
    var updatedAt: Date

    enum CodingKeys: String, CodingKey {
        case instanceID = "instance_id", repo, baseCommit = "base_commit", patch
        case testPatch = "test_patch", problemStatement = "problem_statement", hintsText = "hints_text"
        case createdAt = "created_at", createdAtUTC = "created_at_utc", version
        case environmentSetupCommit = "environment_setup_commit"
        case failToPass = "fail_to_pass", passToPass = "pass_to_pass", pullNumber = "pull_number"
        case issueNumbers = "issue_numbers", mergeCommit = "merge_commit", mergeStyle = "merge_style"
        case statementSource = "statement_source", language, passToFail = "pass_to_fail", flaky
        case otherPatch = "other_patch", license, updatedAt = "updated_at"
        case difficultyLevel = "difficulty_level", synthesisStrategy = "synthesis_strategy"
        case testIDFormat = "test_id_format", extraFields = "extra_fields"
    }

    /// Checks what the store relies on: a non-empty id and an ISO-8601 `created_at`.
    init(_ task: TaskRecord, updatedAt: Date) throws {
        guard !task.instanceID.isEmpty else {
            throw StoreError.invalidTask(instanceID: "(empty)", field: "instance_id", reason: "must not be empty")
        }
        guard let utc = ISOTimestamp.canonical(task.createdAt) else {
            throw StoreError.invalidTask(instanceID: task.instanceID, field: "created_at",
                                         reason: "'\(task.createdAt)' is not an ISO-8601 date-time")
        }
        instanceID = task.instanceID; repo = task.repo; baseCommit = task.baseCommit
        patch = task.patch; testPatch = task.testPatch; problemStatement = task.problemStatement
        hintsText = task.hintsText; createdAt = task.createdAt; createdAtUTC = utc
        version = task.version; environmentSetupCommit = task.environmentSetupCommit
        failToPass = task.failToPass; passToPass = task.passToPass; pullNumber = task.pullNumber
        issueNumbers = task.issueNumbers; mergeCommit = task.mergeCommit; mergeStyle = task.mergeStyle
        statementSource = task.statementSource; language = task.language
        passToFail = task.passToFail; flaky = task.flaky; otherPatch = task.otherPatch
        license = task.license; difficultyLevel = task.difficultyLevel; synthesisStrategy = task.synthesisStrategy
        testIDFormat = task.testIDFormat; extraFields = task.extraFields
        self.updatedAt = updatedAt
    }

    var task: TaskRecord {
        TaskRecord(instanceID: instanceID, repo: repo, baseCommit: baseCommit, patch: patch,
                   testPatch: testPatch, problemStatement: problemStatement, hintsText: hintsText,
                   createdAt: createdAt, version: version, environmentSetupCommit: environmentSetupCommit,
                   failToPass: failToPass, passToPass: passToPass, pullNumber: pullNumber,
                   issueNumbers: issueNumbers, mergeCommit: mergeCommit, mergeStyle: mergeStyle,
                   statementSource: statementSource, language: language, passToFail: passToFail,
                   flaky: flaky, otherPatch: otherPatch, license: license,
                   difficultyLevel: difficultyLevel, synthesisStrategy: synthesisStrategy,
                   testIDFormat: testIDFormat, extraFields: extraFields)
    }
}

/// What an upsert (or import, or the task part of a merge) did.
public struct UpsertCounts: Hashable, Sendable, CustomStringConvertible {
    public var inserted = 0
    public var updated = 0
    /// Identical to the stored row (or, in a merge, the stored row won the conflict).
    public var unchanged = 0

    public init(inserted: Int = 0, updated: Int = 0, unchanged: Int = 0) {
        self.inserted = inserted; self.updated = updated; self.unchanged = unchanged
    }

    public var total: Int { inserted + updated + unchanged }
    public var description: String { "\(inserted) inserted, \(updated) updated, \(unchanged) unchanged" }
}

/// Which tasks to list, count, export or delete. Every criterion left nil matches everything;
/// results are ordered by instance id.
public struct TaskFilter: Hashable, Sendable {
    /// Exact `owner/name`.
    public var repo: String?
    /// SQLite GLOB on the instance id, case-sensitive: `psf__requests-*`, `*-1[0-9]`; several
    /// separated by commas match any of them (`psf__requests-1142,psf__requests-2317`).
    public var idGlob: String?
    /// Inclusive lower bound on `created_at`, any ISO-8601 form (`2023-01-01` is midnight UTC).
    public var createdSince: String?
    /// Exclusive upper bound on `created_at`.
    public var createdBefore: String?
    /// Only tasks of this shard.
    public var shard: Shard?
    /// At most this many tasks (the first by instance id).
    public var limit: Int?
    /// Only tasks whose `difficulty_level` lies in this range (tasks without one never match).
    public var levels: ClosedRange<Int>?

    public init(repo: String? = nil, idGlob: String? = nil, createdSince: String? = nil,
                createdBefore: String? = nil, shard: Shard? = nil, limit: Int? = nil,
                levels: ClosedRange<Int>? = nil) {
        self.repo = repo; self.idGlob = idGlob; self.createdSince = createdSince
        self.createdBefore = createdBefore; self.shard = shard; self.limit = limit
        self.levels = levels
    }

    func request() throws -> QueryInterfaceRequest<TaskRow> {
        var request = TaskRow.all()
        if let repo { request = request.filter(Column("repo") == repo) }
        if let idGlob {
            // Comma-separated globs (instance ids hold no commas): a list of ids, as SWE-bench's
            // `--instance_ids` takes, or several patterns.
            let globs = idGlob.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            let clause = Array(repeating: "instance_id GLOB ?", count: max(globs.count, 1)).joined(separator: " OR ")
            request = request.filter(sql: "(\(clause))", arguments: StatementArguments(globs.isEmpty ? [idGlob] : globs))
        }
        if let createdSince {
            request = request.filter(Column("created_at_utc") >= (try Self.bound(createdSince, "since")))
        }
        if let createdBefore {
            request = request.filter(Column("created_at_utc") < (try Self.bound(createdBefore, "before")))
        }
        if let shard, shard.count > 1 {
            request = request.filter(sql: "forge_shard(instance_id, ?) = ?", arguments: [shard.count, shard.index])
        }
        if let levels {
            request = request.filter(Column("difficulty_level") >= levels.lowerBound && Column("difficulty_level") <= levels.upperBound)
        }
        request = request.order(Column("instance_id"))
        if let limit {
            guard limit >= 0 else { throw StoreError.invalidFilter("limit must not be negative (got \(limit))") }
            request = request.limit(limit)
        }
        return request
    }

    private static func bound(_ text: String, _ name: String) throws -> String {
        guard let utc = ISOTimestamp.canonical(text) else {
            throw StoreError.invalidFilter("created \(name) '\(text)' is not an ISO-8601 date or date-time")
        }
        return utc
    }
}
