import Basics
import Foundation

/// Tasks as SWE-bench's datasets write them: one JSON object per line, SWE-bench's field names,
/// FAIL_TO_PASS / PASS_TO_PASS (and Forge's PASS_TO_FAIL / FLAKY) as JSON arrays encoded *as
/// strings*, Forge's other extras in snake_case.
public enum TaskJSONL {
    /// The keys of every exported line, in this order.
    public static let fieldOrder = [
        "instance_id", "repo", "base_commit", "patch", "test_patch", "problem_statement", "hints_text",
        "created_at", "version", "environment_setup_commit", "FAIL_TO_PASS", "PASS_TO_PASS",
        "pull_number", "issue_numbers", "merge_commit", "merge_style", "statement_source", "language",
        "PASS_TO_FAIL", "FLAKY", "other_patch", "license", "difficulty_level", "synthesis_strategy",
        "test_id_format",
    ]

    /// Fields an export adds from the exporting store's verdicts (`forge export --all`): they
    /// describe that store, so an import drops them rather than keeping them as extras.
    public static let exportStatusFields: Set<String> = ["status", "status_reason"]

    /// One JSONL line (no newline): keys in `fieldOrder`, absent optionals as `null`, non-ASCII
    /// text as UTF-8, then the task's extra fields and `added` (key, JSON text; it wins over an
    /// extra field of the same key), by key. The same task always gives the same bytes.
    public static func line(for task: TaskRecord, adding added: [(key: String, json: String)]) -> String {
        String(decoding: lineBytes(for: task, adding: added), as: UTF8.self)
    }

    /// `line(for:adding:)` with nothing added.
    public static func line(for task: TaskRecord) -> String { line(for: task, adding: []) }

    /// `line(for:adding:)` as UTF-8 bytes.
    public static func lineBytes(for task: TaskRecord, adding added: [(key: String, json: String)] = []) -> [UInt8] {
        var writer = ObjectWriter()
        writer.string("instance_id", task.instanceID)
        writer.string("repo", task.repo)
        writer.string("base_commit", task.baseCommit)
        writer.string("patch", task.patch)
        writer.string("test_patch", task.testPatch)
        writer.string("problem_statement", task.problemStatement)
        writer.string("hints_text", task.hintsText)
        writer.string("created_at", task.createdAt)
        writer.string("version", task.version)
        writer.string("environment_setup_commit", task.environmentSetupCommit)
        writer.string("FAIL_TO_PASS", listText(task.failToPass))
        writer.string("PASS_TO_PASS", listText(task.passToPass))
        writer.raw("pull_number", task.pullNumber.map(String.init) ?? "null")
        writer.raw("issue_numbers", "[" + task.issueNumbers.map(String.init).joined(separator: ",") + "]")
        writer.string("merge_commit", task.mergeCommit)
        writer.string("merge_style", task.mergeStyle?.rawValue)
        writer.string("statement_source", task.statementSource.rawValue)
        writer.string("language", task.language)
        writer.string("PASS_TO_FAIL", listText(task.passToFail))
        writer.string("FLAKY", listText(task.flaky))
        writer.string("other_patch", task.otherPatch)
        writer.string("license", task.license)
        writer.raw("difficulty_level", task.difficultyLevel.map(String.init) ?? "null")
        writer.string("synthesis_strategy", task.synthesisStrategy)
        writer.string("test_id_format", task.testIDFormat.rawValue)
        // One order whether a field was added or kept from an import, so rows round-trip byte for byte.
        var rest = task.extraFields
        for (key, json) in added { rest[key] = json }
        for (key, json) in rest.sorted(by: { $0.key < $1.key }) { writer.raw(key, json) }
        return writer.finish()
    }

