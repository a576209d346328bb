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

/// Only a noxfile's test sessions give test requirements.
final class NoxSessionTests: XCTestCase {
    func testOnlyTestSessionsGiveRequirements() {
        let noxfile = """
        import nox

        def tests_impl(session, extras="socks"):
            session.install("-r", "dev-requirements.txt")
            session.install(f".[{extras}]")
            session.run("pytest", "tests")


        @nox.session(python=["3.9", "3.12"])
        def test(session):
            tests_impl(session)


        @nox.session
        def emscripten(session):
            session.install("-r", "emscripten-requirements.txt")


        @nox.session
        def mypy(session):
            session.install("-r", "mypy-requirements.txt")
            session.run("mypy", "src")


        @nox.session
        def downstream_requests(session):
            session.install("-r", "requirements-dev.txt")
        """
        let project = PythonProject(manifests: ["noxfile.py": Data(noxfile.utf8)], requirementPatterns: [], projectDirectory: nil)
        XCTAssertEqual(project.otherTestRequirements, ["-r dev-requirements.txt"])
        let withoutTests = PythonProject(manifests: ["noxfile.py": Data("@nox.session\ndef check(session):\n    session.install(\"attrs\")\n".utf8)],
                                         requirementPatterns: [], projectDirectory: nil)
        XCTAssertEqual(withoutTests.otherTestRequirements, ["attrs"], "no session says test: the whole file counts")
    }
}
