import Foundation
import Sandbox

/// Python: choose an interpreter, then climb the install ladder in a uv virtual environment
/// resolved with `--exclude-newer` at the task date.
extension EnvironmentBuilder {
    /// `-rFILE` / `-cFILE` (as tox and pip accept them) → `-r FILE` / `-c FILE` (as uv requires).
    static func separatingFileOption(_ line: String) -> String {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        for option in ["-r", "-c"] where trimmed.hasPrefix(option) && trimmed.count > 2 {
            let rest = trimmed.dropFirst(2)
            if let first = rest.first, first != " ", first != "=" { return "\(option) \(rest)" }
        }
        return line
    }

    /// PEP 517 build backends are exempt from the date pin: uv applies `--exclude-newer` to the
    /// isolated build environments too, and an old sdist whose build needs a newer setuptools than
    /// the date allows (seen: pysocks 1.6.8 as of 2019-01 needs setuptools>=40.8) cannot build at all.
    /// The exemption reaches runtime resolution too, so setuptools is capped below 81, which
    /// removed pkg_resources: test runners of the time (pytest 3.x) import it at start-up.
    public static let undatedBuildBackends: [String] = ["setuptools", "wheel", "flit-core", "hatchling", "poetry-core",
                                                 "setuptools-scm", "pdm-backend"]
        .flatMap { ["--exclude-newer-package", "\($0)=2100-01-01T00:00:00Z"] }
    public static let undatedBuildBackendConstraints = "setuptools<81\n"

    func preparePython(_ project: ProjectSnapshot, recipe: Recipe, manifests: [String: Data]) throws -> PreparedEnvironment {
        let python = PythonProject(manifests: manifests, requirementPatterns: recipe.install.requirementFiles,
                                   projectDirectory: project.directory)
        let constraint: InterpreterSelector.Constraint
        do {
            constraint = try InterpreterSelector.constraint(project: python, policy: recipe.interpreter)
        } catch {
            throw EnvironmentFailure(kind: .invalidManifest,
                                     reason: "\(python.requiresPython?.source ?? "interpreter constraint"): \(error)")
        }
        guard let uv = uvPath else {
            throw EnvironmentFailure(kind: .missingToolchain, reason: "uv not found in PATH, $FORGE_UV or pyenv versions")
        }
        let catalog = interpreters()
        guard let choice = InterpreterSelector.choose(from: catalog, constraint: constraint, policy: recipe.interpreter,
                                                      date: project.createdAt)
                ?? constraint.fallback.flatMap({ InterpreterSelector.choose(from: catalog, constraint: $0.constraint,
                                                                            policy: recipe.interpreter, date: project.createdAt) }) else {
            let runtime = "missing \(constraint.text)"
            let key = Self.cacheKey(ecosystem: .python, recipe: recipe, runtime: runtime, manifests: manifests)
            let installed = catalog.interpreters.map { $0.version.description }
            throw recordPrebuildFailure(EnvironmentFailure(
                kind: .missingInterpreter,
                reason: "no installed interpreter satisfies \(constraint.text) (from \(constraint.source))"
                    + (recipe.interpreter.minimum.map { " and >=\($0)" } ?? "")
                    + "; installed: " + (installed.isEmpty ? "none" : installed.joined(separator: ", "))), key: key,
                identity: Self.identity(recipe: recipe, runtime: runtime, manifests: manifests))
        }
        let runtime = "cpython \(choice.interpreter.version) \(choice.interpreter.path)"
        let key = Self.cacheKey(ecosystem: .python, recipe: recipe, runtime: runtime, manifests: manifests)
        let identity = Self.identity(recipe: recipe, runtime: "cpython-\(choice.interpreter.version)", manifests: manifests)
        return try withKey(key, identity: identity, build: { directory in
            try buildPython(project, recipe: recipe, manifests: manifests, python: python, choice: choice, uv: uv,
                            key: key, directory: directory)
        }, isUsable: { ready in
            ready.venvPath.map { FileManager.default.isExecutableFile(atPath: $0 + "/bin/python") } ?? false
        })
    }

