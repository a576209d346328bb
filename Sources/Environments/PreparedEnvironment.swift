import Foundation
import Sandbox
import Store

/// A project as the environment builder sees it: where its checkout is and as of when to resolve.
public struct ProjectSnapshot: Sendable {
    /// The checkout to build from (editable installs point here) and, by default, to test in.
    public var directory: URL
    /// `owner/name`, for repository recipes.
    public var repo: String?
    /// The task's `version` (`major.minor`), for version-ranged repository recipes.
    public var version: String?
    /// Packages uploaded after this instant are invisible (uv `--exclude-newer`); interpreters
    /// released after it are not chosen.
    public var createdAt: Date
    /// Where the dependency manifests that key the environment come from.
    public var manifests: ManifestSource

    public init(directory: URL, repo: String? = nil, version: String? = nil, createdAt: Date,
                manifests: ManifestSource = .projectDirectory) {
        self.directory = directory; self.repo = repo; self.version = version
        self.createdAt = createdAt; self.manifests = manifests
    }
}

extension ProjectSnapshot {
    /// The snapshot for a task checked out at `directory`; nil when `created_at` is not ISO-8601.
    public init?(task: TaskRecord, directory: URL, manifests: ManifestSource = .projectDirectory) {
        guard let date = ISODates.parse(task.createdAt) else { return nil }
        self.init(directory: directory, repo: task.repo, version: task.version, createdAt: date, manifests: manifests)
    }
}

/// The dependency manifests (at `environment_setup_commit`) an environment is built from.
public enum ManifestSource: Sendable {
    /// Read the recipe's manifest patterns from the project checkout itself.
    case projectDirectory
    /// Read them from another checkout (e.g. of `environment_setup_commit`).
    case directory(URL)
    /// Given directly: path relative to the project root → bytes.
    case files([String: Data])
}

/// A toolchain found for a Swift or Rust project.
public struct ToolchainInfo: Codable, Hashable, Sendable {
    /// Absolute path of the program (`swift`, `cargo`).
    public var path: String
    /// First line of its version output.
    public var version: String
}

/// How the project itself got into a Python environment.
public enum ProjectInstall: String, Codable, Hashable, Sendable {
    /// `uv pip install -e .` (PEP 660).
    case editable
    /// A regular (non-editable) install, for build backends too old for PEP 660 at the date.
    case copy
    /// Not installed; importable through PYTHONPATH only (dependencies-only rung).
    case none
}

/// One rung of the install ladder as it ran.
public struct InstallAttempt: Codable, Hashable, Sendable {
    public var strategy: InstallStrategy
    public var projectInstall: ProjectInstall
    public var commandLine: String
    public var seconds: Double
    public var succeeded: Bool
    /// nil when it succeeded.
    public var failure: EnvironmentFailure.Kind?
    /// The decisive line of the tool's output when it failed.
    public var reason: String?
    public var logPath: String
}

