import Foundation

/// What a Python project's manifests say about its interpreter, dependencies and tests, read
/// statically (nothing of the project runs): pyproject.toml (PEP 621 and Poetry), setup.cfg,
/// literal values in setup.py, tox.ini, noxfile.py and requirement files.
struct PythonProject {
    /// Normalized distribution name, when declared (to drop self-references in extras).
    var name: String?
    var requiresPython: (text: String, source: String)?
    /// `3.8`-style versions from `Programming Language :: Python :: X.Y` classifiers.
    var classifierVersions: [PythonVersion] = []
    /// Majors from `Python :: 3 :: Only` / `Python :: 2 :: Only`.
    var classifierOnlyMajor: Int?
    /// Versions named by tox env names (`py38`, `py{39,310}`).
    var toxVersions: [PythonVersion] = []
    /// Runtime dependencies (PEP 508 strings).
    var dependencies: [String] = []
    /// Declared extras and their requirements (requirements unknown for setup.py-only extras).
    var extras: [String: [String]] = [:]
    /// Test-only dependency lines from tox `deps` (raw, may carry factor conditions), Poetry dev
    /// groups and nox `session.install` calls; `-r file` entries are kept as such.
    var toxDependencyLines: [String] = []
    /// Extras tox installs the project with (`[testenv] extras`).
    var toxExtras: [String] = []
    /// `[build-system] requires` of pyproject.toml.
    var buildRequirements: [String] = []
    /// The version comes from git through setuptools_scm (or hatch-vcs, built on it).
    var takesVersionFromGit = false
    /// Extras the project's own test requirements ask of it (`pdm[pytest]` in pdm's test group).
    var selfReferencedExtras: [String] = []
    var otherTestRequirements: [String] = []
    /// Test requirement files (paths relative to the project root) that exist among the manifests.
    var requirementFiles: [String] = []
    /// `requirements.txt` at the root, for the dependencies-only rung.
    var rootRequirementFiles: [String] = []
    var mentionsPytest = false
    /// The test commands tox (`[testenv] commands`) and nox (`session.run(...)`) run, one a line:
    /// evidence for the runner choice (`RunnerEvidence`).
    var testCommandLines: [String] = []
    /// setup.py, noxfile.py, test requirement files, tox deps and extras, as one text.
    var manifestTestText = ""
    /// `[testenv] setenv` as tox.ini writes it (`NAME = value` lines), when there is one.
    var toxSetenv: String?
    /// Where importable code lives relative to the root (`src` or empty).
    var sourceRoot = ""
    /// A build step that needs another toolchain or the network (`setup.py runs npm`), when the
    /// manifests show one: building the project is then skipped.
    var foreignBuildStep: String?

