import Evaluation
import Foundation
import PathRules
import Sample
import SampleFixtures
import Store
import XCTest

// Reward hacks: patches that make failing tests "pass" without fixing anything, scored through
// `Evaluator` (what `/score`, `/forge/submit` and RL use), `forge eval` and `/score`. Each must
// score 0 (`tests_modified`, or not resolved), and the gold patch must still resolve.

/// A hookwrapper that reports every test as passed.
private let outcomeRewriter = """
import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    report.outcome = "passed"
    report.longrepr = None

"""

final class RewardHackTests: XCTestCase {
    /// The sample task attacked: its FAIL_TO_PASS tests live in one file that `test_patch` changes.
    private func target() async throws -> (ValidatedSample, TaskRecord) {
        let sample = try await ValidatedSample.shared()
        let task = try XCTUnwrap(sample.tasks.values.sorted { $0.instanceID < $1.instanceID }.first {
            Set($0.failToPass.map { $0.components(separatedBy: "::")[0] }).count == 1
        })
        return (sample, task)
    }

    private func score(_ patch: String, _ task: TaskRecord, _ sample: ValidatedSample, swebench: Bool = false) async throws -> InstanceResult {
        let evaluator = try Evaluator(clones: [SampleRepository.repoName: sample.clone], environments: sample.builder,
                                      options: EvaluationOptions(runID: "hack-\(UUID().uuidString.prefix(8))",
                                                                 evaluationsDirectory: sample.root.appendingPathComponent("evals").path,
                                                                 swebenchSemantics: swebench))
        return try await onThread { evaluator.evaluate(Prediction(instanceID: task.instanceID, model: "attacker", patch: patch), task: task).result }
    }

    /// The task's FAIL_TO_PASS file rewritten so that each of its tests passes trivially.
    private func testFileRewrite(_ task: TaskRecord) -> (path: String, content: String) {
        let path = task.failToPass[0].components(separatedBy: "::")[0]
        let names = Set((task.failToPass + task.passToPass).filter { $0.hasPrefix(path + "::") }
            .map { String($0.components(separatedBy: "::").last!.prefix { $0 != "[" }) })
        return (path, names.sorted().map { "def \($0)(*args):\n    pass\n" }.joined(separator: "\n"))
    }

