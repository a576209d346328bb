import Environments
import Evaluation
import Foundation
import Store

/// Why a request could not be answered with a score or a resource. Each case has the HTTP
/// status it is answered with; the body is `{"error": {"code", "message"}}`.
public enum ServingError: Error, CustomStringConvertible, Hashable, Sendable {
    /// The body is not JSON, not an object, or a field has the wrong type.
    case malformedBody(String)
    /// The body is larger than the server's limit (bytes).
    case bodyTooLarge(limit: Int)
    /// A query parameter that cannot be used.
    case badQuery(String)
    case unknownInstance(String)
    /// The task exists but cannot be scored: no FAIL_TO_PASS (not validated), or PASS_TO_FAIL.
    case notEvaluable(instanceID: String, reason: String)
    /// Every worker is busy and the waiting queue is full: try again after `retryAfter` seconds.
    case queueFull(capacity: Int, retryAfter: Int)
    /// No result within the per-request time limit. A run that had started still finishes and
    /// is stored, so the same request later gets it.
    case deadlineExceeded(seconds: Double, started: Bool)
    case shuttingDown
    case notFound(String)
    /// The store or a file could not be read or written: an infrastructure failure.
    case storage(String)
    /// The server has an API key and the request's `X-API-Key` is missing or another.
    case unauthorized

    public var description: String {
        switch self {
        case .malformedBody(let why): return "malformed request body: \(why)"
        case .bodyTooLarge(let limit): return "request body is larger than the limit of \(limit) bytes"
        case .badQuery(let why): return "bad query: \(why)"
        case .unknownInstance(let id): return "unknown instance_id '\(id)'"
        case .notEvaluable(let id, let reason): return "task '\(id)' cannot be scored: \(reason)"
        case .queueFull(let capacity, let retryAfter):
            return "scoring queue is full (\(capacity) waiting): retry after \(retryAfter) s"
        case .deadlineExceeded(let seconds, let started):
            return "no result within \(Self.format(seconds)) s"
                + (started ? " (the run goes on; if it finishes, the same request later gets its stored result)" : " (it was still queued and was dropped)")
        case .shuttingDown: return "the server is shutting down"
        case .notFound(let what): return "not found: \(what)"
        case .storage(let why): return "storage failure: \(why)"
        case .unauthorized: return "missing or wrong API key: send it in the X-API-Key header"
        }
    }

    /// Stable machine-readable name.
    public var code: String {
        switch self {
        case .malformedBody: return "malformed_body"
        case .bodyTooLarge: return "body_too_large"
        case .badQuery: return "bad_query"
        case .unknownInstance: return "unknown_instance"
        case .notEvaluable: return "not_evaluable"
        case .queueFull: return "queue_full"
        case .deadlineExceeded: return "deadline_exceeded"
        case .shuttingDown: return "shutting_down"
        case .notFound: return "not_found"
        case .storage: return "storage"
        case .unauthorized: return "unauthorized"
        }
    }

    public var httpStatus: Int {
        switch self {
        case .malformedBody, .badQuery: return 400
        case .bodyTooLarge: return 413
        case .unknownInstance, .notFound: return 404
        case .notEvaluable: return 409
        case .queueFull: return 429
        case .deadlineExceeded: return 504
        case .shuttingDown: return 503
        case .storage: return 500
        case .unauthorized: return 401
        }
    }

    static func format(_ seconds: Double) -> String { String(format: "%g", seconds) }
}

/// `POST /score`'s body: one SWE-bench prediction.
public struct ScoreRequest: Hashable, Sendable {
    public var instanceID: String
    /// nil for JSON `null`: scored as an empty patch, like "".
    public var patch: String?
    public var model: String?

    public init(instanceID: String, patch: String?, model: String? = nil) {
        self.instanceID = instanceID; self.patch = patch; self.model = model
    }

