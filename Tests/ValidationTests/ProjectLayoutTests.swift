import Environments
import Foundation
import Git
import Store
import Validation
import XCTest

/// Layouts that worked in the build checkout but not in the test tree: tests run in a fresh export
/// of the task's tree (with the gold patch), while the environment was built from another checkout.
/// - A package folder named in the build configuration (`package_dir={"": "Lib"}`, fontTools):
///   PYTHONPATH must name that folder of the test tree, or the editable install's path (the build
///   checkout, without the fix) answers the import, and no test can fail before and pass after.
/// - A version taken from git (setuptools_scm, twine and pytest): the exported tree has no .git, so
///   the build must be told the version, and the version module it writes into the checkout must
///   reach the test tree.
final class ProjectLayoutTests: XCTestCase {
    private static let brokenCore = "def add(a, b):\n    return a - b\n"
    private static let fixedCore = "def add(a, b):\n    return a + b\n"
    /// A setuptools_scm project whose package imports the version module the build writes.
    private static let scmFiles: [String: String] = [
        "pyproject.toml": """
        [build-system]
        requires = ["setuptools>=64", "setuptools_scm>=8"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "calc"
        dynamic = ["version"]
        requires-python = ">=3.8"

        [tool.setuptools_scm]
        version_file = "calc/_version.py"

        [tool.setuptools.packages.find]
        include = ["calc*"]

        """,
        // The package refuses to import without the file the build writes.
        "calc/__init__.py": "from ._version import version as __version__\n",
        ".gitignore": "calc/_version.py\n",
    ]

    private static let tests = "from calc.core import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n\n\ndef test_zero():\n    assert add(0, 0) == 0\n"

    /// A repository with `files` plus a broken `add`, and a pull request fixing it with a test;
    /// validated; returns the verdict.
    private func validate(_ name: String, files: [String: String], package: String) throws -> VerdictRecord {
        let repo = try FixtureRepo(name)
        let base = try repo.commit("Initial import", files.merging([
            "\(package)/calc/core.py": Self.brokenCore,
            "tests/test_core.py": "from calc.core import add\n\n\ndef test_zero():\n    assert add(0, 0) == 0\n",
        ]) { $1 })
        let head = try repo.commit("Fix add", ["\(package)/calc/core.py": Self.fixedCore, "tests/test_core.py": Self.tests])
        let task = try repo.task("forge-tests__\(name)-1", repo: "forge-tests/\(name)", base: base, head: head,
                                 code: ["\(package)/calc/core.py"], tests: ["tests/test_core.py"])
        let store = try Harness.store()
        try store.save(tasks: [task])
        _ = try BatchValidation.run(tasks: [task], validator: try Harness.validator(repo, reruns: 0), store: store)
        return try XCTUnwrap(try store.verdict(instanceID: task.instanceID, kind: .validation))
    }

    func testPackagesUnderADeclaredFolderAreImportedFromTheTreeUnderTest() throws {
        let verdict = try validate("libdir", files: [
            "setup.py": "from setuptools import setup, find_packages\n"
                + "setup(name='calc', version='1.0', package_dir={'': 'Lib'}, packages=find_packages('Lib'))\n",
            "Lib/calc/__init__.py": "",
        ], package: "Lib")
        XCTAssertEqual(verdict.status, "valid", verdict.reason ?? "")
        XCTAssertEqual(verdict.failToPass, ["tests/test_core.py::test_add"])
        XCTAssertEqual(verdict.passToPass, ["tests/test_core.py::test_zero"])
    }

    /// A pytest plugin that reads `config.cache` in a hook (pytest-memray's `limit_memory` mark,
    /// urllib3's suite): with the cache plugin disabled every run ends in an INTERNALERROR after
    /// the first test, so no task of such a project can be confirmed.
    func testAPluginThatUsesPytestsCacheRuns() throws {
        let verdict = try validate("cacheuser", files: [
            "setup.py": "from setuptools import setup\nsetup(name='calc', version='1.0', packages=['calc'])\n",
            "calc/__init__.py": "",
            "conftest.py": """
            import pytest

            @pytest.hookimpl(hookwrapper=True)
            def pytest_runtest_makereport(item, call):
                item.config.cache.set("cacheuser/last", item.nodeid)
                yield

            """,
        ], package: ".")
        XCTAssertEqual(verdict.status, "valid", verdict.reason ?? "")
        XCTAssertEqual(verdict.failToPass, ["tests/test_core.py::test_add"])
        XCTAssertEqual(verdict.passToPass, ["tests/test_core.py::test_zero"])
    }

    func testVersionFromGitBuildsWithoutGitAndItsVersionModuleReachesTheTests() throws {
        let verdict = try validate("scm", files: Self.scmFiles, package: ".")
        XCTAssertEqual(verdict.status, "valid", verdict.reason ?? "")
        XCTAssertEqual(verdict.failToPass, ["tests/test_core.py::test_add"])
    }

