import Foundation
import Sandbox
import XCTest
@testable import Environments

/// The ladder's rungs for repositories nobody tuned a recipe for: nested requirement files, test
/// runners chosen for the interpreter, dev tools left out, relaxed pins, builds that need other
/// toolchains. Real uv against PyPI as of fixed past dates.
final class GeneralityTests: XCTestCase {
    func testRequirementFilesThatIncludeOtherFilesAreFollowed() throws {
        let (environment, _) = try Fixture.prepare([
            "setup.py": "from setuptools import setup\nsetup(name='nested', version='1.0', py_modules=['demo'])\n",
            // Neither file below matches the recipe's manifest globs: only the includes reach them.
            "requirements-dev.txt": "-r requirements/tests\n",
            "requirements/tests": "pytest<8\n-r common/pins.txt\n",
            "requirements/common/pins.txt": "attrs\n-c ../../constraints.txt\n",
            "constraints.txt": "attrs==21.4.0\n",
            "demo.py": "def answer():\n    return 42\n",
        ], asOf: "2023-01-01")
        XCTAssertEqual(environment.strategy, .editableExtrasRequirements)
        XCTAssertTrue(environment.resolvedPackages.contains("attrs==21.4.0"), "\(environment.resolvedPackages)")
        XCTAssertTrue(environment.resolvedPackages.contains { $0.hasPrefix("pytest==7.") }, "\(environment.resolvedPackages)")
        // What they include keys the environment: a change to the constraint is a new environment.
        XCTAssertEqual(environment.manifestHashes.keys.sorted(),
                       ["constraints.txt", "requirements-dev.txt", "requirements/common/pins.txt", "requirements/tests", "setup.py"])
    }

    func testDependencyGroupsGiveTheTestRequirements() {
        let pyproject = """
        [project]
        name = "grouped"

        [dependency-groups]
        tests = [
          # a comment
          'cloudpickle; platform_python_implementation == "CPython"',
          "pytest",
          { include-group = "common" },
        ]
        common = ["hypothesis", { include-group = "tests" }]
        docs = ["sphinx"]
        """
        let project = PythonProject(manifests: ["pyproject.toml": Data(pyproject.utf8)], requirementPatterns: [], projectDirectory: nil)
        XCTAssertEqual(project.otherTestRequirements,
                       ["cloudpickle; platform_python_implementation == \"CPython\"", "pytest", "hypothesis"])
    }

    func testIncludesThatLeaveTheProjectAreNotFollowed() {
        let outside = Fixture.project(["secret.txt": "not for the builder\n"], name: "outside")
        let files: [String: Data] = [
            "requirements.txt": Data("-r ../\(outside.lastPathComponent)/secret.txt\n-r /etc/passwd\n-c https://example.invalid/c.txt\n--requirement=dev.txt\n".utf8),
            "tox.ini": Data("[testenv]\ndeps = -r{toxinidir}/tox-reqs.txt\n    py27: -rpy2.txt\n".utf8),
            "noxfile.py": Data("session.install(\"-r\", \"nox-reqs.txt\")\n".utf8),
        ]
        var asked: [String] = []
        let followed = RequirementIncludes.follow(files) { path in asked.append(path); return Data("six\n".utf8) }
        XCTAssertEqual(followed.included, ["dev.txt", "tox-reqs.txt", "py2.txt", "nox-reqs.txt"])
        XCTAssertEqual(Set(asked), followed.included, "only paths inside the project are read")
        XCTAssertNil(RequirementIncludes.resolve("../x.txt", from: []))
        XCTAssertNil(RequirementIncludes.resolve(".git/config", from: []))
        XCTAssertEqual(RequirementIncludes.resolve("../base.txt", from: ["requirements"]), "base.txt")
    }