    private func buildPython(_ project: ProjectSnapshot, recipe: Recipe, manifests: [String: Data], python: PythonProject,
                             choice: InterpreterChoice, uv: String, key: String, directory: URL) throws -> PreparedEnvironment {
        let started = Date()
        let manager = FileManager.default
        let logPath = directory.appendingPathComponent("build.log").path
        _ = manager.createFile(atPath: logPath, contents: nil)
        let manifestDirectory = directory.appendingPathComponent("manifests")
        try? manager.removeItem(at: manifestDirectory)
        do {
            var copies = manifests
            for (path, data) in manifests where path.hasSuffix(".txt") || path.hasSuffix(".in") {
                copies[path] = Self.datedInsteadOfURLs(Self.withoutSelfInstall(data))
            }
            try Self.materialize(copies, in: manifestDirectory)
        } catch {
            throw EnvironmentFailure(kind: .internalError, reason: "cannot write manifests to \(manifestDirectory.path): \(error)", logPath: logPath)
        }
        try? manager.createDirectory(at: uvCache, withIntermediateDirectories: true)
        let venv = directory.appendingPathComponent("venv").path
        let excludeNewer = ISODates.format(project.createdAt)
        var environment = recipe.install.env
        environment["UV_CACHE_DIR"] = uvCache.path
        environment["UV_PYTHON_DOWNLOADS"] = "never"
        environment["UV_NO_CONFIG"] = "1"
        environment["UV_NO_PROGRESS"] = "1"
        environment["NO_COLOR"] = "1"
        // uv fills a venv from its cache by hard link, which cannot cross the sandbox's separate
        // mounts of cache and environment: copy instead.
        environment["UV_LINK_MODE"] = "copy"
        let sandbox: Sandbox?
        do {
            sandbox = try installSandbox(projectDirectory: project.directory, environmentDirectory: directory,
                                         interpreter: choice.interpreter.path, limits: recipe.install.limits)
        } catch {
            throw EnvironmentFailure(kind: .internalError, reason: "cannot sandbox the install steps: \(error)", logPath: logPath)
        }
        Self.appendLog("# environment \(key) for \(project.repo ?? project.directory.path)\n"
            + "# interpreter: \(choice.interpreter) — \(choice.constraint) from \(choice.constraintSource)\n"
            + (choice.note.map { "# note: \($0)\n" } ?? "")
            + "# exclude-newer: \(excludeNewer); sandbox: \(sandbox == nil ? "none" : "bubblewrap")\n", to: logPath)

        // What each rung installs.
        let extras = recipe.install.extras.filter { python.extras[$0] != nil }
        let projectTarget = project.directory.path + (extras.isEmpty ? "" : "[\(extras.joined(separator: ","))]")
        var testRequirementArguments = python.requirementFiles.flatMap { ["-r", manifestDirectory.appendingPathComponent($0).path] }
        // tox writes file options glued to their value (`-rrequirements-dev.txt`); uv wants `-r FILE`.
        let extraLines = (python.toxDependencies(for: choice.interpreter.version) + python.otherTestRequirements)
            .map(Self.separatingFileOption).map(Self.datedInsteadOfURL)
        if !extraLines.isEmpty {
            let url = manifestDirectory.appendingPathComponent(".forge-test-requirements.txt")
            try? (extraLines.joined(separator: "\n") + "\n").write(to: url, atomically: true, encoding: .utf8)
            testRequirementArguments += ["-r", url.path]
        }
        let hasTestRequirements = !testRequirementArguments.isEmpty
        let dependencyLines = (python.dependencies + extras.flatMap { python.extras[$0] ?? [] })
            .filter { !python.isSelfReference($0) }.map(Self.datedInsteadOfURL)
            + python.rootRequirementFiles.map { "-r \($0)" }
        let constraintFile = manifestDirectory.appendingPathComponent(".forge-constraints.txt")
        try? Self.undatedBuildBackendConstraints.write(to: constraintFile, atomically: true, encoding: .utf8)
        let dependencyFile = manifestDirectory.appendingPathComponent(".forge-dependencies.txt")
        try? (dependencyLines.joined(separator: "\n") + "\n").write(to: dependencyFile, atomically: true, encoding: .utf8)

        let ladder = recipe.install.ladder
        let rungs = ladder.filter { rung in
            switch rung {
            case .editableExtras: return !hasTestRequirements || !ladder.contains(.editableExtrasRequirements)
            case .editableExtrasRequirements: return hasTestRequirements
            case .dependenciesOnly: return true
            }
        }
        var attempts: [InstallAttempt] = []
        var succeeded: InstallStrategy?
        ladder: for rung in rungs {
            // Editable first; a project whose build backend (as of the date) predates PEP 660 has no
            // `build_editable` hook, so it is installed as a plain copy instead (the checkout still
            // wins at test time through PYTHONPATH).
            let forms: [ProjectInstall] = rung == .dependenciesOnly ? [.none] : [.editable, .copy]
            for form in forms {
                var requested: [String]
                switch (rung, form) {
                case (.dependenciesOnly, _): requested = ["-r", dependencyFile.path] + testRequirementArguments
                case (_, .editable): requested = ["-e", projectTarget]
                default: requested = [projectTarget]
                }
                if rung == .editableExtrasRequirements { requested += testRequirementArguments }
                requested += recipe.install.packages
                let attempt = try runRung(rung, form: form, uv: uv, interpreter: choice.interpreter.path, venv: venv,
                                          arguments: ["--exclude-newer", excludeNewer] + Self.undatedBuildBackends
                                            + ["--constraint", constraintFile.path] + requested,
                                          environment: environment, project: project, directory: directory,
                                          sandbox: sandbox, timeout: recipe.install.timeout, buildLog: logPath)
                attempts.append(attempt)
                if attempt.succeeded { succeeded = rung; break ladder }
                let output = Self.readLog(attempt.logPath)
                guard form == .editable, Self.lacksEditableHook(output) else { break }
            }
        }
        guard let strategy = succeeded else {
            let last = attempts.last
            throw EnvironmentFailure(kind: last?.failure ?? .buildFailure,
                                     reason: (last?.reason ?? "no install strategy applies")
                                        + " (tried \(attempts.map(\.strategy.rawValue).joined(separator: ", ")))",
                                     logPath: logPath, attempts: attempts)
        }
        // pip and virtualenv seeded setuptools into every environment before Python 3.12, and test
        // runners of those years import its pkg_resources (pytest 3.x at start-up); uv seeds nothing.
        // So add setuptools as of the task date, dated unlike the build backends (today's has no
        // pkg_resources); a no-op where the project's own requirements installed it.
        if choice.interpreter.version < PythonVersion([3, 12]) {
            let seed = [uv, "pip", "install", "--compile-bytecode", "--python", venv + "/bin/python", "--exclude-newer", excludeNewer, "setuptools"]
            let seeded = try? tools.capture(seed, environment: environment, timeout: 300)
            Self.appendLog("\n$ " + seed.joined(separator: " ") + "\n" + (seeded.map { $0.stdout + $0.stderr } ?? "could not run uv\n"), to: logPath)
        }
        let freeze = try? tools.capture([uv, "pip", "freeze", "--python", venv + "/bin/python"],
                                        environment: environment, timeout: 120)
        let packages = (freeze?.stdout ?? "").split(separator: "\n").map(String.init).filter { !$0.isEmpty }
        Self.appendLog("\n# resolved packages (\(packages.count)):\n" + packages.joined(separator: "\n") + "\n", to: logPath)

        let runnerName = chooseRunner(recipe: recipe, python: python)
        var envVars = recipe.test.env
        let interpreterBin = URL(fileURLWithPath: choice.interpreter.path).deletingLastPathComponent().path
        envVars["VIRTUAL_ENV"] = "{venv}"
        envVars["PATH"] = "{venv}/bin:\(interpreterBin):/usr/local/bin:/usr/bin:/bin"
        envVars["PYTHONPATH"] = python.sourceRoot.isEmpty ? "{source}" : "{source}/\(python.sourceRoot)"
        return PreparedEnvironment(
            key: key, ecosystem: .python, recipeHash: recipe.contentHash, recipeSources: recipe.sources,
            repo: project.repo, version: project.version, excludeNewer: excludeNewer, interpreter: choice,
            toolchain: nil, venvPath: venv, strategy: strategy, projectInstall: attempts.last?.projectInstall, attempts: attempts, resolvedPackages: packages,
            manifestHashes: manifests.mapValues { SHA256.hex($0) }, envVars: envVars, testRunnerName: runnerName,
            testRunner: recipe.test.runners[runnerName]!, testTimeout: recipe.test.timeout, testLimits: recipe.test.limits,
            sourceRoot: python.sourceRoot, builtFrom: project.directory.path, buildLogPath: logPath,
            buildSeconds: Date().timeIntervalSince(started), builtAt: ISODates.format(Date()), reused: false)
    }