    /// Reads `{instance_id, model_patch, model_name_or_path?}`, checking each field's type.
    /// Other fields are ignored (prediction files carry extras). `model_patch` must be present,
    /// as in prediction files: a missing one is more likely a misspelt key than "no patch".
    public static func decode(_ data: Data) throws(ServingError) -> ScoreRequest {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        } catch {
            throw .malformedBody("not valid JSON")
        }
        guard let fields = object as? [String: Any] else { throw .malformedBody("expected a JSON object") }
        guard let id = fields["instance_id"] else { throw .malformedBody("missing instance_id") }
        guard let instanceID = id as? String, !instanceID.isEmpty else { throw .malformedBody("instance_id must be a non-empty string") }
        let patch: String?
        switch fields["model_patch"] {
        case nil: throw .malformedBody("missing model_patch (use null or \"\" for no patch)")
        case is NSNull: patch = nil
        case let text as String: patch = text
        default: throw .malformedBody("model_patch must be a string or null")
        }
        var model: String?
        switch fields["model_name_or_path"] {
        case nil, is NSNull: model = nil
        case let text as String: model = text
        default: throw .malformedBody("model_name_or_path must be a string")
        }
        // Both name folders of the stored result: checked before anything is looked up or written.
        do {
            try Identifier.checkInstanceID(instanceID)
            if let model { try Identifier.checkModelName(model) }
        } catch {
            throw .malformedBody(error.description)
        }
        return ScoreRequest(instanceID: instanceID, patch: patch, model: model)
    }

    /// Identifies the (instance, patch) pair: results are stored and reused under it.
    public var key: String { SHA256Key.of(instanceID: instanceID, patch: patch ?? "") }
}

enum SHA256Key {
    static func of(instanceID: String, patch: String) -> String {
        // NUL cannot occur in an instance id, so no two pairs give the same text.
        String(Environments.SHA256.hex(Evaluator.scoringRules + "\u{0}" + instanceID + "\u{0}" + patch).prefix(32))
    }
}

/// `POST /score`'s answer. `reward` is 1 for resolved, 0 for unresolved, empty or unappliable
/// patches, and null for infrastructure errors: those say nothing about the patch.
public struct ScoreResponse: Codable, Hashable, Sendable {
    public var instanceID: String
    public var model: String?
    public var status: String
    public var resolved: Bool
    public var reward: Double?
    public var f2pPassed: Int
    public var f2pTotal: Int
    public var p2pPassed: Int
    public var p2pTotal: Int
    public var logURL: String
    public var reportURL: String
    public var reason: String
    /// Set only for status `error`: says the reward is withheld and why.
    public var error: String?
    public var applyMethod: String?
    public var patchFixes: [String]
    public var touchesTests: [String]
    /// The result came from an earlier run of the same (instance, patch).
    public var cached: Bool
    public var patchKey: String
    /// Seconds the tests ran (0 when nothing ran).
    public var testSeconds: Double

    enum CodingKeys: String, CodingKey {
        case instanceID = "instance_id", model = "model_name_or_path", status, resolved, reward
        case f2pPassed = "f2p_passed", f2pTotal = "f2p_total", p2pPassed = "p2p_passed", p2pTotal = "p2p_total"
        case logURL = "log_url", reportURL = "report_url", reason, error, applyMethod = "apply_method"
        case patchFixes = "patch_fixes", touchesTests = "touches_tests", cached, patchKey = "patch_key"
        case testSeconds = "test_seconds"
    }

