/// Which patch a changed file belongs to.
public enum FileCategory: String, Sendable, Hashable {
    /// Non-test source: the gold `patch`.
    case code
    /// Tests, their fixtures and snapshots: the `test_patch`.
    case test
    /// Documentation and changelogs: in neither patch (`TaskRecord.otherPatch`).
    case other
}

/// Splits paths into code, tests and docs.
///
/// Tests: a directory named test/tests/testing/e2e/__tests__/spec/specs/testdata anywhere in the
/// path (so fixtures and snapshots under them count too), or an ecosystem's test-file name:
/// `test_*.py`, `*_test.py`, `*_tests.py`, `tests.py`, `conftest.py`, `*Tests.swift`, `*Test.swift`,
/// `*_test.go`, `*.spec.ts` / `*.test.js` (and jsx/tsx/mjs/cjs), `*_spec.rb`, `*_test.rb`,
/// `*Test.java`, `*Tests.java`, `*Test.kt`, `*_test.rs`.
/// Docs: `*.md`, `*.rst`, `*.adoc`, a top-level `docs/`, `doc/`, `documentation/`, `changelog.d/`,
/// `newsfragments/`, `.github/`, and CHANGELOG/CHANGES/HISTORY/NEWS/AUTHORS/CONTRIBUTING/LICENSE/
/// README-style names.
public enum PathClassifier {
    static let testDirectories: Set<String> = ["test", "tests", "testing", "e2e", "__tests__", "spec", "specs", "testdata"]
    static let docDirectories: Set<String> = ["docs", "doc", "documentation", "changelog.d", "changes", "newsfragments", ".github"]
    static let docExtensions: Set<String> = ["md", "markdown", "rst", "adoc", "asciidoc"]
    static let docNamePrefixes = ["CHANGELOG", "CHANGES", "HISTORY", "NEWS", "AUTHORS", "CONTRIBUTORS", "CONTRIBUTING",
                                  "LICENSE", "LICENCE", "COPYING", "README", "NOTICE", "CODE_OF_CONDUCT", "SECURITY", "RELEASE"]
    static let scriptExtensions = ["ts", "tsx", "js", "jsx", "mjs", "cjs"]

    public static func category(of path: String) -> FileCategory {
        let components = path.split(separator: "/").map(String.init)
        guard let name = components.last else { return .code }
        let directories = components.dropLast()
        if directories.contains(where: { testDirectories.contains($0.lowercased()) }) || isTestFileName(name) {
            return .test
        }
        if let first = directories.first, docDirectories.contains(first.lowercased()) { return .other }
        let lower = name.lowercased()
        if let dot = lower.lastIndex(of: "."), docExtensions.contains(String(lower[lower.index(after: dot)...])) {
            return .other
        }
        // CHANGELOG, NEWS.txt, LICENSE-MIT, README.ja.md — but not license_check.py.
        let stem = String(name.uppercased().prefix { $0 != "." })
        let ext = name.contains(".") ? String(lower[lower.index(after: lower.lastIndex(of: ".")!)...]) : ""
        if ext.isEmpty || ext == "txt" || docExtensions.contains(ext),
           docNamePrefixes.contains(where: { stem == $0 || stem.hasPrefix($0 + "-") || stem.hasPrefix($0 + "_") }) {
            return .other
        }
        return .code
    }

    static func isTestFileName(_ name: String) -> Bool {
        if name == "conftest.py" || name == "tests.py" { return true }
        if name.hasSuffix(".py") {
            return name.hasPrefix("test_") || name.hasSuffix("_test.py") || name.hasSuffix("_tests.py")
        }
        if name.hasSuffix("Tests.swift") || name.hasSuffix("Test.swift") { return true }
        if name.hasSuffix("_test.go") || name.hasSuffix("_test.rs") { return true }
        if name.hasSuffix("_spec.rb") || name.hasSuffix("_test.rb") { return true }
        if name.hasSuffix("Test.java") || name.hasSuffix("Tests.java") || name.hasSuffix("Test.kt") { return true }
        for ext in scriptExtensions where name.hasSuffix(".spec.\(ext)") || name.hasSuffix(".test.\(ext)") { return true }
        return false
    }
}

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