    /// Recreates the venv, runs one `uv pip install`, and classifies a failure from uv's output.
    private func runRung(_ rung: InstallStrategy, form: ProjectInstall, uv: String, interpreter: String, venv: String, arguments: [String],
                         environment: [String: String], project: ProjectSnapshot, directory: URL, sandbox: Sandbox?,
                         timeout: Double, buildLog: String) throws -> InstallAttempt {
        let started = Date()
        let label = rung.rawValue + (form == .copy ? "-copy" : "")
        let venvLog = directory.appendingPathComponent("venv-\(label).log").path
        let installLog = directory.appendingPathComponent("install-\(label).log").path
        let create = [uv, "venv", "--clear", "--python", interpreter, venv]
        // Byte-compile as pip does: the venv is read-only at test time, and a suite run with
        // `filterwarnings = error` turns compile-time warnings of old dependencies (invalid escape
        // sequences in blinker 1.4's docstrings) into SyntaxErrors when modules compile on import.
        let install = [uv, "pip", "install", "--compile-bytecode", "--python", venv + "/bin/python"] + arguments
        func fail(_ kind: EnvironmentFailure.Kind, _ reason: String, _ commandLine: String, _ log: String) -> InstallAttempt {
            Self.appendLog("# \(label) failed: \(kind.rawValue): \(reason)\n", to: buildLog)
            return InstallAttempt(strategy: rung, projectInstall: form, commandLine: commandLine, seconds: Date().timeIntervalSince(started),
                                  succeeded: false, failure: kind, reason: reason, logPath: log)
        }
        let createLine = create.joined(separator: " ")
        Self.appendLog("\n$ \(createLine)\n", to: buildLog)
        let created: CommandResult
        do {
            created = try tools.run(create, environment: environment, workingDirectory: project.directory.path,
                                    timeout: 120, logPath: venvLog, sandbox: sandbox)
        } catch {
            return fail(.internalError, "cannot run uv: \(error)", createLine, venvLog)
        }
        Self.appendLog(Self.readLog(venvLog), to: buildLog)
        guard created.succeeded else {
            return fail(.internalError, "uv venv failed: " + Self.decisiveLine(Self.readLog(venvLog)), createLine, venvLog)
        }
        let installLine = install.map { $0.contains(" ") ? "'\($0)'" : $0 }.joined(separator: " ")
        Self.appendLog("\n$ \(installLine)\n", to: buildLog)
        let result: CommandResult
        do {
            result = try tools.run(install, environment: environment, workingDirectory: project.directory.path,
                                   timeout: timeout, logPath: installLog, sandbox: sandbox)
        } catch {
            return fail(.internalError, "cannot run uv: \(error)", installLine, installLog)
        }
        let output = Self.readLog(installLog)
        Self.appendLog(output, to: buildLog)
        if result.succeeded {
            Self.appendLog("# \(label) succeeded in \(String(format: "%.1f", Date().timeIntervalSince(started))) s\n", to: buildLog)
            return InstallAttempt(strategy: rung, projectInstall: form, commandLine: installLine, seconds: Date().timeIntervalSince(started),
                                  succeeded: true, failure: nil, reason: nil, logPath: installLog)
        }
        if result.timedOut {
            return fail(.timeout, "uv pip install ran past \(Int(timeout)) s", installLine, installLog)
        }
        return fail(Self.classify(output), Self.decisiveLine(output), installLine, installLog)
    }

