import Foundation
import GitFixtures
import XCTest
@testable import Git
@testable import Mining

/// Projects that take their version from git tags (setuptools_scm users such as pytest) tag releases
/// on release branches that reach the default branch through merges. The version of a base commit
/// is the highest version tag among all its ancestors, as `git describe --tags` would find it, not
/// the nearest tag on the first-parent line (which stays at the last release tagged on main).
final class TagVersionTests: XCTestCase {
    /// A pull request fixing `calc/core.py`, merged with a merge commit; returns its merge commit.
    @discardableResult
    private func mergePullRequest(_ number: Int, in f: Fixture, into branch: String = "main") throws -> String {
        try f.git("checkout", "-q", "-b", "pr\(number)", branch)
        try f.write("calc/core.py", "def add(a, b):\n    return a + b + \(number) - \(number)\n")
        try f.write("tests/test_core.py", "from calc.core import add\n\ndef test_add_\(number)():\n    assert add(\(number), 1) == \(number + 1)\n")
        try f.commit("Fix add for \(number)")
        try f.git("update-ref", "refs/pull/\(number)/head", "HEAD")
        try f.git("checkout", "-q", branch)
        try f.git("merge", "-q", "--no-ff", "pr\(number)", "-m", "Merge pull request #\(number) from a/pr\(number)")
        return try f.head()
    }

    func testVersionComesFromTheHighestTagReachableThroughMerges() throws {
        let f = try Fixture()
        // No version in any file: setuptools_scm computes it from tags at build time.
        try f.write("pyproject.toml", "[build-system]\nrequires = [\"setuptools_scm\"]\n[project]\nname = \"calc\"\ndynamic = [\"version\"]\n")
        try f.write("calc/__init__.py", "from ._version import version as __version__\n")
        try f.write("calc/core.py", "def add(a, b):\n    return a + b\n")
        try f.commit("Initial import")
        try f.git("tag", "3.1.3")
        // Releases 4.5.0 and 4.6.0 are cut and tagged on a release branch, which main merges back.
        try f.git("checkout", "-q", "-b", "release")
        try f.write("CHANGELOG", "4.5.0\n")
        try f.commit("Release 4.5.0")
        try f.git("tag", "4.5.0")
        try f.git("checkout", "-q", "main")
        try f.git("merge", "-q", "--no-ff", "release", "-m", "Merge the 4.5.0 release into main")
        let base45 = try f.head()
        try mergePullRequest(1, in: f)
        try f.git("checkout", "-q", "release")
        try f.write("CHANGELOG", "4.5.0\n4.6.0\n")
        try f.commit("Release 4.6.0")
        try f.git("tag", "4.6.0")
        // A maintenance release of an older line, tagged later and merged back too, must not win.
        try f.git("checkout", "-q", "-b", "maint-4.5", "4.5.0")
        try f.write("NOTES", "4.5.9\n")
        try f.commit("Release 4.5.9")
        try f.git("tag", "4.5.9")
        try f.git("checkout", "-q", "main")
        try f.git("merge", "-q", "--no-ff", "release", "-m", "Merge the 4.6.0 release into main")
        try f.git("merge", "-q", "--no-ff", "maint-4.5", "-m", "Merge the 4.5.9 maintenance release into main")
        let base46 = try f.head()
        try mergePullRequest(2, in: f)
        XCTAssertTrue(try f.git("describe", "--tags", "--first-parent", base46).hasPrefix("3.1.3"),
                      "the first-parent line has only the old tag")

        let result = try Miner(repository: try Repository.open(f.path), repo: "a/calc").mine()
        let byNumber = Dictionary(uniqueKeysWithValues: result.tasks.compactMap { task in task.pullNumber.map { ($0, task) } })
        XCTAssertEqual(byNumber[1]?.baseCommit, base45)
        XCTAssertEqual(byNumber[1]?.version, "4.5")
        XCTAssertEqual(byNumber[2]?.baseCommit, base46)
        XCTAssertEqual(byNumber[2]?.version, "4.6")
    }

    func testTheProjectsOwnTagPrefixIsReadAndOthersAreNot() {
        let tags = ["calc-0.9", "calc-1.0", "calc-1.1rc1", "1.2.0", "v1.3", "RoboCalc-7.0", "nightly", "python2"]
        let conventions = ProjectFacts.tagConventions(tags)
        XCTAssertEqual(conventions, ["calc-"])
        XCTAssertEqual(ProjectFacts.majorMinor(ofTag: "calc-1.1rc1", acceptedPrefixes: conventions), "1.1")
        XCTAssertEqual(ProjectFacts.majorMinor(ofTag: "1.2.0", acceptedPrefixes: conventions), "1.2")
        XCTAssertEqual(ProjectFacts.majorMinor(ofTag: "v1.3", acceptedPrefixes: conventions), "1.3")
        XCTAssertNil(ProjectFacts.majorMinor(ofTag: "RoboCalc-7.0", acceptedPrefixes: conventions), "a sister product's tag")
        XCTAssertNil(ProjectFacts.majorMinor(ofTag: "python2", acceptedPrefixes: conventions))
        XCTAssertEqual(ProjectFacts.majorMinor(ofTag: "release-4.5.6"), "4.5")
        XCTAssertEqual(ProjectFacts.tagConventions(["1.0", "1.1", "1.2", "1.3", "1.4", "1.5", "Other-9.0"]), [])
    }

    func testVersionKeptByHandInReleasePyOrPkginfo() throws {
        let f = try Fixture()
        try f.write("setup.py", "from setuptools import setup\nexec(open('calc/release.py').read())\nsetup(name='calc', version=__version__)\n")
        try f.write("calc/__init__.py", "from calc.release import __version__\n")
        try f.write("calc/release.py", "__version__ = \"1.12.dev\"\n")
        try f.write("calc/core.py", "def add(a, b):\n    return a + b\n")
        try f.commit("Initial import")
        try f.git("tag", "calc-1.11.0")
        try mergePullRequest(1, in: f)
        let result = try Miner(repository: try Repository.open(f.path), repo: "a/calc").mine()
        XCTAssertEqual(result.tasks.first?.version, "1.12", "the file says what is being developed; the tag says what was released")
    }
}
