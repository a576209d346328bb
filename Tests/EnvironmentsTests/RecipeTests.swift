import Foundation
import XCTest
@testable import Environments

final class RecipeTests: XCTestCase {
    /// A copy of the shipped recipes in a temp folder named `Recipes`, with one file replaced.
    private func recipesCopy(replacing name: String, with text: String) throws -> URL {
        let parent = Fixture.directory("recipes")
        let copy = parent.appendingPathComponent("Recipes")
        try FileManager.default.copyItem(at: Fixture.recipesDirectory, to: copy)
        try text.write(to: copy.appendingPathComponent(name), atomically: true, encoding: .utf8)
        return copy
    }

    private func shippedText(_ name: String) throws -> String {
        try String(contentsOf: Fixture.recipesDirectory.appendingPathComponent(name), encoding: .utf8)
    }

    /// 1-based line of the first line containing `needle`.
    private func line(of needle: String, in text: String) -> Int {
        text.components(separatedBy: "\n").firstIndex(where: { $0.contains(needle) })! + 1
    }

    func testShippedRecipesLoadAndDescribeEveryEcosystem() throws {
        let book = try RecipeBook(directory: Fixture.recipesDirectory)
        XCTAssertEqual(Set(book.ecosystems), [.python, .swift, .rust])
        XCTAssertEqual(book.repositories, ["psf/requests"])

        let python = try book.recipe(for: .python)
        XCTAssertEqual(python.install.ladder, [.editableExtras, .editableExtrasRequirements, .dependenciesOnly])
        XCTAssertEqual(python.sources, ["Recipes/python.yaml"])
        let pytest = try XCTUnwrap(python.test.runners["pytest"])
        XCTAssertEqual(pytest.report, .junit)
        XCTAssertFalse(pytest.command.contains("no:cacheprovider"), "plugins need pytest's cache")
        for flag in ["-rA", "--junitxml={junit}", "junit_family=xunit1", "{test_files}"] {
            XCTAssertTrue(pytest.command.contains(flag), "pytest command lacks \(flag)")
        }
        XCTAssertEqual(try book.recipe(for: .swift).test.runners["swift"]?.command.prefix(5),
                       ["{tool}", "test", "--parallel", "--xunit-output", "{junit}"])
        XCTAssertTrue(try book.recipe(for: .rust).test.runners["cargo"]!.command.contains("--offline"))
        XCTAssertEqual(python.contentHash.count, 64)
        XCTAssertNotEqual(python.contentHash, try book.recipe(for: .rust).contentHash)
    }

    func testTypoInKeyIsReportedWithFileKeyAndLine() throws {
        let original = try shippedText("python.yaml")
        let broken = original.replacingOccurrences(of: "\ninstall:\n", with: "\ninstal:\n")
        XCTAssertNotEqual(broken, original)
        let folder = try recipesCopy(replacing: "python.yaml", with: broken)
        XCTAssertThrowsError(try RecipeBook(directory: folder)) { error in
            let recipeError = error as? RecipeError
            XCTAssertEqual(recipeError?.file, "Recipes/python.yaml")
            XCTAssertEqual(recipeError?.line, self.line(of: "instal:", in: broken))
            XCTAssertEqual("\(error)", "Recipes/python.yaml:\(self.line(of: "instal:", in: broken)): unknown key 'instal' (did you mean 'install'?)")
        }
    }

    func testNestedTypoAndWrongTypesAreReported() throws {
        let original = try shippedText("python.yaml")
        let cases: [(String, String, String)] = [
            ("  timeout: 900", "  timout: 900", "unknown key 'timout' (did you mean 'timeout'?)"),
            ("  timeout: 900", "  timeout: [900]", "'install.timeout' must be a number, got a list"),
            ("  priority: 10", "  priority: high", "'detect.priority' must be an integer, got the scalar 'high'"),
            ("  ladder: [editable-extras,", "  ladder: [editable-extra,", "'install.ladder' has 'editable-extra', expected one of"),
            ("      report: junit", "      report: xml", "'test.runners.pytest.report' is 'xml', expected one of junit, log"),
            ("\"--junitxml={junit}\"", "\"--junitxml={junitpath}\"", "unknown placeholder '{junitpath}'"),
        ]
        for (needle, replacement, message) in cases {
            XCTAssertTrue(original.contains(needle), needle)
            let broken = original.replacingOccurrences(of: needle, with: replacement)
            let folder = try recipesCopy(replacing: "python.yaml", with: broken)
            XCTAssertThrowsError(try RecipeBook(directory: folder), replacement) { error in
                let expectedLine = self.line(of: replacement, in: broken)
                XCTAssertTrue("\(error)".hasPrefix("Recipes/python.yaml:\(expectedLine): \(message)"),
                              "\(error) should start with Recipes/python.yaml:\(expectedLine): \(message)")
            }
        }
    }