    /// Checkouts are shared by every environment built for one setup commit: a second build (here
    /// with a changed recipe, so another key) must still find the version module the first build
    /// wrote there as generated (urllib3's `_version.py` went missing from the test trees).
    func testASecondBuildOnTheSameCheckoutStillFindsTheFilesItGenerates() throws {
        let changedRecipes = Harness.scratch("recipes-changed")
        try FileManager.default.removeItem(at: changedRecipes)
        try FileManager.default.copyItem(at: Harness.recipesDirectory, to: changedRecipes)
        let python = changedRecipes.appendingPathComponent("python.yaml")
        let text = try String(contentsOf: python, encoding: .utf8)
        XCTAssertTrue(text.contains("\n  timeout: 900\n"))
        try text.replacingOccurrences(of: "\n  timeout: 900\n", with: "\n  timeout: 901\n")
            .write(to: python, atomically: true, encoding: .utf8)
        let second = EnvironmentBuilder(root: Harness.processDirectory.appendingPathComponent("envs"),
                                        recipes: try RecipeBook(directory: changedRecipes),
                                        options: .init(uvCacheDirectory: Harness.base.appendingPathComponent("uv-cache")))

        let repo = try FixtureRepo("scm-twice")
        let base = try repo.commit("Initial import", Self.scmFiles.merging(["calc/core.py": Self.brokenCore, "tests/test_core.py": Self.tests]) { $1 })
        let head = try repo.commit("Fix add", ["calc/core.py": Self.fixedCore])
        let task = try repo.task("forge-tests__scm-twice-1", repo: "forge-tests/scm-twice", base: base, head: head,
                                 code: ["calc/core.py"], tests: ["tests/test_core.py"])
        var keys: [String] = []
        for builder in [Harness.environments, second] {
            let validator = Validator(repository: try Repository.open(repo.path), environments: builder,
                                      options: ValidationOptions(reruns: 0, jobs: 1, useSandbox: true,
                                                                 runsDirectory: Harness.scratch("runs").path))
            let environment = try validator.environment(for: task)
            keys.append(environment.key)
            XCTAssertEqual(environment.generatedFiles, ["calc/_version.py"], "build \(keys.count)")
        }
        XCTAssertNotEqual(keys[0], keys[1], "the changed recipe builds another environment on the same checkout")
    }

    /// A fix that needs a new dependency (pylint's appdirs): the environment is built from the
    /// manifests with the gold patch's changes to them, so the after runs can import it.
    func testAGoldPatchThatAddsADependencyGetsItInstalled() throws {
        let repo = try FixtureRepo("newdep")
        let setup = "from setuptools import setup\nsetup(name='calc', version='1.0', packages=['calc'], install_requires=[%@])\n"
        let base = try repo.commit("Initial import", [
            "setup.py": setup.replacingOccurrences(of: "%@", with: ""),
            "calc/__init__.py": "",
            "calc/core.py": "def parse(text):\n    return None\n",
            "tests/test_core.py": "def test_nothing():\n    assert True\n",
        ])
        // six: nothing pytest itself pulls in.
        let head = try repo.commit("Parse bytes too, with six", [
            "setup.py": setup.replacingOccurrences(of: "%@", with: "'six'"),
            "calc/core.py": "import six\n\n\ndef parse(text):\n    return six.ensure_text(text).upper()\n",
            "tests/test_core.py": "from calc.core import parse\n\n\ndef test_nothing():\n    assert True\n\n\n"
                + "def test_parse():\n    assert parse(b'ab') == 'AB'\n",
        ])
        let task = try repo.task("forge-tests__newdep-1", repo: "forge-tests/newdep", base: base, head: head,
                                 code: ["setup.py", "calc/core.py"], tests: ["tests/test_core.py"])
        let store = try Harness.store()
        try store.save(tasks: [task])
        _ = try BatchValidation.run(tasks: [task], validator: try Harness.validator(repo, reruns: 0), store: store)
        let verdict = try XCTUnwrap(try store.verdict(instanceID: task.instanceID, kind: .validation))
        XCTAssertEqual(verdict.status, "valid", verdict.reason ?? "")
        XCTAssertEqual(verdict.failToPass, ["tests/test_core.py::test_parse"])
        XCTAssertEqual(verdict.passToPass, ["tests/test_core.py::test_nothing"])
    }

    /// pytest as of 2019: `use_scm_version` in setup.py, the name in setup.cfg, an older
    /// setuptools_scm that does not read the per-distribution variable then.
    func testLegacySetupPyWithVersionFromGitBuildsWithoutGit() throws {
        let verdict = try validate("legacyscm", files: [
            "pyproject.toml": "[build-system]\nrequires = [\"setuptools>=40.0\", \"setuptools_scm<7\", \"wheel\"]\n"
                + "build-backend = \"setuptools.build_meta\"\n",
            "setup.cfg": "[metadata]\nname = calc\n\n[options]\npackages = calc\n",
            "setup.py": "from setuptools import setup\n\nsetup(use_scm_version={'write_to': 'calc/_version.py'}, setup_requires=['setuptools_scm'])\n",
            "calc/__init__.py": "from ._version import version as __version__\n",
        ], package: ".")
        XCTAssertEqual(verdict.status, "valid", verdict.reason ?? "")
        XCTAssertEqual(verdict.failToPass, ["tests/test_core.py::test_add"])
    }
}