/// A ready environment: where it is, how it was made, and how to run tests in it.
/// Persisted as `environment.json` in its cache folder; `Codable` for the Store.
public struct PreparedEnvironment: Codable, Hashable, Sendable {
    /// Cache key: SHA-256 of recipe, interpreter/toolchain and manifest contents.
    public var key: String
    public var ecosystem: Ecosystem
    public var recipeHash: String
    public var recipeSources: [String]
    public var repo: String?
    public var version: String?
    /// The `--exclude-newer` instant the packages were resolved at (ISO-8601).
    public var excludeNewer: String
    public var interpreter: InterpreterChoice?
    public var toolchain: ToolchainInfo?
    /// The virtual environment (Python only).
    public var venvPath: String?
    /// The install rung that worked (Python only).
    public var strategy: InstallStrategy?
    /// How the project itself was installed by that rung (Python only).
    public var projectInstall: ProjectInstall?
    public var attempts: [InstallAttempt]
    /// `uv pip freeze` lines (Python only).
    public var resolvedPackages: [String]
    /// Manifest path → SHA-256 of its bytes.
    public var manifestHashes: [String: String]
    /// Environment variables for test runs, with `{source}`/`{venv}`/`{python}`/`{tool}` unresolved.
    public var envVars: [String: String]
    public var testRunnerName: String
    public var testRunner: TestRunnerSpec
    public var testTimeout: Double
    /// Sandbox limits for test runs in this environment (nil in environments cached before
    /// recipes had limits: the standard ones).
    public var testLimits: ResourceLimits? = nil
    /// What the builder changed from the plain recipe to make the environment, one line each
    /// (requirements relaxed, test runner chosen for the interpreter, options left out, build
    /// bypassed); nil or empty when nothing. Also in the build log and the Store's strategy.
    public var adjustments: [String]? = nil
    /// Files the install generated inside the checkout (relative paths), kept in
    /// `generatedDirectory` and laid under every test tree (`GeneratedFiles`); nil when none.
    public var generatedFiles: [String]? = nil
    public var generatedDirectory: String? = nil
    /// Importable code relative to the project root (`src` or empty), put on PYTHONPATH.
    public var sourceRoot: String
    /// The checkout the environment was built from.
    public var builtFrom: String
    public var buildLogPath: String
    public var buildSeconds: Double
    /// ISO-8601 time the build finished.
    public var builtAt: String
    /// True when `prepare` found this environment in the cache instead of building it.
    public var reused: Bool
    /// The recipe's loopback services, ready to start in each test run (`ServiceLauncher`); nil
    /// when it declares none. Attached by `prepare` on every request, never cached with the
    /// environment: services have environments (and cache keys) of their own.
    public var services: [PreparedService]? = nil

    public var sandboxLimits: ResourceLimits { testLimits ?? .standard }

    /// Paths a sandboxed test run must see: the venv and the installation of the interpreter it
    /// links to (which may sit in a home the sandbox hides, e.g. pyenv's); nothing for toolchains.
    public var readOnlyPaths: [String] {
        guard let venvPath else { return [] }
        return [venvPath] + (interpreter.flatMap { Self.installationPrefix(of: $0.interpreter.path) }.map { [$0] } ?? [])
    }

    /// The folder of every cached environment (`<root>/envs` for `<root>/envs/<key>/venv`): hidden
    /// from sandboxed runs, which see only their own venv, bound back on top.
    public var neighbouringEnvironments: [String] {
        venvPath.map { [URL(fileURLWithPath: $0).deletingLastPathComponent().deletingLastPathComponent().path] } ?? []
    }

    /// `<prefix>` of `<prefix>/bin/python3.x` after symlinks, unless the system's own (/usr).
    static func installationPrefix(of interpreter: String) -> String? {
        let resolved = URL(fileURLWithPath: interpreter).resolvingSymlinksInPath()
        let prefix = resolved.deletingLastPathComponent().deletingLastPathComponent().path
        return ["/", "/usr", "/usr/local"].contains(prefix) ? nil : prefix
    }

    /// The test argv for the given test files (paths relative to the project root), writing JUnit
    /// XML to `junitPath` when the runner supports it. Empty `testFiles` runs everything.
    public func testCommand(for testFiles: [String], junitPath: String, projectDirectory: String? = nil) -> [String] {
        let scalars = placeholderValues(projectDirectory: projectDirectory, junitPath: junitPath)
        let lists: [String: [String]] = [
            "test_files": testFiles,
            "test_modules": TestSelectors.pythonModules(testFiles),
            "script_test_modules": TestSelectors.pythonModules(testFiles, relativeTo: testRunner.script.map {
                ($0 as NSString).deletingLastPathComponent }),
            "swift_test_filters": TestSelectors.swiftFilters(testFiles),
            "cargo_test_targets": TestSelectors.cargoTargets(testFiles),
        ]
        var argv: [String] = []
        for argument in testRunner.command {
            if let list = TestRunnerSpec.listPlaceholders.first(where: { argument.contains("{\($0)}") }) {
                for item in lists[list] ?? [] {
                    argv.append(Self.substitute(argument.replacingOccurrences(of: "{\(list)}", with: item), scalars))
                }
            } else {
                argv.append(Self.substitute(argument, scalars))
            }
        }
        return argv
    }