    func testTaskYearsOlderThanItsInterpreterGetsARunnerThatStartsAndPluginsFromLater() throws {
        // 2013: the dated pytest (2.3.x) cannot start on Python 3.12 (it imports `imp`), and
        // pytest-mock's first release came a year later. The project's own `pytest<8` holds.
        let (environment, project) = try Fixture.prepare([
            "pyproject.toml": "[project]\nname = \"oldtask\"\nversion = \"0.1\"\nrequires-python = \">=3.12\"\n",
            "requirements-test.txt": "pytest<8\npytest-mock\n",
            "oldtask.py": "def answer():\n    return 42\n",
            "tests/test_old.py": "import oldtask\n\ndef test_answer(mocker):\n    assert oldtask.answer() == 42\n",
        ], asOf: "2013-06-01")
        let packages = environment.resolvedPackages
        let adjustments = environment.adjustments ?? []
        XCTAssertTrue(adjustments.contains { $0.hasPrefix("relaxed pytest-mock") }, "\(adjustments)")
        let pytest = try XCTUnwrap(packages.first { $0.hasPrefix("pytest==") }, "\(packages)")
        XCTAssertTrue(pytest.hasPrefix("pytest==7."), "the newest release within the project's pytest<8: \(pytest)")
        XCTAssertTrue(packages.contains { $0.hasPrefix("pytest-mock==") }, "\(packages)")
        // Recorded in the build log and the Store's row, not only in the environment.
        let log = try String(contentsOfFile: environment.buildLogPath, encoding: .utf8)
        XCTAssertTrue(log.contains("# relaxed pytest-mock"), log)
        XCTAssertTrue(environment.storeRecord.strategy?.contains("relaxed pytest-mock") ?? false)
        let (succeeded, output) = try runTests(["tests/test_old.py"], in: environment, project: project)
        XCTAssertTrue(succeeded, output)
    }

    func testDatedRunnerThatCannotStartIsUpgradedAndOptionsFitIt() throws {
        let (environment, project) = try Fixture.prepare([
            "pyproject.toml": "[project]\nname = \"oldtask\"\nversion = \"0.1\"\nrequires-python = \">=3.12\"\n",
            "oldtask.py": "def answer():\n    return 42\n",
            "tests/test_old.py": "import oldtask\n\ndef test_answer():\n    assert oldtask.answer() == 42\n",
        ], asOf: "2014-01-01")
        let adjustments = environment.adjustments ?? []
        XCTAssertTrue(adjustments.contains { $0.hasPrefix("test runner chosen for the interpreter:") && $0.contains("pytest 2.5") }, "\(adjustments)")
        XCTAssertFalse(environment.resolvedPackages.contains { $0.hasPrefix("pytest==2.") }, "\(environment.resolvedPackages)")
        XCTAssertTrue(environment.testRunner.command.contains("--junitxml={junit}"), "an alias of --junit-xml: \(environment.testRunner.command)")
        XCTAssertTrue(environment.testRunner.command.contains("-o"), "\(environment.testRunner.command)")
        let (succeeded, output) = try runTests(["tests/test_old.py"], in: environment, project: project)
        XCTAssertTrue(succeeded, output)
    }

    func testOldPytestOnPython36GetsOnlyTheOptionsItHasAndDevToolsAreLeftOut() throws {
        // 2016 on Python 3.6: uv's byte-compilation script needs 3.7; pytest 2.9 has no `-o`;
        // invoke 0.2 needs pexpect-u, which no longer builds; sphinx is for the docs.
        let project = Fixture.project([
            "setup.py": "from setuptools import setup\nsetup(name='old36', version='1.0', py_modules=['old36'],\n"
                + "      classifiers=['Programming Language :: Python :: 3.6'])\n",
            "requirements-dev.txt": "pytest==2.9.2\ninvoke==0.2.0\nsphinx\n",
            "old36.py": "def answer():\n    return 42\n",
            "test_old36.py": "import old36\n\ndef test_answer():\n    assert old36.answer() == 42\n",
        ])
        guard Fixture.interpreters.interpreters.contains(where: { $0.version.majorMinor == "3.6" }) else {
            throw XCTSkip("no Python 3.6 installed")
        }
        let builder = try Fixture.builder()
        let environment = try builder.prepare(ProjectSnapshot(directory: project, createdAt: Fixture.date("2016-07-01")))
        XCTAssertEqual(environment.interpreter?.interpreter.version.majorMinor, "3.6")
        let packages = environment.resolvedPackages
        XCTAssertTrue(packages.contains("pytest==2.9.2"), "\(packages)")
        XCTAssertFalse(packages.contains { $0.hasPrefix("invoke==") || $0.hasPrefix("sphinx==") }, "\(packages)")
        let command = environment.testRunner.command
        XCTAssertFalse(command.contains("-o"), "\(command)")
        XCTAssertTrue(command.contains("--junitxml={junit}"), "\(command)")
        XCTAssertTrue((environment.adjustments ?? []).contains { $0.contains("-o junit_family=xunit1") }, "\(environment.adjustments ?? [])")
        let (succeeded, output) = try runTests(["test_old36.py"], in: environment, project: project)
        XCTAssertTrue(succeeded, output)
        XCTAssertTrue(output.contains("1 passed"), output)
    }