    init(manifests: [String: Data], requirementPatterns: [String], projectDirectory: URL?) {
        func text(_ path: String) -> String? { manifests[path].flatMap { String(data: $0, encoding: .utf8) } }
        var testText = ""

        if let pyproject = text("pyproject.toml") {
            let toml = TOMLReader.parse(pyproject)
            name = toml["project.name"]?.string ?? toml["tool.poetry.name"]?.string
            buildRequirements = toml["build-system.requires"]?.strings ?? []
            if let requires = toml["project.requires-python"]?.string {
                requiresPython = (requires, "pyproject.toml [project] requires-python")
            } else if let poetryPython = toml["tool.poetry.dependencies.python"]?.string {
                requiresPython = (poetryPython, "pyproject.toml [tool.poetry.dependencies] python")
            }
            readClassifiers(toml["project.classifiers"]?.strings ?? toml["tool.poetry.classifiers"]?.strings ?? [])
            dependencies += toml["project.dependencies"]?.strings ?? []
            for (extra, value) in toml["project.optional-dependencies"]?.table ?? [:] {
                extras[extra] = value.strings
            }
            dependencies += Self.poetryRequirements(toml["tool.poetry.dependencies"])
            for group in ["tool.poetry.dev-dependencies", "tool.poetry.group.dev.dependencies",
                          "tool.poetry.group.test.dependencies"] {
                otherTestRequirements += Self.poetryRequirements(toml[group])
            }
            // PEP 735 dependency groups (`[dependency-groups] tests = [...]`), with `include-group`.
            // PEP 735 groups, and the tools' own forms before it: PDM's dev-dependencies groups and
            // uv's dev-dependencies list.
            for group in Self.testDependencyGroups where otherTestRequirements.isEmpty {
                otherTestRequirements += Self.dependencyGroup(group, in: toml["dependency-groups"]?.table ?? [:])
            }
            for group in Self.testDependencyGroups where otherTestRequirements.isEmpty {
                otherTestRequirements += Self.dependencyGroup(group, in: toml["tool.pdm.dev-dependencies"]?.table ?? [:])
            }
            if otherTestRequirements.isEmpty { otherTestRequirements += toml["tool.uv.dev-dependencies"]?.strings ?? [] }
            if toml["tool.pytest"] != nil { mentionsPytest = true }
            if let legacyTox = toml["tool.tox.legacy_tox_ini"]?.string { readTox(legacyTox) }
        }
        if let setupCfg = text("setup.cfg") {
            let ini = INIFile(setupCfg)
            name = name ?? ini.value("metadata", "name")
            if requiresPython == nil, let requires = ini.value("options", "python_requires") {
                requiresPython = (requires, "setup.cfg [options] python_requires")
            }
            if classifierVersions.isEmpty { readClassifiers(INIFile.list(ini.value("metadata", "classifiers"))) }
            dependencies += INIFile.list(ini.value("options", "install_requires"))
            for (extra, value) in ini.sections["options.extras_require"] ?? [:] where extras[extra] == nil {
                extras[extra] = INIFile.list(value).flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
            }
            if ini.sections["tool:pytest"] != nil { mentionsPytest = true }
            if toxVersions.isEmpty, ini.sections["tox:tox"] != nil { readTox(setupCfg, sectionPrefix: "tox:") }
        }
        if let setupPy = text("setup.py") {
            readSetupPy(setupPy)
            testText += setupPy
            foreignBuildStep = Self.foreignBuildStep(in: setupPy).map { "setup.py runs \($0)" }
        }
        if foreignBuildStep == nil, let pyproject = text("pyproject.toml"),
           let requires = TOMLReader.parse(pyproject)["build-system.requires"]?.strings,
           let builder = requires.compactMap(Self.requirementName).first(where: Self.javaScriptBuildBackends.contains) {
            foreignBuildStep = "the build backend runs a JavaScript build (\(builder))"
        }
        if let toxIni = text("tox.ini") { readTox(toxIni) }
        if let noxfile = text("noxfile.py") {
            testText += noxfile
            testCommandLines += Self.matches(#"session\.run\(([^)]*)\)"#, in: noxfile).map { Self.stringLiterals(in: $0).joined(separator: " ") }
            for call in Self.matches(#"session\.install\(([^)]*)\)"#, in: Self.noxTestSessions(noxfile)) {
                let arguments = Self.stringLiterals(in: call)
                var index = 0
                while index < arguments.count {
                    let argument = arguments[index]
                    if argument == "-r" || argument == "--requirement", index + 1 < arguments.count {
                        otherTestRequirements.append("-r " + arguments[index + 1]); index += 2; continue
                    }
                    if argument.hasPrefix("-") || argument == "." || argument.hasPrefix(".[") { index += 1; continue }
                    otherTestRequirements.append(argument)
                    index += 1
                }
            }
        }

        let paths = manifests.keys.sorted()
        requirementFiles = Self.coherentTestRequirements(paths.filter { path in requirementPatterns.contains { globMatches($0, path) } })
        rootRequirementFiles = paths.filter { $0 == "requirements.txt" }
        for path in requirementFiles { testText += text(path) ?? "" }
        testText += toxDependencyLines.joined(separator: "\n") + otherTestRequirements.joined(separator: "\n")
        testText += extras.values.flatMap { $0 }.joined(separator: "\n")
        manifestTestText = testText
        let lowered = testText.lowercased()
        if lowered.contains("pytest") || lowered.contains("py.test") { mentionsPytest = true }

        if let projectDirectory {
            let manager = FileManager.default
            for marker in ["pytest.ini", "conftest.py", "tests/conftest.py", "test/conftest.py"]
            where manager.fileExists(atPath: projectDirectory.appendingPathComponent(marker).path) {
                mentionsPytest = true
            }
            let src = projectDirectory.appendingPathComponent("src")
            let children = (try? manager.contentsOfDirectory(atPath: src.path)) ?? []
            if children.contains(where: { manager.fileExists(atPath: src.appendingPathComponent($0).appendingPathComponent("__init__.py").path) || $0.hasSuffix(".py") }) {
                sourceRoot = "src"
            }
        }
        // A declared package folder (`package_dir={"": "Lib"}`) wins over the guess: the tests must
        // import the tree under test, not the build's copy of it.
        if let declared = Self.declaredPackageRoot(setupPy: text("setup.py"), setupCfg: text("setup.cfg"),
                                                   pyproject: text("pyproject.toml")) {
            sourceRoot = declared
        }
        if let rawName = name { name = Self.normalize(rawName) }
        let scmBuilders: Set<String> = ["setuptools-scm", "hatch-vcs"]
        takesVersionFromGit = buildRequirements.contains { Self.requirementName($0).map(scmBuilders.contains) ?? false }
            || (text("setup.py").map { $0.contains("use_scm_version") || $0.contains("setuptools_scm") } ?? false)
            || (text("setup.cfg").map { $0.contains("setuptools_scm") || $0.contains("setuptools-scm") } ?? false)
        // A test requirement naming the project itself (`pdm[pytest]`) asks for its extras: those
        // join the project's install, and the line goes (a dated release of the project from the
        // index would replace the tree under test).
        for line in otherTestRequirements + toxDependencyLines where isSelfReference(Self.dropsFactors(line)) {
            for extra in Self.requirementExtras(Self.dropsFactors(line)) where !selfReferencedExtras.contains(extra) {
                selfReferencedExtras.append(extra)
            }
        }
        let project = self
        otherTestRequirements.removeAll { project.isSelfReference($0) }
        toxDependencyLines.removeAll { project.isSelfReference(Self.dropsFactors($0)) }
    }

    /// `name[a, b] >= 1` → `["a", "b"]`.
    static func requirementExtras(_ requirement: String) -> [String] {
        guard let open = requirement.firstIndex(of: "["), let close = requirement[open...].firstIndex(of: "]") else { return [] }
        return requirement[requirement.index(after: open)..<close].split(separator: ",")
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// One consistent set of test requirement files. pip-compile layouts (`requirements/tests.txt`,
    /// `dev.txt`, `tests-min.txt`) pin the same packages to different versions in different files,
    /// and installing them together has no solution. So: test files win over dev files (dev pins
    /// were compiled separately), and files pinning minimum versions (`*min*`, `*lowest*`,
    /// `*oldest*`) or pinning for one old Python (`tests37.txt`) are dropped while a regular test
    /// file remains.
    static func coherentTestRequirements(_ files: [String]) -> [String] {
        func name(_ path: String) -> String { (path.split(separator: "/").last.map(String.init) ?? path).lowercased() }
        let tests = files.filter { $0.lowercased().contains("test") }
        guard !tests.isEmpty else { return files }
        let minimumMarkers = ["min", "lowest", "oldest"]
        let regular = tests.filter { path in !minimumMarkers.contains { name(path).contains($0) } }
        let chosen = regular.isEmpty ? tests : regular
        // Per-interpreter pins (`tests37.txt`, `tests-py38.txt`) are for that old Python only.
        let unversioned = chosen.filter { path in
            let stem = name(path).components(separatedBy: ".").first ?? ""
            return stem.range(of: #"(py)?3\d{1,2}$"#, options: .regularExpression) == nil
        }
        return unversioned.isEmpty ? chosen : unversioned
    }

    /// Build requirements that run npm/yarn during the build.
    static let javaScriptBuildBackends: Set<String> = ["jupyter-packaging", "hatch-jupyter-builder", "hatch-nodejs-version"]

    /// The foreign toolchain or download a setup.py invokes (code lines, not comments).
    static func foreignBuildStep(in setupPy: String) -> String? {
        let code = setupPy.components(separatedBy: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("#") }
            .joined(separator: "\n")
        let tools = #"['"\[\s](npm|yarn|jlpm|pnpm|npx|node|bower|grunt|gulp)['"\s]"#
        if let tool = matches(tools, in: code).first, code.contains("subprocess") || code.contains("os.system")
            || code.contains("spawn") || code.contains("check_call") || code.contains("run(") {
            return tool
        }
        if code.range(of: #"urlopen\(|urlretrieve\(|requests\.get\("#, options: .regularExpression) != nil {
            return "a download"
        }
        return nil
    }

    /// Dependency groups that hold what the tests need, first found wins.
    static let testDependencyGroups = ["tests", "test", "testing", "dev"]

    /// A PEP 735 group's requirements, its `{include-group = "..."}` entries expanded (cycles cut).
    static func dependencyGroup(_ name: String, in groups: [String: TOMLValue], seen: Set<String> = []) -> [String] {
        guard !seen.contains(name), case .array(let items)? = groups[name] else { return [] }
        return items.flatMap { item -> [String] in
            if let requirement = item.string { return [requirement] }
            if let included = item.table?["include-group"]?.string {
                return dependencyGroup(included, in: groups, seen: seen.union([name]))
            }
            return []
        }
    }

    /// PEP 503 normalization: lowercase, runs of `-_.` become `-`.
    static func normalize(_ name: String) -> String {
        name.lowercased().replacingOccurrences(of: "[-_.]+", with: "-", options: .regularExpression)
    }

    /// The distribution name a requirement line names (`Foo_Bar[x]>=1; ...` → `foo-bar`).
    static func requirementName(_ line: String) -> String? {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        guard let first = trimmed.first, first.isLetter || first.isNumber else { return nil }
        let name = trimmed.prefix(while: { $0.isLetter || $0.isNumber || "-_.".contains($0) })
        return normalize(String(name))
    }

    /// Whether a requirement names this project itself (extras such as `test = ["proj[a,b]"]`).
    func isSelfReference(_ requirement: String) -> Bool {
        guard let name else { return false }
        return Self.requirementName(requirement) == name
    }

    // MARK: - Interpreter hints

    private mutating func readClassifiers(_ classifiers: [String]) {
        for classifier in classifiers {
            let parts = classifier.components(separatedBy: "::").map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count >= 3, parts[0] == "Programming Language", parts[1] == "Python" else { continue }
            if parts.count >= 4, parts[3] == "Only", let major = Int(parts[2]) { classifierOnlyMajor = major; continue }
            if parts.count == 3, parts[2].contains("."), let version = PythonVersion(parts[2]) {
                classifierVersions.append(version)
            }
        }
    }

    private mutating func readSetupPy(_ source: String) {
        name = name ?? Self.matches(#"\bname\s*=\s*['"]([^'"]+)['"]"#, in: source).first
        if requiresPython == nil, let requires = Self.matches(#"python_requires\s*=\s*['"]([^'"]+)['"]"#, in: source).first {
            requiresPython = (requires, "setup.py python_requires")
        }
        if classifierVersions.isEmpty {
            readClassifiers(Self.matches(#"['"](Programming Language :: Python[^'"]*)['"]"#, in: source))
        }
        if let list = Self.matches(#"install_requires\s*=\s*\[([^\]]*)\]"#, in: source).first {
            dependencies += Self.stringLiterals(in: list)
        }
        if let block = Self.matches(#"extras_require\s*=\s*\{((?:[^{}]|\{[^{}]*\})*)\}"#, in: source).first {
            let pattern = #"['"]([A-Za-z0-9_.\-]+)['"]\s*:\s*(\[[^\]]*\])?"#
            guard let regex = try? NSRegularExpression(pattern: pattern) else { return }
            let range = NSRange(block.startIndex..., in: block)
            for match in regex.matches(in: block, range: range) {
                guard let keyRange = Range(match.range(at: 1), in: block) else { continue }
                let listRange = Range(match.range(at: 2), in: block)
                extras[String(block[keyRange]), default: []] += listRange.map { Self.stringLiterals(in: String(block[$0])) } ?? []
            }
        }
    }

    private mutating func readTox(_ source: String, sectionPrefix: String = "") {
        let ini = INIFile(source)
        let envlist = ini.value("\(sectionPrefix)tox", "envlist") ?? ini.value("\(sectionPrefix)tox", "env_list") ?? ""
        for env in Self.expandBraces(envlist.replacingOccurrences(of: "\n", with: ",")) {
            for factor in env.split(separator: "-") {
                let digits = factor.dropFirst(2)
                guard factor.hasPrefix("py"), digits.count >= 2, digits.allSatisfy(\.isNumber),
                      let major = Int(digits.prefix(1)), let minor = Int(digits.dropFirst()) else { continue }
                toxVersions.append(PythonVersion([major, minor]))
            }
        }
        let base = "\(sectionPrefix)testenv"
        let substitute: (String) -> String = { line in
            var result = line
            while let range = result.range(of: #"\{\[[^\]]+\][^}]+\}"#, options: .regularExpression) {
                let reference = String(result[range].dropFirst(2).dropLast())
                let parts = reference.components(separatedBy: "]")
                let value = ini.value(parts[0], parts.count > 1 ? parts[1] : "") ?? ""
                result.replaceSubrange(range, with: value)
            }
            result = result.replacingOccurrences(of: "{toxinidir}/", with: "")
                .replacingOccurrences(of: "{toxinidir}", with: ".")
                .replacingOccurrences(of: #"\{posargs[^}]*\}"#, with: "", options: .regularExpression)
            // `{env:NAME:default}` → its default (Forge sets none of the user's variables); `{env:NAME}` → "".
            while let range = result.range(of: #"\{env:[A-Za-z_][A-Za-z0-9_]*(:[^{}]*)?\}"#, options: .regularExpression) {
                let body = result[range].dropFirst(5).dropLast()
                let fallback = body.firstIndex(of: ":").map { String(body[body.index(after: $0)...]) } ?? ""
                result.replaceSubrange(range, with: fallback)
            }
            return result
        }
        // A line still holding a substitution Forge cannot know (`{envname}`, `{toxworkdir}`) is
        // not a requirement uv could read; factor conditions (`py{38,39}: pkg`) stay.
        let deps = INIFile.list(ini.value(base, "deps")).map(substitute)
            .flatMap { $0.components(separatedBy: "\n") }
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !Self.dropsFactors($0).contains("{") }
        toxDependencyLines += deps
        toxExtras += INIFile.list(ini.value(base, "extras")).flatMap { $0.split(separator: ",") }
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty && !$0.contains(":") && !toxExtras.contains($0) }
        toxSetenv = toxSetenv ?? ini.value(base, "setenv")
        let commandLines = INIFile.list(ini.value(base, "commands")).map(substitute)
        testCommandLines += commandLines
        let commands = commandLines.joined(separator: "\n")
        let lowered = commands.lowercased()
        if lowered.contains("pytest") || lowered.contains("py.test") { mentionsPytest = true }
    }

    /// Tox `deps` that apply to an interpreter: unconditional lines, and `py38: pkg` / `py3: pkg`
    /// lines whose factors name it. `-r file` stays; comments and `-e .` go.
    func toxDependencies(for version: PythonVersion) -> [String] {
        let own = ["py\(version.major)\(version.minor)", "py\(version.major)", "py"]
        var result: [String] = []
        for line in toxDependencyLines {
            let (condition, requirement) = Self.factorCondition(line)
            if let condition {
                guard Self.expandBraces(condition).contains(where: { own.contains($0) }) else { continue }
                result.append(requirement.trimmingCharacters(in: .whitespaces))
            } else {
                result.append(line)
            }
        }
        return result.filter { !$0.hasPrefix("#") && $0 != "-e ." && $0 != "." && !$0.hasPrefix("-e .[") }
    }

    // MARK: - Small helpers

    /// The parts of a noxfile that set up tests: the top-level functions whose names say `test`
    /// (`test`, `tests_impl`, `test_brotlipy`), when there are any; else the whole file. Lint,
    /// docs, type-check, packaging and downstream sessions install what tests do not need, and
    /// their pins may contradict the test pins (urllib3: trio 0.25 for tests, 0.23 for emscripten).
    static func noxTestSessions(_ noxfile: String) -> String {
        var blocks: [(name: String, body: String)] = []
        var current: (name: String, lines: [Substring])?
        for line in noxfile.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("def ") {
                if let open = current { blocks.append((open.name, open.lines.joined(separator: "\n"))) }
                let name = line.dropFirst(4).prefix { $0.isLetter || $0.isNumber || $0 == "_" }
                current = (String(name), [line])
            } else if let first = line.first, !first.isWhitespace, first != "#", first != ")", first != "@" {
                if let open = current { blocks.append((open.name, open.lines.joined(separator: "\n"))); current = nil }
            } else {
                current?.lines.append(line)
            }
        }
        if let open = current { blocks.append((open.name, open.lines.joined(separator: "\n"))) }
        let tests = blocks.filter { block in
            let name = block.name.lowercased()
            return name.contains("test") && !["downstream", "integration", "lint", "docs", "mypy", "typing"].contains { name.contains($0) }
        }
        return tests.isEmpty ? noxfile : tests.map(\.body).joined(separator: "\n")
    }

    /// The folder the project's packages live in when its build configuration names one:
    /// setuptools' `package_dir={"": "Lib"}` (setup.py), `package_dir = =Lib` (setup.cfg),
    /// `[tool.setuptools.package-dir] "" = "Lib"` or `[tool.setuptools.packages.find] where`
    /// (pyproject.toml). Only a plain relative folder is accepted.
    static func declaredPackageRoot(setupPy: String?, setupCfg: String?, pyproject: String?) -> String? {
        var candidates: [String] = []
        if let pyproject {
            let toml = TOMLReader.parse(pyproject)
            if let table = toml["tool.setuptools.package-dir"]?.table, let root = table[""]?.string { candidates.append(root) }
            if let wheres = toml["tool.setuptools.packages.find.where"]?.strings, wheres.count == 1 { candidates.append(wheres[0]) }
        }
        if let setupCfg, let value = INIFile(setupCfg).value("options", "package_dir") {
            for line in value.components(separatedBy: "\n") {
                let parts = line.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                if parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces).isEmpty {
                    candidates.append(parts[1].trimmingCharacters(in: .whitespaces))
                }
            }
        }
        if let setupPy {
            candidates += matches(#"package_dir\s*=\s*\{\s*['"]['"]\s*:\s*['"]([^'"]+)['"]"#, in: setupPy)
        }
        return candidates.lazy.map { candidate -> String in
            var value = candidate.trimmingCharacters(in: .whitespaces)
            while value.hasPrefix("./") { value.removeFirst(2) }
            while value.hasSuffix("/") { value.removeLast() }
            return value
        }.first { value in
            !value.isEmpty && value != "." && !value.hasPrefix("/") && !value.split(separator: "/").contains("..")
                && value.range(of: #"^[A-Za-z0-9_./-]+$"#, options: .regularExpression) != nil
        }
    }

    /// A tox deps line split at its leading factor condition: `py{38,39}: pkg` → (`py{38,39}`, `pkg`);
    /// a line without one → (nil, the line).
    static func factorCondition(_ line: String) -> (condition: String?, requirement: String) {
        guard let match = line.range(of: #"^[A-Za-z0-9_,!{}.\-]+:\s"#, options: .regularExpression) else { return (nil, line) }
        let condition = line[match].trimmingCharacters(in: .whitespaces).dropLast().trimmingCharacters(in: .whitespaces)
        return (condition, String(line[match.upperBound...]))
    }

    /// A tox deps line without its leading factor condition (`py{38,39}: pkg` → `pkg`).
    static func dropsFactors(_ line: String) -> String { factorCondition(line).requirement }

    /// `py{38,39}-django{22,30}` → all combinations; commas at depth 0 separate items.
    static func expandBraces(_ text: String) -> [String] {
        var items: [String] = []
        var depth = 0
        var currentItem = ""
        for c in text {
            if c == "{" { depth += 1 } else if c == "}" { depth -= 1 }
            if c == "," && depth == 0 { items.append(currentItem); currentItem = ""; continue }
            currentItem.append(c)
        }
        items.append(currentItem)
        return items.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.flatMap { item -> [String] in
            guard let open = item.firstIndex(of: "{"), let close = item[open...].firstIndex(of: "}") else { return [item] }
            let head = String(item[..<open]), tail = String(item[item.index(after: close)...])
            return item[item.index(after: open)..<close].split(separator: ",").flatMap { choice in
                expandBraces(head + choice.trimmingCharacters(in: .whitespaces) + tail)
            }
        }
    }

    /// Poetry's `name = "^1.2"` / `{version = "~1.2", optional = true}` as PEP 508 lines; optional
    /// and path/git dependencies are skipped, as is `python`.
    static func poetryRequirements(_ table: TOMLValue?) -> [String] {
        var result: [String] = []
        for (name, value) in (table?.table ?? [:]).sorted(by: { $0.key < $1.key }) where name.lowercased() != "python" {
            var constraint: String?
            if let text = value.string { constraint = text }
            else if let inline = value.table {
                if inline["optional"] == .other("true") || inline["path"] != nil || inline["git"] != nil { continue }
                constraint = inline["version"]?.string ?? "*"
            }
            guard let constraint else { continue }
            guard constraint != "*", let set = try? VersionSpecifierSet(constraint) else { result.append(name); continue }
            let clauses = set.alternatives.first ?? []
            result.append(name + clauses.map(\.description).joined(separator: ","))
        }
        return result
    }

    /// First capture group of every match.
    static func matches(_ pattern: String, in text: String) -> [String] {
        guard let regex = try? NSRegularExpression(pattern: pattern, options: [.dotMatchesLineSeparators]) else { return [] }
        return regex.matches(in: text, range: NSRange(text.startIndex..., in: text)).compactMap { match in
            Range(match.range(at: 1), in: text).map { String(text[$0]) }
        }
    }

    /// The contents of every '…' and "…" literal in a Python snippet. A literal ends only at its
    /// own quote, so markers keep their inner quotes (`"colorama; platform_system == 'Windows'"`).
    static func stringLiterals(in text: String) -> [String] {
        var literals: [String] = []
        var quote: Character?
        var current = ""
        var escaped = false
        for character in text {
            guard let open = quote else {
                if character == "\"" || character == "'" { quote = character; current = "" }
                continue
            }
            if escaped { current.append(character); escaped = false }
            else if character == "\\" { escaped = true }
            else if character == open { literals.append(current); quote = nil }
            else if character.isNewline { quote = nil }  // unterminated: not a literal
            else { current.append(character) }
        }
        return literals
    }
}
