import Foundation
import Sandbox

/// The ecosystems Forge builds environments for.
public enum Ecosystem: String, Codable, Hashable, Sendable, CaseIterable {
    case python, swift, rust
}

/// One rung of the Python install ladder (environments.md, "Installing").
public enum InstallStrategy: String, Codable, Hashable, Sendable, CaseIterable {
    /// `-e .[test extras]` plus the runner's packages.
    case editableExtras = "editable-extras"
    /// The above plus test requirement files, tox `deps` and nox `session.install` packages.
    case editableExtrasRequirements = "editable-extras-requirements"
    /// No build of the project: its declared dependencies and the test requirements, source on PYTHONPATH.
    case dependenciesOnly = "dependencies-only"
}

/// Where a test run's per-test verdicts come from.
public enum TestReportKind: String, Codable, Hashable, Sendable, CaseIterable {
    /// A JUnit XML file at the `{junit}` path.
    case junit
    /// Only the log; parse it with the runner's `logFormat`.
    case log
}

/// A complete, merged recipe for one ecosystem (optionally with one repository's overrides applied).
///
/// Loaded from `Recipes/<ecosystem>.yaml` and `Recipes/repos/<owner>__<name>.yaml` by `RecipeBook`.
public struct Recipe: Codable, Hashable, Sendable {
    public var ecosystem: Ecosystem
    /// Marker files (glob patterns relative to the project root) that identify the ecosystem.
    public var markers: [String]
    /// When several ecosystems match, the highest priority wins.
    public var priority: Int
    /// Glob patterns of the dependency manifests whose contents key the environment cache.
    public var manifests: [String]
    public var interpreter: InterpreterPolicy
    public var toolchain: ToolchainSpec?
    public var install: InstallSpec
    public var test: TestSpec
    /// Recipe files merged into this one, in order (display paths such as `Recipes/python.yaml`).
    public var sources: [String]

    /// Which interpreter to choose (Python only).
    public struct InterpreterPolicy: Codable, Hashable, Sendable {
        /// Overrides whatever the project declares (a repository recipe's escape hatch).
        public var requires: String?
        /// Used when the project declares nothing (no requires-python, classifiers or tox envs).
        public var fallbackRequires: String?
        /// An interpreter counts as available at a date only this many days after its x.y.0 release:
        /// packages need time to publish wheels for a new Python.
        public var releaseMarginDays: Int
        /// Oldest version the environment tool can drive (uv needs Python 3.6+).
        public var minimum: String?
    }

    /// A toolchain to check instead of an interpreter (Swift, Rust).
    public struct ToolchainSpec: Codable, Hashable, Sendable {
        /// Program name looked up in PATH, e.g. `swift` or `cargo`.
        public var program: String
        /// Arguments that print the toolchain's version, e.g. `["--version"]`.
        public var versionArguments: [String]
        /// Commands run in the project directory that must succeed (offline resolution, manifest
        /// parse). Each may use `{tool}` and `{source}`.
        public var checks: [[String]]
    }

    public struct InstallSpec: Codable, Hashable, Sendable {
        public var ladder: [InstallStrategy]
        /// Extras tried for the editable install, when the project declares them.
        public var extras: [String]
        /// Glob patterns of test requirement files.
        public var requirementFiles: [String]
        /// Packages always installed (the test runner itself).
        public var packages: [String]
        /// Globs over distribution names (`pytest`, `pytest-*`): the test runner and its plugins,
        /// chosen for the interpreter when the release as of the task date cannot run on it.
        public var runnerPackages: [String]
        /// Plugins added after the install (pytest-timeout for per-test timeouts), each kept only
        /// where it resolves beside the installed runner and the runner still starts with it.
        public var runnerPlugins: [String]
        /// Globs over distribution names left out of test environments (linters, docs, task
        /// runners): they are no part of running tests, and old releases of them often no longer build.
        public var devTools: [String]
        public var env: [String: String]
        public var timeout: Double
        /// Sandbox limits for install steps (which run the project's build code).
        public var limits: ResourceLimits = .standard
    }

    public struct TestSpec: Codable, Hashable, Sendable {
        /// `auto` or a key of `runners`.
        public var runner: String
        public var runners: [String: TestRunnerSpec]
        /// Globs (root-relative, `*` within one path component) of the files whose text says how
        /// the project runs its tests — CI configurations, READMEs, contributing guides — read by
        /// `auto` together with tox and nox commands to find a runner script the project uses.
        public var evidence: [String] = []
        public var env: [String: String]
        public var timeout: Double
        /// Sandbox limits for test runs, agent shells and synthesis helpers.
        public var limits: ResourceLimits = .standard
        /// Loopback services started inside each test run's sandbox before the tests (an HTTP
        /// server the tests would otherwise reach over the network), by name; nil when none.
        public var services: [String: ServiceSpec]? = nil
    }

