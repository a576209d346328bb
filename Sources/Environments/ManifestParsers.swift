import Foundation

/// A TOML value, as much of TOML as dependency manifests use: strings, arrays, tables; other
/// scalars (numbers, booleans, dates) are kept as their text.
enum TOMLValue: Equatable {
    case string(String)
    case array([TOMLValue])
    case table([String: TOMLValue])
    case other(String)

    subscript(path: String) -> TOMLValue? {
        var current: TOMLValue? = self
        for key in path.split(separator: ".") {
            guard case .table(let table)? = current else { return nil }
            current = table[String(key)]
        }
        return current
    }

    var string: String? { if case .string(let s) = self { return s } else { return nil } }
    var strings: [String] {
        guard case .array(let items) = self else { return [] }
        return items.compactMap(\.string)
    }
    var table: [String: TOMLValue]? { if case .table(let t) = self { return t } else { return nil } }
}

/// A lenient TOML reader: good TOML parses exactly, and what it cannot read is skipped to the end
/// of the line rather than failing, because one odd line must not hide `requires-python`.
struct TOMLReader {
    private var chars: [Character]
    private var index = 0
    private var root: [String: TOMLValue] = [:]
    private var currentPath: [String] = []

    static func parse(_ text: String) -> TOMLValue {
        var reader = TOMLReader(chars: Array(text))
        reader.run()
        return .table(reader.root)
    }

    private init(chars: [Character]) { self.chars = chars }

    private var current: Character? { index < chars.count ? chars[index] : nil }

    private mutating func run() {
        while index < chars.count {
            skipBlank(newlines: true)
            guard let c = current else { break }
            if c == "[" {
                let arrayTable = index + 1 < chars.count && chars[index + 1] == "["
                index += arrayTable ? 2 : 1
                let keys = readKeyPath(until: "]")
                index += arrayTable ? 2 : 1
                // Entries of arrays of tables are not needed by Forge: park them under a name no lookup uses.
                currentPath = arrayTable ? ["[[]]"] + keys : keys
                skipLine()
            } else {
                let start = index
                let keys = readKeyPath(until: "=")
                guard current == "=", !keys.isEmpty else { index = max(start + 1, index); skipLine(); continue }
                index += 1
                skipBlank(newlines: false)
                let value = readValue()
                insert(value, at: currentPath + keys)
                skipLine()
            }
        }
    }

    private mutating func insert(_ value: TOMLValue, at path: [String]) {
        func put(_ table: inout [String: TOMLValue], _ keys: ArraySlice<String>) {
            guard let first = keys.first else { return }
            if keys.count == 1 {
                if case .table(let existing)? = table[first], case .table(let incoming) = value {
                    table[first] = .table(existing.merging(incoming) { _, new in new })
                } else {
                    table[first] = value
                }
                return
            }
            var child = table[first]?.table ?? [:]
            put(&child, keys.dropFirst())
            table[first] = .table(child)
        }
        put(&root, path[...])
    }

    private mutating func skipBlank(newlines: Bool) {
        while let c = current {
            if c == " " || c == "\t" || (newlines && (c == "\n" || c == "\r")) { index += 1 }
            else if c == "#" { while let d = current, d != "\n" { _ = d; index += 1 } }
            else { break }
        }
    }

    private mutating func skipLine() {
        while let c = current, c != "\n" { _ = c; index += 1 }
    }

    private mutating func readKeyPath(until terminator: Character) -> [String] {
        var keys: [String] = []
        while true {
            skipBlank(newlines: false)
            guard let c = current, c != terminator, c != "\n" else { break }
            if c == "\"" || c == "'" {
                keys.append(readQuoted(c))
            } else {
                var key = ""
                while let d = current, d != ".", d != terminator, d != "\n", d != " ", d != "\t" { key.append(d); index += 1 }
                if key.isEmpty { index += 1; continue }
                keys.append(key)
            }
            skipBlank(newlines: false)
            if current == "." { index += 1 }
        }
        return keys
    }

