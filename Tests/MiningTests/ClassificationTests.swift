@testable import PathRules
import XCTest
@testable import Mining

final class ClassificationTests: XCTestCase {
    func testEveryClosingKeywordInEveryForm() {
        let parser = IssueLinkParser(repository: "Forge/Demo")
        let keywords = ["close", "closes", "closed", "fix", "fixes", "fixed", "resolve", "resolves", "resolved"]
        for keyword in keywords {
            for spelling in [keyword, keyword.uppercased(), keyword.capitalized] {
                for separator in [" ", ": ", ":", "  \t"] {
                    XCTAssertEqual(parser.issues(in: "\(spelling)\(separator)#12"), [12], "\(spelling)\(separator)#12")
                    XCTAssertEqual(parser.issues(in: "This \(spelling)\(separator)forge/demo#13."), [13])
                    XCTAssertEqual(parser.issues(in: "(\(spelling)\(separator)https://github.com/forge/demo/issues/14)"), [14])
                }
            }
        }
        // Two links, repeats collapsed, order kept.
        XCTAssertEqual(parser.issues(in: "Fixes #3, closes #1\n\nfixes #3"), [3, 1])
        // Not links: other repositories, words that merely contain a keyword, no keyword, no space.
        XCTAssertEqual(parser.issues(in: "fixes other/repo#5 and https://github.com/other/repo/issues/6"), [])
        XCTAssertEqual(parser.issues(in: "prefixes #7, unfixed #8, see #9, refixes #10"), [])
        XCTAssertEqual(parser.issues(in: "fix#11 and fixes #12abc"), [])
        XCTAssertEqual(parser.issues(in: "Fixes: #1 and #2"), [1], "GitHub needs a keyword per issue")
        XCTAssertEqual(parser.issues(in: ""), [])
    }

    func testPathCategories() {
        let expectations: [String: FileCategory] = [
            "src/pkg/core.py": .code,
            "pkg/testing_utils.py": .code,
            "pkg/contest.py": .code,
            "tests/test_core.py": .test,
            "pkg/tests/helpers.py": .test,
            "pkg/test_core.py": .test,
            "pkg/core_test.py": .test,
            "conftest.py": .test,
            "testing/plugin.py": .test,
            "e2e/login.spec.ts": .test,
            "web/src/app.spec.ts": .test,
            "web/src/app.test.jsx": .test,
            "Tests/ForgeTests/MinerTests.swift": .test,
            "Sources/Forge/MinerTests.swift": .test,
            "Sources/Forge/Miner.swift": .code,
            "crates/x/tests/integration.rs": .test,
            "crates/x/src/lib.rs": .code,
            "server/handler_test.go": .test,
            "server/handler.go": .code,
            "tests/fixtures/input.json": .test,
            "tests/__snapshots__/view.snap": .test,
            "pkg/testdata/golden.txt": .test,
            "tests_functional/issues/705_flask/app.py": .test,
            "integration_tests/run.py": .test,
            "src/attest_tools/sign.py": .code,
            "src/pytest_plugin/hooks.py": .code,
            "README.md": .other,
            "docs/conf.py": .other,
            "doc/index.rst": .other,
            "CHANGELOG": .other,
            "CHANGES.rst": .other,
            "LICENSE-MIT": .other,
            "changelog.d/123.bugfix": .other,
            "pkg/license_check.py": .code,
            "requirements.txt": .code,
            "pyproject.toml": .code,
        ]
        for (path, category) in expectations {
            XCTAssertEqual(PathClassifier.category(of: path), category, path)
        }
    }

    func testGlobs() {
        XCTAssertTrue(PathGlob("*.png").matches("a/b/logo.png"))
        XCTAssertFalse(PathGlob("*.png").matches("a/b/logo.pngx"))
        XCTAssertTrue(PathGlob("vendor/**").matches("vendor/x/y.c"))
        XCTAssertFalse(PathGlob("vendor/**").matches("src/vendor/x.c"))
        XCTAssertTrue(PathGlob("**/vendor/**").matches("src/vendor/x.c"))
        XCTAssertTrue(PathGlob("src/*.py").matches("src/a.py"))
        XCTAssertFalse(PathGlob("src/*.py").matches("src/sub/a.py"))
        XCTAssertTrue(PathGlob("src/**/*.py").matches("src/a.py"))
        XCTAssertTrue(PathGlob("src/**/*.py").matches("src/sub/deep/a.py"))
        XCTAssertTrue(PathGlob("test_?.py").matches("tests/test_a.py"))
        XCTAssertTrue(PathGlob("[abc]*.txt").matches("b1.txt"))
        XCTAssertFalse(PathGlob("[!abc]*.txt").matches("b1.txt"))
        XCTAssertTrue(PathGlob("[a-c]1.txt").matches("c1.txt"))
    }

    func testVersionHelpers() {
        XCTAssertEqual(ProjectFacts.majorMinor("2.27.1"), "2.27")
        XCTAssertEqual(ProjectFacts.majorMinor("v3"), "3.0")
        XCTAssertEqual(ProjectFacts.majorMinor("1.0rc1"), "1.0")
        XCTAssertNil(ProjectFacts.majorMinor("dev"))
        XCTAssertEqual(ProjectFacts.majorMinor(ofTag: "release-4.5.6"), "4.5")
        XCTAssertNil(ProjectFacts.majorMinor(ofTag: "nightly"))
        XCTAssertNil(ProjectFacts.majorMinor(ofTag: "2024"))
        let toml = "[build-system]\nversion = \"0\"\n[project]\nname = \"x\"\nversion = \"5.6.7\"  # comment\n"
        XCTAssertEqual(ProjectFacts.tomlValue(toml, sections: ["project"], key: "version"), "5.6.7")
        XCTAssertEqual(ProjectFacts.tomlValue("[metadata]\nversion = 1.2\n", sections: ["metadata"], key: "version"), "1.2")
    }
}
