import Basics
import Foundation
import Store

/// One model's answer for one task, as SWE-bench prediction files write it.
public struct Prediction: Hashable, Sendable {
    public var instanceID: String
    /// `model_name_or_path`: which model wrote the patch (reports and folders are per model).
    public var model: String
    /// `model_patch`; nil when the file has `null` (scored as an empty patch, like "").
    public var patch: String?
    /// Where it came from, for messages: the line it starts on.
    public var line: Int

    public init(instanceID: String, model: String, patch: String?, line: Int = 0) {
        self.instanceID = instanceID; self.model = model; self.patch = patch; self.line = line
    }

    /// SWE-bench's rule: a missing or empty patch is not run. Whitespace-only counts as empty too.
    public var isEmptyPatch: Bool {
        (patch ?? "").trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
    }

    /// The model's name as a folder and file name (SWE-bench's convention: `/` becomes `__`).
    public var modelDirectoryName: String { Prediction.directoryName(model: model) }

    public static func directoryName(model: String) -> String {
        let replaced = model.replacingOccurrences(of: "/", with: "__")
        let cleaned = String(replaced.map { $0.isLetter || $0.isNumber || "._-+=@".contains($0) ? $0 : "_" })
        return cleaned.isEmpty || cleaned.allSatisfy({ $0 == "." }) ? "_" : cleaned
    }
}

/// A predictions file that cannot be used, naming `file:line`.
public struct PredictionsError: Error, CustomStringConvertible, Hashable, Sendable {
    public var file: String
    /// 0 when the problem is the file as a whole.
    public var line: Int
    public var message: String

    public var description: String {
        line > 0 ? "\(file):\(line): \(message)" : "\(file): \(message)"
    }
}

/// Reads SWE-bench prediction files in every form `swebench` accepts: JSON Lines, one JSON list
/// of the same objects, or one object keyed by instance id (SWE-agent's `preds.json`); and
/// `gold`, the tasks' own patches.
public enum PredictionsFile {
    /// The name `--predictions` takes for the gold patches (SWE-bench's convention).
    public static let goldName = "gold"

    /// SWE-bench's gold predictions: each task's own patch, model `gold`.
    public static func gold(_ tasks: [TaskRecord]) -> [Prediction] {
        tasks.map { Prediction(instanceID: $0.instanceID, model: goldName, patch: $0.patch) }
    }