    /// The build backend resolved at the date has no PEP 660 `build_editable` hook.
    static func lacksEditableHook(_ output: String) -> Bool {
        output.contains("no attribute 'build_editable'") || output.contains("does not support editable")
            || output.contains("missing the `build_editable` hook")
    }

    /// `auto`: unittest when the project's tox/nox commands run it and nothing mentions pytest.
    private func chooseRunner(recipe: Recipe, python: PythonProject) -> String {
        if recipe.test.runner != "auto" { return recipe.test.runner }
        if python.mentionsUnittest && !python.mentionsPytest && recipe.test.runners["unittest"] != nil { return "unittest" }
        if recipe.test.runners["pytest"] != nil { return "pytest" }
        return recipe.test.runners.keys.sorted()[0]
    }

    /// What kind of failure uv's output shows.
    static func classify(_ output: String) -> EnvironmentFailure.Kind {
        let resolution = ["No solution found when resolving", "requirements are unsatisfiable",
                          "not found in the package registry", "there is no version of", "was not found in the package registry",
                          "Because there are no versions of", "is not available in the"]
        let build = ["Failed to build", "Failed to prepare distributions", "Build backend failed",
                     "Failed to download and build", "error: command '", "Failed to install"]
        let network = ["Failed to fetch", "error sending request", "dns error", "Connection refused", "Could not connect"]
        if resolution.contains(where: output.contains) { return .unresolvableDependency }
        if build.contains(where: output.contains) { return .buildFailure }
        if network.contains(where: output.contains) { return .networkFailure }
        return .buildFailure
    }

