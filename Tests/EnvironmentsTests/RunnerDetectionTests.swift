import Foundation
import XCTest
@testable import Environments

/// `test.runner: auto` on fixture projects: which runner the shipped recipe picks, and why.
final class RunnerDetectionTests: XCTestCase {
    private func choose(_ files: [String: String], manifests: [String] = ["setup.py", "tox.ini", "noxfile.py", "setup.cfg"])
        throws -> (name: String, reason: String) {
        let directory = Fixture.project(files, name: "runner")
        defer { try? FileManager.default.removeItem(at: directory) }
        let recipe = try RecipeBook(directory: Fixture.recipesDirectory).recipe(for: .python)
        var manifestData: [String: Data] = [:]
        for path in manifests { if let text = files[path] { manifestData[path] = Data(text.utf8) } }
        let project = PythonProject(manifests: manifestData, requirementPatterns: recipe.install.requirementFiles,
                                    projectDirectory: directory)
        return EnvironmentBuilder.chooseRunner(recipe: recipe, python: project, projectDirectory: directory)
    }

    /// A runner script of its own: its own interface in `bin/test`, plus a conftest.py and pytest
    /// settings so that pytest works too (as SymPy keeps them); the README and CI run the script.
    static let scriptProject: [String: String] = [
        "setup.py": "from setuptools import setup\nsetup(name='algebra', packages=['algebra'])\n",
        "bin/test": "#!/usr/bin/env python\n\"\"\"Run the tests.\"\"\"\nimport sys\nfrom algebra.testing import run\nsys.exit(run(sys.argv[1:]))\n",
        "conftest.py": "collect_ignore = ['setup.py']\n",
        "pytest.ini": "[pytest]\ntestpaths = algebra\n",
        "README.md": "# algebra\n\nTo run all tests: `./bin/test`; one file: `bin/test algebra/tests/test_x.py`.\n",
        ".github/workflows/runtests.yml": "jobs:\n  test:\n    steps:\n      - run: pip install pytest mpmath\n      - run: bin/test --split=1/2\n      - run: bin/test_external_imports.py\n",
    ]

    func testOwnRunnerScriptInvokedByCIAndDocsWins() throws {
        let chosen = try choose(Self.scriptProject)
        XCTAssertEqual(chosen.name, "bin-test", chosen.reason)
        XCTAssertTrue(chosen.reason.contains(".github/workflows/runtests.yml") || chosen.reason.contains("README.md"), chosen.reason)
    }

    func testScriptLosesWhenTheProjectRunsPytest() throws {
        var project = Self.scriptProject
        project[".github/workflows/runtests.yml"]! += "      - run: python -m pytest --doctest-modules algebra\n"
        let chosen = try choose(project)
        XCTAssertEqual(chosen.name, "pytest")
        XCTAssertTrue(chosen.reason.contains("runs pytest"), chosen.reason)
    }

    func testScriptThatWrapsPytestIsNotARunnerOfItsOwn() throws {
        var project = Self.scriptProject
        project["bin/test"] = "#!/usr/bin/env python\nimport sys\nimport pytest\nsys.exit(pytest.main(sys.argv[1:]))\n"
        XCTAssertEqual(try choose(project).name, "pytest")
    }

    func testScriptNobodyRunsIsIgnored() throws {
        var project = Self.scriptProject
        project["README.md"] = "# algebra\n\nSee bin/test_travis.sh for CI.\n"
        project[".github/workflows/runtests.yml"] = "jobs:\n  test:\n    steps:\n      - run: bin/test_external_imports.py\n"
        XCTAssertEqual(try choose(project).name, "pytest")
    }

