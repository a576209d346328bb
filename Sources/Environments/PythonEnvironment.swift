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

    /// `requirementIncludes`: manifests reached through `-r`/`-c` (requirement lines whatever their names).
    func preparePython(_ project: ProjectSnapshot, recipe: Recipe, manifests: [String: Data],
                       requirementIncludes: Set<String> = []) throws -> PreparedEnvironment {
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
        var catalog = interpreters()
        func rank() -> [InterpreterChoice] {
            let choices = InterpreterSelector.ranked(from: catalog, constraint: constraint, policy: recipe.interpreter, date: project.createdAt)
            guard choices.isEmpty, let wider = constraint.fallback?.constraint else { return choices }
            return InterpreterSelector.ranked(from: catalog, constraint: wider, policy: recipe.interpreter, date: project.createdAt)
        }
        var choices = rank()
        var installNote: String?
        if choices.isEmpty {
            // No installed interpreter fits: uv installs one where it can reach its downloads.
            let outcome = installInterpreter(constraint: constraint, policy: recipe.interpreter, date: project.createdAt, uv: uv)
            installNote = outcome.message
            if outcome.installed {
                catalog = rediscoverInterpreters()
                choices = rank()
            }
        }
        guard !choices.isEmpty else {
            let runtime = "missing \(constraint.text)"
            let key = Self.cacheKey(ecosystem: .python, recipe: recipe, runtime: runtime, manifests: manifests)
            let installed = catalog.interpreters.map { $0.version.description }
            throw recordPrebuildFailure(EnvironmentFailure(
                kind: .missingInterpreter,
                reason: "no installed interpreter satisfies \(constraint.text) (from \(constraint.source))"
                    + (recipe.interpreter.minimum.map { " and >=\($0)" } ?? "")
                    + "; installed: " + (installed.isEmpty ? "none" : installed.joined(separator: ", "))
                    + (installNote.map { "; \($0)" } ?? "")), key: key,
                identity: Self.identity(recipe: recipe, runtime: runtime, manifests: manifests))
        }
        // The runner is chosen from files beyond the manifests (a runner script, CI, docs): the
        // choice keys the cache too, so one set of manifests run two ways makes two environments.
        let runnerChoice = Self.chooseRunner(recipe: recipe, python: python, projectDirectory: project.directory)
        // The first choice, then (when it cannot build or resolve) the next installed interpreters
        // that satisfy the constraint: a dependency as of the date may have no wheel and no
        // buildable source for the newest Python, yet install on an older one.
        var fallbackNotes: [String] = installNote.map { [$0] } ?? []
        let attempts = min(choices.count, Self.maximumInterpreterAttempts)
        var index = 0
        while true {
            let choice = choices[index]
            let runtime = "cpython \(choice.interpreter.version) \(choice.interpreter.path)"
                + (runnerChoice.name == "pytest" ? "" : " runner \(runnerChoice.name)")
            let key = Self.cacheKey(ecosystem: .python, recipe: recipe, runtime: runtime, manifests: manifests)
            let identity = Self.identity(recipe: recipe, runtime: "cpython-\(choice.interpreter.version)", manifests: manifests)
            let notes = fallbackNotes
            do {
                return try withKey(key, identity: identity, build: { directory in
                    try buildPython(project, recipe: recipe, manifests: manifests, requirementIncludes: requirementIncludes,
                                    python: python, choice: choice, runnerChoice: runnerChoice, uv: uv, key: key,
                                    directory: directory, fallbackNotes: notes)
                }, isUsable: { ready in
                    ready.venvPath.map { FileManager.default.isExecutableFile(atPath: $0 + "/bin/python") } ?? false
                })
            } catch let failure as EnvironmentFailure
                where [.buildFailure, .unresolvableDependency].contains(failure.kind) && index + 1 < attempts {
                fallbackNotes.append("interpreter fallback: Python \(choice.interpreter.version.majorMinor) could not be used (\(failure.kind.rawValue): "
                                     + String(failure.reason.prefix(160)) + ")")
                index += 1
            }
        }
    }

    /// Installs, with `uv python install`, the newest CPython minor that satisfies the constraint
    /// and was released (plus the margin) before the date, else the oldest that satisfies it.
    /// Returns whether it installed and a line saying what happened (why not: uv's own reason,
    /// e.g. that its downloads cannot be reached from this machine).
    func installInterpreter(constraint: InterpreterSelector.Constraint, policy: Recipe.InterpreterPolicy, date: Date,
                            uv: String) -> (installed: Bool, message: String) {
        let minimum = policy.minimum.flatMap(PythonVersion.init)
        let margin = TimeInterval(policy.releaseMarginDays) * 86_400
        let minors = CPythonReleases.minorReleaseDates.keys.compactMap { PythonVersion($0) }
            .filter { version in constraint.accepts(version) && (minimum.map { version >= $0 } ?? true) }
        let released = minors.filter { CPythonReleases.releaseDate(of: $0).map { $0.addingTimeInterval(margin) <= date } ?? false }
        guard let wanted = released.max() ?? minors.min() else {
            return (false, "no CPython release satisfies \(constraint.text) for uv python install")
        }
        let argv = [uv, "python", "install", wanted.majorMinor]
        let result = try? tools.capture(argv, environment: ["UV_PYTHON_DOWNLOADS": "automatic", "NO_COLOR": "1"], timeout: 600)
        guard let result, result.status == 0 else {
            let reason = result.map { Self.decisiveLine($0.stderr + $0.stdout) } ?? "could not run uv"
            return (false, "uv python install \(wanted.majorMinor) failed (uv's Python downloads unreachable from this machine?): \(reason)")
        }
        return (true, "installed CPython \(wanted.majorMinor) with uv python install (no installed interpreter satisfied \(constraint.text))")
    }

    /// Interpreters tried per environment before the build counts as failed.
    static let maximumInterpreterAttempts = 3

    private func buildPython(_ project: ProjectSnapshot, recipe: Recipe, manifests: [String: Data],
                             requirementIncludes: Set<String>, python: PythonProject,
                             choice: InterpreterChoice, runnerChoice: (name: String, reason: String), uv: String, key: String,
                             directory: URL, fallbackNotes: [String] = []) throws -> PreparedEnvironment {
        let started = Date()
        let manager = FileManager.default
        let logPath = directory.appendingPathComponent("build.log").path
        _ = manager.createFile(atPath: logPath, contents: nil)
        let manifestDirectory = directory.appendingPathComponent("manifests")
        do {
            // A previous build's manifests must not stay beside this build's.
            if manager.fileExists(atPath: manifestDirectory.path) { try manager.removeItem(at: manifestDirectory) }
            var copies = manifests
            for (path, data) in manifests where RequirementIncludes.isRequirementFormat(path) || requirementIncludes.contains(path) {
                copies[path] = Self.withoutDevTools(Self.datedInsteadOfURLs(Self.withoutSelfInstall(data)),
                                                    recipe.install.devTools)
            }
            try Self.materialize(copies, in: manifestDirectory)
        } catch {
            throw EnvironmentFailure(kind: .internalError, reason: "cannot write manifests to \(manifestDirectory.path): \(error)", logPath: logPath)
        }
        // uv creates its cache itself when this fails; the directory is made here only so that
        // it exists before the sandbox binds it.
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
        // Projects that take their version from git (setuptools_scm, hatch-vcs, pdm-backend's scm
        // source, poetry-dynamic-versioning) cannot build from the exported tree, which has no
        // .git ("LookupError: unable to detect version"): they are told the version the miner found.
        for (name, value) in Self.pretendedVersion(project.version, project: python.name,
                                                   buildRequires: python.buildRequirements) { environment[name] = value }
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
        var adjustments: [String] = fallbackNotes
        for note in fallbackNotes { Self.appendLog("# \(note)\n", to: logPath) }
        var extras: [String] = []
        for extra in recipe.install.extras + python.toxExtras + python.selfReferencedExtras
        where python.extras[extra] != nil && !extras.contains(extra) { extras.append(extra) }
        let projectTarget = project.directory.path + (extras.isEmpty ? "" : "[\(extras.joined(separator: ","))]")
        var testRequirementArguments = python.requirementFiles.flatMap { ["-r", manifestDirectory.appendingPathComponent($0).path] }
        // tox writes file options glued to their value (`-rrequirements-dev.txt`); uv wants `-r FILE`.
        var extraLines = (python.toxDependencies(for: choice.interpreter.version) + python.otherTestRequirements)
            .map(Self.separatingFileOption).map(Self.datedInsteadOfURL).filter { !Self.isDevTool($0, recipe.install.devTools) }
        // A file named by tox or nox that the tree does not have (nox's downstream sessions install
        // another project's requirements from its clone) cannot be read: left out, and said.
        let absentFiles = extraLines.compactMap { line -> String? in
            guard let file = Self.includedFile(line), file.hasPrefix("/") || !FileManager.default.fileExists(
                atPath: project.directory.appendingPathComponent(file).path) else { return nil }
            return file
        }
        if !absentFiles.isEmpty {
            extraLines.removeAll { Self.includedFile($0).map(absentFiles.contains) ?? false }
            let note = "left out requirement files the tree does not have: " + absentFiles.joined(separator: ", ")
            adjustments.append(note)
            Self.appendLog("# \(note)\n", to: logPath)
        }
        if !extraLines.isEmpty {
            let url = manifestDirectory.appendingPathComponent(".forge-test-requirements.txt")
            try Self.writeBuildFile(extraLines.joined(separator: "\n") + "\n", to: url, logPath: logPath)
            testRequirementArguments += ["-r", url.path]
        }
        let hasTestRequirements = !testRequirementArguments.isEmpty
        let dependencyLines = (python.dependencies + extras.flatMap { python.extras[$0] ?? [] })
            .filter { !python.isSelfReference($0) && !Self.isDevTool($0, recipe.install.devTools) }.map(Self.datedInsteadOfURL)
            + python.rootRequirementFiles.map { "-r \($0)" }
        let constraintFile = manifestDirectory.appendingPathComponent(".forge-constraints.txt")
        try Self.writeBuildFile(Self.undatedBuildBackendConstraints, to: constraintFile, logPath: logPath)
        let dependencyFile = manifestDirectory.appendingPathComponent(".forge-dependencies.txt")
        try Self.writeBuildFile(dependencyLines.joined(separator: "\n") + "\n", to: dependencyFile, logPath: logPath)

        // setuptools_scm releases that cannot tell the project's name from a legacy setup.py
        // (`use_scm_version` with the name in setup.cfg) ignore the per-distribution variable;
        // every release reads a PKG-INFO at the root, as in an sdist. Written for the project's
        // checkout only, so dependencies keep their own versions.
        if python.takesVersionFromGit {
            let pkgInfo = project.directory.appendingPathComponent("PKG-INFO")
            var info = stat()
            if lstat(pkgInfo.path, &info) != 0 {
                let version = Self.pretendedVersionValue(project.version)
                try Self.writeBuildFile("Metadata-Version: 1.0\nName: \(python.name ?? "unknown")\nVersion: \(version)\n",
                                        to: pkgInfo, logPath: logPath)
                adjustments.append("version from git: PKG-INFO with version \(version) written for setuptools_scm (the tree has no .git)")
            }
        }
        // What the install writes into the checkout is found by comparing the export with what
        // is there after it; the PKG-INFO Forge writes (now or for an earlier build) is not the build's.
        let filesBeforeInstall = GeneratedFiles.pristineFiles(of: project.directory)
            .union(python.takesVersionFromGit ? ["PKG-INFO"] : [])
        let ladder = recipe.install.ladder
        // A build that runs another toolchain (a JavaScript bundle through npm) or fetches from the
        // network spends minutes per environment, if it can finish at all in the sandbox: such a
        // project is not built; its dependencies are installed and its source put on PYTHONPATH.
        let foreignBuild = ladder.contains(.dependenciesOnly) ? python.foreignBuildStep : nil
        if let foreignBuild {
            let note = "build bypassed: \(foreignBuild); dependencies only, source on PYTHONPATH"
            adjustments.append(note)
            Self.appendLog("# \(note)\n", to: logPath)
        }
        let rungs = ladder.filter { rung in
            switch rung {
            case .editableExtras: return foreignBuild == nil && (!hasTestRequirements || !ladder.contains(.editableExtrasRequirements))
            case .editableExtrasRequirements: return foreignBuild == nil && hasTestRequirements
            case .dependenciesOnly: return true
            }
        }
        // Byte-compile as pip does: the venv is read-only at test time, and a suite run with
        // `filterwarnings = error` turns compile-time warnings of old dependencies (invalid escape
        // sequences in blinker 1.4's docstrings) into SyntaxErrors when modules compile on import.
        // uv byte-compiles with a script that needs Python 3.7 (py_compile.PycInvalidationMode);
        // older interpreters compile with their own compileall after the install.
        let compilesWithUV = choice.interpreter.version >= PythonVersion([3, 7])
        // Requirements no release of which existed at the date (a plugin newer than the task),
        // each allowed its newest release, one at a time, as uv names them.
        var relaxed: [String] = []
        var attempts: [InstallAttempt] = []
        var succeeded: InstallStrategy?
        ladder: for rung in rungs {
            // Editable first; a project whose build backend (as of the date) predates PEP 660 has no
            // `build_editable` hook, so it is installed as a plain copy instead (the checkout still
            // wins at test time through PYTHONPATH).
            let forms: [ProjectInstall] = rung == .dependenciesOnly ? [.none] : [.editable, .copy]
            var formIndex = 0
            while formIndex < forms.count {
                let form = forms[formIndex]
                var requested: [String]
                switch (rung, form) {
                case (.dependenciesOnly, _): requested = ["-r", dependencyFile.path] + testRequirementArguments
                case (_, .editable): requested = ["-e", projectTarget]
                default: requested = [projectTarget]
                }
                if rung == .editableExtrasRequirements { requested += testRequirementArguments }
                requested += recipe.install.packages + (recipe.test.runners[runnerChoice.name]?.packages ?? [])
                let attempt = try runRung(rung, form: form, uv: uv, interpreter: choice.interpreter.path, venv: venv,
                                          arguments: (compilesWithUV ? ["--compile-bytecode"] : [])
                                            + ["--exclude-newer", excludeNewer] + Self.undatedBuildBackends
                                            + Self.undated(relaxed) + ["--constraint", constraintFile.path]
                                            + ["--build-constraint", constraintFile.path] + requested,
                                          environment: environment, project: project, directory: directory,
                                          sandbox: sandbox, timeout: recipe.install.timeout, buildLog: logPath)
                attempts.append(attempt)
                if attempt.succeeded { succeeded = rung; break ladder }
                let output = Self.readLog(attempt.logPath)
                if attempt.failure == .unresolvableDependency, relaxed.count < Self.maximumRelaxations,
                   let name = Self.filteredByDate(output).first(where: { !relaxed.contains($0) }) {
                    relaxed.append(name)
                    let note = "relaxed \(name): no release of it as of \(excludeNewer) fits; its newest release that does is allowed"
                    adjustments.append(note)
                    Self.appendLog("# \(note)\n", to: logPath)
                    continue
                }
                guard form == .editable, Self.lacksEditableHook(output) else { break }
                formIndex += 1
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
            let seed = [uv, "pip", "install"] + (compilesWithUV ? ["--compile-bytecode"] : [])
                + ["--python", venv + "/bin/python", "--exclude-newer", excludeNewer, "setuptools"]
            let seeded = try? tools.capture(seed, environment: environment, timeout: 300)
            Self.appendLog("\n$ " + seed.joined(separator: " ") + "\n" + (seeded.map { $0.stdout + $0.stderr } ?? "could not run uv\n"), to: logPath)
            // setuptools as of 2014 cannot import on Python 3.6 (importlib._bootstrap changed):
            // then the newest release that imports there (below 81, which has no pkg_resources).
            // The venv's Python runs the installed packages' .pth files: in the build's sandbox.
            let imports = try? tools.run([venv + "/bin/python", "-c", "import pkg_resources"], environment: [:],
                                         workingDirectory: project.directory.path, timeout: 120,
                                         logPath: directory.appendingPathComponent("pkg-resources.log").path, sandbox: sandbox)
            if imports?.succeeded != true {
                let reseed = [uv, "pip", "install"] + (compilesWithUV ? ["--compile-bytecode"] : [])
                    + ["--python", venv + "/bin/python", "--constraint", constraintFile.path, "--upgrade-package", "setuptools", "setuptools"]
                let reseeded = try? tools.capture(reseed, environment: environment, timeout: 300)
                let note = "setuptools as of \(excludeNewer) does not import on Python \(choice.interpreter.version); newest release below 81 installed"
                adjustments.append(note)
                Self.appendLog("# \(note)\n$ " + reseed.joined(separator: " ") + "\n" + (reseeded.map { $0.stdout + $0.stderr } ?? "could not run uv\n"), to: logPath)
            }
        }
        let runnerName = runnerChoice.name
        var runner = recipe.test.runners[runnerName]!
        Self.appendLog("# test runner: \(runnerName) (\(runnerChoice.reason))\n", to: logPath)
        if runnerName != "pytest" { adjustments.append("test runner \(runnerName): \(runnerChoice.reason)") }
        var toxEnvironment: [String: String] = [:]
        if runnerName == "pytest" {
            let toxOptions = ToxPytestSettings.options(fromCommands: python.testCommandLines)
            toxEnvironment = ToxPytestSettings.environment(fromSetenv: python.toxSetenv)
            if !toxOptions.isEmpty, let files = runner.command.firstIndex(where: { $0.contains("{test_files}") }) {
                runner.command.insert(contentsOf: toxOptions, at: files)
            }
            if !toxOptions.isEmpty || !toxEnvironment.isEmpty {
                let note = "from the project's tox/nox test command: "
                    + (toxOptions.isEmpty ? "" : "pytest options \(toxOptions.joined(separator: " "))")
                    + (toxOptions.isEmpty || toxEnvironment.isEmpty ? "" : "; ")
                    + (toxEnvironment.isEmpty ? "" : "environment " + toxEnvironment.keys.sorted().joined(separator: ", "))
                adjustments.append(note)
                Self.appendLog("# \(note)\n", to: logPath)
            }
            // The project's own specifiers for its runner packages bound the runner's upgrade.
            let requirementLines = manifests.filter { RequirementIncludes.isRequirementFormat($0.key) || requirementIncludes.contains($0.key) }
                .values.flatMap { String(decoding: $0, as: UTF8.self).components(separatedBy: "\n") } + extraLines
            let runnerPins = requirementLines.map { ($0.components(separatedBy: "#").first ?? "").trimmingCharacters(in: .whitespaces) }
                .filter { line in
                    line.contains(where: { "<>=~!".contains($0) }) && !line.contains("://")
                        && PythonProject.requirementName(line).map { Self.name($0, matches: recipe.install.runnerPackages) } == true
                }
            let fitted = try fitPytest(runner, uv: uv, venv: venv, directory: directory, excludeNewer: excludeNewer,
                                   runnerPins: runnerPins, recipe: recipe, environment: environment, sandbox: sandbox,
                                   compilesWithUV: compilesWithUV, logPath: logPath)
            runner = fitted.runner
            adjustments += fitted.notes
        }
        if !compilesWithUV {
            let compile = [venv + "/bin/python", "-m", "compileall", "-q", venv + "/lib"]
            let compileLog = directory.appendingPathComponent("compileall.log").path
            let compiled = try? tools.run(compile, environment: [:], workingDirectory: project.directory.path, timeout: 600,
                                          logPath: compileLog, sandbox: sandbox)
            Self.appendLog("\n$ " + compile.joined(separator: " ") + " (errors in files this Python cannot parse are ignored)\n"
                           + (compiled.map { _ in String(Self.readLog(compileLog).suffix(2000)) } ?? "could not run\n"), to: logPath)
        }
        let freeze = try? tools.capture([uv, "pip", "freeze", "--python", venv + "/bin/python"],
                                        environment: environment, timeout: 120)
        let packages = (freeze?.stdout ?? "").split(separator: "\n").map(String.init).filter { !$0.isEmpty }
        Self.appendLog("\n# resolved packages (\(packages.count)):\n" + packages.joined(separator: "\n") + "\n", to: logPath)

        let generatedDirectory = directory.appendingPathComponent("generated")
        var generated = GeneratedFiles.collect(from: project.directory, before: filesBeforeInstall, into: generatedDirectory)
        if !generated.isEmpty {
            let note = "generated by the install: \(generated.count) file(s) laid under each test tree ("
                + generated.prefix(3).joined(separator: ", ") + (generated.count > 3 ? ", …" : "") + ")"
            adjustments.append(note)
            Self.appendLog("# \(note)\n", to: logPath)
        }
        let fromRelease = takeReleaseFiles(python: python, project: project, uv: uv, venv: venv, excludeNewer: excludeNewer,
                                           environment: environment, sandbox: sandbox, directory: directory,
                                           overlay: generatedDirectory, logPath: logPath)
        if !fromRelease.isEmpty {
            generated += fromRelease.filter { !generated.contains($0) }
            let folders = Set(fromRelease.map { ($0 as NSString).deletingLastPathComponent }).sorted()
            let note = "taken from \(python.name ?? "the project")'s release as of \(excludeNewer): \(fromRelease.count) file(s) "
                + "the tree ignores and does not have, under " + folders.prefix(3).joined(separator: ", ") + (folders.count > 3 ? ", …" : "")
            adjustments.append(note)
            Self.appendLog("# \(note)\n", to: logPath)
        }

        var envVars = recipe.test.env.merging(runner.env ?? [:]) { $1 }.merging(toxEnvironment) { $1 }
        let interpreterBin = URL(fileURLWithPath: choice.interpreter.path).deletingLastPathComponent().path
        envVars["VIRTUAL_ENV"] = "{venv}"
        envVars["PATH"] = "{venv}/bin:\(interpreterBin):/usr/local/bin:/usr/bin:/bin"
        // The folders an editable install maps the project to say where its code is, whatever
        // the backend's configuration language; the static reading is the fallback.
        let installedRoots = Self.editableRoots(venv: venv, checkout: project.directory.path)
        let roots = installedRoots.isEmpty ? [python.sourceRoot] : installedRoots
        if roots != [python.sourceRoot] {
            Self.appendLog("# source roots from the editable install: \(roots.map { $0.isEmpty ? "." : $0 }.joined(separator: ", "))\n", to: logPath)
        }
        envVars["PYTHONPATH"] = roots.map { $0.isEmpty ? "{source}" : "{source}/\($0)" }.joined(separator: ":")
        return PreparedEnvironment(
            key: key, ecosystem: .python, recipeHash: recipe.contentHash, recipeSources: recipe.sources,
            repo: project.repo, version: project.version, excludeNewer: excludeNewer, interpreter: choice,
            toolchain: nil, venvPath: venv, strategy: strategy, projectInstall: attempts.last?.projectInstall, attempts: attempts, resolvedPackages: packages,
            manifestHashes: manifests.mapValues { SHA256.hex($0) }, envVars: envVars, testRunnerName: runnerName,
            testRunner: runner, testTimeout: recipe.test.timeout, testLimits: recipe.test.limits, adjustments: adjustments,
            generatedFiles: generated.isEmpty ? nil : generated, generatedDirectory: generated.isEmpty ? nil : generatedDirectory.path,
            sourceRoot: roots[0], builtFrom: project.directory.path, buildLogPath: logPath,
            buildSeconds: Date().timeIntervalSince(started), builtAt: ISODates.format(Date()), reused: false)
    }

    /// The release-files rung (`ReleaseFiles`): when the tree ignores files inside its own
    /// packages, the project's wheel as of the date is unpacked (binary only, so no build code
    /// runs; in the install sandbox) and the ignored files the tree lacks go into the overlay.
    private func takeReleaseFiles(python: PythonProject, project: ProjectSnapshot, uv: String, venv: String, excludeNewer: String,
                                  environment: [String: String], sandbox: Sandbox?, directory: URL, overlay: URL,
                                  logPath: String) -> [String] {
        guard let name = python.name else { return [] }
        let packages = ReleaseFiles.candidatePackages(tree: project.directory, sourceRoot: python.sourceRoot)
        guard !packages.isEmpty else { return [] }
        let release = directory.appendingPathComponent("release")
        defer { try? FileManager.default.removeItem(at: release) }
        let fetch = [uv, "pip", "install", "--python", venv + "/bin/python", "--no-deps", "--only-binary", ":all:",
                     "--target", release.path, "--exclude-newer", excludeNewer, name]
        let fetchLog = directory.appendingPathComponent("release-files.log").path
        let fetched = try? tools.run(fetch, environment: environment, workingDirectory: project.directory.path, timeout: 300,
                                     logPath: fetchLog, sandbox: sandbox)
        Self.appendLog("\n$ " + fetch.joined(separator: " ") + "\n" + String(Self.readLog(fetchLog).suffix(1000)), to: logPath)
        guard fetched?.succeeded == true else { return [] }
        // Best effort like the collection itself: a file that cannot be written is left out of
        // the list returned, and only listed files are treated as the release's.
        try? FileManager.default.createDirectory(at: overlay, withIntermediateDirectories: true)
        return ReleaseFiles.collect(release: release, tree: project.directory, sourceRoot: python.sourceRoot,
                                    packages: packages, into: overlay)
    }

    /// Writes a file a later command reads (a requirement or constraint list, the probe test,
    /// PKG-INFO): without it that command would fail for a reason it cannot name, or run
    /// unconstrained, so a failed write fails the build, naming the file.
    static func writeBuildFile(_ text: String, to url: URL, logPath: String) throws {
        do { try text.write(to: url, atomically: true, encoding: .utf8) } catch {
            throw EnvironmentFailure(kind: .internalError, reason: "cannot write \(url.path): \(error.localizedDescription)", logPath: logPath)
        }
    }

    /// The file of a `-r FILE` / `-c FILE` line (separated as uv wants it), else nil.
    static func includedFile(_ line: String) -> String? {
        let parts = line.trimmingCharacters(in: .whitespaces).split(separator: " ", maxSplits: 1).map(String.init)
        guard parts.count == 2, ["-r", "-c", "--requirement", "--constraint"].contains(parts[0]) else { return nil }
        return parts[1].trimmingCharacters(in: .whitespaces)
    }

    /// Folders of `checkout` (relative; "" for its root) that an editable install put on the
    /// import path: the lines of `.pth` files, and the package folders of setuptools' editable
    /// finder (`MAPPING = {'fontTools': '<checkout>/Lib/fontTools'}` → `Lib`). Files in the venv
    /// were written by build code, so they are read without following links, size-capped.
    static func editableRoots(venv: String, checkout: String) -> [String] {
        let manager = FileManager.default
        let prefix = URL(fileURLWithPath: checkout).standardizedFileURL.path
        var roots: [String] = []
        func add(_ path: String, parent: Bool) {
            var url = URL(fileURLWithPath: path).standardizedFileURL
            if parent { url.deleteLastPathComponent() }
            let absolute = url.path
            let relative: String
            if absolute == prefix { relative = "" } else if absolute.hasPrefix(prefix + "/") { relative = String(absolute.dropFirst(prefix.count + 1)) } else { return }
            if !roots.contains(relative) { roots.append(relative) }
        }
        let lib = venv + "/lib"
        for version in ((try? manager.contentsOfDirectory(atPath: lib)) ?? []).sorted() where version.hasPrefix("python") {
            let sitePackages = "\(lib)/\(version)/site-packages"
            for file in ((try? manager.contentsOfDirectory(atPath: sitePackages)) ?? []).sorted() {
                let isPth = file.hasSuffix(".pth"), isFinder = file.hasPrefix("__editable__") && file.hasSuffix("_finder.py")
                guard isPth || isFinder, let text = SafeFile.text(atPath: "\(sitePackages)/\(file)", maxBytes: 1 << 20) else { continue }
                if isPth {
                    for line in text.split(whereSeparator: \.isNewline) where line.hasPrefix("/") { add(String(line), parent: false) }
                } else if let mapping = text.range(of: #"MAPPING[^=]*=\s*\{[^}]*\}"#, options: .regularExpression) {
                    for path in PythonProject.stringLiterals(in: String(text[mapping])) where path.hasPrefix("/") { add(path, parent: true) }
                }
            }
        }
        return roots
    }

    /// `5.4` → `5.4.0`; `0.0.0` when the miner found no numeric version.
    static func pretendedVersionValue(_ version: String?) -> String {
        let parts = (version ?? "").split(separator: ".").prefix(3).map(String.init)
        let numeric = !parts.isEmpty && parts.allSatisfy { !$0.isEmpty && $0.allSatisfy(\.isNumber) }
        return numeric ? (parts + Array(repeating: "0", count: max(0, 3 - parts.count))).joined(separator: ".") : "0.0.0"
    }

    /// The environment variables that tell git-versioned build backends the version: the task's
    /// `major.minor` as `major.minor.0`, `0.0.0` when the miner found none. For the project only:
    /// setuptools_scm (and hatch-vcs) read a variable named after the distribution; a global one
    /// would also override the versions of dependencies built from sdists (lazy-object-proxy
    /// 1.10.0 then built as the project's version and uv refused it). pdm-backend's and
    /// poetry-dynamic-versioning's variables have no per-distribution form, so they are set only
    /// when the project's own build requires those backends.
    static func pretendedVersion(_ version: String?, project name: String?, buildRequires: [String]) -> [String: String] {
        let value = pretendedVersionValue(version)
        var variables: [String: String] = [:]
        if let name, !name.isEmpty {
            let distribution = name.uppercased().map { $0.isLetter || $0.isNumber ? String($0) : "_" }.joined()
            variables["SETUPTOOLS_SCM_PRETEND_VERSION_FOR_" + distribution] = value
        }
        let backends = Set(buildRequires.compactMap(PythonProject.requirementName))
        if backends.contains("pdm-backend") || backends.contains("pdm-pep517") { variables["PDM_BUILD_SCM_VERSION"] = value }
        if backends.contains("poetry-dynamic-versioning") { variables["POETRY_DYNAMIC_VERSIONING_BYPASS"] = value }
        return variables
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
        let install = [uv, "pip", "install", "--python", venv + "/bin/python"] + arguments
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

// MARK: - Rungs for repositories no recipe was tuned for

extension EnvironmentBuilder {
    /// Relaxations tried before a resolution failure is final.
    static let maximumRelaxations = 8

    /// `--exclude-newer-package NAME=…` lifting the date for each name.
    static func undated(_ names: [String]) -> [String] {
        names.flatMap { ["--exclude-newer-package", "\($0)=2100-01-01T00:00:00Z"] }
    }

    /// The packages uv says it could not use because of the date (``pkg` was filtered by
    /// `exclude-newer``), in the order it names them.
    static func filteredByDate(_ output: String) -> [String] {
        var names: [String] = []
        for name in PythonProject.matches(#"`([A-Za-z0-9][A-Za-z0-9._\-]*)` was filtered by `exclude-newer`"#, in: output)
        where !names.contains(PythonProject.normalize(name)) {
            names.append(PythonProject.normalize(name))
        }
        return names
    }

    /// Whether a normalized distribution name matches one of the globs (`pytest-*`).
    static func name(_ name: String, matches patterns: [String]) -> Bool {
        patterns.contains { fnmatch(PythonProject.normalize($0), name, 0) == 0 }
    }

    /// Whether a requirement line names a dev-only tool.
    static func isDevTool(_ line: String, _ patterns: [String]) -> Bool {
        PythonProject.requirementName(line).map { name($0, matches: patterns) } ?? false
    }

    /// A requirement file's bytes with dev-only tools' lines commented out (named, for the log).
    static func withoutDevTools(_ data: Data, _ patterns: [String]) -> Data {
        guard !patterns.isEmpty, let text = String(data: data, encoding: .utf8) else { return data }
        return Data(text.components(separatedBy: "\n").map { line in
            isDevTool(line, patterns) ? "# forge: dev-only tool left out: " + line : line
        }.joined(separator: "\n").utf8)
    }

    /// The pytest command a test run uses, fitted to this environment: the runner must start on
    /// the interpreter (a pytest as of 2013 may not run on the oldest Python uv drives; then the
    /// runner and its plugins are upgraded to their newest releases for it), and only options the
    /// installed pytest knows are passed (`-o` came in pytest 3).
    func fitPytest(_ runner: TestRunnerSpec, uv: String, venv: String, directory: URL, excludeNewer: String,
                   runnerPins: [String], recipe: Recipe, environment: [String: String], sandbox: Sandbox?,
                   compilesWithUV: Bool, logPath: String) throws -> (runner: TestRunnerSpec, notes: [String]) {
        var notes: [String] = []
        let python = venv + "/bin/python"
        let probeDirectory = directory.appendingPathComponent("probe")
        do { try FileManager.default.createDirectory(at: probeDirectory, withIntermediateDirectories: true) } catch {
            throw EnvironmentFailure(kind: .internalError, reason: "cannot create \(probeDirectory.path): \(error.localizedDescription)", logPath: logPath)
        }
        let probeFile = probeDirectory.appendingPathComponent("test_forge_probe.py")
        // An assertion, so that assertion rewriting (which breaks first on a newer Python) runs.
        try Self.writeBuildFile("def test_forge_probe():\n    value = [1]\n    assert value == [1]\n", to: probeFile, logPath: logPath)
        var testEnvironment = recipe.test.env
        testEnvironment["PYTHONDONTWRITEBYTECODE"] = "1"
        func run(_ argv: [String], _ name: String, timeout: Double = 120) -> (ok: Bool, output: String) {
            let log = directory.appendingPathComponent(name).path
            Self.appendLog("\n$ " + argv.joined(separator: " ") + "\n", to: logPath)
            let result = try? tools.run(argv, environment: argv.first == uv ? environment : testEnvironment,
                                        workingDirectory: probeDirectory.path, timeout: timeout, logPath: log, sandbox: sandbox)
            let output = Self.readLog(log)
            Self.appendLog(String(output.suffix(4000)), to: logPath)
            return (result?.succeeded ?? false, output)
        }
        let probe = [python, "-m", "pytest", "-p", "no:cacheprovider", probeFile.path]
        let startsDated = run(probe, "probe.log").ok
        if !startsDated {
            let before = runnerPackages(venv: venv, uv: uv, environment: environment, patterns: recipe.install.runnerPackages)
            let names = before.isEmpty ? ["pytest"] : before.map(\.name)
            // Undated, runner and its dependencies alike: the newest releases for this interpreter
            // (uv honours their Requires-Python), within the build-backend constraint.
            let upgrade = [uv, "pip", "install"] + (compilesWithUV ? ["--compile-bytecode"] : [])
                + ["--python", python, "--constraint", directory.appendingPathComponent("manifests/.forge-constraints.txt").path]
                + names.flatMap { ["--upgrade-package", $0] } + names
            // Within the project's own specifiers first (`pytest<8`); without them when they hold
            // only releases that cannot run here (an exact pin of a 2013 pytest).
            let pinFile = directory.appendingPathComponent("runner-specifiers.txt")
            try Self.writeBuildFile(runnerPins.joined(separator: "\n") + "\n", to: pinFile, logPath: logPath)
            var upgraded = run(upgrade + ["--constraint", pinFile.path], "install-runner.log", timeout: recipe.install.timeout)
            if !runnerPins.isEmpty && !(upgraded.ok && run(probe, "probe-pinned.log").ok) {
                notes.append("the project's specifiers for its runner (\(runnerPins.joined(separator: ", "))) hold no release that starts here")
                Self.appendLog("# \(notes.last!)\n", to: logPath)
                upgraded = run(upgrade, "install-runner-unpinned.log", timeout: recipe.install.timeout)
            }
            let after = runnerPackages(venv: venv, uv: uv, environment: environment, patterns: recipe.install.runnerPackages)
            let describe = { (list: [(name: String, version: String)]) in list.map { "\($0.name) \($0.version)" }.joined(separator: ", ") }
            if upgraded.ok && run(probe, "probe-upgraded.log").ok {
                notes.append("test runner chosen for the interpreter: \(describe(before)) as of \(excludeNewer) did not start; "
                             + "newest releases that do: \(describe(after))")
            } else {
                notes.append("test runner does not start on this interpreter (\(describe(after))), dated or newest")
            }
            Self.appendLog("# \(notes.last!)\n", to: logPath)
        }
        // Plugins the run's options use (pytest-timeout's `--timeout`): resolved as of the date
        // beside the installed runner, which must still start with them; else removed again, and
        // the options they would have given are left out below.
        for plugin in recipe.install.runnerPlugins {
            let pins = runnerPackages(venv: venv, uv: uv, environment: environment, patterns: recipe.install.runnerPackages)
                .filter { $0.name == "pytest" }.map { "\($0.name)==\($0.version)" }
            let constraints = directory.appendingPathComponent("runner-pins.txt")
            try Self.writeBuildFile(pins.joined(separator: "\n") + "\n", to: constraints, logPath: logPath)
            // Dated beside a dated runner; the newest that fits beside an upgraded one.
            let add = [uv, "pip", "install"] + (compilesWithUV ? ["--compile-bytecode"] : []) + ["--python", python]
                + (startsDated ? ["--exclude-newer", excludeNewer] + Self.undatedBuildBackends : []) + ["--constraint", constraints.path, plugin]
            if run(add, "install-\(plugin).log").ok && run(probe, "probe-\(plugin).log").ok { continue }
            _ = run([uv, "pip", "uninstall", "--python", python, plugin], "uninstall-\(plugin).log")
            notes.append("\(plugin) left out: it does not install or start beside this test runner")
            Self.appendLog("# \(notes.last!)\n", to: logPath)
        }
        var fitted = runner
        let help = run([python, "-m", "pytest", "--help"], "pytest-help.log")
        if help.ok {
            let supported = Self.supportedOptions(runner.command, help: help.output)
            fitted.command = supported.command
            if !supported.dropped.isEmpty {
                notes.append("pytest options this pytest lacks, left out: " + supported.dropped.joined(separator: " "))
                Self.appendLog("# \(notes.last!)\n", to: logPath)
            }
        }
        return (fitted, notes)
    }

    /// Installed distributions matching the runner globs, as (normalized name, version).
    private func runnerPackages(venv: String, uv: String, environment: [String: String],
                                patterns: [String]) -> [(name: String, version: String)] {
        let freeze = try? tools.capture([uv, "pip", "freeze", "--python", venv + "/bin/python"], environment: environment, timeout: 120)
        return (freeze?.stdout ?? "").split(separator: "\n").compactMap { line -> (name: String, version: String)? in
            let parts = line.components(separatedBy: "==")
            guard parts.count == 2 else { return nil }
            let name = PythonProject.normalize(parts[0])
            guard Self.name(name, matches: patterns) else { return nil }
            return (name, parts[1])
        }
    }

    /// A long option without its dashes and underscores: how aliases differ.
    static func optionKey(_ option: String) -> String {
        option.filter { $0 != "-" && $0 != "_" }
    }

    /// The runner's argv without the options (after the `pytest` argument) that `help` does not
    /// list; an option written as two arguments (`-o junit_family=xunit1`) goes with its value.
    static func supportedOptions(_ command: [String], help: String) -> (command: [String], dropped: [String]) {
        guard let start = command.firstIndex(of: "pytest") else { return (command, []) }
        // Help lists one spelling of aliases (`--junit-xml` for `--junitxml`).
        let longOptions = Set(PythonProject.matches(#"(--[A-Za-z0-9][A-Za-z0-9_-]*)"#, in: help).map(optionKey))
        var kept = Array(command[...start])
        var dropped: [String] = []
        var index = start + 1
        while index < command.count {
            let argument = command[index]
            let isPlaceholderList = TestRunnerSpec.listPlaceholders.contains { argument.contains("{\($0)}") }
            guard argument.hasPrefix("-"), argument.count >= 2, !isPlaceholderList else {
                kept.append(argument); index += 1; continue
            }
            let name = argument.hasPrefix("--") ? String(argument.prefix { $0 != "=" }) : String(argument.prefix(2))
            var width = 1
            if argument.count == 2, index + 1 < command.count, !command[index + 1].hasPrefix("-"),
               !TestRunnerSpec.listPlaceholders.contains(where: { command[index + 1].contains("{\($0)}") }) {
                width = 2
            }
            let known = name.hasPrefix("--")
                ? longOptions.contains(Self.optionKey(name))
                : help.range(of: #"(^|[\s,])"# + NSRegularExpression.escapedPattern(for: name) + #"([\s,=\[]|$)"#,
                             options: [.regularExpression]) != nil
            if known {
                kept += command[index..<(index + width)]
            } else {
                dropped += command[index..<(index + width)]
            }
            index += width
        }
        return (kept, dropped)
    }
}
