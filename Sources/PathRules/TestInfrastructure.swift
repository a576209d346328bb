import Foundation

/// What a test run loads besides the code under test: the rules that decide which files a model
/// patch may not change (they are put back to base + `test_patch` before the tests run) and which
/// of those changes affect the run (the patch then scores `tests_modified`, reward 0).
///
/// Test infrastructure is:
/// - test files and everything under a test directory (`PathClassifier`'s `.test`): tests,
///   fixtures, data, and helper modules that pytest's `prepend` import mode puts first on `sys.path`;
/// - `conftest.py` anywhere: pytest loads it and its hooks can rewrite outcomes or deselect tests;
/// - runner configuration: `pytest.ini`, `.pytest.ini`, `pytest.toml`, `.pytest.toml` whole, and
///   the part pytest reads of `tox.ini` (`[pytest]`), `setup.cfg` (`[tool:pytest]`) and
///   `pyproject.toml` (`[tool.pytest.ini_options]`, and the root and `[tool]` tables that can spell
///   it with dotted keys) — `addopts = -p plugin` or `--deselect` live there;
/// - interpreter start-up hooks: `sitecustomize.py`, `usercustomize.py` (or packages of that name);
/// - modules that shadow the runner from the project root, which `python -m pytest` puts first on
///   `sys.path`: `pytest`, `_pytest`, `pluggy`, `py`, `iniconfig`.
///
/// A change affects the run unless it is a test file (by name, not `conftest.py`) that the run
/// does not execute and `test_patch` does not touch: a model adding or editing a test the run
/// never collects loses nothing (the file is still put back). Everything else above counts,
/// and so does any change to a file `test_patch` touches.
///
/// Not covered, by design: code under test that, once imported by a test, patches the runner in
/// its own process. Only running the runner outside the tested process could stop that.
public enum TestInfrastructure {
    public enum Kind: String, Sendable, Hashable {
        /// A test file by name (`test_*.py`, `*Tests.swift`, …), outside or inside a test directory.
        case testFile = "test_file"
        /// Anything else under a test directory.
        case testDirectory = "test_directory"
        case conftest
        /// A file pytest reads whole as its configuration.
        case runnerConfig = "runner_config"
        /// A shared configuration file: only its runner part counts (`runnerPart(of:path:)`).
        case runnerConfigSection = "runner_config_section"
        case startupHook = "startup_hook"
        case runnerShadow = "runner_shadow"
    }

    static let runnerConfigNames: Set<String> = ["pytest.ini", ".pytest.ini", "pytest.toml", ".pytest.toml"]
    static let sharedConfigNames: Set<String> = ["tox.ini", "setup.cfg", "pyproject.toml"]
    static let startupHooks: Set<String> = ["sitecustomize", "usercustomize"]
    static let runnerModules: Set<String> = ["pytest", "_pytest", "pluggy", "py", "iniconfig"]

    /// The kind of test infrastructure `path` (relative to the project root, normalised) is, if any.
    public static func kind(of path: String) -> Kind? {
        let components = path.split(separator: "/").map(String.init)
        guard let name = components.last else { return nil }
        if name == "conftest.py" { return .conftest }
        if runnerConfigNames.contains(name) { return .runnerConfig }
        if components.contains(where: { startupHooks.contains(moduleName($0)) }) { return .startupHook }
        if let first = components.first, runnerModules.contains(moduleName(first)) { return .runnerShadow }
        if PathClassifier.category(of: path) == .test {
            return PathClassifier.isTestFileName(name) ? .testFile : .testDirectory
        }
        if sharedConfigNames.contains(name) { return .runnerConfigSection }
        return nil
    }

    /// Whether changing `path` (of `kind`, nil when it is only in `test_patch`) affects a run
    /// that executes `runTestFiles` (nil: the whole suite).
    public static func affectsRun(_ path: String, kind: Kind?, runTestFiles: Set<String>?, testPatchPaths: Set<String>) -> Bool {
        if testPatchPaths.contains(path) { return true }
        guard let kind else { return false }
        if kind == .testFile, let runTestFiles { return runTestFiles.contains(path) }
        return true
    }

    /// `foo.py` → `foo`; a directory name as it is.
    private static func moduleName(_ component: String) -> String {
        component.hasSuffix(".py") ? String(component.dropLast(3)) : component
    }