    /// Written by hand so that `reward` is always present: `null` for errors, never left out.
    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(instanceID, forKey: .instanceID)
        try container.encodeIfPresent(model, forKey: .model)
        try container.encode(status, forKey: .status)
        try container.encode(resolved, forKey: .resolved)
        try container.encode(reward, forKey: .reward) // Optional.encode writes null
        try container.encode(f2pPassed, forKey: .f2pPassed)
        try container.encode(f2pTotal, forKey: .f2pTotal)
        try container.encode(p2pPassed, forKey: .p2pPassed)
        try container.encode(p2pTotal, forKey: .p2pTotal)
        try container.encode(logURL, forKey: .logURL)
        try container.encode(reportURL, forKey: .reportURL)
        try container.encode(reason, forKey: .reason)
        try container.encodeIfPresent(error, forKey: .error)
        try container.encodeIfPresent(applyMethod, forKey: .applyMethod)
        try container.encode(patchFixes, forKey: .patchFixes)
        try container.encode(touchesTests, forKey: .touchesTests)
        try container.encode(cached, forKey: .cached)
        try container.encode(patchKey, forKey: .patchKey)
        try container.encode(testSeconds, forKey: .testSeconds)
    }

    public init(result: InstanceResult, task: TaskRecord, model: String?, key: String, cached: Bool) {
        instanceID = result.instanceID
        self.model = model
        status = result.status.rawValue
        resolved = result.status == .resolved
        switch result.status {
        case .resolved: reward = 1
        case .unresolved, .emptyPatch, .patchFailed, .testsModified: reward = 0
        case .error: reward = nil
        }
        error = result.status == .error
            ? "infrastructure error, not the patch's fault: no reward given (\(result.reason))" : nil
        f2pPassed = result.failToPass.success.count
        f2pTotal = task.failToPass.count
        p2pPassed = result.passToPass.success.count
        p2pTotal = task.passToPass.count
        let base = "/logs/\(ScoringService.folderName(key: key))/\(Identifier.pathComponent(result.instanceID))/"
        logURL = base + (result.logFile ?? "report.json")
        reportURL = base + "report.json"
        reason = result.reason
        applyMethod = result.applyMethod?.rawValue
        patchFixes = result.patchFixes.map(\.rawValue)
        touchesTests = result.testPathsTouched
        self.cached = cached
        patchKey = key
        testSeconds = result.wallSeconds
    }
}

/// One row of `GET /tasks`.
public struct TaskSummary: Codable, Hashable, Sendable {
    public var instanceID: String
    public var repo: String
    public var baseCommit: String
    public var createdAt: String
    public var validated: Bool
    public var f2pTotal: Int
    public var p2pTotal: Int

    enum CodingKeys: String, CodingKey {
        case instanceID = "instance_id", repo, baseCommit = "base_commit", createdAt = "created_at", validated
        case f2pTotal = "f2p_total", p2pTotal = "p2p_total"
    }

    init(_ task: TaskRecord) {
        instanceID = task.instanceID; repo = task.repo; baseCommit = task.baseCommit; createdAt = task.createdAt
        validated = task.isEvaluable; f2pTotal = task.failToPass.count; p2pTotal = task.passToPass.count
    }
}

public struct TaskPage: Codable, Hashable, Sendable {
    public var tasks: [TaskSummary]
    public var total: Int
    public var offset: Int
    public var limit: Int
    /// The `offset` of the next page; absent on the last one.
    public var nextOffset: Int?

    enum CodingKeys: String, CodingKey { case tasks, total, offset, limit, nextOffset = "next_offset" }
}

/// `GET /tasks/{id}`: what an agent's prompt is made of. Never the gold patch or the test patch.
public struct TaskDetail: Codable, Hashable, Sendable {
    public struct Snapshot: Codable, Hashable, Sendable {
        /// `GET` this for a tar archive of the tree at `base_commit`.
        public var archiveURL: String
        /// A folder on the server's machine holding that tree (for trainers on the same host).
        public var path: String?
        enum CodingKeys: String, CodingKey { case archiveURL = "archive_url", path }
    }
    public var instanceID: String
    public var repo: String
    public var baseCommit: String
    public var problemStatement: String
    public var hintsText: String
    public var createdAt: String
    public var version: String
    public var environmentSetupCommit: String
    public var validated: Bool
    public var failToPass: [String]
    public var passToPass: [String]
    public var snapshot: Snapshot

    enum CodingKeys: String, CodingKey {
        case instanceID = "instance_id", repo, baseCommit = "base_commit", problemStatement = "problem_statement"
        case hintsText = "hints_text", createdAt = "created_at", version
        case environmentSetupCommit = "environment_setup_commit", validated
        case failToPass = "FAIL_TO_PASS", passToPass = "PASS_TO_PASS", snapshot
    }

    init(_ task: TaskRecord, snapshotPath: String?) {
        instanceID = task.instanceID; repo = task.repo; baseCommit = task.baseCommit
        problemStatement = task.problemStatement; hintsText = task.hintsText; createdAt = task.createdAt
        version = task.version; environmentSetupCommit = task.environmentSetupCommit; validated = task.isEvaluable
        failToPass = task.failToPass; passToPass = task.passToPass
        snapshot = Snapshot(archiveURL: "/tasks/\(task.instanceID)/snapshot.tar", path: snapshotPath)
    }
}
