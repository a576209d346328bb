/// Which files a unified diff touches, read the way `git apply` reads it — the one parser behind
/// every test-path filter (evaluation, validation's test selection, synthesis, prompts).
///
/// Sections start where git's `find_header` starts them: a `diff --git` line, or anywhere a
/// `--- `/`+++ ` pair is followed by an `@@ -` line (a traditional section, also after git
/// sections). Hunks are consumed by their line counts, as git does, so a removed line reading
/// `-- x` inside a hunk is content, not a header; a hunk cut short ends at the first line that is
/// no hunk line (as `--recount` reads it). Names are unquoted (C-style `"b/x\303\251"`), lose
/// their first component (`a/`, `b/`, `-p1`), have `//` squashed and `.` components dropped (git
/// refuses `./x`, but `patch(1)`, the evaluator's last resort, writes it to `x`). Renames and
/// copies name both sides; binary and mode-only sections take their names from the header.
public enum PatchPaths {
    public struct Section: Hashable, Sendable {
        /// The path before (nil for a created file) and after (nil for a deleted one).
        public var oldPath: String?
        public var newPath: String?
        /// The section's lines: `lines[lineRange]` of the patch split at `\n`.
        public var lineRange: Range<Int>
        /// No `diff --git` header: a plain `---`/`+++` section.
        public var isTraditional: Bool
        /// Every path the section touches, old side first.
        public var paths: [String] {
            var result: [String] = []
            for path in [oldPath, newPath].compactMap({ $0 }) where !result.contains(path) { result.append(path) }
            return result
        }
    }

