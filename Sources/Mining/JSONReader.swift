/// A JSON value with the line it starts on, so metadata errors can name `file:line`.
struct JSONNode {
    indirect enum Value {
        case null
        case bool(Bool)
        case number(Double)
        case string(String)
        case array([JSONNode])
        case object([String: JSONNode])
    }
    let value: Value
    let line: Int

    subscript(key: String) -> JSONNode? {
        if case .object(let members) = value { return members[key] }
        return nil
    }

    var isNull: Bool { if case .null = value { return true } else { return false } }
    var string: String? { if case .string(let text) = value { return text } else { return nil } }
    var int: Int? {
        if case .number(let number) = value, number == number.rounded(), abs(number) < 1e15 { return Int(number) }
        return nil
    }
    var array: [JSONNode]? { if case .array(let items) = value { return items } else { return nil } }
    var isObject: Bool { if case .object = value { return true } else { return false } }
}

/// A syntax error at a line of a JSON text (`recordLine`: where the enclosing record began).
struct JSONSyntaxError: Error {
    let line: Int
    let message: String
    var recordLine: Int? = nil
}

/// Reads a stream of JSON values: one document, JSON Lines, or several documents back to back
/// (`gh api --paginate` prints one array per page). Elements of top-level arrays are handed out
/// one at a time, so a large export never exists as one tree in memory.
struct JSONStreamReader {
    private let bytes: [UInt8]
    private var index = 0
    private var line = 1
    private var insideTopLevelArray = false

    init(bytes: [UInt8]) {
        self.bytes = bytes
        // A UTF-8 byte order mark is not JSON, but editors write it.
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { index = 3 }
    }

    /// The next record (a top-level value, or an element of a top-level array); nil at the end.
    mutating func nextRecord() throws -> JSONNode? {
        skipWhitespace()
        let start = line
        do { return try readRecord() } catch var error as JSONSyntaxError {
            if error.line != start { error.recordLine = start }
            throw error
        }
    }

