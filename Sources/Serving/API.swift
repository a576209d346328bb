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

    /// The scoring service's refusals, answered with their HTTP statuses.
    public init(_ error: ScoringError) {
        switch error {
        case .unknownInstance(let id): self = .unknownInstance(id)
        case .notEvaluable(let id, let reason): self = .notEvaluable(instanceID: id, reason: reason)
        case .queueFull(let capacity, let retryAfter): self = .queueFull(capacity: capacity, retryAfter: retryAfter)
        case .deadlineExceeded(let seconds, let started): self = .deadlineExceeded(seconds: seconds, started: started)
        case .shuttingDown: self = .shuttingDown
        case .storage(let why): self = .storage(why)
        }
    }
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
