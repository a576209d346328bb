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
        if directories.contains(where: isTestDirectory) || isTestFileName(name) {
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

    /// A directory of tests by its name: `tests`, `spec`, `testdata`, … and the compound names
    /// projects give suites (`tests_functional`, `test_utils`, `integration_tests`).
    public static func isTestDirectory(_ name: String) -> Bool {
        let lowered = name.lowercased()
        return testDirectories.contains(lowered) || ["test_", "tests_"].contains(where: lowered.hasPrefix)
            || ["_test", "_tests"].contains(where: lowered.hasSuffix)
    }

    public static func isTestFileName(_ name: String) -> Bool {
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
