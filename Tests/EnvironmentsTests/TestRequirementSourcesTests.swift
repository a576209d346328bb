import Foundation
import XCTest
@testable import Environments

/// Test requirements in the forms tools wrote before PEP 735, and requirements naming the project.
final class TestRequirementSourcesTests: XCTestCase {
    func testPDMDevDependencyGroupsAndSelfReferencesBecomeExtras() {
        let project = PythonProject(manifests: ["pyproject.toml": Data("""
            [project]
            name = "Calc"
            dependencies = ["attrs"]
            [project.optional-dependencies]
            pytest = ["pytest", "pytest-mock"]
            [tool.pdm.dev-dependencies]
            test = ["calc[pytest]", "pytest-cov", "pytest-xdist>=1.31.0"]
            doc = ["mkdocs>=1.1"]
            """.utf8)], requirementPatterns: [], projectDirectory: nil)
        XCTAssertEqual(project.otherTestRequirements, ["pytest-cov", "pytest-xdist>=1.31.0"])
        XCTAssertEqual(project.selfReferencedExtras, ["pytest"])
    }

    func testUVDevDependenciesAndToxSelfReferences() {
        let project = PythonProject(manifests: [
            "pyproject.toml": Data("[project]\nname = \"calc\"\n[tool.uv]\ndev-dependencies = [\"pytest>=8\", \"hypothesis\"]\n".utf8),
            "tox.ini": Data("[testenv]\ndeps =\n    calc[speedups]\n    py312: calc[fast,tests]\n    coverage\n".utf8),
        ], requirementPatterns: [], projectDirectory: nil)
        XCTAssertEqual(project.otherTestRequirements, ["pytest>=8", "hypothesis"])
        XCTAssertEqual(project.selfReferencedExtras, ["speedups", "fast", "tests"])
        XCTAssertEqual(project.toxDependencies(for: PythonVersion("3.12.1")!), ["coverage"])
    }

    func testRequirementFilesTheTreeDoesNotHaveAreLeftOutAndSaid() throws {
        // A test session that installs a requirements file from another project's clone.
        let project = Fixture.project([
            "pyproject.toml": "[project]\nname = \"calc\"\nversion = \"1.0\"\nrequires-python = \">=3.8\"\n",
            "calc/__init__.py": "",
            "dev-requirements.txt": "iniconfig\n",
            "noxfile.py": "import nox\n\n@nox.session\ndef test(session):\n    session.install('-r', 'dev-requirements.txt')\n"
                + "    session.install('-r', 'requirements-dev.txt')\n    session.run('pytest')\n",
            "tests/test_calc.py": "def test_ok():\n    assert True\n",
        ])
        let environment = try Fixture.builder().prepare(ProjectSnapshot(directory: project, createdAt: Fixture.date("2024-01-01")))
        XCTAssertTrue(environment.resolvedPackages.contains { $0.hasPrefix("iniconfig==") }, "\(environment.resolvedPackages)")
        XCTAssertTrue((environment.adjustments ?? []).contains("left out requirement files the tree does not have: requirements-dev.txt"),
                      "\(environment.adjustments ?? [])")
    }
}

