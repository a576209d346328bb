import Foundation
import Store

// SWE-ReX's runtime protocol (swerex 1.4: swerex/runtime/abstract.py, swerex/server.py), as its
// `RemoteRuntime` client speaks it: JSON bodies with pydantic's field names and defaults,
// failures as HTTP 511 `{"swerexception": {message, class_path, traceback, extra_info}}` that the
// client re-raises as the named Python exception.

/// A failure the client re-raises as `class_path`. Each case is one exception SWE-ReX's own
/// runtime raises in the same situation.
public enum RexError: Error, CustomStringConvertible, Sendable, Equatable {
    case sessionDoesNotExist(String)
    case sessionExists(String)
    /// The session's shell is gone (it exited, or was killed after an interrupt failed).
    case sessionNotInitialized(String)
    /// `timeout after N seconds while running command '...'`: the command was interrupted and the
    /// session is still usable (unless the message says otherwise).
    case commandTimeout(String)
    case nonZeroExitCode(String)
    case incorrectSyntax(message: String, stdout: String, stderr: String)
    /// A path that resolves outside the workspace (Python's PermissionError).
    case permission(String)
    case fileNotFound(String)
    case isADirectory(String)
    /// A request that is well-formed JSON but cannot be carried out (Python's ValueError).
    case invalidValue(String)
    /// The sandbox itself failed (Python's RuntimeError).
    case runtime(String)

    public var description: String {
        switch self {
        case .sessionDoesNotExist(let m), .sessionExists(let m), .sessionNotInitialized(let m), .commandTimeout(let m),
             .nonZeroExitCode(let m), .permission(let m), .fileNotFound(let m), .isADirectory(let m),
             .invalidValue(let m), .runtime(let m):
            return m
        case .incorrectSyntax(let message, _, _):
            return message
        }
    }

    /// The exception's `module.Name`, importable on the client.
    public var classPath: String {
        switch self {
        case .sessionDoesNotExist: return "swerex.exceptions.SessionDoesNotExistError"
        case .sessionExists: return "swerex.exceptions.SessionExistsError"
        case .sessionNotInitialized: return "swerex.exceptions.SessionNotInitializedError"
        case .commandTimeout: return "swerex.exceptions.CommandTimeoutError"
        case .nonZeroExitCode: return "swerex.exceptions.NonZeroExitCodeError"
        case .incorrectSyntax: return "swerex.exceptions.BashIncorrectSyntaxError"
        case .permission: return "builtins.PermissionError"
        case .fileNotFound: return "builtins.FileNotFoundError"
        case .isADirectory: return "builtins.IsADirectoryError"
        case .invalidValue: return "builtins.ValueError"
        case .runtime: return "builtins.RuntimeError"
        }
    }

    var extraInfo: [String: String] {
        if case .incorrectSyntax(_, let stdout, let stderr) = self { return ["bash_stdout": stdout, "bash_stderr": stderr] }
        return [:]
    }

    /// The 511 body: `{"swerexception": {...}}`.
    var transferBody: TransferredException {
        TransferredException(swerexception: .init(message: description, classPath: classPath,
                                                  traceback: "raised by Forge's sandbox server (\(classPath)): \(description)",
                                                  extraInfo: extraInfo))
    }
}

/// HTTP-level refusals (bad key, unparsable body, unknown route): FastAPI's `{"detail": ...}`.
public struct RexHTTPError: Error, CustomStringConvertible, Sendable, Equatable {
    public var status: Int
    /// A string, or FastAPI's validation list `[{type, loc, msg}]` for 422.
    public var detail: Detail
    public enum Detail: Sendable, Equatable {
        case message(String)
        case validation(type: String, location: [String], message: String)
    }

    public var description: String {
        switch detail {
        case .message(let text): return "\(status): \(text)"
        case .validation(let type, let location, let message): return "\(status): \(location.joined(separator: ".")): \(message) (\(type))"
        }
    }

    var body: HTTPErrorBody { HTTPErrorBody(detail: detail) }

    static let missingKey = RexHTTPError(status: 403, detail: .message("Not authenticated"))
    static let wrongKey = RexHTTPError(status: 401, detail: .message("Invalid API Key"))
    static func invalid(_ field: String, _ message: String, type: String = "value_error") -> RexHTTPError {
        RexHTTPError(status: 422, detail: .validation(type: type, location: ["body", field], message: message))
    }
}

/// Reads a request body's fields with pydantic's defaults, naming the field at fault.
struct RequestFields: Sendable {
    let object: [String: JSONValue]

    /// Parses a JSON object body; an empty body is `{}` (the client posts none to `/close`).
    init(_ data: Data) throws(RexHTTPError) {
        if data.allSatisfy({ $0 == 0x20 || $0 == 0x0a || $0 == 0x0d || $0 == 0x09 }) { object = [:]; return }
        guard let parsed = JSONValue.parse(data) else {
            throw RexHTTPError(status: 422, detail: .validation(type: "json_invalid", location: ["body"], message: "JSON decode error: the body is not valid JSON"))
        }
        guard case .object(let fields) = parsed else {
            throw RexHTTPError(status: 422, detail: .validation(type: "model_attributes_type", location: ["body"], message: "Input should be a valid dictionary or object"))
        }
        object = fields
    }

    /// The field's value, or nil when it is absent or `null` (pydantic's default applies).
    private func value(_ key: String) -> JSONValue? {
        guard let value = object[key], value != .null else { return nil }
        return value
    }