    private mutating func readRecord() throws -> JSONNode? {
        while true {
            skipWhitespace()
            if insideTopLevelArray {
                guard index < bytes.count else { throw JSONSyntaxError(line: line, message: "unterminated array") }
                if bytes[index] == UInt8(ascii: "]") { index += 1; insideTopLevelArray = false; continue }
                let element = try parseValue()
                skipWhitespace()
                guard index < bytes.count else { throw JSONSyntaxError(line: line, message: "unterminated array") }
                if bytes[index] == UInt8(ascii: ",") {
                    index += 1
                    skipWhitespace()
                    if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
                        throw JSONSyntaxError(line: line, message: "trailing comma before ]")
                    }
                } else if bytes[index] != UInt8(ascii: "]") {
                    throw JSONSyntaxError(line: line, message: "expected , or ] after an array element, found \(describeCurrent())")
                }
                return element
            }
            guard index < bytes.count else { return nil }
            if bytes[index] == UInt8(ascii: "[") {
                index += 1
                insideTopLevelArray = true
                continue
            }
            return try parseValue()
        }
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 10: line += 1; index += 1
            case 32, 9, 13: index += 1
            default: return
            }
        }
    }

    private func describeCurrent() -> String {
        guard index < bytes.count else { return "end of file" }
        let byte = bytes[index]
        return byte >= 32 && byte < 127 ? "'\(Character(Unicode.Scalar(byte)))'" : "byte \(byte)"
    }

    private mutating func parseValue(depth: Int = 0) throws -> JSONNode {
        guard depth < 512 else { throw JSONSyntaxError(line: line, message: "nesting too deep") }
        skipWhitespace()
        guard index < bytes.count else { throw JSONSyntaxError(line: line, message: "unexpected end of file") }
        let startLine = line
        switch bytes[index] {
        case UInt8(ascii: "{"):
            index += 1
            var members: [String: JSONNode] = [:]
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "}") { index += 1; return JSONNode(value: .object(members), line: startLine) }
            while true {
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else {
                    throw JSONSyntaxError(line: line, message: "expected a quoted key, found \(describeCurrent())")
                }
                let key = try parseString()
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else {
                    throw JSONSyntaxError(line: line, message: "expected : after key \"\(key)\", found \(describeCurrent())")
                }
                index += 1
                members[key] = try parseValue(depth: depth + 1)
                skipWhitespace()
                guard index < bytes.count else { throw JSONSyntaxError(line: line, message: "unterminated object") }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                if bytes[index] == UInt8(ascii: "}") { index += 1; break }
                throw JSONSyntaxError(line: line, message: "expected , or } in an object, found \(describeCurrent())")
            }
            return JSONNode(value: .object(members), line: startLine)
        case UInt8(ascii: "["):
            index += 1
            var items: [JSONNode] = []
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "]") { index += 1; return JSONNode(value: .array(items), line: startLine) }
            while true {
                items.append(try parseValue(depth: depth + 1))
                skipWhitespace()
                guard index < bytes.count else { throw JSONSyntaxError(line: line, message: "unterminated array") }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                if bytes[index] == UInt8(ascii: "]") { index += 1; break }
                throw JSONSyntaxError(line: line, message: "expected , or ] in an array, found \(describeCurrent())")
            }
            return JSONNode(value: .array(items), line: startLine)
        case UInt8(ascii: "\""):
            return JSONNode(value: .string(try parseString()), line: startLine)
        case UInt8(ascii: "t"): try expectWord("true"); return JSONNode(value: .bool(true), line: startLine)
        case UInt8(ascii: "f"): try expectWord("false"); return JSONNode(value: .bool(false), line: startLine)
        case UInt8(ascii: "n"): try expectWord("null"); return JSONNode(value: .null, line: startLine)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return JSONNode(value: .number(try parseNumber()), line: startLine)
        default:
            throw JSONSyntaxError(line: line, message: "unexpected \(describeCurrent())")
        }
    }

    private mutating func expectWord(_ word: String) throws {
        let expected = Array(word.utf8)
        guard index + expected.count <= bytes.count, Array(bytes[index..<index + expected.count]) == expected else {
            throw JSONSyntaxError(line: line, message: "unexpected \(describeCurrent())")
        }
        index += expected.count
    }

    private mutating func parseNumber() throws -> Double {
        let start = index
        while index < bytes.count, "+-0123456789.eE".utf8.contains(bytes[index]) { index += 1 }
        let text = String(decoding: bytes[start..<index], as: UTF8.self)
        guard let number = Double(text) else { throw JSONSyntaxError(line: line, message: "bad number \(text)") }
        return number
    }

    private mutating func parseString() throws -> String {
        index += 1   // opening quote
        var out: [UInt8] = []
        var runStart = index
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                out.append(contentsOf: bytes[runStart..<index])
                index += 1
                return String(decoding: out, as: UTF8.self)
            }
            if byte == 10 { throw JSONSyntaxError(line: line, message: "unterminated string (raw newline)") }
            if byte == UInt8(ascii: "\\") {
                out.append(contentsOf: bytes[runStart..<index])
                index += 1
                guard index < bytes.count else { break }
                let escape = bytes[index]
                index += 1
                switch escape {
                case UInt8(ascii: "\""): out.append(34)
                case UInt8(ascii: "\\"): out.append(92)
                case UInt8(ascii: "/"): out.append(47)
                case UInt8(ascii: "b"): out.append(8)
                case UInt8(ascii: "f"): out.append(12)
                case UInt8(ascii: "n"): out.append(10)
                case UInt8(ascii: "r"): out.append(13)
                case UInt8(ascii: "t"): out.append(9)
                case UInt8(ascii: "u"):
                    var scalar = try parseHex4()
                    if (0xD800..<0xDC00).contains(scalar), index + 1 < bytes.count,
                       bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") {
                        index += 2
                        let low = try parseHex4()
                        if (0xDC00..<0xE000).contains(low) {
                            scalar = 0x10000 + (scalar - 0xD800) << 10 + (low - 0xDC00)
                        }
                    }
                    out.append(contentsOf: Array(String(Character(Unicode.Scalar(scalar) ?? "\u{FFFD}")).utf8))
                default:
                    throw JSONSyntaxError(line: line, message: "bad escape \\\(Character(Unicode.Scalar(escape)))")
                }
                runStart = index
                continue
            }
            index += 1
        }
        throw JSONSyntaxError(line: line, message: "unterminated string")
    }

    private mutating func parseHex4() throws -> UInt32 {
        guard index + 4 <= bytes.count, let value = UInt32(String(decoding: bytes[index..<index + 4], as: UTF8.self), radix: 16) else {
            throw JSONSyntaxError(line: line, message: "bad \\u escape")
        }
        index += 4
        return value
    }
}