    /// Reads a dataset file: JSONL (one task per line, blank lines skipped) or, if its first
    /// non-blank character is `[`, one JSON array of tasks. See `record(fromJSON:)` for what each
    /// task may look like. Throws `StoreError.malformedLine` naming `path:line` and the field, or
    /// `StoreError.malformedElement` for arrays; an instance id given twice is an error too.
    public static func read(contentsOf path: String) throws -> [TaskRecord] {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw StoreError.io(path: path, reason: "cannot read: \(oneLine(error))")
        }
        let firstByte = data.first { !(Character(UnicodeScalar($0)).isWhitespace) }
        let tasks = firstByte == UInt8(ascii: "[") ? try readArray(data, path: path) : try readLines(data, path: path)
        var firstPosition: [String: Int] = [:]
        for (position, task) in tasks {
            do { try Identifier.checkInstanceID(task.instanceID) } catch {
                throw firstByte == UInt8(ascii: "[")
                    ? StoreError.malformedElement(file: path, index: position, field: "instance_id", reason: error.description)
                    : StoreError.malformedLine(file: path, line: position, field: "instance_id", reason: error.description)
            }
            if let first = firstPosition[task.instanceID] {
                let reason = "duplicate instance_id '\(task.instanceID)' (first at \(firstByte == UInt8(ascii: "[") ? "element" : "line") \(first))"
                throw firstByte == UInt8(ascii: "[")
                    ? StoreError.malformedElement(file: path, index: position, field: "instance_id", reason: reason)
                    : StoreError.malformedLine(file: path, line: position, field: "instance_id", reason: reason)
            }
            firstPosition[task.instanceID] = position
        }
        return tasks.map(\.1)
    }

    /// Decodes one task from one JSON object. Accepts what SWE-bench-style datasets contain:
    /// FAIL_TO_PASS / PASS_TO_PASS / PASS_TO_FAIL / FLAKY as a JSON-array string or a real array
    /// (missing → empty); `created_at` in any ISO-8601 form (kept as written) or as epoch
    /// milliseconds (what `datasets`' `to_json` writes; stored as UTC ISO-8601); every Forge extra
    /// missing or null; `statement_source` missing → `imported`; `environment_setup_commit`
    /// missing → `base_commit`; `test_id_format` missing → `swebench` for other tools' datasets,
    /// `junit` for Forge's older exports (those with `statement_source`). Keys Forge does not use
    /// are kept in `extraFields`, except `exportStatusFields`. Throws `FieldError`.
    static func record(fromJSON data: Data) throws -> TaskRecord {
        do {
            return try JSONDecoder().decode(DatasetEntry.self, from: data).task
        } catch let error as FieldError {
            throw error
        } catch let DecodingError.dataCorrupted(context) {
            let underlying = context.underlyingError.map { ": " + oneLine($0) } ?? ""
            throw FieldError(field: nil, reason: "not valid JSON\(underlying)")
        } catch {
            throw FieldError(field: nil, reason: oneLine(error))
        }
    }