    /// Every section of the patch, in order.
    public static func sections(of patch: String) -> [Section] {
        let lines = patch.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            line.last == "\r" ? line.dropLast() : line
        }
        var sections: [Section] = []
        var index = 0
        while index < lines.count {
            let line = lines[index]
            if line.hasPrefix("diff --git ") {
                let start = index
                var section = Section(oldPath: nil, newPath: nil, lineRange: start..<start, isTraditional: false)
                let header = headerNames(line.dropFirst(11))
                var created = false, deleted = false, sawOld = false, sawNew = false
                index += 1
                // Extended header lines, until the first hunk, binary data or something else.
                while index < lines.count {
                    let text = lines[index]
                    if text.hasPrefix("--- ") { section.oldPath = name(text.dropFirst(4), strip: 1); sawOld = true }
                    else if text.hasPrefix("+++ ") { section.newPath = name(text.dropFirst(4), strip: 1); sawNew = true }
                    else if let rest = field(text, ["rename from ", "copy from "]) { section.oldPath = name(rest, strip: 0); sawOld = true }
                    else if let rest = field(text, ["rename to ", "copy to "]) { section.newPath = name(rest, strip: 0); sawNew = true }
                    else if text.hasPrefix("new file mode") { created = true }
                    else if text.hasPrefix("deleted file mode") { deleted = true }
                    else if !["old mode", "new mode", "similarity index", "dissimilarity index", "index "].contains(where: { text.hasPrefix($0) }) {
                        break
                    }
                    index += 1
                }
                if !sawOld { section.oldPath = header.old }
                if !sawNew { section.newPath = header.new }
                if created { section.oldPath = nil }
                if deleted { section.newPath = nil }
                index = skipBody(lines, from: index, binaryAllowed: true)
                section.lineRange = start..<index
                sections.append(section)
            } else if line.hasPrefix("--- "), index + 2 < lines.count, lines[index + 1].hasPrefix("+++ "),
                      lines[index + 2].hasPrefix("@@ -") {
                let start = index
                let old = name(line.dropFirst(4), strip: 1), new = name(lines[index + 1].dropFirst(4), strip: 1)
                index = skipBody(lines, from: index + 2, binaryAllowed: false)
                sections.append(Section(oldPath: old, newPath: new, lineRange: start..<index, isTraditional: true))
            } else {
                index += 1 // text between sections: a commit message, `Index:` lines, junk
            }
        }
        return sections
    }

    /// Every path the patch touches (both sides of renames and copies), in order of appearance.
    public static func touched(_ patch: String) -> [String] {
        var seen = Set<String>()
        return sections(of: patch).flatMap(\.paths).filter { seen.insert($0).inserted }
    }

    /// The paths the patch leaves behind (created or changed; not deleted ones, nor rename sources).
    public static func written(_ patch: String) -> [String] {
        var seen = Set<String>()
        return sections(of: patch).compactMap(\.newPath).filter { seen.insert($0).inserted }
    }

    /// Index after the hunks (or binary data) starting at `from`.
    private static func skipBody(_ lines: [Substring], from start: Int, binaryAllowed: Bool) -> Int {
        var index = start
        if binaryAllowed, index < lines.count, lines[index] == "GIT binary patch" || lines[index].hasPrefix("Binary files ") {
            guard lines[index] == "GIT binary patch" else { return index + 1 }
            index += 1
            // `literal N`/`delta N` lines, base85 data (never a space in it) and the blank lines between.
            while index < lines.count, lines[index].hasPrefix("literal ") || lines[index].hasPrefix("delta ") || !lines[index].contains(" ") {
                index += 1
            }
            return index
        }
        while index < lines.count, let (oldCount, newCount) = hunkCounts(lines[index]) {
            var old = oldCount, new = newCount
            index += 1
            while index < lines.count, old > 0 || new > 0 {
                let text = lines[index]
                if text.isEmpty || text.hasPrefix(" ") { old -= 1; new -= 1 }
                else if text.hasPrefix("-") { old -= 1 }
                else if text.hasPrefix("+") { new -= 1 }
                else if !text.hasPrefix("\\") { break }
                index += 1
            }
            while index < lines.count, lines[index].hasPrefix("\\") { index += 1 } // "\ No newline at end of file"
        }
        return index
    }

    /// `@@ -a[,b] +c[,d] @@` → (b, d); a missing count is 1.
    static func hunkCounts(_ line: Substring) -> (Int, Int)? {
        guard line.hasPrefix("@@ -") else { return nil }
        let fields = line.dropFirst(4).split(separator: " ", maxSplits: 2)
        guard fields.count >= 2, fields[1].hasPrefix("+") else { return nil }
        func count(_ range: Substring) -> Int? {
            let parts = range.split(separator: ",", omittingEmptySubsequences: false)
            guard let first = parts.first, Int(first) != nil else { return nil }
            return parts.count > 1 ? Int(parts[1]) : 1
        }
        guard let old = count(fields[0]), let new = count(fields[1].dropFirst()) else { return nil }
        return (old, new)
    }

    private static func field(_ line: Substring, _ prefixes: [String]) -> Substring? {
        for prefix in prefixes where line.hasPrefix(prefix) { return line.dropFirst(prefix.count) }
        return nil
    }

    /// `a/x b/y` of a `diff --git` line, quoted or not. Unquoted names with spaces are split
    /// where both halves name the same file (the only case git accepts without `---`/`+++`).
    static func headerNames(_ rest: Substring) -> (old: String?, new: String?) {
        if rest.hasPrefix("\"") {
            guard let (first, after) = unquote(rest) else { return (nil, nil) }
            let second = after.drop { $0 == " " }
            return (stripped(first, 1), name(second, strip: 1))
        }
        if rest.hasSuffix("\""), let open = rest.range(of: " \"", options: .backwards) {
            return (name(rest[..<open.lowerBound], strip: 1), name(rest[rest.index(after: open.lowerBound)...], strip: 1))
        }
        let characters = Array(rest)
        if characters.count > 1 {
            // Equal halves around one space: "a/x y b/x y".
            for split in 1..<characters.count where characters[split] == " " {
                let a = String(characters[..<split]), b = String(characters[(split + 1)...])
                if let sa = stripped(a, 1), let sb = stripped(b, 1), sa == sb { return (sa, sb) }
            }
        }
        guard let split = rest.range(of: " b/", options: .backwards) else { return (nil, nil) }
        return (name(rest[..<split.lowerBound], strip: 1), name(rest[rest.index(after: split.lowerBound)...], strip: 1))
    }

    /// One name field of a header line: unquoted, its timestamp (after a tab) dropped, `strip`
    /// leading components removed; nil for `/dev/null`.
    static func name(_ field: Substring, strip: Int) -> String? {
        if field.hasPrefix("\"") {
            guard let (text, _) = unquote(field) else { return nil }
            return stripped(text, strip)
        }
        var text = field
        if let tab = text.firstIndex(of: "\t") { text = text[..<tab] }
        while text.last == " " { text = text.dropLast() }
        if text == "/dev/null" || text.hasPrefix("/dev/null ") { return nil }
        return stripped(String(text), strip)
    }

    /// Drops `count` leading components after squashing `//`, then `.` components.
    static func stripped(_ path: String, _ count: Int) -> String? {
        if path == "/dev/null" { return nil }
        var components = path.split(separator: "/", omittingEmptySubsequences: true)
        guard components.count > count else { return nil }
        components.removeFirst(count)
        components.removeAll { $0 == "." }
        return components.isEmpty ? nil : components.joined(separator: "/")
    }

    /// A C-style quoted name at the start of `text` (git's `quote_c_style`): the unquoted bytes
    /// as UTF-8 text and what follows the closing quote.
    static func unquote(_ text: Substring) -> (String, Substring)? {
        var bytes: [UInt8] = []
        var utf8 = Array(text.utf8)[...]
        guard utf8.first == UInt8(ascii: "\"") else { return nil }
        utf8 = utf8.dropFirst()
        while let byte = utf8.first {
            utf8 = utf8.dropFirst()
            if byte == UInt8(ascii: "\"") {
                return (String(decoding: bytes, as: UTF8.self), Substring(String(decoding: utf8, as: UTF8.self)))
            }
            guard byte == UInt8(ascii: "\\") else { bytes.append(byte); continue }
            guard let escaped = utf8.first else { return nil }
            utf8 = utf8.dropFirst()
            switch escaped {
            case UInt8(ascii: "a"): bytes.append(7)
            case UInt8(ascii: "b"): bytes.append(8)
            case UInt8(ascii: "t"): bytes.append(9)
            case UInt8(ascii: "n"): bytes.append(10)
            case UInt8(ascii: "v"): bytes.append(11)
            case UInt8(ascii: "f"): bytes.append(12)
            case UInt8(ascii: "r"): bytes.append(13)
            case UInt8(ascii: "0")...UInt8(ascii: "3"):
                let digits = [escaped] + Array(utf8.prefix(2))
                guard digits.count == 3, digits.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "7")).contains($0) }) else { return nil }
                utf8 = utf8.dropFirst(2)
                bytes.append(digits.reduce(0) { $0 &* 8 &+ ($1 - UInt8(ascii: "0")) })
            default: bytes.append(escaped) // \" and \\
            }
        }
        return nil
    }
}