    /// Every JUnit XML file a run with this `junitPath` writes (Swift Testing adds its own file).
    public func reportFiles(junitPath: String) -> [String] {
        let scalars = placeholderValues(projectDirectory: nil, junitPath: junitPath)
        return testRunner.reports.map { Self.substitute($0, scalars) }
    }

    /// Environment variables for a test run in `projectDirectory` (default: the build checkout).
    public func testEnvironment(projectDirectory: String? = nil) -> [String: String] {
        let scalars = placeholderValues(projectDirectory: projectDirectory, junitPath: "")
        return envVars.mapValues { Self.substitute($0, scalars) }
    }

    /// Whether the runner writes JUnit XML (else the log must be parsed with `testRunner.logFormat`).
    public var writesJUnit: Bool { testRunner.report == .junit }

    private func placeholderValues(projectDirectory: String?, junitPath: String) -> [String: String] {
        let junitBase = junitPath.hasSuffix(".xml") ? String(junitPath.dropLast(4)) : junitPath
        var values = ["source": projectDirectory ?? builtFrom, "junit": junitPath, "junit_base": junitBase]
        if let venvPath { values["venv"] = venvPath; values["python"] = venvPath + "/bin/python" }
        if let toolchain { values["tool"] = toolchain.path }
        return values
    }

    static func substitute(_ text: String, _ values: [String: String]) -> String {
        var result = text
        for (name, value) in values { result = result.replacingOccurrences(of: "{\(name)}", with: value) }
        return result
    }
}

/// Why an environment could not be made. Recorded (as `failure.json`) and thrown by `prepare`.
public struct EnvironmentFailure: Error, Codable, Hashable, Sendable, CustomStringConvertible {
    public enum Kind: String, Codable, Hashable, Sendable {
        /// No ecosystem's marker files are present.
        case noProjectDetected = "no-project-detected"
        case invalidRecipe = "invalid-recipe"
        /// A manifest states something unreadable (e.g. a broken requires-python).
        case invalidManifest = "invalid-manifest"
        /// No installed interpreter satisfies the project's constraint.
        case missingInterpreter = "missing-interpreter"
        /// The Swift/Rust toolchain (or uv) is not installed.
        case missingToolchain = "missing-toolchain"
        /// The dependencies cannot be resolved as of the date (or offline).
        case unresolvableDependency = "unresolvable-dependency"
        /// Building the project or a dependency failed.
        case buildFailure = "build-failure"
        case timeout
        case networkFailure = "network-failure"
        /// A toolchain check (manifest parse) failed for another reason.
        case toolchainCheckFailed = "toolchain-check-failed"
        /// Forge could not run a command or write its cache.
        case internalError = "internal-error"
    }

    /// What the cache key was computed from.
    public struct Identity: Codable, Hashable, Sendable {
        /// The most specific recipe file (a repository override, else the ecosystem recipe).
        public var recipeName: String
        public var recipeHash: String
        /// `cpython-3.11.7`, a toolchain's version line, or `missing <constraint>`.
        public var runtime: String
        public var manifestsHash: String
    }

    public var kind: Kind
    /// One line naming the culprit.
    public var reason: String
    /// Cache key when one was computed.
    public var key: String?
    /// Set whenever `key` is.
    public var identity: Identity?
    public var logPath: String?
    public var attempts: [InstallAttempt]
    public var recordedAt: String
    /// `EnvironmentBuilder.revision` of the Forge that failed; nil in records older than the field.
    public var builderRevision: Int?

    public init(kind: Kind, reason: String, key: String? = nil, logPath: String? = nil, attempts: [InstallAttempt] = []) {
        self.kind = kind; self.reason = reason; self.key = key; self.logPath = logPath; self.attempts = attempts
        self.recordedAt = ISODates.format(Date())
        self.builderRevision = EnvironmentBuilder.revision
    }

