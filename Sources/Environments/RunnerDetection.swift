import Foundation

/// What a project says about how it runs its tests, for `test.runner: auto`: the commands of its
/// tox environments and nox sessions, and the text of its CI configurations and docs (the recipe's
/// `test.evidence` globs: `.travis.yml`, `.github/workflows/*.yml`, `README*`, ...).
///
/// Conftest files and pytest settings do not decide: projects with their own runner script keep
/// them so that pytest also works (SymPy has `conftest.py` and `pytest.ini` beside `bin/test`), but
/// their CI and docs run the script, and SWE-bench runs it too. So a runner script wins when that
/// evidence invokes it and runs pytest nowhere; a script that hands over to pytest itself
/// (`pytest.main`, `-m pytest`) is a wrapper, and pytest runs the files directly instead.
struct RunnerEvidence {
    /// Evidence lines, each with the file it came from (`tox.ini` for tox commands).
    var lines: [(file: String, text: String)]
    var projectDirectory: URL?

    /// Largest evidence file read: a README is small; a multi-megabyte file is not documentation.
    static let maximumFileBytes = 1 << 20

    init(project: PythonProject, projectDirectory: URL?, globs: [String]) {
        self.projectDirectory = projectDirectory
        lines = project.testCommandLines.map { ("tox.ini/noxfile.py", $0) }
        guard let projectDirectory else { return }
        for path in Self.files(matching: globs, in: projectDirectory) {
            guard let url = Self.regularFile(path, in: projectDirectory),
                  let size = (try? FileManager.default.attributesOfItem(atPath: url.path))?[.size] as? Int, size <= Self.maximumFileBytes,
                  let data = FileManager.default.contents(atPath: url.path) else { continue }
            let text = String(decoding: data, as: UTF8.self)
            lines += text.split(whereSeparator: \.isNewline).map { (path, String($0)) }
        }
    }

    /// The file at `path` when it is a regular file inside the checkout: a checked-out link (of the
    /// file or of a folder on the way) could point anywhere on the host.
    static func regularFile(_ path: String, in directory: URL) -> URL? {
        let url = directory.appendingPathComponent(path)
        let root = directory.resolvingSymlinksInPath().path
        guard url.resolvingSymlinksInPath().path.hasPrefix(root + "/"),
              let attributes = try? FileManager.default.attributesOfItem(atPath: url.path),
              attributes[.type] as? FileAttributeType == .typeRegular else { return nil }
        return url
    }

    /// Root-relative paths matching the globs; a glob's folders are literal, its last component
    /// a pattern (`.github/workflows/*.yml`).
    static func files(matching globs: [String], in directory: URL) -> [String] {
        var found: [String] = []
        for glob in globs {
            let folder = (glob as NSString).deletingLastPathComponent
            let pattern = (glob as NSString).lastPathComponent
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent(folder).path)) ?? []
            for name in names.sorted() where fnmatch(pattern, name, 0) == 0 {
                let path = folder.isEmpty ? name : folder + "/" + name
                if !found.contains(path) { found.append(path) }
            }
        }
        return found
    }

    /// The first evidence line that runs `script`: its path as a word (`bin/test`, `./bin/test`,
    /// `python bin/test`, not `bin/test_travis.sh`), or its file name when that has an extension
    /// (`runtests.py`: tox runs it after `changedir = tests`). nil when none does.
    func invocation(of script: String) -> (file: String, text: String)? {
        var spellings = [script]
        let name = (script as NSString).lastPathComponent
        if name.contains("."), name != script { spellings.append(name) }
        let patterns = spellings.map { #"(^|[\s"'`(/=])"# + NSRegularExpression.escapedPattern(for: $0) + #"($|[\s"'`);&|])"# }
        return lines.first { line in patterns.contains { line.text.range(of: $0, options: .regularExpression) != nil } }
    }

    /// The first line that runs pytest (`pytest`, `py.test`, `-m pytest`) rather than installing
    /// it (`pip install pytest`) or naming a plugin (`pytest-cov`, `pytest.ini`).
    var pytestCommand: (file: String, text: String)? {
        lines.first { line in
            let text = line.text.trimmingCharacters(in: .whitespaces)
            guard !text.hasPrefix("#"), !text.lowercased().contains("install") else { return false }
            return text.range(of: #"(^|[\s"'`(/=])(py\.test|pytest)($|[\s"'`);&|])"#, options: .regularExpression) != nil
        }
    }

    /// The first line holding one of the spellings (`nosetests`, `-m unittest`).
    func mention(of spellings: [String]) -> (file: String, text: String)? {
        lines.first { line in spellings.contains { line.text.contains($0) } }
    }

    /// Whether the script (read from the checkout) runs pytest itself, in code rather than comments.
    func isPytestWrapper(_ script: String) -> Bool {
        guard let projectDirectory, let url = Self.regularFile(script, in: projectDirectory),
              let data = FileManager.default.contents(atPath: url.path) else { return false }
        let code = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline)
            .filter { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("#") }.joined(separator: "\n")
        return code.range(of: #"(import pytest|from pytest|pytest\.main|-m['",\s]+pytest|\[\s*['"]pytest['"])"#,
                          options: .regularExpression) != nil
    }

    /// Whether the script is a regular file of the checkout (not a link out of it).
    func hasScript(_ script: String) -> Bool {
        projectDirectory.flatMap { Self.regularFile(script, in: $0) } != nil
    }
}