    /// Canonical SHA-256 of the recipe's content (not of where it came from).
    public var contentHash: String {
        var copy = self
        copy.sources = []
        // Services live in environments of their own: declaring one does not change what the
        // task's environment installs, so it must not rebuild it.
        copy.test.services = nil
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        // Finite values encode as before; a non-finite one gets a spelling instead of failing,
        // so no two recipes fall back to one hash.
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "+inf", negativeInfinity: "-inf", nan: "nan")
        let data = (try? encoder.encode(copy)) ?? Data() // plain strings, numbers and lists: cannot fail now
        return SHA256.hex(data)
    }
}

/// How to run one kind of test runner: an argv template and where its verdicts come from.
///
/// Placeholders: `{python}`, `{venv}`, `{source}`, `{junit}`, `{tool}` are replaced inside any
/// argument; an argument holding `{test_files}`, `{test_modules}`, `{script_test_modules}`,
/// `{swift_test_filters}` or `{cargo_test_targets}` is repeated once per item and dropped when
/// there are none.
public struct TestRunnerSpec: Codable, Hashable, Sendable {
    public var command: [String]
    public var report: TestReportKind
    /// Every JUnit file the run writes (templates over `{junit}`/`{junit_base}`); default `[{junit}]`.
    public var reports: [String]
    /// Log parser name for TestReports (`pytest`, `unittest`, `bin-test`, `xctest`, `cargo`).
    public var logFormat: String
    /// The project's own runner script this runner runs (`bin/test`, `tests/runtests.py`): `auto`
    /// chooses the runner when the script is there and the project's CI, docs or tox run it and
    /// never pytest. `{script_test_modules}` names test modules relative to the script's folder.
    public var script: String? = nil
    /// Command spellings (`nosetests`, `-m unittest`) that, found in the project's tox/nox
    /// commands, CI or docs with no mention of pytest anywhere, make `auto` choose this runner.
    public var invokedBy: [String]? = nil
    /// Environment for this runner's test runs, over `test.env`.
    public var env: [String: String]? = nil
    /// Distributions this runner needs beside `install.packages` (nose), installed with the project.
    public var packages: [String]? = nil

    /// `{junit_base}` is the JUnit path without its `.xml`.
    public static let scalarPlaceholders = ["python", "venv", "source", "junit", "junit_base", "tool"]
    public static let listPlaceholders = ["test_files", "test_modules", "script_test_modules", "swift_test_filters",
                                          "cargo_test_targets"]
}

/// A service a test run needs on loopback (`test.services.<name>`): its packages, installed from
/// PyPI into an environment of its own (newest releases, not the task's date: the service is
/// infrastructure, not the code under test), the command that serves on `{port}`, and the
/// environment variables that tell the tests where it is. Started inside the run's sandbox, in
/// its network namespace, so only that run reaches it.
public struct ServiceSpec: Codable, Hashable, Sendable {
    /// Distributions installed into the service's environment with uv (may be empty: the
    /// interpreter's standard library, `python -m http.server`).
    public var packages: [String]
    /// PEP 440 specifiers over the service's Python (`>=3.8`); nil: the newest installed.
    public var python: String?
    /// argv template: `{python}` and `{venv}` are the service environment's, `{port}` the port.
    public var command: [String]
    /// A fixed port; nil picks a free one on 127.0.0.1 per run.
    public var port: Int?
    /// Seconds to wait for the port to accept connections before the run fails as infrastructure.
    public var readyTimeout: Double
    /// Environment for the tests, with `{port}` (e.g. `HTTPBIN_URL: http://127.0.0.1:{port}/`).
    public var env: [String: String]

    public static let commandPlaceholders = ["python", "venv", "port"]
    public static let envPlaceholders = ["port"]
}

/// A recipe file that cannot be used: one line naming file, line and culprit.
public struct RecipeError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Display path, e.g. `Recipes/python.yaml`.
    public var file: String
    public var line: Int?
    public var message: String

    public init(file: String, line: Int?, message: String) {
        self.file = file; self.line = line; self.message = message
    }

    public var description: String {
        if let line { return "\(file):\(line): \(message)" }
        return "\(file): \(message)"
    }
}
