import Foundation

/// Reading model-written unified diffs: which files they touch, per-file sections, and the
/// repairs that make sloppy output applicable (CRLF line endings, a missing final newline).
public enum PatchText {
    /// A repair made before applying, recorded per instance.
    public enum Fix: String, Codable, Hashable, Sendable {
        /// `\r\n` line endings became `\n`.
        case crlf
        /// A final newline was added (without it `git apply` calls the last hunk corrupt).
        case trailingNewline = "trailing-newline"
    }

    /// The patch with CRLF endings normalised and a final newline, and which of the two it needed.
    public static func normalized(_ patch: String) -> (text: String, fixes: [Fix]) {
        var text = patch, fixes: [Fix] = []
        // Swift treats "\r\n" as one Character, so replace at the byte level.
        if text.utf8.contains(13) {
            let bytes = Array(text.utf8)
            var out: [UInt8] = []
            out.reserveCapacity(bytes.count)
            for (index, byte) in bytes.enumerated() where !(byte == 13 && index + 1 < bytes.count && bytes[index + 1] == 10) {
                out.append(byte)
            }
            if out.count != bytes.count {
                text = String(decoding: out, as: UTF8.self)
                fixes.append(.crlf)
            }
        }
        if !text.isEmpty, !text.hasSuffix("\n") {
            text += "\n"
            fixes.append(.trailingNewline)
        }
        return (text, fixes)
    }

    /// One file's part of a diff: its header and hunks (or binary data), and the paths it names.
    public struct FileSection: Hashable, Sendable {
        public var text: String
        /// Path before (nil for a new file) and after (nil for a deletion), without `a/` and `b/`.
        public var oldPath: String?
        public var newPath: String?
        /// Every path the section touches.
        public var paths: [String] { Array(Set([oldPath, newPath].compactMap { $0 })).sorted() }
    }

    /// Splits a diff into per-file sections: at `diff --git` lines when there are any, else at
    /// `---`/`+++`/`@@` header triples (plain `diff -u` output). Text before the first section
    /// (a commit message, say) is dropped.
    public static func sections(of patch: String) -> [FileSection] {
        let lines = patch.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let isGit = lines.contains { $0.hasPrefix("diff --git ") }
        var starts: [Int] = []
        for (index, line) in lines.enumerated() {
            if isGit {
                if line.hasPrefix("diff --git ") { starts.append(index) }
            } else if line.hasPrefix("--- "), index + 2 < lines.count, lines[index + 1].hasPrefix("+++ "),
                      lines[index + 2].hasPrefix("@@") {
                starts.append(index)
            }
        }
        return starts.enumerated().map { position, start in
            let end = position + 1 < starts.count ? starts[position + 1] : lines.count
            var body = Array(lines[start..<end])
            if end == lines.count, body.last == "" { body.removeLast() } // the split's empty tail
            return section(body)
        }
    }

    private static func section(_ lines: [String]) -> FileSection {
        var oldPath: String?, newPath: String?
        var sawOld = false, sawNew = false
        for line in lines {
            if line.hasPrefix("@@") || line == "GIT binary patch" { break }
            if line.hasPrefix("--- ") { oldPath = path(String(line.dropFirst(4))); sawOld = true }
            else if line.hasPrefix("+++ ") { newPath = path(String(line.dropFirst(4))); sawNew = true }
            else if line.hasPrefix("rename from ") { oldPath = String(line.dropFirst(12)); sawOld = true }
            else if line.hasPrefix("rename to ") { newPath = String(line.dropFirst(10)); sawNew = true }
            else if line.hasPrefix("new file mode") { sawOld = true }
            else if line.hasPrefix("deleted file mode") { sawNew = true }
        }
        if let header = lines.first, header.hasPrefix("diff --git "), !(sawOld && sawNew) {
            // Binary or mode-only sections name their paths only here: `diff --git a/P b/P`.
            let (a, b) = gitHeaderPaths(String(header.dropFirst(11)))
            if !sawOld { oldPath = a }
            if !sawNew { newPath = b }
            if lines.contains(where: { $0.hasPrefix("new file mode") }) { oldPath = nil }
            if lines.contains(where: { $0.hasPrefix("deleted file mode") }) { newPath = nil }
        }
        return FileSection(text: lines.joined(separator: "\n") + "\n", oldPath: oldPath, newPath: newPath)
    }

    /// `a/x b/y` → (x, y). When both sides are the same path (the usual case), spaces in it are fine.
    static func gitHeaderPaths(_ rest: String) -> (String?, String?) {
        let count = rest.count
        if (count - 5) % 2 == 0, count > 5 {
            let half = (count - 5) / 2
            let a = String(rest.prefix(2 + half)), b = String(rest.suffix(2 + half))
            if a.hasPrefix("a/"), b.hasPrefix("b/"), a.dropFirst(2) == b.dropFirst(2) {
                return (String(a.dropFirst(2)), String(b.dropFirst(2)))
            }
        }
        guard let split = rest.range(of: " b/", options: .backwards) else { return (nil, nil) }
        return (path(String(rest[..<split.lowerBound])), path(String(rest[rest.index(after: split.lowerBound)...])))
    }

    /// A `---`/`+++` path without its first component (`a/`, `b/`, or a folder name in plain
    /// diffs) or its tab-separated timestamp; nil for `/dev/null`.
    static func path(_ field: String) -> String? {
        var text = field
        if let tab = text.firstIndex(of: "\t") { text = String(text[..<tab]) }
        text = text.trimmingCharacters(in: .whitespaces)
        if text.hasPrefix("\""), text.hasSuffix("\""), text.count >= 2 { text = String(text.dropFirst().dropLast()) }
        if text == "/dev/null" { return nil }
        if let slash = text.firstIndex(of: "/") { return String(text[text.index(after: slash)...]) }
        return text
    }

    /// Every file path the diff touches, in order of first appearance.
    public static func touchedPaths(_ patch: String) -> [String] {
        var seen = Set<String>()
        return sections(of: patch).flatMap(\.paths).filter { seen.insert($0).inserted }
    }

    /// The diff without the sections touching any of `paths`, and the paths it left out.
    public static func removing(paths: Set<String>, from patch: String) -> (text: String, removed: [String]) {
        let all = sections(of: patch)
        let dropped = all.filter { !$0.paths.filter(paths.contains).isEmpty }
        if dropped.isEmpty { return (patch, []) }
        let kept = all.filter { $0.paths.filter(paths.contains).isEmpty }
        return (kept.map(\.text).joined(), Array(Set(dropped.flatMap(\.paths))).sorted())
    }

    /// Whether the diff contains a git binary patch (which `patch(1)` cannot apply).
    public static func hasBinaryData(_ patch: String) -> Bool { patch.contains("\nGIT binary patch\n") }
}