extension EnvironmentBuilder {
    /// The test runner for a Python project under `test.runner: auto`, and why (for the build log):
    /// 1. a runner whose `script` the project has, that its tox/nox commands, CI or docs invoke,
    ///    where none of them runs pytest and the script does not wrap pytest;
    /// 2. a runner whose `invoked_by` spelling appears there or in the manifests (setup.py,
    ///    requirement files) while nothing in the project mentions pytest;
    /// 3. pytest (which also runs unittest-style tests).
    static func chooseRunner(recipe: Recipe, python: PythonProject, projectDirectory: URL?) -> (name: String, reason: String) {
        if recipe.test.runner != "auto" { return (recipe.test.runner, "the recipe names it") }
        let evidence = RunnerEvidence(project: python, projectDirectory: projectDirectory, globs: recipe.test.evidence)
        let pytestCommand = evidence.pytestCommand
        for (name, runner) in recipe.test.runners.sorted(by: { $0.key < $1.key }) {
            guard let script = runner.script, evidence.hasScript(script), !evidence.isPytestWrapper(script),
                  let invocation = evidence.invocation(of: script) else { continue }
            if let pytestCommand {
                return (defaultRunner(recipe), "\(script) is invoked in \(invocation.file), but \(pytestCommand.file) runs pytest: "
                        + pytestCommand.text.trimmingCharacters(in: .whitespaces).prefix(120))
            }
            return (name, "\(script) is the project's runner: \(invocation.file) runs it ('"
                    + invocation.text.trimmingCharacters(in: .whitespaces).prefix(120) + "') and nothing runs pytest")
        }
        if !python.mentionsPytest {
            for (name, runner) in recipe.test.runners.sorted(by: { $0.key < $1.key }) {
                guard let spellings = runner.invokedBy, !spellings.isEmpty else { continue }
                if let mention = evidence.mention(of: spellings) {
                    return (name, "\(mention.file) runs \(name) ('" + mention.text.trimmingCharacters(in: .whitespaces).prefix(120)
                            + "') and nothing mentions pytest")
                }
                if let spelling = spellings.first(where: python.manifestTestText.contains) {
                    return (name, "the manifests run \(name) ('\(spelling)') and nothing mentions pytest")
                }
            }
        }
        return (defaultRunner(recipe), "default")
    }

    private static func defaultRunner(_ recipe: Recipe) -> String {
        recipe.test.runners["pytest"] != nil ? "pytest" : recipe.test.runners.keys.sorted()[0]
    }
}

/// What the project's tox environment (or nox session) adds to a pytest run, read rather than
/// running tox: the options of its pytest command that change which tests run or how they judge
/// (`-W error`, `-p no:cacheprovider`, `-m "not network"`, `--strict-markers`,
/// `--doctest-modules`, `--import-mode`), and its `setenv` variables. Reporting, coverage,
/// parallelism and stop-early options (`--cov`, `-n 4`, `-x`, `--durations`) and paths are not
/// taken: Forge runs the task's files and reads every result. Options the installed pytest does
/// not know are left out later, as for the recipe's own.
enum ToxPytestSettings {
    /// Options that take a value (separate, `=`-joined, or glued to a short option).
    static let valueOptions = ["-W", "--pythonwarnings", "-p", "-m", "--doctest-glob", "--import-mode"]
    static let flagOptions = ["--strict", "--strict-markers", "--strict-config", "--doctest-modules"]
    /// Variables Forge sets itself, or that would carry options and plugins past the check above.
    static let ignoredVariables: Set<String> = ["PYTHONPATH", "PATH", "HOME", "VIRTUAL_ENV", "TMPDIR", "PYTEST_ADDOPTS",
                                                "PYTEST_PLUGINS", "PYTHONHOME", "PYTHONSTARTUP", "LD_PRELOAD", "LD_LIBRARY_PATH"]

    /// The kept options of the first command line that runs pytest.
    static func options(fromCommands lines: [String]) -> [String] {
        for line in lines {
            let words = shellWords(line)
            guard let start = words.firstIndex(where: { ["pytest", "py.test"].contains(($0 as NSString).lastPathComponent) }) else { continue }
            var kept: [String] = []
            var index = start + 1
            while index < words.count {
                let word = words[index]
                index += 1
                if flagOptions.contains(word) { kept.append(word); continue }
                if let option = valueOptions.first(where: { word == $0 }) {
                    if index < words.count { kept += [option, words[index]]; index += 1 }
                    continue
                }
                if valueOptions.contains(where: { ($0.hasPrefix("--") && word.hasPrefix($0 + "=")) || (!$0.hasPrefix("--") && word.hasPrefix($0)) }) {
                    kept.append(word)
                }
            }
            return kept
        }
        return []
    }

    /// `NAME = value` lines of `setenv`, `{toxinidir}` as the checkout; values with other tox
    /// substitutions, and the variables Forge owns, are left out.
    static func environment(fromSetenv text: String?) -> [String: String] {
        var result: [String: String] = [:]
        for line in (text ?? "").components(separatedBy: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            let name = line[..<equals].trimmingCharacters(in: .whitespaces)
            var value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            value = value.replacingOccurrences(of: "{toxinidir}", with: "{source}")
            guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }), !name.contains(":"),
                  !ignoredVariables.contains(name.uppercased()),
                  !value.replacingOccurrences(of: "{source}", with: "").contains("{") else { continue }
            result[name] = value
        }
        return result
    }

    /// Words of a command line, quotes removed (`-m "not network"` → `-m`, `not network`).
    static func shellWords(_ line: String) -> [String] {
        var words: [String] = []
        var current = ""
        var quote: Character?
        var inWord = false
        for character in line {
            if let open = quote {
                if character == open { quote = nil } else { current.append(character) }
                continue
            }
            if character == "\"" || character == "'" { quote = character; inWord = true; continue }
            if character.isWhitespace {
                if inWord { words.append(current); current = ""; inWord = false }
                continue
            }
            current.append(character)
            inWord = true
        }
        if inWord { words.append(current) }
        return words
    }
}