    private static func readLines(_ data: Data, path: String) throws -> [(Int, TaskRecord)] {
        var tasks: [(Int, TaskRecord)] = []
        var lineNumber = 0
        for var line in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
            if line.allSatisfy({ $0 == 32 || $0 == 9 }) { continue }
            do {
                tasks.append((lineNumber, try record(fromJSON: Data(line))))
            } catch let error as FieldError {
                throw StoreError.malformedLine(file: path, line: lineNumber, field: error.field, reason: error.reason)
            }
        }
        return tasks
    }

    private static func readArray(_ data: Data, path: String) throws -> [(Int, TaskRecord)] {
        let entries: [LenientEntry]
        do { entries = try JSONDecoder().decode([LenientEntry].self, from: data) } catch {
            throw StoreError.io(path: path, reason: "not a valid JSON array of tasks: \(oneLine(error))")
        }
        return try entries.enumerated().map { offset, entry in
            switch entry.result {
            case .success(let task): return (offset + 1, task)
            case .failure(let error):
                throw StoreError.malformedElement(file: path, index: offset + 1, field: error.field, reason: error.reason)
            }
        }
    }

    /// Python's `json.dumps(list)` look (`["a", "b"]`), as in SWE-bench's datasets.
    static func listText(_ items: [String]) -> String {
        var bytes: [UInt8] = [UInt8(ascii: "[")]
        for (offset, item) in items.enumerated() {
            if offset > 0 { bytes += [UInt8(ascii: ","), UInt8(ascii: " ")] }
            JSONString.appendQuoted(item, to: &bytes)
        }
        bytes.append(UInt8(ascii: "]"))
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// A dataset entry's problem: which field (nil for the whole line) and what is wrong.
struct FieldError: Error {
    let field: String?
    let reason: String
}

private struct ObjectWriter {
    private var bytes: [UInt8] = [UInt8(ascii: "{")]

    private mutating func key(_ name: String) {
        if bytes.count > 1 { bytes.append(UInt8(ascii: ",")) }
        JSONString.appendQuoted(name, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
    }

    mutating func raw(_ name: String, _ json: String) {
        key(name)
        bytes.append(contentsOf: json.utf8)
    }

    mutating func string(_ name: String, _ value: String?) {
        guard let value else { return raw(name, "null") }
        key(name)
        JSONString.appendQuoted(value, to: &bytes)
    }

    func finish() -> [UInt8] { bytes + [UInt8(ascii: "}")] }
}

private struct LenientEntry: Decodable {
    let result: Result<TaskRecord, FieldError>
    init(from decoder: any Decoder) throws {
        do { result = .success(try DatasetEntry(from: decoder).task) } catch let error as FieldError {
            result = .failure(error)
        } catch {
            result = .failure(FieldError(field: nil, reason: oneLine(error)))
        }
    }
}

private struct DatasetEntry: Decodable {
    let task: TaskRecord

    init(from decoder: any Decoder) throws {
        let fields: Fields
        do { fields = Fields(container: try decoder.container(keyedBy: Key.self)) } catch {
            throw FieldError(field: nil, reason: "expected a JSON object")
        }
        let instanceID = try fields.requiredString("instance_id")
        guard !instanceID.isEmpty else { throw FieldError(field: "instance_id", reason: "must not be empty") }
        let baseCommit = try fields.requiredString("base_commit")
        let createdAt = try fields.timestamp("created_at")
        let statementSource: StatementSource? = try fields.optionalEnum("statement_source")
        task = TaskRecord(
            instanceID: instanceID, repo: try fields.requiredString("repo"), baseCommit: baseCommit,
            patch: try fields.requiredString("patch"), testPatch: try fields.requiredString("test_patch"),
            problemStatement: try fields.requiredString("problem_statement"),
            hintsText: try fields.optionalString("hints_text") ?? "", createdAt: createdAt,
            version: try fields.optionalString("version") ?? "",
            environmentSetupCommit: try fields.optionalString("environment_setup_commit") ?? baseCommit,
            failToPass: try fields.testIDs("FAIL_TO_PASS"), passToPass: try fields.testIDs("PASS_TO_PASS"),
            pullNumber: try fields.optionalInt("pull_number"), issueNumbers: try fields.intList("issue_numbers"),
            mergeCommit: try fields.optionalString("merge_commit"),
            mergeStyle: try fields.optionalEnum("merge_style"),
            statementSource: statementSource ?? .imported,
            language: try fields.optionalString("language"),
            passToFail: try fields.testIDs("PASS_TO_FAIL"), flaky: try fields.testIDs("FLAKY"),
            otherPatch: try fields.optionalString("other_patch") ?? "",
            license: try fields.optionalString("license"),
            difficultyLevel: try fields.optionalInt("difficulty_level"),
            synthesisStrategy: try fields.optionalString("synthesis_strategy"),
            testIDFormat: try fields.optionalEnum("test_id_format") ?? (statementSource == nil ? .swebench : .junit),
            extraFields: try fields.unknown(known: Set(TaskJSONL.fieldOrder).union(TaskJSONL.exportStatusFields)))
    }

    struct Key: CodingKey {
        let stringValue: String
        init(_ name: String) { stringValue = name }
        init?(stringValue: String) { self.stringValue = stringValue }
        var intValue: Int? { nil }
        init?(intValue: Int) { nil }
    }

    /// Typed access to one object's fields, with errors that name the field.
    struct Fields {
        let container: KeyedDecodingContainer<Key>

        /// nil when the key is missing or null.
        private func present(_ name: String) -> Key? {
            let key = Key(name)
            guard container.contains(key), (try? container.decodeNil(forKey: key)) == false else { return nil }
            return key
        }

        func requiredString(_ name: String) throws -> String {
            guard let key = present(name) else { throw FieldError(field: name, reason: "missing") }
            guard let value = try? container.decode(String.self, forKey: key) else {
                throw FieldError(field: name, reason: "expected a string")
            }
            return value
        }

        func optionalString(_ name: String) throws -> String? {
            guard let key = present(name) else { return nil }
            guard let value = try? container.decode(String.self, forKey: key) else {
                throw FieldError(field: name, reason: "expected a string or null")
            }
            return value
        }

        /// A JSON array of test ids, or a string holding one (SWE-bench's form); missing → [].
        func testIDs(_ name: String) throws -> [String] {
            guard let key = present(name) else { return [] }
            if let list = try? container.decode([String].self, forKey: key) { return list }
            guard let text = try? container.decode(String.self, forKey: key) else {
                throw FieldError(field: name, reason: "expected a JSON array of strings, or a string holding one")
            }
            if text.trimmingCharacters(in: .whitespaces).isEmpty { return [] }
            guard let list = try? JSONDecoder().decode([String].self, from: Data(text.utf8)) else {
                throw FieldError(field: name, reason: "string is not a JSON array of strings: \(text.prefix(60))")
            }
            return list
        }

        /// An ISO-8601 string (kept as written) or epoch milliseconds (as UTC ISO-8601).
        func timestamp(_ name: String) throws -> String {
            guard let key = present(name) else { throw FieldError(field: name, reason: "missing") }
            if let text = try? container.decode(String.self, forKey: key) {
                guard ISOTimestamp.canonical(text) != nil else {
                    throw FieldError(field: name, reason: "'\(text)' is not an ISO-8601 date-time or epoch milliseconds")
                }
                return text
            }
            guard let milliseconds = try? container.decode(Int64.self, forKey: key),
                  abs(milliseconds) < 253_402_300_800_000 // year 9999: beyond it is not a date
            else { throw FieldError(field: name, reason: "expected an ISO-8601 string or epoch milliseconds") }
            let seconds = milliseconds >= 0 ? milliseconds / 1000 : (milliseconds - 999) / 1000
            return ISOTimestamp.format(seconds)
        }

        /// Every key outside `known`, as its value's JSON text (keys of objects sorted).
        func unknown(known: Set<String>) throws -> [String: String] {
            var extras: [String: String] = [:]
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            for key in container.allKeys where !known.contains(key.stringValue) {
                guard let value = try? container.decode(JSONValue.self, forKey: key),
                      let data = try? encoder.encode(value) else {
                    throw FieldError(field: key.stringValue, reason: "cannot read its value")
                }
                extras[key.stringValue] = String(decoding: data, as: UTF8.self)
            }
            return extras
        }

        func optionalInt(_ name: String) throws -> Int? {
            guard let key = present(name) else { return nil }
            if let value = try? container.decode(Int.self, forKey: key) { return value }
            if let text = try? container.decode(String.self, forKey: key), let value = Int(text) { return value }
            throw FieldError(field: name, reason: "expected an integer or null")
        }

        /// Integers (or numeric strings), as an array or a string holding one; missing → [].
        func intList(_ name: String) throws -> [Int] {
            guard let key = present(name) else { return [] }
            if let list = try? container.decode([Int].self, forKey: key) { return list }
            var strings = try? container.decode([String].self, forKey: key)
            if strings == nil, let text = try? container.decode(String.self, forKey: key) {
                let data = Data(text.utf8)
                if let list = try? JSONDecoder().decode([Int].self, from: data) { return list }
                strings = try? JSONDecoder().decode([String].self, from: data)
            }
            if let strings {
                let numbers = strings.compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
                if numbers.count == strings.count { return numbers }
            }
            throw FieldError(field: name, reason: "expected an array of integers")
        }

        func optionalEnum<Value: RawRepresentable & CaseIterable>(_ name: String) throws -> Value?
        where Value.RawValue == String {
            guard let text = try optionalString(name) else { return nil }
            guard let value = Value(rawValue: text) else {
                let allowed = Value.allCases.map(\.rawValue).joined(separator: ", ")
                throw FieldError(field: name, reason: "'\(text)' is not one of \(allowed)")
            }
            return value
        }
    }
}
