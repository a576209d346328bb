import Environments
import Foundation
import Store
import Validation
import XCTest

/// Broken tasks, projects and recipes: each ends as a verdict with one clear reason, and the
/// batch goes on to the next task.
final class BadInputTests: XCTestCase {
    func testEachBadTaskGetsItsReasonAndTheBatchGoesOn() throws {
        let git = try FixtureRepo("bad")
        let base = try git.commit("Initial import", [
            "pyproject.toml": PythonFixture.pyproject,
            "calc/__init__.py": PythonFixture.initModule,
            "calc/ops.py": CalcFixture.opsBase,
            "tests/test_ops.py": CalcFixture.testsBase,
        ])
        let fixed = try git.commit("Clamp to the upper bound too", [
            "calc/ops.py": CalcFixture.opsAfter1,
            "tests/test_ops.py": CalcFixture.testsAfter1,
        ])
        // Two other project states on side branches, off the initial import.
        try git.git("checkout", "-q", "-b", "future-python", base)
        let futurePython = try git.commit("Require a Python that does not exist", [
            "pyproject.toml": PythonFixture.pyproject.replacingOccurrences(of: ">=3.8", with: ">=3.99"),
        ])
        try git.git("checkout", "-q", "-b", "future-pytest", base)
        let futurePytest = try git.commit("Depend on a pytest that was never released", [
            "pyproject.toml": PythonFixture.pyproject.replacingOccurrences(
                of: "requires-python = \">=3.8\"", with: "requires-python = \">=3.8\"\ndependencies = [\"pytest==7.99\"]"),
        ])
        try git.git("checkout", "-q", "-b", "needs-network", base)
        let network = try git.commit("Fetch pages", [
            "calc/net.py": "import urllib.request\n\n\ndef fetch(url):\n    return urllib.request.urlopen(url, timeout=5).read()\n",
            "tests/test_net.py": "from calc.net import fetch\n\n\ndef test_fetch():\n    assert fetch('http://example.org/')\n",
        ])
        try git.git("checkout", "-q", "main")

        let good = try git.task("forge-tests__bad-6", repo: "forge-tests/bad", base: base, head: fixed,
                                code: ["calc"], tests: ["tests"])
        var patchDoesNotApply = good
        patchDoesNotApply.instanceID = "forge-tests__bad-1"
        // The gold patch's context no longer matches calc/ops.py at base_commit.
        patchDoesNotApply.patch = good.patch.replacingOccurrences(of: "\n     if value < low:\n", with: "\n     if value <= low:\n")
        XCTAssertNotEqual(patchDoesNotApply.patch, good.patch)
        var testPatchDoesNotApply = good
        testPatchDoesNotApply.instanceID = "forge-tests__bad-2"
        // It changes a file that does not exist at base_commit.
        testPatchDoesNotApply.testPatch = good.testPatch.replacingOccurrences(of: "tests/test_ops.py", with: "tests/test_missing.py")
        var missingInterpreter = good
        missingInterpreter.instanceID = "forge-tests__bad-3"
        missingInterpreter.baseCommit = futurePython
        missingInterpreter.environmentSetupCommit = futurePython
        var unresolvable = good
        unresolvable.instanceID = "forge-tests__bad-4"
        unresolvable.baseCommit = futurePytest
        unresolvable.environmentSetupCommit = futurePytest
        unresolvable.createdAt = "2023-06-01T00:00:00Z" // no date helps: a pin only later releases meet is relaxed
        var badRecipe = good
        badRecipe.instanceID = "forge-tests__typo-5"
        badRecipe.repo = Harness.typoRepo

        let needsNetwork = try git.task("forge-tests__bad-7", repo: "forge-tests/bad", base: base, head: network,
                                        code: ["calc"], tests: ["tests"])

        let tasks = [patchDoesNotApply, testPatchDoesNotApply, missingInterpreter, unresolvable, badRecipe, needsNetwork, good]
        let store = try Harness.store()
        try store.save(tasks: tasks)
        let summary = try BatchValidation.run(tasks: tasks, validator: try Harness.validator(git, reruns: 0), store: store)
        XCTAssertEqual(summary.tried, 7)
        XCTAssertEqual(summary.byStatus[.error] ?? 0, 0, "bad input is the task's fault, not an infrastructure error")
        XCTAssertEqual(summary.byStatus[.valid], 1)

        func reason(_ task: TaskRecord) throws -> String {
            let verdict = try XCTUnwrap(try store.verdict(instanceID: task.instanceID, kind: .validation))
            XCTAssertEqual(verdict.status, task.instanceID == good.instanceID ? "valid" : "invalid", verdict.reason ?? "")
            XCTAssertNotNil(verdict.finishedAt)
            return verdict.reason ?? ""
        }

        let patchReason = try reason(patchDoesNotApply)
        XCTAssertTrue(patchReason.hasPrefix("patch did not apply: "), patchReason)
        XCTAssertTrue(patchReason.contains("calc/ops.py"), "names the file: \(patchReason)")
        XCTAssertFalse(patchReason.contains("\n"), "one line: \(patchReason)")
        let patchRuns = try store.runs(instanceID: patchDoesNotApply.instanceID)
        XCTAssertEqual(Set(patchRuns.map(\.phase)), [.before, .after])
        // The after run is git apply's: its command, status and log are recorded.
        let applyRun = patchRuns.first { $0.phase == .after }
        XCTAssertEqual(applyRun?.command.prefix(2), ["git", "apply"])
        XCTAssertEqual(applyRun?.exitStatus, 1)
        XCTAssertTrue(log(of: applyRun).contains("patch does not apply"), log(of: applyRun))

        let testPatchReason = try reason(testPatchDoesNotApply)
        XCTAssertTrue(testPatchReason.hasPrefix("test patch did not apply: "), testPatchReason)
        XCTAssertTrue(testPatchReason.contains("tests/test_missing.py"), testPatchReason)

        let interpreterReason = try reason(missingInterpreter)
        XCTAssertTrue(interpreterReason.hasPrefix("env build failed: missing-interpreter: no installed interpreter satisfies >=3.99"),
                      interpreterReason)
        XCTAssertTrue(interpreterReason.contains("pyproject.toml"), "names the manifest: \(interpreterReason)")
        XCTAssertEqual(try store.runs(instanceID: missingInterpreter.instanceID), [])

        let resolutionReason = try reason(unresolvable)
        XCTAssertTrue(resolutionReason.hasPrefix("env build failed: unresolvable-dependency: "), resolutionReason)
        XCTAssertTrue(resolutionReason.contains("pytest==7.99"), "names the requirement: \(resolutionReason)")

        let recipeReason = try reason(badRecipe)
        XCTAssertEqual(recipeReason, "env build failed: invalid-recipe: Recipes/repos/forge-tests__typo.yaml:4: "
                       + "'test.runner' is 'pytset', which is not a key of 'test.runners' (bin-test, nose, pytest, runtests, unittest)")

        // Its test fails before (no calc.net) and after (no network in the sandbox): the verdict
        // says why there is no FAIL_TO_PASS, quoting the connection error.
        let networkReason = try reason(needsNetwork)
        XCTAssertTrue(networkReason.hasPrefix("tests need the network: "), networkReason)
        XCTAssertTrue(NetworkFailuresMarkers.any(in: networkReason), networkReason)

        let goodVerdict = try XCTUnwrap(try store.verdict(instanceID: good.instanceID, kind: .validation))
        XCTAssertEqual(goodVerdict.failToPass, [CalcFixture.id("test_clamp_high")])
    }

