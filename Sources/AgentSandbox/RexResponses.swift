import Evaluation
import Foundation

// The JSON bodies the server answers with, under SWE-ReX's pydantic field names (swerex 1.4:
// swerex/runtime/abstract.py). Optional fields are written as `null`, never left out, as
// pydantic's `model_dump` writes them.

/// `CreateBashSessionResponse`.
struct CreateSessionResponse: Encodable, Equatable {
    var output: String
    var sessionType = "bash"
    enum CodingKeys: String, CodingKey { case output, sessionType = "session_type" }
}

/// `BashObservation`: a session action's answer. `exit_code` is null when the check was `ignore`.
struct Observation: Encodable, Equatable {
    var output: String
    var exitCode: Int?
    var failureReason = ""
    var expectString = ""
    var sessionType = "bash"

    enum CodingKeys: String, CodingKey {
        case output, exitCode = "exit_code", failureReason = "failure_reason", expectString = "expect_string", sessionType = "session_type"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(output, forKey: .output)
        try container.encode(exitCode, forKey: .exitCode) // Optional.encode writes null
        try container.encode(failureReason, forKey: .failureReason)
        try container.encode(expectString, forKey: .expectString)
        try container.encode(sessionType, forKey: .sessionType)
    }
}

/// `CloseBashSessionResponse`.
struct CloseSessionResponse: Encodable, Equatable {
    var sessionType = "bash"
    enum CodingKeys: String, CodingKey { case sessionType = "session_type" }
}

/// `CommandResponse`: `/execute`'s answer.
struct CommandResponse: Encodable, Equatable {
    var stdout: String
    var stderr: String
    var exitCode: Int
    enum CodingKeys: String, CodingKey { case stdout, stderr, exitCode = "exit_code" }
}

/// `ReadFileResponse`.
struct ReadFileResponse: Encodable, Equatable {
    var content: String
}

/// `WriteFileResponse`, `UploadResponse`, `CloseResponse`: `{}`.
struct EmptyResponse: Encodable, Equatable {}

/// `IsAliveResponse`.
struct IsAliveResponse: Encodable, Equatable {
    var isAlive: Bool
    var message = ""
    enum CodingKeys: String, CodingKey { case isAlive = "is_alive", message }
}

/// `GET /`'s greeting (as swerex's server answers it).
struct GreetingResponse: Encodable, Equatable {
    var message = "hello world"
}

/// `POST /forge/submit`'s answer: the score's fields plus the patch that was scored.
struct SubmitResponse: Encodable {
    var score: ScoreResponse
    var modelPatch: String
    enum CodingKeys: String, CodingKey { case modelPatch = "model_patch" }

    func encode(to encoder: any Encoder) throws {
        // Both write into the one top-level object: the score's keys, then `model_patch`.
        try score.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(modelPatch, forKey: .modelPatch)
    }
}

/// The 511 body the client re-raises: `{"swerexception": {message, class_path, traceback, extra_info}}`.
struct TransferredException: Encodable, Equatable {
    struct Details: Encodable, Equatable {
        var message: String
        var classPath: String
        var traceback: String
        var extraInfo: [String: String]
        enum CodingKeys: String, CodingKey { case message, classPath = "class_path", traceback, extraInfo = "extra_info" }
    }
    var swerexception: Details
}

/// FastAPI's refusal body: `{"detail": "text"}`, or for 422 `{"detail": [{type, loc, msg}]}`.
struct HTTPErrorBody: Encodable, Equatable {
    struct Validation: Encodable, Equatable {
        var type: String
        var loc: [String]
        var msg: String
    }
    var detail: RexHTTPError.Detail

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch detail {
        case .message(let text): try container.encode(["detail": text])
        case .validation(let type, let location, let message):
            try container.encode(["detail": [Validation(type: type, loc: location, msg: message)]])
        }
    }
}