    public var description: String {
        "\(kind.rawValue): \(reason)" + (logPath.map { " (log: \($0))" } ?? "")
    }
}

/// Maps test files to the selectors each runner takes.
enum TestSelectors {
    /// `tests/test_x.py` → `tests.test_x` (and `src/` stripped). With `folder` (a runner script's,
    /// such as Django's `tests` for `tests/runtests.py`), files inside it are named relative to it:
    /// `tests/admin_views/tests.py` → `admin_views.tests`, the labels such a script takes.
    static func pythonModules(_ files: [String], relativeTo folder: String? = nil) -> [String] {
        unique(files.filter { $0.hasSuffix(".py") }.map { file -> String in
            var path = String(file.dropLast(3))
            if let folder, !folder.isEmpty, path.hasPrefix(folder + "/") {
                path.removeFirst(folder.count + 1)
            } else if path.hasPrefix("src/") {
                path.removeFirst(4)
            }
            return path.replacingOccurrences(of: "/", with: ".")
        })
    }

    /// `Tests/FooTests/BarTests.swift` → `^FooTests\.` (all tests of that test target).
    static func swiftFilters(_ files: [String]) -> [String] {
        unique(files.compactMap { file -> String? in
            let parts = file.split(separator: "/")
            guard let index = parts.firstIndex(of: "Tests"), index + 2 < parts.count else { return nil }
            return "^\(parts[index + 1])\\."
        })
    }

    /// `tests/foo.rs` or `tests/foo/main.rs` → `--test=foo`; files under `src/` → `--lib`.
    static func cargoTargets(_ files: [String]) -> [String] {
        unique(files.compactMap { file -> String? in
            let parts = file.split(separator: "/").map(String.init)
            if let index = parts.lastIndex(of: "tests"), index + 1 < parts.count {
                let name = parts[index + 1]
                return "--test=" + (name.hasSuffix(".rs") ? String(name.dropLast(3)) : name)
            }
            if parts.contains("src") { return "--lib" }
            return nil
        })
    }

    private static func unique(_ items: [String]) -> [String] {
        var seen = Set<String>()
        return items.filter { seen.insert($0).inserted }
    }
}

// MARK: - Store rows

extension PreparedEnvironment {
    /// One hash over all manifest contents (the Store's `manifests_hash`).
    public var manifestsHash: String { EnvironmentBuilder.manifestsHash(manifestHashes) }

    /// The Store's row for this environment.
    public var storeRecord: EnvironmentRecord {
        let runtime = interpreter.map { "cpython-\($0.interpreter.version)" } ?? toolchain?.version ?? ""
        return EnvironmentRecord(
            key: key, recipeName: recipeSources.last ?? ecosystem.rawValue, recipeHash: recipeHash, interpreter: runtime,
            manifestsHash: manifestsHash, status: .built,
            strategy: strategy.map { "\($0.rawValue)/\((projectInstall ?? .none).rawValue)" + (adjustments ?? []).map { "; " + $0 }.joined() },
            resolvedPackages: resolvedPackages.sorted(), buildSeconds: buildSeconds, logPath: buildLogPath,
            error: nil, createdAt: ISODates.parse(builtAt) ?? Date())
    }
}

extension EnvironmentFailure {
    /// The Store's row for this failure; nil when no key was computed (nothing detected, bad recipe).
    public var storeRecord: EnvironmentRecord? {
        guard let key, let identity else { return nil }
        return EnvironmentRecord(
            key: key, recipeName: identity.recipeName, recipeHash: identity.recipeHash, interpreter: identity.runtime,
            manifestsHash: identity.manifestsHash, status: .failed, strategy: attempts.last?.strategy.rawValue,
            resolvedPackages: [], buildSeconds: attempts.reduce(0) { $0 + $1.seconds }, logPath: logPath,
            error: description, createdAt: ISODates.parse(recordedAt) ?? Date())
    }
}