/// When nothing installs on the first interpreter, the next installed ones that satisfy the
/// project are tried, and the environment says so.
final class InterpreterFallbackTests: XCTestCase {
    func testADependencyThatCannotBuildOnTheNewestPythonFallsBackToTheNextOne() throws {
        let project = Fixture.project(["calc/__init__.py": "", "tests/test_calc.py": "def test_ok():\n    assert True\n"],
                                      name: "fallback")
        // A dependency whose build imports `imp`, gone in Python 3.12 (old setup.py files did).
        Fixture.write([
            "vendor/oldhelper/setup.py": "import imp\nfrom setuptools import setup\nsetup(name='oldhelper', version='1.0', py_modules=['oldhelper'])\n",
            "vendor/oldhelper/oldhelper.py": "VALUE = 1\n",
            "pyproject.toml": "[project]\nname = \"calc\"\nversion = \"1.0\"\nrequires-python = \">=3.8\"\n",
            "requirements-test.txt": "oldhelper @ file://\(project.path)/vendor/oldhelper\n",
        ], into: project)
        let catalog = InterpreterCatalog.discover()
        let minors = Set(catalog.interpreters.map(\.version.majorMinor))
        try XCTSkipUnless(minors.contains("3.12") && minors.contains("3.11"), "needs Python 3.12 and 3.11 installed; have \(minors.sorted())")
        let environment = try Fixture.builder().prepare(ProjectSnapshot(directory: project, createdAt: Fixture.date("2024-06-01")))
        XCTAssertEqual(environment.interpreter?.interpreter.version.majorMinor, "3.11")
        XCTAssertTrue((environment.adjustments ?? []).contains { $0.hasPrefix("interpreter fallback: Python 3.12 could not be used") },
                      "\(environment.adjustments ?? [])")
        XCTAssertTrue(environment.resolvedPackages.contains { $0.hasPrefix("oldhelper") }, "\(environment.resolvedPackages)")
    }
}

/// A project no installed interpreter satisfies: uv installs one where its downloads can be
/// reached; where they cannot, the failure says that it tried and why it could not.
final class InterpreterInstallTests: XCTestCase {
    func testAMissingInterpreterIsInstalledWithUVOrTheFailureSaysWhyNot() throws {
        let wanted = "3.14"
        try XCTSkipIf(Fixture.interpreters.interpreters.contains { $0.version.majorMinor == wanted }, "Python \(wanted) is installed already")
        let project = Fixture.project([
            "pyproject.toml": "[project]\nname = \"calc\"\nversion = \"1.0\"\nrequires-python = \"==\(wanted).*\"\n",
            "calc/__init__.py": "",
        ], name: "newpython")
        // No fixed catalog: the builder must see what uv installs.
        let builder = EnvironmentBuilder(root: Fixture.directory("install-root"), recipes: try RecipeBook(directory: Fixture.recipesDirectory),
                                         options: .init(uvCacheDirectory: Fixture.uvCache))
        do {
            let environment = try builder.prepare(ProjectSnapshot(directory: project, createdAt: Fixture.date("2026-01-15")))
            XCTAssertEqual(environment.interpreter?.interpreter.version.majorMinor, wanted)
            XCTAssertTrue((environment.adjustments ?? []).contains { $0.hasPrefix("installed CPython \(wanted) with uv python install") },
                          "\(environment.adjustments ?? [])")
        } catch let failure as EnvironmentFailure {
            XCTAssertEqual(failure.kind, .missingInterpreter)
            XCTAssertTrue(failure.reason.contains("uv python install \(wanted) failed"), failure.reason)
        }
    }
}

/// Classifiers name the Pythons a project was tested on, not a requirement: when none of them is
/// installed (sympy 1.0: 2.6–3.5), the nearest installed interpreter builds the environment.
final class ClassifierFallbackTests: XCTestCase {
    func testClassifiersNamingOnlyUninstalledPythonsFallBackToTheNearestInstalledOne() throws {
        let project = Fixture.project([
            "setup.py": "from setuptools import setup\nsetup(name='oldcalc', version='1.0', packages=['oldcalc'],\n"
                + "      classifiers=['Programming Language :: Python :: 2.7', 'Programming Language :: Python :: 3.4'])\n",
            "oldcalc/__init__.py": "",
        ], name: "classifiers")
        let nearest = try XCTUnwrap(Fixture.interpreters.interpreters.map(\.version).filter { $0 >= PythonVersion([3, 6]) }.min())
        try XCTSkipIf(["2.7", "3.4"].contains(nearest.majorMinor))
        let environment = try Fixture.builder().prepare(ProjectSnapshot(directory: project, createdAt: Fixture.date("2015-06-01")))
        XCTAssertEqual(environment.interpreter?.interpreter.version.majorMinor, nearest.majorMinor)
        XCTAssertEqual(environment.interpreter?.constraintSource, "nearest installed interpreter")
    }
}