    /// The first `error:` line and its causes, as one line.
    static func decisiveLine(_ output: String) -> String {
        let lines = output.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        guard let start = lines.firstIndex(where: { $0.hasPrefix("error:") || $0.hasPrefix("×") }) else {
            return lines.last(where: { !$0.isEmpty }).map { String($0.prefix(400)) } ?? "no output"
        }
        var parts = [lines[start]]
        for line in lines[(start + 1)...] where parts.count < 4 {
            if line.hasPrefix("cause:") || line.hasPrefix("╰─▶") || line.hasPrefix("Caused by:") || line.hasPrefix("hint:") {
                parts.append(line)
            }
        }
        return String(parts.joined(separator: " — ").prefix(600))
    }

    static func readLog(_ path: String) -> String {
        (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    }

    /// Drops requirement lines that install the project itself (`-e .`, `.[test]`): the ladder
    /// installs the project its own way, and the copy in the cache folder is not the project root.
    /// A requirement on a branch archive or VCS URL (`werkzeug @ https://github.com/…/main.tar.gz`,
    /// `git+https://…/sphinx.git@96dbe5e3#egg=sphinx`) becomes the bare package name, which
    /// `--exclude-newer` resolves to its release as of the task date: the URL's content today is
    /// not the content at the task date, and test sandboxes have no route to code hosts. A URL that
    /// names no distribution is dropped (a commented line): the repository's name is not reliably
    /// the distribution's (pallets/jinja is `Jinja2`; PyPI's `jinja` is a 2008 release), and such
    /// development pins duplicate a dependency the project declares anyway. Local `file://`
    /// references and other lines are unchanged.
    static func datedInsteadOfURL(_ line: String) -> String {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        let requirement = (trimmed.components(separatedBy: " #").first ?? trimmed).trimmingCharacters(in: .whitespaces)
        let remote = #"^(git\+)?https?://"#
        if let at = requirement.range(of: " @ "),
           requirement[at.upperBound...].trimmingCharacters(in: .whitespaces).range(of: remote, options: .regularExpression) != nil {
            let name = requirement[..<at.lowerBound].trimmingCharacters(in: .whitespaces)
            let marker = requirement.range(of: ";").map { " " + requirement[$0.lowerBound...] } ?? ""
            return name + marker
        }
        let url = requirement.hasPrefix("-e ") ? String(requirement.dropFirst(3)).trimmingCharacters(in: .whitespaces) : requirement
        guard url.range(of: remote, options: .regularExpression) != nil else { return line }
        if let egg = url.range(of: "#egg=") { return String(url[egg.upperBound...].prefix { $0 != "&" }) }
        return "# forge: dropped, names no distribution: " + trimmed
    }

    static func datedInsteadOfURLs(_ data: Data) -> Data {
        guard let text = String(data: data, encoding: .utf8) else { return data }
        return Data(text.components(separatedBy: "\n").map(datedInsteadOfURL).joined(separator: "\n").utf8)
    }

    static func withoutSelfInstall(_ data: Data) -> Data {
        guard let text = String(data: data, encoding: .utf8) else { return data }
        let kept = text.components(separatedBy: "\n").filter { line in
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            let target = trimmed.hasPrefix("-e") ? trimmed.dropFirst(2).trimmingCharacters(in: .whitespaces)
                       : trimmed.hasPrefix("--editable") ? trimmed.dropFirst(10).trimmingCharacters(in: CharacterSet(charactersIn: " =")) : trimmed
            return !(target == "." || target.hasPrefix(".[") || target == "./" || target.hasPrefix("./["))
        }
        return Data(kept.joined(separator: "\n").utf8)
    }
}