    func string(_ key: String) throws(RexHTTPError) -> String {
        guard let value = object[key] else { throw .invalid(key, "Field required", type: "missing") }
        guard let text = value.string else { throw .invalid(key, "Input should be a valid string", type: "string_type") }
        return text
    }

    func string(_ key: String, default fallback: String) throws(RexHTTPError) -> String {
        value(key) == nil ? fallback : try string(key)
    }

    func optionalString(_ key: String) throws(RexHTTPError) -> String? {
        value(key) == nil ? nil : try string(key)
    }

    func optionalNumber(_ key: String) throws(RexHTTPError) -> Double? {
        guard let value = value(key) else { return nil }
        guard let number = value.number else { throw .invalid(key, "Input should be a valid number", type: "float_type") }
        return number
    }

    func bool(_ key: String, default fallback: Bool) throws(RexHTTPError) -> Bool {
        guard let value = value(key) else { return fallback }
        guard case .bool(let flag) = value else { throw .invalid(key, "Input should be a valid boolean", type: "bool_type") }
        return flag
    }

    func strings(_ key: String) throws(RexHTTPError) -> [String] {
        guard let value = value(key) else { return [] }
        guard case .array(let list) = value, case let texts = list.compactMap(\.string), texts.count == list.count else {
            throw .invalid(key, "Input should be a valid list of strings", type: "list_type")
        }
        return texts
    }

    func stringMap(_ key: String) throws(RexHTTPError) -> [String: String]? {
        guard let value = value(key) else { return nil }
        guard case .object(let map) = value, case let texts = map.compactMapValues(\.string), texts.count == map.count else {
            throw .invalid(key, "Input should be a valid dictionary of strings", type: "dict_type")
        }
        return texts
    }

    /// A `Literal[...]` field.
    func choice(_ key: String, _ allowed: [String], default fallback: String) throws(RexHTTPError) -> String {
        let value = try string(key, default: fallback)
        guard allowed.contains(value) else {
            throw .invalid(key, "Input should be " + allowed.map { "'\($0)'" }.joined(separator: " or "), type: "literal_error")
        }
        return value
    }
}

/// `BashAction` / `BashInterruptAction` (discriminated by `action_type`).
struct SessionAction {
    enum Check: String { case silent, raise, ignore }
    var command: String
    var session: String
    var timeout: Double?
    var check: Check
    var errorMessage: String
    var isInterrupt: Bool
    var isInteractive: Bool

    init(_ fields: RequestFields) throws(RexHTTPError) {
        isInterrupt = try fields.choice("action_type", ["bash", "bash_interrupt"], default: "bash") == "bash_interrupt"
        session = try fields.string("session", default: "default")
        timeout = try fields.optionalNumber("timeout")
        if isInterrupt {
            command = ""; check = .silent; errorMessage = ""; isInteractive = false
            return
        }
        command = try fields.string("command")
        check = Check(rawValue: try fields.choice("check", ["silent", "raise", "ignore"], default: "raise"))!
        errorMessage = try fields.string("error_msg", default: "")
        let interactive = try fields.bool("is_interactive_command", default: false)
        let interactiveQuit = try fields.bool("is_interactive_quit", default: false)
        isInteractive = interactive || interactiveQuit
        if let timeout, timeout < 0 { throw .invalid("timeout", "Input should be greater than or equal to 0") }
    }
}

/// `Command` for `/execute`.
struct ExecuteRequest {
    var argv: [String]
    var display: String
    var timeout: Double?
    var check: Bool
    var errorMessage: String
    var environment: [String: String]?
    var workingDirectory: String?
    var mergeOutput: Bool

    init(_ fields: RequestFields) throws(RexHTTPError) {
        let shell = try fields.bool("shell", default: false)
        switch fields.object["command"] {
        case nil: throw .invalid("command", "Field required", type: "missing")
        case .string(let text):
            // subprocess.run semantics: a string is a shell line with shell=True, else one program.
            argv = shell ? ["/bin/sh", "-c", text] : [text]
            display = text
        case .array(let list):
            let words = list.compactMap(\.string)
            guard words.count == list.count, !words.isEmpty else {
                throw .invalid("command", "Input should be a non-empty list of strings", type: "list_type")
            }
            argv = shell ? ["/bin/sh", "-c", words[0]] + words.dropFirst() : words
            display = words.joined(separator: " ")
        default: throw .invalid("command", "Input should be a valid string or list of strings", type: "union_type")
        }
        timeout = try fields.optionalNumber("timeout")
        check = try fields.bool("check", default: false)
        errorMessage = try fields.string("error_msg", default: "")
        environment = try fields.stringMap("env")
        workingDirectory = try fields.optionalString("cwd")
        mergeOutput = try fields.bool("merge_output_streams", default: false)
    }
}

/// Python's `repr` of a string, as SWE-ReX's messages quote commands.
func pythonRepr(_ text: String) -> String {
    let quote: Character = text.contains("'") && !text.contains("\"") ? "\"" : "'"
    var out = String(quote)
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case Unicode.Scalar(String(quote))!: out += "\\\(quote)"
        default:
            if scalar.value < 0x20 || scalar.value == 0x7f { out += String(format: "\\x%02x", scalar.value) } else { out.unicodeScalars.append(scalar) }
        }
    }
    return out + String(quote)
}

/// Python's `%g`-ish rendering of a timeout (`10.0` → `10.0`), as in SWE-ReX's messages.
func pythonFloat(_ value: Double) -> String {
    value == value.rounded() && abs(value) < 1e15 ? String(format: "%.1f", value) : "\(value)"
}
