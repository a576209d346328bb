/// Mutation sites in Swift source, found on tokens: comments and string literals (including
/// interpolations and multi-line and raw strings) are skipped whole, so only code is edited.
/// Sites are byte spans like the Python helper's, and spliced the same way.
public enum SwiftTokenMutator {
    static let operatorFlips: [String: (String, String)] = [
        "==": ("!=", "flip_comparison"), "!=": ("==", "flip_comparison"),
        "<": (">=", "flip_comparison"), ">=": ("<", "flip_comparison"),
        ">": ("<=", "flip_comparison"), "<=": (">", "flip_comparison"),
        "&&": ("||", "flip_boolean"), "||": ("&&", "flip_boolean"),
        "..<": ("...", "off_by_one"), "...": ("..<", "off_by_one"),
    ]

    /// Sites in `source`: flipped comparisons and boolean operators, `true`/`false` swapped,
    /// integer literals ±1, half-open ranges made closed and back.
    public static func sites(in source: [UInt8]) -> [MutationSite] {
        var sites: [MutationSite] = []
        var index = 0, line = 1
        let count = source.count
        func at(_ i: Int) -> UInt8 { i < count ? source[i] : 0 }
        func isIdentifier(_ byte: UInt8) -> Bool {
            (byte >= 97 && byte <= 122) || (byte >= 65 && byte <= 90) || (byte >= 48 && byte <= 57) || byte == 95 || byte >= 0x80
        }
        func isOperator(_ byte: UInt8) -> Bool { Array("=!<>&|.+-*/%^~?".utf8).contains(byte) }
        func add(_ kind: String, _ start: Int, _ end: Int, _ replacement: String) {
            let old = String(decoding: source[start..<end], as: UTF8.self)
            sites.append(MutationSite(kind: kind, start: start, end: end, replacement: replacement, line: line,
                                      function: nil, description: "\(old) changed to \(replacement)"))
        }
        while index < count {
            let byte = source[index]
            if byte == 10 { line += 1; index += 1; continue }
            // Comments.
            if byte == 47, at(index + 1) == 47 {
                while index < count && source[index] != 10 { index += 1 }
                continue
            }
            if byte == 47, at(index + 1) == 42 {
                var depth = 0
                repeat {
                    if at(index) == 47 && at(index + 1) == 42 { depth += 1; index += 2 }
                    else if at(index) == 42 && at(index + 1) == 47 { depth -= 1; index += 2 }
                    else { if at(index) == 10 { line += 1 }; index += 1 }
                } while depth > 0 && index < count
                continue
            }
            // String literals: #"…"#, """…""", "…" with \( … ) interpolations skipped as a whole.
            if byte == 35 || byte == 34 {
                var hashes = 0, cursor = index
                while at(cursor) == 35 { hashes += 1; cursor += 1 }
                if at(cursor) == 34 {
                    let multiline = at(cursor + 1) == 34 && at(cursor + 2) == 34
                    cursor += multiline ? 3 : 1
                    let closing = Array(repeating: UInt8(34), count: multiline ? 3 : 1) + Array(repeating: UInt8(35), count: hashes)
                    while cursor < count {
                        if source[cursor] == 92 && hashes == 0 { cursor += 2; continue }
                        if source[cursor] == 10 { line += 1 }
                        if Array(source[cursor..<min(count, cursor + closing.count)]) == closing { cursor += closing.count; break }
                        cursor += 1
                    }
                    index = cursor
                    continue
                }
            }
            if isIdentifier(byte) {
                var end = index
                while end < count && isIdentifier(source[end]) { end += 1 }
                let word = String(decoding: source[index..<end], as: UTF8.self)
                let previous = index > 0 ? source[index - 1] : 0
                if word == "true" { add("flip_boolean", index, end, "false") }
                else if word == "false" { add("flip_boolean", index, end, "true") }
                else if let value = Int(word), !isIdentifier(previous), previous != 46 {
                    add("off_by_one", index, end, String(value + 1))
                    if value > 0 { add("off_by_one", index, end, String(value - 1)) }
                }
                index = end
                continue
            }
            if isOperator(byte) {
                var end = index
                while end < count && isOperator(source[end]) { end += 1 }
                let token = String(decoding: source[index..<end], as: UTF8.self)
                // Only free-standing binary operators: `a < b`, not generics (`Array<Int>`) or `->`.
                let spacedBefore = index > 0 && (source[index - 1] == 32 || source[index - 1] == 9)
                let spacedAfter = at(end) == 32 || at(end) == 10
                if let (replacement, kind) = operatorFlips[token],
                   token.hasPrefix(".") || (spacedBefore && spacedAfter) {
                    add(kind, index, end, replacement)
                }
                index = end
                continue
            }
            index += 1
        }
        return sites
    }
}