    /// A misspelt key in a recipe stops Forge before any task, naming file, line and key.
    func testRecipeWithMisspeltKeyNamesFileLineAndKey() throws {
        let folder = Harness.scratch("typo").appendingPathComponent("Recipes")
        try FileManager.default.copyItem(at: RecipeBook.bundledDirectory(), to: folder)
        let file = folder.appendingPathComponent("python.yaml")
        let text = try String(contentsOf: file, encoding: .utf8)
        var lines = text.components(separatedBy: "\n")
        let index = try XCTUnwrap(lines.firstIndex(of: "install:"))
        lines[index] = "instal:"
        try lines.joined(separator: "\n").write(to: file, atomically: true, encoding: .utf8)

        XCTAssertThrowsError(try RecipeBook(directory: folder)) { error in
            guard let recipeError = error as? RecipeError else { return XCTFail("not a RecipeError: \(error)") }
            XCTAssertEqual(recipeError.file, "Recipes/python.yaml")
            XCTAssertEqual(recipeError.line, index + 1)
            XCTAssertEqual(recipeError.description,
                           "Recipes/python.yaml:\(index + 1): unknown key 'instal' (did you mean 'install'?)")
        }
    }
}

/// The connection errors a sandboxed run without network shows (name resolution or routing).
enum NetworkFailuresMarkers {
    static func any(in text: String) -> Bool {
        ["name resolution", "Name or service not known", "Network is unreachable", "Errno -3", "Errno -2", "Errno 101"]
            .contains { text.contains($0) }
    }
}