    func testMissingRequiredKeyAndBadYAMLAreReported() throws {
        let noRunners = try recipesCopy(replacing: "rust.yaml", with: "ecosystem: rust\ndetect:\n  markers: [Cargo.toml]\n")
        XCTAssertThrowsError(try RecipeBook(directory: noRunners)) { error in
            XCTAssertTrue("\(error)".hasPrefix("Recipes/rust.yaml:"), "\(error)")
            XCTAssertTrue("\(error)".contains("missing key 'toolchain'"), "\(error)")
        }
        let badYAML = try recipesCopy(replacing: "swift.yaml", with: "ecosystem: swift\ndetect: [a\n  b: c\n")
        XCTAssertThrowsError(try RecipeBook(directory: badYAML)) { error in
            XCTAssertTrue("\(error)".hasPrefix("Recipes/swift.yaml:"), "\(error)")
            XCTAssertTrue("\(error)".contains("not valid YAML"), "\(error)")
        }
    }

    func testRepositoryRecipeOverridesByVersionRange() throws {
        let book = try RecipeBook(directory: Fixture.recipesDirectory)
        let base = try book.recipe(for: .python)
        // requests 2.20 and later need nothing beyond the ecosystem recipe: no variant applies.
        let modern = try book.recipe(for: .python, repo: "psf/requests", version: "2.27")
        XCTAssertEqual(modern, base)

        let old = try book.recipe(for: .python, repo: "PSF/Requests", version: "2.19")
        XCTAssertEqual(old.interpreter.requires, ">=3.6,<3.8")
        // Unchanged keys keep the ecosystem's values; maps merge.
        XCTAssertEqual(old.interpreter.minimum, base.interpreter.minimum)
        XCTAssertEqual(old.install, base.install)
        XCTAssertEqual(old.sources, ["Recipes/python.yaml", "Recipes/repos/psf__requests.yaml"])
        XCTAssertNotEqual(old.contentHash, base.contentHash)

        let other = try book.recipe(for: .python, repo: "pallets/flask", version: "2.0")
        XCTAssertEqual(other, base)
    }

    func testRepositoryRecipeValidation() throws {
        let parent = Fixture.directory("recipes")
        let copy = parent.appendingPathComponent("Recipes")
        try FileManager.default.copyItem(at: Fixture.recipesDirectory, to: copy)
        let text = "repo: acme/widgets\nvariants:\n  - versions: \">=1.0\"\n    intrepreter:\n      requires: \">=3.9\"\n"
        try text.write(to: copy.appendingPathComponent("repos/acme__widgets.yaml"), atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try RecipeBook(directory: copy)) { error in
            XCTAssertEqual("\(error)", "Recipes/repos/acme__widgets.yaml:4: unknown key 'intrepreter' (did you mean 'interpreter'?)")
        }
        try "versions: \">=1\"\ninstall:\n  packages: [pytest]\n"
            .write(to: copy.appendingPathComponent("repos/acme__widgets.yaml"), atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try RecipeBook(directory: copy)) { error in
            XCTAssertTrue("\(error)".contains("missing key 'repo'"), "\(error)")
        }
        try "repo: acme/widgets\nversions: \">=>1\"\n"
            .write(to: copy.appendingPathComponent("repos/acme__widgets.yaml"), atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try RecipeBook(directory: copy)) { error in
            XCTAssertTrue("\(error)".hasPrefix("Recipes/repos/acme__widgets.yaml:2: invalid version specifier"), "\(error)")
        }
    }

    func testDetectionWithAndWithoutRecipes() throws {
        let book = try RecipeBook(directory: Fixture.recipesDirectory)
        let cases: [([String: String], Ecosystem?)] = [
            (["setup.py": "from setuptools import setup\nsetup()\n"], .python),
            (["pyproject.toml": "[project]\nname = \"x\"\n"], .python),
            (["tox.ini": "[tox]\n"], .python),
            (["Package.swift": "// swift-tools-version: 5.9\n"], .swift),
            (["Cargo.toml": "[package]\nname = \"x\"\n"], .rust),
            // A Rust crate with Python bindings: the Cargo marker has the higher priority.
            (["Cargo.toml": "[package]\n", "pyproject.toml": "[project]\n"], .rust),
            (["README.md": "hello\n"], nil),
        ]
        for (files, expected) in cases {
            let project = Fixture.project(files)
            XCTAssertEqual(ProjectDetector.detect(directory: project, recipes: book), expected, "\(files.keys.sorted())")
            XCTAssertEqual(ProjectDetector.detect(directory: project, recipes: nil), expected, "built-in: \(files.keys.sorted())")
        }
        // A repository recipe can force the ecosystem.
        let parent = Fixture.directory("recipes")
        let copy = parent.appendingPathComponent("Recipes")
        try FileManager.default.copyItem(at: Fixture.recipesDirectory, to: copy)
        try "repo: acme/bindings\necosystem: python\n"
            .write(to: copy.appendingPathComponent("repos/acme__bindings.yaml"), atomically: true, encoding: .utf8)
        let forced = try RecipeBook(directory: copy)
        let mixed = Fixture.project(["Cargo.toml": "[package]\n", "pyproject.toml": "[project]\n"])
        XCTAssertEqual(ProjectDetector.detect(directory: mixed, recipes: forced, repo: "acme/bindings"), .python)
        XCTAssertEqual(ProjectDetector.detect(directory: mixed, recipes: forced, repo: "acme/other"), .rust)
    }

