import Foundation
import Sandbox
import XCTest
@testable import Environments

/// Real uv against PyPI, real interpreters, real pytest runs. Packages resolve as of fixed past
/// dates, so the expected versions are stable.
final class PythonEnvironmentTests: XCTestCase {
    private let testModule = """
    import demo

    def test_answer():
        assert demo.answer() == 42

    def test_name():
        assert demo.__name__ == "demo"
    """

    func testPyprojectWithTestExtraBuildsDatePinnedEnvironmentAndRunsPytest() throws {
        let project = Fixture.project([
            "pyproject.toml": """
            [build-system]
            requires = ["setuptools>=61"]
            build-backend = "setuptools.build_meta"

            [project]
            name = "demo"
            version = "0.1.0"
            requires-python = ">=3.8"
            dependencies = []

            [project.optional-dependencies]
            test = ["pytest"]

            [tool.setuptools]
            py-modules = ["demo"]
            """,
            "demo.py": "def answer():\n    return 42\n",
            "tests/test_demo.py": testModule,
        ])
        let builder = try Fixture.builder()
        let date = Fixture.date("2023-01-01T00:00:00Z")
        let snapshot = ProjectSnapshot(directory: project, repo: "acme/demo", version: "0.1", createdAt: date)

        let started = Date()
        let environment = try builder.prepare(snapshot)
        let firstSeconds = Date().timeIntervalSince(started)

        // Interpreter: the newest installed one that satisfies >=3.8 and existed 30 days before the date.
        let expectedMinor = Fixture.expectedMinor({ $0 >= PythonVersion([3, 8]) }, date: date)
        XCTAssertNotNil(expectedMinor)
        XCTAssertEqual(environment.interpreter?.interpreter.version.majorMinor, expectedMinor)
        XCTAssertTrue(Fixture.interpreters.interpreters.contains(environment.interpreter!.interpreter))
        XCTAssertEqual(environment.interpreter?.constraint, ">=3.8")

        XCTAssertEqual(environment.strategy, .editableExtras)
        XCTAssertEqual(environment.projectInstall, .editable)
        XCTAssertEqual(environment.attempts.map(\.strategy), [.editableExtras])
        XCTAssertTrue(environment.attempts[0].commandLine.contains("--exclude-newer 2023-01-01T00:00:00Z"),
                      environment.attempts[0].commandLine)
        XCTAssertTrue(environment.attempts[0].commandLine.contains("[test]"), environment.attempts[0].commandLine)
        // pytest 7.2.0 was the newest release on 2023-01-01 (7.2.1 came on 2023-01-13).
        XCTAssertTrue(environment.resolvedPackages.contains("pytest==7.2.0"), "\(environment.resolvedPackages)")
        XCTAssertTrue(environment.resolvedPackages.contains(where: { $0.hasPrefix("-e file://") && $0.contains(project.lastPathComponent) }),
                      "\(environment.resolvedPackages)")
        XCTAssertEqual(environment.excludeNewer, "2023-01-01T00:00:00Z")
        XCTAssertFalse(environment.reused)
        XCTAssertEqual(environment.key.count, 24)
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: environment.venvPath! + "/bin/python"))
        let log = try String(contentsOfFile: environment.buildLogPath, encoding: .utf8)
        XCTAssertTrue(log.contains("uv pip install"), log)
        XCTAssertTrue(log.contains("pytest==7.2.0"), log)
        let row = environment.storeRecord
        XCTAssertEqual(row.key, environment.key)
        XCTAssertEqual(row.status, .built)
        XCTAssertEqual(row.interpreter, "cpython-\(environment.interpreter!.interpreter.version)")
        XCTAssertEqual(row.strategy, "editable-extras/editable")
        XCTAssertEqual(row.recipeName, "Recipes/python.yaml")
        XCTAssertEqual(row.manifestsHash.count, 64)
        XCTAssertEqual(row.resolvedPackages, environment.resolvedPackages.sorted())
        print("[measure] pyproject env: \(String(format: "%.2f", firstSeconds)) s cold (build \(String(format: "%.2f", environment.buildSeconds)) s)")

        // The recipe's command runs the touched test file and writes JUnit XML with `file` attributes.
        let output = Fixture.directory("run")
        let junit = output.appendingPathComponent("junit.xml").path
        let argv = environment.testCommand(for: ["tests/test_demo.py"], junitPath: junit)
        XCTAssertEqual(Array(argv.prefix(3)), [environment.venvPath! + "/bin/python", "-m", "pytest"])
        let result = try CommandRunner().run(Command(argv[0], Array(argv.dropFirst()),
                                                     logPath: output.appendingPathComponent("test.log").path,
                                                     environment: environment.testEnvironment(),
                                                     workingDirectory: project.path, timeout: 120))
        let testLog = try String(contentsOfFile: result.logPath, encoding: .utf8)
        XCTAssertTrue(result.succeeded, testLog)
        XCTAssertTrue(testLog.contains("PASSED tests/test_demo.py::test_answer"), testLog)
        let xml = try String(contentsOfFile: junit, encoding: .utf8)
        XCTAssertTrue(xml.contains("file=\"tests/test_demo.py\""), xml)
        XCTAssertTrue(xml.contains("name=\"test_name\""), xml)

        // Same manifests, same interpreter: the cached environment comes back at once.
        let again = Date()
        let reused = try builder.prepare(snapshot)
        let secondSeconds = Date().timeIntervalSince(again)
        XCTAssertTrue(reused.reused)
        XCTAssertEqual(reused.key, environment.key)
        XCTAssertEqual(reused.venvPath, environment.venvPath)
        XCTAssertEqual(reused.resolvedPackages, environment.resolvedPackages)
        XCTAssertLessThan(secondSeconds, 1.0)
        print("[measure] pyproject env reuse: \(String(format: "%.3f", secondSeconds)) s")

        // Manifests given as bytes key the same environment as the same files on disk.
        let pyprojectBytes = try Data(contentsOf: project.appendingPathComponent("pyproject.toml"))
        let given = try builder.prepare(ProjectSnapshot(directory: project, repo: "acme/demo", version: "0.1", createdAt: date,
                                                        manifests: .files(["pyproject.toml": pyprojectBytes])))
        XCTAssertEqual(given.key, environment.key)
        XCTAssertTrue(given.reused)
        // Changed manifest bytes make a new key and a new environment.
        let changed = try builder.prepare(ProjectSnapshot(directory: project, repo: "acme/demo", version: "0.1", createdAt: date,
                                                          manifests: .files(["pyproject.toml": pyprojectBytes + Data("\n# v2\n".utf8)])))
        XCTAssertNotEqual(changed.key, environment.key)
        XCTAssertFalse(changed.reused)
        XCTAssertNotEqual(changed.venvPath, environment.venvPath)
    }

    func testSetupPyWithTestRequirementsUsesSecondRung() throws {
        let project = Fixture.project([
            "setup.py": """
            from setuptools import setup
            setup(
                name="legacy-demo",
                version="1.0",
                py_modules=["demo"],
                python_requires=">=3.7",
                classifiers=["Programming Language :: Python :: 3.7"],
            )
            """,
            "requirements-test.txt": "pytest<7\n",
            "demo.py": "def answer():\n    return 42\n",
            "tests/test_demo.py": testModule,
        ])
        let builder = try Fixture.builder()
        let date = Fixture.date("2022-06-01T00:00:00Z")
        let environment = try builder.prepare(ProjectSnapshot(directory: project, createdAt: date))
        // python_requires is only a floor; the one classified version it allows wins.
        XCTAssertEqual(environment.interpreter?.interpreter.version.majorMinor,
                       Fixture.expectedMinor({ $0.majorMinor == "3.7" }, date: date))
        XCTAssertEqual(environment.interpreter?.constraintSource, "setup.py python_requires and Trove classifiers")
        XCTAssertEqual(environment.strategy, .editableExtrasRequirements)
        XCTAssertTrue(environment.attempts[0].commandLine.contains("requirements-test.txt"))
        // Build backends are exempt from the date pin, so today's setuptools (PEP 660) builds the
        // editable install at once, although setuptools as of mid-2022 (62.x) had no `build_editable`.
        XCTAssertEqual(environment.attempts.map(\.projectInstall), [.editable])
        XCTAssertEqual(environment.projectInstall, .editable)
        XCTAssertTrue(environment.resolvedPackages.contains(where: { $0.hasPrefix("-e file://") }), "\(environment.resolvedPackages)")
        // pytest<7 as of mid-2022: 6.2.5 (October 2021) was the last 6.x.
        XCTAssertTrue(environment.resolvedPackages.contains("pytest==6.2.5"), "\(environment.resolvedPackages)")
        // Nothing required setuptools; it is seeded as pip seeded it, as of the date (62.x).
        XCTAssertTrue(environment.resolvedPackages.contains(where: { $0.hasPrefix("setuptools==62.") }), "\(environment.resolvedPackages)")
        XCTAssertEqual(environment.testRunnerName, "pytest")
        XCTAssertEqual(environment.manifestHashes.keys.sorted(), ["requirements-test.txt", "setup.py"])
    }

    func testBuildBackendPinnedBeforePEP660IsInstalledAsACopy() throws {
        let (environment, _) = try Fixture.prepare([
            // The project itself pins a setuptools without `build_editable` (PEP 660 came in 64).
            "pyproject.toml": """
            [build-system]
            requires = ["setuptools<64"]
            build-backend = "setuptools.build_meta"
            """,
            "setup.py": "from setuptools import setup\nsetup(name='legacy-demo', version='1.0', py_modules=['demo'])\n",
            "requirements-test.txt": "pytest<7\n",
            "demo.py": "def answer():\n    return 42\n",
            "tests/test_demo.py": testModule,
        ], asOf: "2022-06-01T00:00:00Z")
        // The editable build fails for want of the hook, and the same rung installs a copy instead.
        XCTAssertEqual(environment.strategy, .editableExtrasRequirements)
        XCTAssertEqual(environment.attempts.map(\.projectInstall), [.editable, .copy])
        XCTAssertEqual(environment.attempts[0].failure, .buildFailure)
        XCTAssertEqual(environment.projectInstall, .copy)
        XCTAssertTrue(environment.resolvedPackages.contains(where: { $0.hasPrefix("legacy-demo @ file://") }), "\(environment.resolvedPackages)")
    }

    func testToxDepsAndEnvlistDriveInterpreterAndInstall() throws {
        let project = Fixture.project([
            "setup.py": "from setuptools import setup\nsetup(name='toxed', version='1.0', py_modules=['demo'])\n",
            "tox.ini": """
            [tox]
            envlist = py38, py39

            [testenv]
            deps =
                pytest
                attrs==21.4.0
                py27: mock
            commands = pytest {posargs}
            """,
            "demo.py": "def answer():\n    return 42\n",
            "tests/test_demo.py": testModule,
        ])
        let builder = try Fixture.builder()
        let date = Fixture.date("2023-01-01T00:00:00Z")
        let environment = try builder.prepare(ProjectSnapshot(directory: project, createdAt: date))
        let expected = Fixture.expectedMinor({ ["3.8", "3.9"].contains($0.majorMinor) }, date: date)
        XCTAssertEqual(environment.interpreter?.interpreter.version.majorMinor, expected)
        XCTAssertEqual(environment.interpreter?.constraintSource, "tox envlist")
        XCTAssertEqual(environment.strategy, .editableExtrasRequirements)
        // setuptools as of 2023 supports PEP 660: a real editable install.
        XCTAssertEqual(environment.projectInstall, .editable)
        XCTAssertTrue(environment.resolvedPackages.contains("attrs==21.4.0"), "\(environment.resolvedPackages)")
        XCTAssertFalse(environment.resolvedPackages.contains(where: { $0.hasPrefix("mock==") }), "py27-only dep installed")
        XCTAssertTrue(environment.resolvedPackages.contains("pytest==7.2.0"), "\(environment.resolvedPackages)")
    }

    func testDependenciesAreByteCompiledSoWarningsAsErrorsSuitesImportThem() throws {
        // blinker 1.4 (2015) has invalid escape sequences in its docstrings; compiled on import
        // under flask's `filterwarnings = error` they were SyntaxErrors and no test ran at all.
        let (environment, project) = try Fixture.prepare([
            "pyproject.toml": "[project]\nname = \"signals\"\nversion = \"0.1\"\nrequires-python = \">=3.8\"\ndependencies = [\"blinker==1.4\"]\n",
            "pytest.ini": "[pytest]\nfilterwarnings =\n    error\n",
            "signals.py": "from blinker import Namespace\n\nsent = Namespace().signal('sent')\n",
            "tests/test_signals.py": "import signals\n\ndef test_signal_has_a_name():\n    assert signals.sent.name == 'sent'\n",
        ], asOf: "2022-06-01")
        XCTAssertTrue(environment.resolvedPackages.contains("blinker==1.4"), "\(environment.resolvedPackages)")
        let (succeeded, log) = try runTests(["tests/test_signals.py"], in: environment, project: project)
        XCTAssertTrue(succeeded, log)
        XCTAssertTrue(log.contains("1 passed"), log)
    }

    func testOldPytestFindsThePkgResourcesItImports() throws {
        // pytest 3.x imports pkg_resources at start-up; setuptools 81 and later have none.
        let (environment, project) = try Fixture.prepare([
            "setup.py": "from setuptools import setup\nsetup(name='old-demo', version='1.0', py_modules=['demo'])\n",
            "requirements-test.txt": "pytest<4\n",
            "demo.py": "def answer():\n    return 42\n",
            "tests/test_demo.py": testModule,
        ], asOf: "2019-06-01")
        let packages = environment.resolvedPackages
        XCTAssertTrue(packages.contains(where: { $0.hasPrefix("pytest==3.") }), "\(packages)")
        let setuptools = try XCTUnwrap(packages.first(where: { $0.hasPrefix("setuptools==") }), "\(packages)")
        XCTAssertLessThan(Int(setuptools.dropFirst("setuptools==".count).prefix { $0 != "." }) ?? 999, 81, setuptools)
        let (succeeded, log) = try runTests(["tests/test_demo.py"], in: environment, project: project)
        XCTAssertTrue(succeeded, log)
    }

    func testBuildFailureFallsBackToDependenciesOnly() throws {
        let (environment, project) = try Fixture.prepare([
            // A build that needs something unavailable (like a frontend built with npm).
            "setup.py": "raise SystemExit('this build needs npm and the network')\n",
            "requirements.txt": "six==1.16.0\n",
            "src/demo/__init__.py": "import six\n\ndef answer():\n    return 42\n",
            "tests/test_demo.py": testModule,
        ], asOf: "2023-01-01")
        XCTAssertEqual(environment.attempts.map(\.strategy), [.editableExtras, .dependenciesOnly])
        XCTAssertEqual(environment.attempts[0].failure, .buildFailure)
        XCTAssertEqual(environment.strategy, .dependenciesOnly)
        XCTAssertEqual(environment.projectInstall, ProjectInstall.none)
        XCTAssertTrue(environment.resolvedPackages.contains("six==1.16.0"), "\(environment.resolvedPackages)")
        XCTAssertEqual(environment.sourceRoot, "src")
        XCTAssertEqual(environment.testEnvironment(projectDirectory: "/w")["PYTHONPATH"], "/w/src")

        // The project is importable from the checkout through PYTHONPATH.
        let (succeeded, log) = try runTests(["tests/test_demo.py"], in: environment, project: project)
        XCTAssertTrue(succeeded, log)
    }

    func testBuildFailureOnEveryRungIsRecordedWithLog() throws {
        // A dependency vendored in the checkout (paths outside it are invisible in the install sandbox).
        let project = Fixture.project([
            "setup.py": "raise SystemExit('this build needs npm and the network')\n",
            "vendor/broken-dep/setup.py": "raise RuntimeError('compiler extension failed to build')\n",
        ])
        Fixture.write(["requirements.txt": "broken-dep @ file://\(project.path)/vendor/broken-dep\n"], into: project)
        let builder = try Fixture.builder()
        let failure = expectFailure {
            try builder.prepare(ProjectSnapshot(directory: project, createdAt: Fixture.date("2023-01-01")))
        }
        XCTAssertEqual(failure?.kind, .buildFailure, failure?.description ?? "")
        XCTAssertEqual(failure?.attempts.map(\.strategy), [.editableExtras, .dependenciesOnly])
        XCTAssertTrue(failure?.reason.contains("broken-dep") ?? false, failure?.reason ?? "")
        let log = try String(contentsOfFile: try XCTUnwrap(failure?.logPath), encoding: .utf8)
        XCTAssertTrue(log.contains("compiler extension failed to build"), log)
        XCTAssertTrue(log.contains("this build needs npm"), log)
    }

    func testConcurrentRequestsForOneKeyBuildOnce() throws {
        let project = Fixture.project([
            "pyproject.toml": "[project]\nname = \"shared\"\nversion = \"0.1\"\nrequires-python = \">=3.8\"\n",
            "shared.py": "X = 1\n",
        ])
        let builder = try Fixture.builder()
        let snapshot = ProjectSnapshot(directory: project, createdAt: Fixture.date("2023-01-01T00:00:00Z"))
        let results = ResultBox()
        DispatchQueue.concurrentPerform(iterations: 3) { _ in
            results.append(Result { try builder.prepare(snapshot) })
        }
        let environments = try results.values.map { try $0.get() }
        XCTAssertEqual(environments.count, 3)
        XCTAssertEqual(Set(environments.map(\.key)).count, 1)
        XCTAssertEqual(environments.filter { !$0.reused }.count, 1, "the environment was built more than once")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: builder.root.appendingPathComponent("envs").path)
                        .filter { !$0.hasSuffix(".lock") }.count, 1)
    }

    func testUnresolvableDependencyIsRecordedWithReason() throws {
        // A pin no release ever had: relaxing the date cannot help (a requirement only later
        // releases satisfy is relaxed instead: GeneralityTests).
        let project = Fixture.project([
            "pyproject.toml": """
            [project]
            name = "future-dep"
            version = "0.1"
            requires-python = ">=3.8"
            dependencies = ["pytest==7.3.99"]
            """,
        ])
        let builder = try Fixture.builder()
        let snapshot = ProjectSnapshot(directory: project, createdAt: Fixture.date("2023-01-01T00:00:00Z"))
        let failure = expectFailure { try builder.prepare(snapshot) }
        XCTAssertEqual(failure?.kind, .unresolvableDependency)
        XCTAssertTrue(failure?.reason.contains("pytest") ?? false, failure?.reason ?? "")
        XCTAssertTrue(failure?.reason.contains("No solution found") ?? false, failure?.reason ?? "")
        XCTAssertEqual(failure?.attempts.map(\.strategy), [.editableExtras, .dependenciesOnly])
        XCTAssertTrue(failure?.attempts.allSatisfy { $0.failure == .unresolvableDependency } ?? false)
        let logPath = try XCTUnwrap(failure?.logPath)
        XCTAssertTrue(try String(contentsOfFile: logPath, encoding: .utf8).contains("pytest==7.3.99"))
        let key = try XCTUnwrap(failure?.key)
        guard case .failure(let recorded)? = builder.recorded(key: key) else { return XCTFail("failure not recorded") }
        XCTAssertEqual(recorded.kind, .unresolvableDependency)
        XCTAssertTrue("\(recorded)".hasPrefix("unresolvable-dependency: error: No solution found"), "\(recorded)")
        let row = try XCTUnwrap(recorded.storeRecord)
        XCTAssertEqual(row.status, .failed)
        XCTAssertEqual(row.key, key)
        XCTAssertTrue(row.interpreter.hasPrefix("cpython-3."), row.interpreter)
        XCTAssertEqual(row.error, recorded.description)

        // The recorded failure answers the next request without running uv again.
        let started = Date()
        let second = expectFailure { try builder.prepare(snapshot) }
        XCTAssertEqual(second?.key, key)
        XCTAssertEqual(second?.kind, .unresolvableDependency)
        XCTAssertLessThan(Date().timeIntervalSince(started), 1.0)

        // A failure recorded by an earlier builder revision is built again (the newer Forge may
        // succeed), and the new record carries this revision.
        let failureFile = URL(fileURLWithPath: logPath).deletingLastPathComponent().appendingPathComponent("failure.json")
        var older = try JSONSerialization.jsonObject(with: Data(contentsOf: failureFile)) as! [String: Any]
        XCTAssertEqual(older["builderRevision"] as? Int, EnvironmentBuilder.revision)
        older["builderRevision"] = nil
        try JSONSerialization.data(withJSONObject: older).write(to: failureFile)
        guard case .failure(let stale)? = builder.recorded(key: key) else { return XCTFail("failure not recorded") }
        XCTAssertNil(stale.builderRevision)
        let rebuilt = expectFailure { try builder.prepare(snapshot) }
        XCTAssertEqual(rebuilt?.builderRevision, EnvironmentBuilder.revision)
        XCTAssertEqual(rebuilt?.attempts.count, 2)
    }

    func testMissingInterpreterIsRecordedWithReason() throws {
        let project = Fixture.project([
            "pyproject.toml": "[project]\nname = \"far-future\"\nversion = \"0.1\"\nrequires-python = \">=3.99\"\n",
        ])
        let builder = try Fixture.builder()
        let failure = expectFailure {
            try builder.prepare(ProjectSnapshot(directory: project, createdAt: Fixture.date("2024-01-01")))
        }
        XCTAssertEqual(failure?.kind, .missingInterpreter)
        XCTAssertTrue(failure?.reason.contains(">=3.99") ?? false, failure?.reason ?? "")
        XCTAssertTrue(failure?.reason.contains("requires-python") ?? false, failure?.reason ?? "")
        for interpreter in Fixture.interpreters.interpreters {
            XCTAssertTrue(failure?.reason.contains(interpreter.version.description) ?? false, "installed list lacks \(interpreter.version)")
        }
        let logPath = try XCTUnwrap(failure?.logPath)
        XCTAssertTrue(FileManager.default.fileExists(atPath: logPath))
        XCTAssertEqual(failure?.storeRecord?.interpreter, "missing >=3.99")
    }

    func testNoProjectAndBrokenManifestAreTypedFailures() throws {
        let builder = try Fixture.builder()
        let empty = Fixture.project(["README.md": "nothing to build\n"])
        XCTAssertEqual(expectFailure { try builder.prepare(ProjectSnapshot(directory: empty, createdAt: Date())) }?.kind,
                       .noProjectDetected)
        let broken = Fixture.project(["pyproject.toml": "[project]\nrequires-python = \">=3.x\"\n"])
        let failure = expectFailure { try builder.prepare(ProjectSnapshot(directory: broken, createdAt: Date())) }
        XCTAssertEqual(failure?.kind, .invalidManifest)
        XCTAssertTrue("\(failure!)".contains("pyproject.toml [project] requires-python"), "\(failure!)")
    }
}

/// Collects results from concurrent closures.
private final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [Result<PreparedEnvironment, Error>] = []
    func append(_ item: Result<PreparedEnvironment, Error>) { lock.lock(); items.append(item); lock.unlock() }
    var values: [Result<PreparedEnvironment, Error>] { lock.lock(); defer { lock.unlock() }; return items }
}