    private mutating func readQuoted(_ quote: Character) -> String {
        let triple = index + 2 < chars.count && chars[index + 1] == quote && chars[index + 2] == quote
        index += triple ? 3 : 1
        if triple, current == "\n" { index += 1 }
        var text = ""
        while let c = current {
            if triple {
                if c == quote && index + 2 < chars.count && chars[index + 1] == quote && chars[index + 2] == quote {
                    index += 3
                    return text
                }
            } else if c == quote || c == "\n" {
                index += 1
                return text
            }
            if c == "\\" && quote == "\"" && index + 1 < chars.count {
                let next = chars[index + 1]
                index += 2
                switch next {
                case "n": text.append("\n")
                case "t": text.append("\t")
                case "\n": skipBlank(newlines: true)
                default: text.append(next)
                }
                continue
            }
            text.append(c)
            index += 1
        }
        return text
    }

    private mutating func readValue() -> TOMLValue {
        guard let c = current else { return .other("") }
        switch c {
        case "\"", "'":
            return .string(readQuoted(c))
        case "[":
            index += 1
            var items: [TOMLValue] = []
            while true {
                skipBlank(newlines: true)
                guard let d = current else { break }
                if d == "]" { index += 1; break }
                if d == "," { index += 1; continue }
                let before = index
                items.append(readValue())
                if index == before { index += 1 }
            }
            return .array(items)
        case "{":
            index += 1
            var table: [String: TOMLValue] = [:]
            while true {
                skipBlank(newlines: true)
                guard let d = current else { break }
                if d == "}" { index += 1; break }
                if d == "," { index += 1; continue }
                let keys = readKeyPath(until: "=")
                guard current == "=", let last = keys.last else { index += 1; continue }
                index += 1
                skipBlank(newlines: false)
                let value = readValue()
                if keys.count == 1 {
                    table[last] = value
                } else {
                    var nested = value
                    for key in keys.dropFirst().reversed() { nested = .table([key: nested]) }
                    table[keys[0]] = nested
                }
            }
            return .table(table)
        default:
            var text = ""
            while let d = current, d != ",", d != "]", d != "}", d != "\n", d != "#" { text.append(d); index += 1 }
            return .other(text.trimmingCharacters(in: .whitespaces))
        }
    }
}

/// An INI file as Python's configparser reads setup.cfg and tox.ini: sections, `key = value` or
/// `key: value`, indented continuation lines, `#`/`;` comment lines. Keys are lowercased.
struct INIFile {
    private(set) var sections: [String: [String: String]] = [:]
    private(set) var sectionOrder: [String] = []

    init(_ text: String) {
        var section: String?
        var key: String?
        for rawLine in text.components(separatedBy: "\n") {
            let line = rawLine.replacingOccurrences(of: "\r", with: "")
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("#") || trimmed.hasPrefix(";") { continue }
            if trimmed.isEmpty { continue }
            let indented = line.first == " " || line.first == "\t"
            if indented, let section, let key {
                let previous = sections[section]?[key] ?? ""
                sections[section]?[key] = previous.isEmpty ? trimmed : previous + "\n" + trimmed
                continue
            }
            if trimmed.hasPrefix("["), let close = trimmed.firstIndex(of: "]") {
                let name = String(trimmed[trimmed.index(after: trimmed.startIndex)..<close]).trimmingCharacters(in: .whitespaces)
                section = name
                key = nil
                if sections[name] == nil { sections[name] = [:]; sectionOrder.append(name) }
                continue
            }
            guard let section else { continue }
            let separator = trimmed.firstIndex(where: { $0 == "=" || $0 == ":" })
            guard let separator else { continue }
            let name = trimmed[..<separator].trimmingCharacters(in: .whitespaces).lowercased()
            let value = trimmed[trimmed.index(after: separator)...].trimmingCharacters(in: .whitespaces)
            sections[section]?[name] = value
            key = name
        }
    }

    func value(_ section: String, _ key: String) -> String? { sections[section]?[key.lowercased()] }

    /// A multi-line or comma-separated value as a list of non-empty, comment-free entries.
    static func list(_ value: String?) -> [String] {
        guard let value else { return [] }
        return value.components(separatedBy: "\n")
            .map { line -> String in
                guard let hash = line.range(of: " #") else { return line }
                return String(line[..<hash.lowerBound])
            }
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
    }
}

/// Shell-style glob match where `*` does not cross `/`.
func globMatches(_ pattern: String, _ path: String) -> Bool {
    fnmatch(pattern, path, FNM_PATHNAME) == 0
}