    func testTestCommandTemplatesExpandPerRunner() throws {
        let book = try RecipeBook(directory: Fixture.recipesDirectory)
        func environment(_ ecosystem: Ecosystem, runner: String, venv: String? = nil, tool: ToolchainInfo? = nil) throws -> PreparedEnvironment {
            let recipe = try book.recipe(for: ecosystem)
            return PreparedEnvironment(
                key: "k", ecosystem: ecosystem, recipeHash: recipe.contentHash, recipeSources: recipe.sources, repo: nil,
                version: nil, excludeNewer: "2023-01-01T00:00:00Z", interpreter: nil, toolchain: tool, venvPath: venv,
                strategy: nil, projectInstall: nil, attempts: [], resolvedPackages: [], manifestHashes: [:],
                envVars: ["PYTHONPATH": "{source}/src", "VIRTUAL_ENV": "{venv}"], testRunnerName: runner,
                testRunner: recipe.test.runners[runner]!, testTimeout: recipe.test.timeout, sourceRoot: "src",
                builtFrom: "/work/p", buildLogPath: "/dev/null", buildSeconds: 0, builtAt: "", reused: false)
        }
        let pytest = try environment(.python, runner: "pytest", venv: "/envs/v")
        XCTAssertEqual(pytest.testCommand(for: ["tests/test_a.py", "tests/test_b.py"], junitPath: "/out/j.xml"),
                       ["/envs/v/bin/python", "-m", "pytest", "-rA", "--junitxml=/out/j.xml",
                        "-o", "junit_family=xunit1", "--timeout=300", "--continue-on-collection-errors",
                        "tests/test_a.py", "tests/test_b.py"])
        XCTAssertTrue(pytest.writesJUnit)
        XCTAssertEqual(pytest.testEnvironment(projectDirectory: "/tmp/task"),
                       ["PYTHONPATH": "/tmp/task/src", "VIRTUAL_ENV": "/envs/v"])
        XCTAssertEqual(pytest.testEnvironment()["PYTHONPATH"], "/work/p/src")

        let unittest = try environment(.python, runner: "unittest", venv: "/envs/v")
        XCTAssertEqual(unittest.testCommand(for: ["tests/test_a.py", "src/pkg/test_b.py"], junitPath: "/j"),
                       ["/envs/v/bin/python", "-m", "unittest", "-v", "tests.test_a", "pkg.test_b"])
        XCTAssertFalse(unittest.writesJUnit)

        let swift = try environment(.swift, runner: "swift", tool: ToolchainInfo(path: "/opt/swift/usr/bin/swift", version: "6"))
        XCTAssertEqual(swift.testCommand(for: ["Tests/CoreTests/ATests.swift", "Tests/CoreTests/BTests.swift", "Tests/IOTests/C.swift"],
                                         junitPath: "/j.xml"),
                       ["/opt/swift/usr/bin/swift", "test", "--parallel", "--xunit-output", "/j.xml", "--filter=^CoreTests\\.", "--filter=^IOTests\\."])
        XCTAssertEqual(swift.testCommand(for: [], junitPath: "/j.xml"),
                       ["/opt/swift/usr/bin/swift", "test", "--parallel", "--xunit-output", "/j.xml"])
        XCTAssertEqual(swift.reportFiles(junitPath: "/out/j.xml"), ["/out/j.xml", "/out/j-swift-testing.xml"])
        XCTAssertEqual(pytest.reportFiles(junitPath: "/out/j.xml"), ["/out/j.xml"])
        XCTAssertEqual(unittest.reportFiles(junitPath: "/out/j.xml"), [])

        let cargo = try environment(.rust, runner: "cargo", tool: ToolchainInfo(path: "/c/cargo", version: "1"))
        XCTAssertEqual(cargo.testCommand(for: ["tests/parse.rs", "tests/cli/main.rs", "src/lib.rs", "src/a/b.rs"], junitPath: ""),
                       ["/c/cargo", "test", "--offline", "--test=parse", "--test=cli", "--lib"])
    }
}
