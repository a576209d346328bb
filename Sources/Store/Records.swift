import Foundation
import GRDB

// The store's non-task tables, GRDB style: plain Codable structs whose coding keys are the
// column names. List and dictionary fields are stored as JSON text; dates are stored in UTC to
// the millisecond, so a fetched record's dates may differ from the saved one's below 1 ms.

/// Incremental mining state of one repository: the tips already walked and whatever cache
/// blob the miner wants back next time.
public struct MiningStateRecord: Codable, Hashable, Sendable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "mining_state"

    public var repo: String
    /// Commit ids (hex) of the branch and tag tips walked by the last mining pass.
    public var walkedTips: [String]
    /// Opaque to the store.
    public var cache: Data?
    public var updatedAt: Date

    public init(repo: String, walkedTips: [String], cache: Data? = nil, updatedAt: Date = Date()) {
        self.repo = repo; self.walkedTips = walkedTips; self.cache = cache; self.updatedAt = updatedAt
    }

    enum CodingKeys: String, CodingKey {
        case repo, walkedTips = "walked_tips", cache, updatedAt = "updated_at"
    }
}

/// Whether an environment build succeeded.
public enum EnvironmentStatus: String, Codable, Hashable, Sendable, CaseIterable, DatabaseValueConvertible {
    case built, failed
}

/// One built (or failed) test environment, keyed by whatever identity the Environments module
/// derives (recipe hash + interpreter + manifests hash).
public struct EnvironmentRecord: Codable, Hashable, Sendable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "environment"

    public var key: String
    public var recipeName: String
    public var recipeHash: String
    /// e.g. `cpython-3.11.7`.
    public var interpreter: String
    public var manifestsHash: String
    public var status: EnvironmentStatus
    /// How the environment was resolved (e.g. `uv-lock`, `requirements`, `editable`).
    public var strategy: String?
    /// `name==version` lines, sorted.
    public var resolvedPackages: [String]
    public var buildSeconds: Double
    public var logPath: String?
    public var error: String?
    public var createdAt: Date

    public init(key: String, recipeName: String, recipeHash: String, interpreter: String,
                manifestsHash: String, status: EnvironmentStatus, strategy: String? = nil,
                resolvedPackages: [String] = [], buildSeconds: Double, logPath: String? = nil,
                error: String? = nil, createdAt: Date = Date()) {
        self.key = key; self.recipeName = recipeName; self.recipeHash = recipeHash
        self.interpreter = interpreter; self.manifestsHash = manifestsHash; self.status = status
        self.strategy = strategy; self.resolvedPackages = resolvedPackages
        self.buildSeconds = buildSeconds; self.logPath = logPath; self.error = error
        self.createdAt = createdAt
    }

    enum CodingKeys: String, CodingKey {
        case key, recipeName = "recipe_name", recipeHash = "recipe_hash", interpreter
        case manifestsHash = "manifests_hash", status, strategy, resolvedPackages = "resolved_packages"
        case buildSeconds = "build_seconds", logPath = "log_path", error, createdAt = "created_at"
    }
}

/// Which state of the workspace a run tested: `test_patch` only, or `test_patch` + a fix.
public enum RunPhase: String, Codable, Hashable, Sendable, CaseIterable, DatabaseValueConvertible {
    case before, after
}

/// One test-suite execution in a sandbox.
public struct TestRunRecord: Codable, Hashable, Sendable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "test_run"

    /// Globally unique (a UUID by default), so runs from several shard stores merge without clashes.
    public var id: String
    public var instanceID: String
    /// What the run was for: `validate`, `eval`, `synth`, …
    public var purpose: String
    public var phase: RunPhase
    /// 0 for the first run of this (task, purpose, phase), 1… for reruns (flakiness checks).
    public var attempt: Int
    /// argv of the test command.
    public var command: [String]
    /// nil when the process had no exit status (killed by a signal or by the timeout).
    public var exitStatus: Int?
    public var wallSeconds: Double
    public var timedOut: Bool
    public var logPath: String?
    public var junitPath: String?
    public var environmentKey: String?
    /// Test id → status (`passed`, `failed`, `error`, `skipped`, …), as TestReports parsed them.
    public var results: [String: String]
    public var createdAt: Date
    /// The sandbox limit the run hit (`resource limit: processes`), nil when none.
    public var resourceLimit: String?

    public init(id: String = UUID().uuidString.lowercased(), instanceID: String, purpose: String,
                phase: RunPhase, attempt: Int = 0, command: [String], exitStatus: Int?,
                wallSeconds: Double, timedOut: Bool = false, logPath: String? = nil,
                junitPath: String? = nil, environmentKey: String? = nil,
                results: [String: String] = [:], createdAt: Date = Date(), resourceLimit: String? = nil) {
        self.id = id; self.instanceID = instanceID; self.purpose = purpose; self.phase = phase
        self.attempt = attempt; self.command = command; self.exitStatus = exitStatus
        self.wallSeconds = wallSeconds; self.timedOut = timedOut; self.logPath = logPath
        self.junitPath = junitPath; self.environmentKey = environmentKey; self.results = results
        self.createdAt = createdAt; self.resourceLimit = resourceLimit
    }

    enum CodingKeys: String, CodingKey {
        case id, instanceID = "instance_id", purpose, phase, attempt, command, resourceLimit = "resource_limit"
        case exitStatus = "exit_status", wallSeconds = "wall_seconds", timedOut = "timed_out"
        case logPath = "log_path", junitPath = "junit_path", environmentKey = "environment_key"
        case results, createdAt = "created_at"
    }
}

/// What a verdict judges: `validation`, or `eval:<run id>` for one evaluation run.
public struct VerdictKind: RawRepresentable, Codable, Hashable, Sendable, DatabaseValueConvertible,
                           ExpressibleByStringLiteral, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }

    public static let validation = VerdictKind(rawValue: "validation")
    public static func evaluation(runID: String) -> VerdictKind { VerdictKind(rawValue: "eval:\(runID)") }

    public var description: String { rawValue }
}

/// The outcome of one batch step for one task. A row with `finishedAt` set means "done: skip
/// on resume"; a row without it records work in progress.
public struct VerdictRecord: Codable, Hashable, Sendable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "verdict"

    public var instanceID: String
    public var kind: VerdictKind
    /// e.g. `valid`, `invalid`, `error` for validation; `resolved`, `unresolved`, `error` for eval.
    public var status: String
    public var reason: String?
    public var failToPass: [String]
    public var passToPass: [String]
    public var passToFail: [String]
    public var flaky: [String]
    /// The `TestRunRecord.id`s this verdict was computed from.
    public var runIDs: [String]
    public var finishedAt: Date?

    public init(instanceID: String, kind: VerdictKind, status: String, reason: String? = nil,
                failToPass: [String] = [], passToPass: [String] = [], passToFail: [String] = [],
                flaky: [String] = [], runIDs: [String] = [], finishedAt: Date? = Date()) {
        self.instanceID = instanceID; self.kind = kind; self.status = status; self.reason = reason
        self.failToPass = failToPass; self.passToPass = passToPass; self.passToFail = passToFail
        self.flaky = flaky; self.runIDs = runIDs; self.finishedAt = finishedAt
    }

    enum CodingKeys: String, CodingKey {
        case instanceID = "instance_id", kind, status, reason
        case failToPass = "fail_to_pass", passToPass = "pass_to_pass", passToFail = "pass_to_fail"
        case flaky, runIDs = "run_ids", finishedAt = "finished_at"
    }
}