    func testBuildThatRunsNpmIsBypassed() throws {
        let (environment, project) = try Fixture.prepare([
            "setup.py": "import subprocess\nfrom setuptools import setup\n"
                + "subprocess.check_call(['npm', 'install'])\nsetup(name='withjs', version='1.0', install_requires=['six'])\n",
            "withjs/__init__.py": "import six\n\ndef answer():\n    return 42\n",
            "tests/test_js.py": "import withjs\n\ndef test_answer():\n    assert withjs.answer() == 42\n",
        ], asOf: "2023-01-01")
        XCTAssertEqual(environment.attempts.map(\.strategy), [.dependenciesOnly])
        XCTAssertTrue((environment.adjustments ?? []).contains { $0.hasPrefix("build bypassed: setup.py runs npm") }, "\(environment.adjustments ?? [])")
        XCTAssertTrue(environment.resolvedPackages.contains { $0.hasPrefix("six==") })
        let (succeeded, output) = try runTests(["tests/test_js.py"], in: environment, project: project)
        XCTAssertTrue(succeeded, output)
    }

    func testHangingTestFailsAloneAndTheRunGoesOn() throws {
        // The shipped pytest command with a 3-second per-test limit, through a repository recipe.
        let recipes = Fixture.directory("recipes")
        try FileManager.default.copyItem(at: Fixture.recipesDirectory.appendingPathComponent("python.yaml"),
                                         to: recipes.appendingPathComponent("python.yaml"))
        let shipped = try RecipeBook(directory: Fixture.recipesDirectory).recipe(for: .python, repo: nil, version: nil)
        let command = shipped.test.runners["pytest"]!.command.map { $0.hasPrefix("--timeout=") ? "--timeout=3" : $0 }
        XCTAssertNotEqual(command, shipped.test.runners["pytest"]!.command, "the shipped command sets a per-test timeout")
        Fixture.write(["repos/acme__hang.yaml": "repo: acme/hang\ntest:\n  runners:\n    pytest:\n      command: ["
                        + command.map { "\"\($0)\"" }.joined(separator: ", ") + "]\n      report: junit\n      log_format: pytest\n"],
                      into: recipes)
        let project = Fixture.project([
            "pyproject.toml": "[project]\nname = \"hang\"\nversion = \"0.1\"\nrequires-python = \">=3.8\"\n",
            "tests/test_hang.py": "import time\n\ndef test_hangs():\n    time.sleep(3600)\n\ndef test_after():\n    assert True\n",
        ])
        let builder = try Fixture.builder(recipes: try RecipeBook(directory: recipes))
        let environment = try builder.prepare(ProjectSnapshot(directory: project, repo: "acme/hang", createdAt: Fixture.date("2023-01-01")))
        XCTAssertTrue(environment.resolvedPackages.contains { $0.hasPrefix("pytest-timeout==") }, "\(environment.resolvedPackages)")
        let started = Date()
        let (succeeded, output) = try runTests(["tests/test_hang.py"], in: environment, project: project)
        XCTAssertLessThan(Date().timeIntervalSince(started), 60)
        XCTAssertFalse(succeeded)
        XCTAssertTrue(output.contains("FAILED tests/test_hang.py::test_hangs"), output)
        XCTAssertTrue(output.contains("PASSED tests/test_hang.py::test_after"), output)
    }
}