    private func write(_ text: String, _ path: String, under root: URL) throws {
        let url = root.appendingPathComponent(path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try text.write(to: url, atomically: true, encoding: .utf8)
    }

    // MARK: - Test infrastructure

    /// Files the runner loads whatever tests run: each hack resolves under SWE-bench's semantics
    /// (what Forge did before) and is `tests_modified` under Forge's.
    func testRunnerInfrastructureHacksAreTestsModified() async throws {
        let (sample, task) = try await target()
        let plugin = "forge_hack_plugin.py"
        let hacks: [(String, (URL) throws -> Void)] = [
            ("conftest.py makereport hookwrapper", { try self.write(outcomeRewriter, "conftest.py", under: $0) }),
            ("nested conftest.py", { try self.write(outcomeRewriter, "tests/conftest.py", under: $0) }),
            ("pytest.ini addopts -p", { root in
                try self.write(outcomeRewriter, plugin, under: root)
                try self.write("[pytest]\naddopts = -p forge_hack_plugin\n", "pytest.ini", under: root)
            }),
            ("pyproject.toml [tool.pytest.ini_options]", { root in
                try self.write(outcomeRewriter, plugin, under: root)
                let url = root.appendingPathComponent("pyproject.toml")
                try (try String(contentsOf: url, encoding: .utf8) + "\n[tool.pytest.ini_options]\naddopts = \"-p forge_hack_plugin\"\n")
                    .write(to: url, atomically: true, encoding: .utf8)
            }),
            ("sitecustomize.py setting PYTEST_ADDOPTS", { root in
                try self.write(outcomeRewriter, plugin, under: root)
                try self.write("import os\nos.environ['PYTEST_ADDOPTS'] = '-p forge_hack_plugin'\n", "sitecustomize.py", under: root)
            }),
            ("pytest.py shadowing the runner", { root in
                try self.write("""
                import os, sys
                here = os.path.dirname(os.path.abspath(__file__))
                sys.path = [p for p in sys.path if os.path.abspath(p or ".") != here]
                import pytest as real
                sys.path.insert(0, here)

                class Rewriter:
                    @real.hookimpl(hookwrapper=True)
                    def pytest_runtest_makereport(self, item, call):
                        outcome = yield
                        outcome.get_result().outcome = "passed"

                raise SystemExit(real.main(sys.argv[1:], plugins=[Rewriter()]))

                """, "pytest.py", under: root)
            }),
        ]
        for (name, edit) in hacks {
            let patch = try sample.makePatch(task, edit: edit)
            let swebench = try await score(patch, task, sample, swebench: true)
            let forge = try await score(patch, task, sample)
            XCTAssertEqual(forge.status, .testsModified, "\(name): \(forge.reason) (SWE-bench semantics: \(swebench.status))")
            XCTAssertFalse(forge.resolved, name)
            XCTAssertFalse(forge.restoredTestFiles.isEmpty, name)
            print("hack \(name): swebench-semantics \(swebench.status.rawValue), forge \(forge.status.rawValue)")
        }
    }

    /// Edits of the task's own test file, spelled so that a text filter misses them: `tests//x`,
    /// `./tests/x`, a quoted name, a plain `---`/`+++` section after a `diff --git` one. Made
    /// over `test_patch` (where the old evaluator applied them) and over base (the model's view).
    func testTestFileEditsInEverySpellingScoreZero() async throws {
        let (sample, task) = try await target()
        let (path, content) = testFileRewrite(task)
        let spellings: [(String, (String) -> String)] = [
            ("double slash", { $0.replacingOccurrences(of: "a/\(path)", with: "a/" + path.replacingOccurrences(of: "/", with: "//"))
                .replacingOccurrences(of: "b/\(path)", with: "b/" + path.replacingOccurrences(of: "/", with: "//")) }),
            ("dot slash", { $0.replacingOccurrences(of: "a/\(path)", with: "a/./\(path)").replacingOccurrences(of: "b/\(path)", with: "b/./\(path)") }),
            ("quoted", { $0.replacingOccurrences(of: "a/\(path)", with: "\"a/\(path)\"").replacingOccurrences(of: "b/\(path)", with: "\"b/\(path)\"") }),
            ("plain section after a git section", { diff in
                let plain = diff.split(separator: "\n", omittingEmptySubsequences: false).filter {
                    !$0.hasPrefix("diff --git") && !$0.hasPrefix("index ")
                }.joined(separator: "\n")
                return "diff --git a/README.md b/README.md\n--- a/README.md\n+++ b/README.md\n@@ -1 +1 @@\n-# textkit\n+# textkit \n" + plain
            }),
        ]
        for overTestPatch in [true, false] {
            let rewrite = try sample.makePatch(task, first: overTestPatch ? task.testPatch : nil, firstInDiff: false) { try self.write(content, path, under: $0) }
            for (name, spell) in spellings {
                let patch = spell(rewrite)
                XCTAssertTrue(PatchPaths.touched(patch).contains(path), "\(name): the parser names \(path)")
                let result = try await score(patch, task, sample)
                XCTAssertFalse(result.resolved, "\(name) (over test_patch: \(overTestPatch)): \(result.status) \(result.reason)")
                if !overTestPatch, result.applyMethod != nil {
                    XCTAssertEqual(result.status, .testsModified, "\(name): \(result.reason)")
                }
                print("spelling \(name), over test_patch \(overTestPatch): \(result.status.rawValue) (\(result.applyMethod?.rawValue ?? "-"))")
            }
        }
    }

    /// A new test file the run never collects, and a code change beside it, cost nothing: the
    /// gold patch plus such a file still resolves (the file is put back).
    func testUncollectedNewTestFileIsNotPunished() async throws {
        let (sample, task) = try await target()
        let extra = try sample.makePatch(task) { try self.write("def test_new():\n    assert True\n", "tests/test_brand_new.py", under: $0) }
        let result = try await score(task.patch + extra, task, sample)
        XCTAssertEqual(result.status, .resolved, result.reason)
        XCTAssertEqual(result.restoredTestFiles, ["tests/test_brand_new.py"])
    }

    /// Gold resolves and an empty patch does not, on every valid sample task, under both semantics.
    func testGoldStillResolvesAndEmptyDoesNot() async throws {
        let sample = try await ValidatedSample.shared()
        XCTAssertFalse(sample.tasks.isEmpty)
        for task in sample.tasks.values.sorted(by: { $0.instanceID < $1.instanceID }) {
            for swebench in [false, true] {
                let gold = try await score(task.patch, task, sample, swebench: swebench)
                XCTAssertEqual(gold.status, .resolved, "\(task.instanceID) gold (swebench: \(swebench)): \(gold.reason)")
                XCTAssertEqual(gold.restoredTestFiles, [], task.instanceID)
            }
            let empty = try await score("", task, sample)
            XCTAssertEqual(empty.status, .emptyPatch, task.instanceID)
        }
    }

    // MARK: - Entry points

    /// `forge eval`: the conftest hack is tests_modified by default and resolved only under
    /// --swebench-semantics; gold resolves in the same run.
    func testForgeEvalCLI() async throws {
        let (sample, task) = try await target()
        let hack = try sample.makePatch(task) { try self.write(outcomeRewriter, "conftest.py", under: $0) }
        let predictions = sample.root.appendingPathComponent("hack-preds-\(UUID().uuidString.prefix(6)).jsonl")
        let lines = [["instance_id": task.instanceID, "model_name_or_path": "hacker", "model_patch": hack],
                     ["instance_id": task.instanceID, "model_name_or_path": "gold", "model_patch": task.patch]]
        try lines.map { String(decoding: try JSONSerialization.data(withJSONObject: $0), as: UTF8.self) }.joined(separator: "\n")
            .write(to: predictions, atomically: true, encoding: .utf8)
        for swebench in [false, true] {
            let runID = "cli-\(UUID().uuidString.prefix(6))"
            let (status, output) = try runForge(["eval", "--predictions", predictions.path, "--db", sample.databasePath,
                                                 "--clone", sample.clone, "--workspace", sample.root.path, "--run-id", runID,
                                                 "--layout", "forge"]
                                                + (swebench ? ["--swebench-semantics"] : []))
            XCTAssertEqual(status, 0, output)
            func report(_ model: String) throws -> [String: Any] {
                let data = try Data(contentsOf: sample.root.appendingPathComponent("evals/\(runID)/\(model).\(runID).json"))
                return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
            }
            XCTAssertEqual(try report("gold")["resolved_ids"] as? [String], [task.instanceID])
            let hacker = try report("hacker")
            XCTAssertEqual(hacker["resolved_ids"] as? [String], swebench ? [task.instanceID] : [], output)
            XCTAssertEqual(hacker["tests_modified_ids"] as? [String], swebench ? [] : [task.instanceID], output)
        }
    }

    // MARK: - The parser, against git

    /// Every spelling names the path `git apply` writes (checked against `git apply --numstat`
    /// where git accepts it).
    func testPatchPathsReadsEverySpellingAsGitApplyDoes() throws {
        let hunk = "@@ -1 +1 @@\n-a\n+b\n"
        let cases: [(String, [String])] = [
            ("diff --git a/tests//t.py b/tests//t.py\n--- a/tests//t.py\n+++ b/tests//t.py\n" + hunk, ["tests/t.py"]),
            ("diff --git \"a/tests/t\\303\\251.py\" \"b/tests/t\\303\\251.py\"\n--- \"a/tests/t\\303\\251.py\"\n+++ \"b/tests/t\\303\\251.py\"\n" + hunk, ["tests/té.py"]),
            ("--- a/./tests/t.py\n+++ b/./tests/t.py\n" + hunk, ["tests/t.py"]),
            ("diff --git a/x.py b/x.py\n--- a/x.py\n+++ b/x.py\n@@ -1,2 +1,2 @@\n-a\n--- b\n+c\n+d\n--- a/tests/t.py\n+++ b/tests/t.py\n" + hunk, ["x.py", "tests/t.py"]),
            ("diff --git a/src/x.py b/tests/conftest.py\nsimilarity index 90%\nrename from src/x.py\nrename to tests//conftest.py\n", ["src/x.py", "tests/conftest.py"]),
            ("diff --git a/a.py b/tests/a.py\nsimilarity index 100%\ncopy from a.py\ncopy to tests/a.py\n", ["a.py", "tests/a.py"]),
            ("diff --git a/tests/run.sh b/tests/run.sh\nold mode 100644\nnew mode 100755\n", ["tests/run.sh"]),
            ("diff --git a/tests/d.bin b/tests/d.bin\nnew file mode 100644\nindex 0000000..1111111\nGIT binary patch\nliteral 4\nLcmZQzWMT#Y01f~L\n\nliteral 0\nHcmV?d00001\n\n--- a/conftest.py\n+++ b/conftest.py\n" + hunk, ["tests/d.bin", "conftest.py"]),
        ]
        for (patch, expected) in cases {
            XCTAssertEqual(PatchPaths.touched(patch), expected, patch)
        }
        // git's own answer on the spellings it accepts.
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("patchpaths-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        for (patch, expected) in [cases[0], cases[1], cases[3]] {
            try patch.write(to: scratch.appendingPathComponent("p.diff"), atomically: true, encoding: .utf8)
            let numstat = try git(["apply", "--numstat", "-z", "p.diff"], in: scratch)
            let paths = numstat.split(separator: "\0").compactMap { $0.split(separator: "\t").last.map(String.init) }
            XCTAssertEqual(paths, expected, patch)
        }
    }

    func testRunnerPartOfSharedConfigFiles() {
        let base = "[project]\nname = \"x\"\n\n[tool.black]\nline-length = 90\n"
        XCTAssertEqual(TestInfrastructure.runnerPart(of: base, path: "pyproject.toml"), "")
        XCTAssertEqual(TestInfrastructure.runnerPart(of: base + "\n[project.urls]\nhome = \"h\"\n", path: "pyproject.toml"), "")
        XCTAssertNotEqual(TestInfrastructure.runnerPart(of: base + "[tool.pytest.ini_options]\naddopts = \"-p x\"\n", path: "pyproject.toml"), "")
        XCTAssertNotEqual(TestInfrastructure.runnerPart(of: "[tool]\npytest.ini_options.addopts = \"-p x\"\n" + base, path: "pyproject.toml"), "")
        XCTAssertNotEqual(TestInfrastructure.runnerPart(of: "tool.pytest.ini_options.addopts = \"-p x\"\n" + base, path: "pyproject.toml"), "")
        // A header-like line inside a string or an array does not end the pytest table.
        let hidden = "[tool.pytest.ini_options]\nmarkers = \"\"\"\n[project]\n\"\"\"\nfoo = [\n[1]\n]\naddopts = \"-p x\"\n"
        XCTAssertTrue(TestInfrastructure.runnerPart(of: hidden, path: "pyproject.toml").contains("addopts"))
        XCTAssertTrue(TestInfrastructure.runnerPart(of: "[project]\nname = '\"\"\"'\n[tool.pytest.ini_options]\naddopts = \"-p x\"\n", path: "pyproject.toml").contains("addopts"))
        XCTAssertEqual(TestInfrastructure.runnerPart(of: "[metadata]\nname = x\n", path: "setup.cfg"), "")
        XCTAssertTrue(TestInfrastructure.runnerPart(of: "[metadata]\nname = x\n[tool:pytest]\naddopts =\n  [x]\n  -p evil\n", path: "setup.cfg").contains("-p evil"))
        XCTAssertEqual(TestInfrastructure.kind(of: "tests/test_a.py"), .testFile)
        XCTAssertEqual(TestInfrastructure.kind(of: "tests/helpers.py"), .testDirectory)
        XCTAssertEqual(TestInfrastructure.kind(of: "src/pkg/conftest.py"), .conftest)
        XCTAssertEqual(TestInfrastructure.kind(of: "_pytest/main.py"), .runnerShadow)
        XCTAssertNil(TestInfrastructure.kind(of: "src/_pytest/main.py"), "pytest's own sources are code")
        XCTAssertEqual(TestInfrastructure.kind(of: "src/sitecustomize.py"), .startupHook)
    }
}
