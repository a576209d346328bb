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
}
