import Foundation
import XCTest
@testable import Environments

/// Release-time data (babel's CLDR tables) comes from the project's own wheel, but only what the
/// tree ignores and lacks, inside its packages.
final class ReleaseFilesTests: XCTestCase {
    func testIgnoredFilesTheTreeLacksAreTakenFromTheReleaseAndNothingElse() throws {
        let tree = Fixture.project([
            ".gitignore": "*.pyc\nbabel/global.dat\n/build\n",
            "babel/__init__.py": "",
            "babel/core.py": "def load(): ...\n",
            "babel/locale-data/.gitignore": "*\n!LICENSE.unicode\n",
            "babel/locale-data/LICENSE.unicode": "license\n",
            "docs/conf.py": "",
        ], name: "tree")
        let release = Fixture.project([
            "babel/__init__.py": "# the release's own copy\n",
            "babel/core.py": "def load(): 'released'\n",
            "babel/global.dat": "global tables\n",
            "babel/locale-data/en.dat": "en tables\n",
            "babel/locale-data/LICENSE.unicode": "newer license\n",
            "babel/messages/extract.py": "not ignored, not in the tree\n",
            "Babel-2.15.0.dist-info/METADATA": "Name: Babel\n",
        ], name: "release")
        XCTAssertEqual(ReleaseFiles.candidatePackages(tree: tree, sourceRoot: ""), ["babel"])
        let overlay = Fixture.directory("overlay")
        let taken = ReleaseFiles.collect(release: release, tree: tree, sourceRoot: "", packages: ["babel"], into: overlay)
        XCTAssertEqual(taken, ["babel/global.dat", "babel/locale-data/en.dat"])
        XCTAssertEqual(try String(contentsOf: overlay.appendingPathComponent("babel/locale-data/en.dat"), encoding: .utf8), "en tables\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: overlay.appendingPathComponent("babel/core.py").path))
    }

    func testATreeThatIgnoresNothingInsideItsPackagesFetchesNoWheel() {
        let tree = Fixture.project([".gitignore": "*.pyc\nbuild/\n", "calc/__init__.py": "", "calc/core.py": ""], name: "plain")
        XCTAssertEqual(ReleaseFiles.candidatePackages(tree: tree, sourceRoot: ""), [])
    }

    func testIgnoreRulesFollowGit() {
        let tree = Fixture.project([
            ".gitignore": "*.log\n/top.txt\ndata/\ndocs/**/gen\n!keep.log\n",
            "pkg/.gitignore": "tables/*.bin\n",
        ], name: "rules")
        let ignore = GitIgnore(tree: tree)
        XCTAssertTrue(ignore.ignores("a/b/run.log"))
        XCTAssertFalse(ignore.ignores("a/keep.log"), "re-included")
        XCTAssertTrue(ignore.ignores("top.txt"))
        XCTAssertFalse(ignore.ignores("sub/top.txt"), "anchored at the root")
        XCTAssertTrue(ignore.ignores("x/data/file.py"), "an ignored folder at any depth ignores its files")
        XCTAssertFalse(ignore.ignores("x/data"), "a folder pattern does not match a file")
        XCTAssertTrue(ignore.ignores("docs/a/b/gen/x.html"))
        XCTAssertTrue(ignore.ignores("pkg/tables/t.bin"))
        XCTAssertFalse(ignore.ignores("tables/t.bin"), "a nested file's rules apply below it only")
    }
}