    /// The part of a shared configuration file the test runner reads, so that edits elsewhere in
    /// the file compare equal: the `pytest` sections of INI files (`[pytest]`, `[tool:pytest]`),
    /// found by iniconfig's own rule; in `pyproject.toml` everything but the tables known to be
    /// someone else's (`[project]`, `[build-system]`, `[dependency-groups]`, `[tool.<not pytest>]`),
    /// found by a lexer that knows strings and arrays, so a header-like line inside a value
    /// cannot end the pytest table early. Empty when the file does not configure the runner.
    public static func runnerPart(of text: String, path: String) -> String {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        return (path.hasSuffix(".toml") ? tomlRunnerLines(lines) : iniRunnerLines(lines)).joined(separator: "\n")
    }

    /// iniconfig: a line starting with `[` and ending (comments cut) with `]` opens a section;
    /// blank and comment lines are nothing; others belong to the current section.
    static func iniRunnerLines(_ lines: [Substring]) -> [Substring] {
        var kept: [Substring] = [], inside = false
        for line in lines {
            if line.hasPrefix("#") || line.hasPrefix(";") || line.allSatisfy(\.isWhitespace) { continue }
            let content = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)[0]
                .split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false)[0]
            let trimmed = content.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("["), trimmed.hasSuffix("]") {
                inside = trimmed.lowercased().contains("pytest")
            }
            if inside { kept.append(line) }
        }
        return kept
    }

    static func tomlRunnerLines(_ lines: [Substring]) -> [Substring] {
        var kept: [Substring] = [], inside = true // the root table can say `tool.pytest.… = …`
        var lexer = TOMLLexer()
        for line in lines {
            if lexer.atTopLevel, let header = TOMLLexer.header(line) {
                inside = !isOtherTable(header)
            }
            lexer.consume(line)
            if inside, !line.allSatisfy(\.isWhitespace) { kept.append(line) }
        }
        return kept
    }

    /// Tables whose keys pytest never reads, named with bare keys only (a quoted or escaped
    /// name counts as pytest's).
    static func isOtherTable(_ name: String) -> Bool {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        let bare = parts.allSatisfy { !$0.isEmpty && $0.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") } }
        guard bare, let first = parts.first else { return false }
        if ["project", "build-system", "dependency-groups"].contains(first) { return true }
        return first == "tool" && parts.count > 1 && parts[1] != "pytest"
    }
}

/// Just enough of TOML to know where a line starts: inside a (multi-line) string, inside an
/// array or inline table, or at the top level where a `[table]` header can begin.
struct TOMLLexer {
    private enum State { case none, basic, literal, multiBasic, multiLiteral }
    private var state = State.none
    private var depth = 0

    var atTopLevel: Bool { state == .none && depth == 0 }

    /// The table name of a `[name]` or `[[name]]` header line (comment allowed after it).
    static func header(_ line: Substring) -> String? {
        var text = line.drop { $0 == " " || $0 == "\t" }
        guard text.hasPrefix("[") else { return nil }
        let double = text.hasPrefix("[[")
        text = text.dropFirst(double ? 2 : 1)
        guard let close = text.range(of: double ? "]]" : "]") else { return nil }
        return String(text[..<close.lowerBound])
    }

    /// Advances over one line. A header line opens and closes its own brackets, so depth stays 0.
    mutating func consume(_ line: Substring) {
        let chars = Array(line)
        var index = 0
        if state == .basic || state == .literal { state = .none } // single-line strings end with their line
        func at(_ text: String) -> Bool {
            let pattern = Array(text)
            return index + pattern.count <= chars.count && Array(chars[index..<index + pattern.count]) == pattern
        }
        while index < chars.count {
            let char = chars[index]
            switch state {
            case .none:
                if char == "#" { return }
                if at("\"\"\"") { state = .multiBasic; index += 3; continue }
                if at("'''") { state = .multiLiteral; index += 3; continue }
                if char == "\"" { state = .basic } else if char == "'" { state = .literal }
                else if char == "[" || char == "{" { depth += 1 } else if char == "]" || char == "}" { depth = max(0, depth - 1) }
            case .basic:
                if char == "\\" { index += 2; continue }
                if char == "\"" { state = .none }
            case .literal:
                if char == "'" { state = .none }
            case .multiBasic:
                if char == "\\" { index += 2; continue }
                if at("\"\"\"") { state = .none; index += 3; continue }
            case .multiLiteral:
                if at("'''") { state = .none; index += 3; continue }
            }
            index += 1
        }
    }
}
