import Foundation
import XCTest
@testable import Environments

/// tox `deps` may name the user's environment (`{env:NAME:default}`) or tox's own folders; uv reads
/// a requirement file, so those must be resolved or left out, never passed through (babel's tox.ini
/// made every build fail with "Unexpected '{'").
final class ToxSubstitutionTests: XCTestCase {
    func testEnvironmentSubstitutionsTakeTheirDefaultAndUnknownOnesAreDropped() {
        let project = PythonProject(manifests: [
            "setup.py": Data("from setuptools import setup\nsetup(name='calc')\n".utf8),
            "tox.ini": Data("""
            [tox]
            envlist = py{38,39,312}
            [testenv]
            deps =
                py39: setuptools<82
                {env:CALC_EXTRA_DEPS:}
                {env:CALC_PIN:attrs>=21}
                {env:CALC_UNSET}
                {toxworkdir}/wheels/calc.whl
                py{38,39}: {envname}-helper
            commands = pytest {posargs}
            """.utf8),
        ], requirementPatterns: [], projectDirectory: nil)
        XCTAssertEqual(project.toxDependencies(for: PythonVersion("3.9.18")!), ["setuptools<82", "attrs>=21"])
        XCTAssertEqual(project.toxDependencies(for: PythonVersion("3.12.1")!), ["attrs>=21"])
        XCTAssertTrue(project.mentionsPytest)
    }
}
