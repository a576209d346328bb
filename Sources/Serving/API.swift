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
    case notFound(String)
    /// The server has an API key and the request's `X-API-Key` is missing or another.
    case unauthorized
    /// The scoring service's refusals (unknown or unscorable task, full queue, deadline,
    /// shutdown) and store failures.
    case scoring(ScoringError)

    public static func unknownInstance(_ id: String) -> ServingError { .scoring(.unknownInstance(id)) }
    public static func storage(_ why: String) -> ServingError { .scoring(.storage(why)) }

    public var description: String {
        switch self {
        case .malformedBody(let why): return "malformed request body: \(why)"
        case .bodyTooLarge(let limit): return "request body is larger than the limit of \(limit) bytes"
        case .badQuery(let why): return "bad query: \(why)"
        case .notFound(let what): return "not found: \(what)"
        case .unauthorized: return "missing or wrong API key: send it in the X-API-Key header"
        case .scoring(let error): return error.description
        }
    }

    /// Stable machine-readable name.
    public var code: String {
        switch self {
        case .malformedBody: return "malformed_body"
        case .bodyTooLarge: return "body_too_large"
        case .badQuery: return "bad_query"
        case .notFound: return "not_found"
        case .unauthorized: return "unauthorized"
        case .scoring(.unknownInstance): return "unknown_instance"
        case .scoring(.notEvaluable): return "not_evaluable"
        case .scoring(.queueFull): return "queue_full"
        case .scoring(.deadlineExceeded): return "deadline_exceeded"
        case .scoring(.shuttingDown): return "shutting_down"
        case .scoring(.storage): return "storage"
        }
    }

    public var httpStatus: Int {
        switch self {
        case .malformedBody, .badQuery: return 400
        case .bodyTooLarge: return 413
        case .notFound, .scoring(.unknownInstance): return 404
        case .unauthorized: return 401
        case .scoring(.notEvaluable): return 409
        case .scoring(.queueFull): return 429
        case .scoring(.deadlineExceeded): return 504
        case .scoring(.shuttingDown): return 503
        case .scoring(.storage): return 500
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
        guard let object = JSONValue.parse(data) else { throw .malformedBody("not valid JSON") }
        guard case .object(let fields) = object else { throw .malformedBody("expected a JSON object") }
        guard let id = fields["instance_id"] else { throw .malformedBody("missing instance_id") }
        guard let instanceID = id.string, !instanceID.isEmpty else { throw .malformedBody("instance_id must be a non-empty string") }
        let patch: String?
        switch fields["model_patch"] {
        case nil: throw .malformedBody("missing model_patch (use null or \"\" for no patch)")
        case .null?: patch = nil
        case .string(let text)?: patch = text
        default: throw .malformedBody("model_patch must be a string or null")
        }
        var model: String?
        switch fields["model_name_or_path"] {
        case nil, .null?: model = nil
        case .string(let text)?: model = text
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