    /// Links in a hostile checkout: a runner script or evidence folder pointing out of it counts as absent.
    func testLinksOutOfTheCheckoutAreNotRead() throws {
        let outside = Fixture.project(["workflows/ci.yml": "steps:\n  - run: bin/test\n", "runner": "#!/usr/bin/env python\n"], name: "outside")
        defer { try? FileManager.default.removeItem(at: outside) }
        let directory = Fixture.project(["setup.py": "from setuptools import setup\nsetup(name='x')\n"], name: "links")
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("bin"), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: directory.appendingPathComponent("bin/test").path,
                                                   withDestinationPath: outside.appendingPathComponent("runner").path)
        try FileManager.default.createSymbolicLink(atPath: directory.appendingPathComponent(".github").path, withDestinationPath: outside.path)
        let recipe = try RecipeBook(directory: Fixture.recipesDirectory).recipe(for: .python)
        let project = PythonProject(manifests: [:], requirementPatterns: [], projectDirectory: directory)
        let evidence = RunnerEvidence(project: project, projectDirectory: directory, globs: recipe.test.evidence)
        XCTAssertFalse(evidence.hasScript("bin/test"))
        XCTAssertNil(evidence.invocation(of: "bin/test"), "\(evidence.lines)")
        XCTAssertEqual(EnvironmentBuilder.chooseRunner(recipe: recipe, python: project, projectDirectory: directory).name, "pytest")
    }

    func testScriptMentionedButAbsentIsIgnored() throws {
        var project = Self.scriptProject
        project["bin/test"] = nil
        XCTAssertEqual(try choose(project).name, "pytest")
    }

    /// Django's layout: tox changes into tests/ and runs `runtests.py` by its file name.
    func testDjangoStyleRunteststFromTox() throws {
        let chosen = try choose([
            "setup.py": "from setuptools import setup\nsetup(name='webframe')\n",
            "tests/runtests.py": "#!/usr/bin/env python\nimport argparse\nimport unittest\n",
            "tox.ini": "[tox]\nenvlist = py3\n[testenv]\nchangedir = tests\ncommands =\n    {envpython} runtests.py {posargs}\n",
        ])
        XCTAssertEqual(chosen.name, "runtests", chosen.reason)
        XCTAssertTrue(chosen.reason.contains("tox.ini"), chosen.reason)
    }

    func testNoseFromToxCommandsAndUnittestFromSetupPy() throws {
        XCTAssertEqual(try choose([
            "setup.py": "from setuptools import setup\nsetup(name='old', tests_require=['nose'])\n",
            "tox.ini": "[testenv]\ndeps = nose\ncommands = nosetests -v tests\n",
        ]).name, "nose")
        XCTAssertEqual(try choose([
            "setup.py": "from setuptools import setup\nsetup(name='old', test_suite='nose.collector')\n",
        ]).name, "nose")
        XCTAssertEqual(try choose([
            "setup.py": "from setuptools import setup\nsetup(name='plain')\n",
            "noxfile.py": "import nox\n@nox.session\ndef tests(session):\n    session.install('.')\n    session.run('python', '-m', 'unittest', 'discover')\n",
        ]).name, "unittest")
        // Any mention of pytest keeps pytest, which runs nose- and unittest-style tests too.
        XCTAssertEqual(try choose([
            "setup.py": "from setuptools import setup\nsetup(name='old', tests_require=['nose', 'pytest'])\n",
            "tox.ini": "[testenv]\ncommands = nosetests -v tests\n",
        ]).name, "pytest")
    }

    /// The runner's placeholders and environment, and a script path outside the project refused.
    func testRunnerCommandsAndScriptPathsAreChecked() throws {
        let recipe = try RecipeBook(directory: Fixture.recipesDirectory).recipe(for: .python)
        func environment(_ runner: String) -> PreparedEnvironment {
            PreparedEnvironment(
                key: "k", ecosystem: .python, recipeHash: recipe.contentHash, recipeSources: recipe.sources, repo: nil, version: nil,
                excludeNewer: "", interpreter: nil, toolchain: nil, venvPath: "/envs/v", strategy: .editableExtras, attempts: [],
                resolvedPackages: [], manifestHashes: [:], envVars: recipe.test.env.merging(recipe.test.runners[runner]!.env ?? [:]) { $1 },
                testRunnerName: runner, testRunner: recipe.test.runners[runner]!, testTimeout: 1, sourceRoot: "",
                builtFrom: "/p", buildLogPath: "/dev/null", buildSeconds: 0, builtAt: "", reused: false)
        }
        XCTAssertEqual(environment("bin-test").testCommand(for: ["algebra/tests/test_a.py", "algebra/core/tests/test_b.py"], junitPath: "/j"),
                       ["/envs/v/bin/python", "bin/test", "-C", "--verbose", "algebra/tests/test_a.py", "algebra/core/tests/test_b.py"])
        XCTAssertEqual(environment("bin-test").testEnvironment()["PYTHONWARNINGS"], "ignore::UserWarning,ignore::SyntaxWarning")
        XCTAssertEqual(environment("runtests").testCommand(for: ["tests/admin_views/tests.py", "tests/i18n/patterns/tests.py"], junitPath: "/j"),
                       ["/envs/v/bin/python", "tests/runtests.py", "--verbosity", "2", "admin_views.tests", "i18n.patterns.tests"])
        XCTAssertEqual(environment("nose").testCommand(for: ["tests/test_a.py"], junitPath: "/j"),
                       ["/envs/v/bin/python", "-m", "nose", "-v", "tests/test_a.py"])

        let folder = Fixture.directory("recipes")
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.removeItem(at: folder)  // copyItem wants its destination absent
        try FileManager.default.copyItem(at: Fixture.recipesDirectory, to: folder)
        let override = "repo: forge-tests/escape\ntest:\n  runners:\n    bin-test:\n      script: ../../etc/runner\n"
        try override.write(to: folder.appendingPathComponent("repos/forge-tests__escape.yaml"), atomically: true, encoding: .utf8)
        let book = try RecipeBook(directory: folder)
        XCTAssertThrowsError(try book.recipe(for: .python, repo: "forge-tests/escape", version: nil)) { error in
            XCTAssertEqual("\(error)", "\(folder.lastPathComponent)/repos/forge-tests__escape.yaml:5: "
                           + "'test.runners.bin-test.script' must be a path inside the project, got '../../etc/runner'")
        }
    }

    /// tox's pytest command and setenv, read instead of running tox (sphinx's layout).
    func testToxPytestOptionsAndEnvironment() {
        let project = PythonProject(manifests: ["tox.ini": Data("""
            [tox]
            envlist = docs,flake8,py{36,37,38,39}
            [testenv]
            usedevelop = True
            extras = test
            setenv =
                PYTHONWARNINGS = all,ignore::ImportWarning:importlib._bootstrap_external
                PYTEST_ADDOPTS = {env:PYTEST_ADDOPTS:} --color yes
                PYTHONPATH = {toxinidir}/src
                DATA_DIR = {toxinidir}/tests/data
                CACHE = {envtmpdir}/cache
            commands =
                python -X dev -m pytest -x --durations 25 -n 4 --cov=pkg -W error::DeprecationWarning -pno:warnings -m "not network" --strict-markers tests/ {posargs}
            """.utf8)], requirementPatterns: [], projectDirectory: nil)
        XCTAssertEqual(ToxPytestSettings.options(fromCommands: project.testCommandLines),
                       ["-W", "error::DeprecationWarning", "-pno:warnings", "-m", "not network", "--strict-markers"])
        XCTAssertEqual(ToxPytestSettings.environment(fromSetenv: project.toxSetenv),
                       ["PYTHONWARNINGS": "all,ignore::ImportWarning:importlib._bootstrap_external",
                        "DATA_DIR": "{source}/tests/data"])
        XCTAssertEqual(ToxPytestSettings.options(fromCommands: ["flake8 src", "sphinx-build -W docs out"]), [])
    }
}