    /// Reads and checks every prediction: each must be an object with a string `instance_id` and
    /// a string `model_name_or_path` that are safe in paths (`Identifier`), and a string or null
    /// `model_patch`; an
    /// instance id may appear once per model. Throws `PredictionsError` naming the first culprit.
    public static func load(path: String) throws -> [Prediction] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw PredictionsError(file: path, line: 0, message: "cannot read the file")
        }
        return try parse(data, file: path)
    }

    /// As `load`, from bytes already read; `file` names them in errors.
    public static func parse(_ data: Data, file: String) throws -> [Prediction] {
        var bytes = [UInt8](data)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) } // editors write a BOM
        let records: [(line: Int, record: Record)]
        if let first = bytes.first(where: { !isWhitespace($0) }), first == UInt8(ascii: "[") {
            records = try listElements(bytes, file: file).map { ($0.line, .bytes($0.bytes)) }
        } else if let keyed = try keyedByInstanceID(bytes, file: file) {
            records = keyed.map { (0, .fields($0)) }
        } else {
            records = lines(bytes).map { ($0.line, .bytes($0.bytes)) }
        }
        var predictions: [Prediction] = []
        var firstLine: [String: [String: Int]] = [:] // model → instance id → line
        for (line, record) in records {
            let prediction = try decode(record, line: line, file: file)
            if let earlier = firstLine[prediction.model]?[prediction.instanceID] {
                throw PredictionsError(file: file, line: line,
                                       message: "duplicate instance_id '\(prediction.instanceID)' for model '\(prediction.model)' (first at line \(earlier))")
            }
            firstLine[prediction.model, default: [:]][prediction.instanceID] = line
            predictions.append(prediction)
        }
        if predictions.isEmpty { throw PredictionsError(file: file, line: 0, message: "no predictions in the file") }
        return predictions
    }

    /// One prediction still to check: the bytes of a line or list element (parsed when its turn
    /// comes, so errors are reported in file order), or fields already parsed.
    private enum Record {
        case bytes(ArraySlice<UInt8>)
        case fields(PredictionFields)
    }

    /// The three fields a prediction must have, each as the file spelled it (nil: absent). Other
    /// keys are skipped without being converted, whatever they hold.
    struct PredictionFields: Decodable {
        var instanceID: JSONValue?
        var model: JSONValue?
        var patch: JSONValue?

        enum CodingKeys: String, CodingKey {
            case instanceID = "instance_id", model = "model_name_or_path", patch = "model_patch"
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            // decodeIfPresent would read `null` as absent; `"model_patch": null` is allowed, a missing one is not.
            func field(_ key: CodingKeys) throws -> JSONValue? {
                container.contains(key) ? try container.decode(JSONValue.self, forKey: key) : nil
            }
            instanceID = try field(.instanceID)
            model = try field(.model)
            patch = try field(.patch)
        }
    }

    private static func decode(_ record: Record, line: Int, file: String) throws -> Prediction {
        func fail(_ message: String) -> PredictionsError { PredictionsError(file: file, line: line, message: message) }
        let fields: PredictionFields
        switch record {
        case .fields(let parsed): fields = parsed
        case .bytes(let bytes):
            do {
                fields = try JSONDecoder().decode(PredictionFields.self, from: Data(bytes))
            } catch DecodingError.typeMismatch(_, let context) where context.codingPath.isEmpty {
                throw fail("expected a JSON object")
            } catch let error as DecodingError {
                // Syntax errors are the document's; anything else is one of the three fields
                // holding a value JSONValue cannot hold (a number beyond a Double).
                if let key = error.failurePath.first?.stringValue {
                    throw fail("\(key) must be a string\(key == "model_patch" ? " or null" : "")")
                }
                throw fail("not valid JSON: \(String(decoding: bytes.prefix(80), as: UTF8.self))")
            }
        }
        guard case .string(let id)? = fields.instanceID, !id.isEmpty else {
            throw fail(fields.instanceID == nil ? "missing instance_id" : "instance_id must be a non-empty string")
        }
        guard case .string(let model)? = fields.model, !model.isEmpty else {
            throw fail(fields.model == nil ? "missing model_name_or_path" : "model_name_or_path must be a non-empty string")
        }
        // Both become folder names: checked here, before anything is written.
        do {
            try Identifier.checkInstanceID(id)
            try Identifier.checkModelName(model)
        } catch {
            throw fail(error.description)
        }
        let patch: String?
        switch fields.patch {
        case nil: throw fail("missing model_patch (use null or \"\" for no patch)")
        case .null?: patch = nil
        case .string(let text)?: patch = text
        default: throw fail("model_patch must be a string or null")
        }
        return Prediction(instanceID: id, model: model, patch: patch, line: line)
    }

    /// SWE-agent's form, `{"<instance_id>": {prediction}, …}`, by key order; nil when the bytes
    /// are not one such object (a one-line JSONL file is an object too, but its values are not
    /// all objects). Each key must equal its prediction's `instance_id`.
    private static func keyedByInstanceID(_ bytes: [UInt8], file: String) throws -> [PredictionFields]? {
        // Any failure means "not this form": the file is then read as JSON Lines, which reports
        // its problems line by line.
        guard let object = try? JSONDecoder().decode([String: PredictionFields].self, from: Data(bytes)), !object.isEmpty else {
            return nil
        }
        return try object.keys.sorted().map { key in
            let fields = object[key]!
            if case .string(let id)? = fields.instanceID, id != key {
                throw PredictionsError(file: file, line: 0, message: "prediction under key '\(key)' has instance_id '\(id)'")
            }
            return fields
        }
    }

    /// Non-blank lines with their 1-based numbers.
    private static func lines(_ bytes: [UInt8]) -> [(line: Int, bytes: ArraySlice<UInt8>)] {
        var result: [(Int, ArraySlice<UInt8>)] = []
        var number = 0
        for line in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            number += 1
            if line.allSatisfy(isWhitespace) { continue }
            result.append((number, line))
        }
        return result
    }

    /// The elements of a top-level JSON list, each with the line it starts on. Only strings and
    /// nesting are tracked here; each element's own syntax is checked when it is decoded.
    private static func listElements(_ bytes: [UInt8], file: String) throws -> [(line: Int, bytes: ArraySlice<UInt8>)] {
        var elements: [(Int, ArraySlice<UInt8>)] = []
        var line = 1, depth = 0, inString = false, escaped = false
        var start: Int?, startLine = 0, closed = false
        func finish(at end: Int) throws {
            guard let begin = start else { throw PredictionsError(file: file, line: line, message: "empty element in the list") }
            elements.append((startLine, bytes[begin..<end]))
            start = nil
        }
        for (index, byte) in bytes.enumerated() {
            if byte == UInt8(ascii: "\n") { line += 1 }
            if closed {
                if !isWhitespace(byte) { throw PredictionsError(file: file, line: line, message: "text after the closing ']'") }
                continue
            }
            if inString {
                if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inString = false }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                depth += 1
                if depth == 1 { continue } // the list itself
            case UInt8(ascii: "]"), UInt8(ascii: "}"):
                depth -= 1
                if depth == 0 {
                    if start != nil || !elements.isEmpty { try finish(at: index) }
                    closed = true
                    continue
                }
            case UInt8(ascii: ",") where depth == 1:
                try finish(at: index)
                continue
            default: break
            }
            if depth >= 1, start == nil, !isWhitespace(byte) { start = index; startLine = line }
        }
        if !closed { throw PredictionsError(file: file, line: line, message: "the JSON list is not closed with ']'") }
        return elements
    }

    private static func isWhitespace(_ byte: UInt8) -> Bool { byte == 32 || byte == 9 || byte == 10 || byte == 13 }
}
