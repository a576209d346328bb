/// Shell-style path globs: `*` and `?` stay within one path component, `**` crosses directories,
/// `[abc]`/`[a-z]`/`[!a]` are character classes. A pattern without `/` matches the file name at any
/// depth (as in .gitignore).
public struct PathGlob: Hashable, Sendable {
    public let pattern: String
    private let bytes: [UInt8]
    private let matchesBaseName: Bool

    public init(_ pattern: String) {
        self.pattern = pattern
        bytes = Array(pattern.utf8)
        matchesBaseName = !pattern.contains("/")
    }

    public func matches(_ path: String) -> Bool {
        let target = Array((matchesBaseName ? path.split(separator: "/").last.map(String.init) ?? path : path).utf8)
        return match(0, target, 0)
    }

    private func match(_ p: Int, _ s: [UInt8], _ i: Int) -> Bool {
        var p = p, i = i
        while p < bytes.count {
            let c = bytes[p]
            if c == UInt8(ascii: "*") {
                let doubleStar = p + 1 < bytes.count && bytes[p + 1] == UInt8(ascii: "*")
                if doubleStar {
                    var next = p + 2
                    if next < bytes.count, bytes[next] == UInt8(ascii: "/") { next += 1 }   // "**/" may match nothing
                    for start in i...s.count where match(next, s, start) { return true }
                    return false
                }
                var start = i
                while true {
                    if match(p + 1, s, start) { return true }
                    if start >= s.count || s[start] == UInt8(ascii: "/") { return false }
                    start += 1
                }
            }
            guard i < s.count else { return false }
            if c == UInt8(ascii: "?") {
                if s[i] == UInt8(ascii: "/") { return false }
            } else if c == UInt8(ascii: "["), let (matched, end) = matchClass(p, s[i]) {
                if !matched { return false }
                p = end
                i += 1
                continue
            } else if c != s[i] {
                return false
            }
            p += 1
            i += 1
        }
        return i == s.count
    }

    /// Matches a `[...]` class at `p`; returns whether `byte` is in it and the index after `]`.
    private func matchClass(_ p: Int, _ byte: UInt8) -> (Bool, Int)? {
        var index = p + 1
        var negate = false
        if index < bytes.count, bytes[index] == UInt8(ascii: "!") || bytes[index] == UInt8(ascii: "^") { negate = true; index += 1 }
        var matched = false
        var first = true
        while index < bytes.count, bytes[index] != UInt8(ascii: "]") || first {
            first = false
            let low = bytes[index]
            if index + 2 < bytes.count, bytes[index + 1] == UInt8(ascii: "-"), bytes[index + 2] != UInt8(ascii: "]") {
                if low <= byte && byte <= bytes[index + 2] { matched = true }
                index += 3
            } else {
                if low == byte { matched = true }
                index += 1
            }
        }
        guard index < bytes.count else { return nil }   // no closing bracket: a literal "["
        return (matched != negate, index + 1)
    }
}
