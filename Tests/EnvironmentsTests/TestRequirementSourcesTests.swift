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
        // nox's downstream session installs another project's requirements from its own clone.
        let project = Fixture.project([
            "pyproject.toml": "[project]\nname = \"calc\"\nversion = \"1.0\"\nrequires-python = \">=3.8\"\n",
            "calc/__init__.py": "",
            "dev-requirements.txt": "iniconfig\n",
            "noxfile.py": "import nox\n\n@nox.session\ndef test(session):\n    session.install('-r', 'dev-requirements.txt')\n"
                + "    session.run('pytest')\n\n@nox.session\ndef downstream(session):\n    session.install('-r', 'requirements-dev.txt')\n",
            "tests/test_calc.py": "def test_ok():\n    assert True\n",
        ])
        let environment = try Fixture.builder().prepare(ProjectSnapshot(directory: project, createdAt: Fixture.date("2024-01-01")))
        XCTAssertTrue(environment.resolvedPackages.contains { $0.hasPrefix("iniconfig==") }, "\(environment.resolvedPackages)")
        XCTAssertTrue((environment.adjustments ?? []).contains("left out requirement files the tree does not have: requirements-dev.txt"),
                      "\(environment.adjustments ?? [])")
    }
}
