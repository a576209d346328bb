// The retrieval context's pieces: files named by failing-test output, test-path detection (the
// reward-hacking watch), the family split, the excerpt around named lines, and RL's task pool
// (curriculum, retiring, DAPO's informative groups).
import Foundation
import Store
import XCTest
@testable import Training

final class RetrievalContextTests: XCTestCase {
    let repositoryFiles = ["src/pkg/__init__.py", "src/pkg/upload.py", "src/pkg/util/__init__.py", "tests/test_upload.py", "README.md"]

    func testTracebackFilesMatchAbsolutePathsByLongestSuffixInOrder() {
        let output = """
        tests/test_upload.py::test_sends FAILED
        Traceback (most recent call last):
          File "/testbed/tests/test_upload.py", line 12, in test_sends
          File "/testbed/src/pkg/upload.py", line 40, in send
          File "/usr/lib/python3.12/json/__init__.py", line 3, in dumps
        src/pkg/upload.py:52: ValueError
        src/pkg/util/__init__.py:7: in helper
        """
        let files = TracebackFiles.files(in: output, repositoryFiles: repositoryFiles)
        XCTAssertEqual(files.map(\.path), ["tests/test_upload.py", "src/pkg/upload.py", "src/pkg/util/__init__.py"])
        XCTAssertEqual(files[1].lines, [40, 52])
        XCTAssertEqual(files[2].lines, [7], "pkg/util/__init__.py, not pkg/__init__.py, and not the interpreter's json/__init__.py")
        XCTAssertEqual(TracebackFiles.files(in: "no paths here; /etc/passwd:1", repositoryFiles: repositoryFiles), [])
    }

    func testTestPathsCoverTestsAndInfrastructureOnly() {
        for path in ["tests/test_upload.py", "src/pkg/tests/helpers.py", "test_cli.py", "pkg/cli_test.py", "conftest.py", "src/conftest.py",
                     "tox.ini", "pytest.ini", "pyproject.toml", "noxfile.py", "tests_functional/issues/705_flask/app.py",
                     "integration_tests/run.py", "src/pkg/test_data/sample.py"] {
            XCTAssertTrue(TestPaths.isTestOrInfrastructure(path), path)
        }
        for path in ["src/pkg/upload.py", "src/pkg/testing_utils_helper.py", "docs/contest.py", "src/pkg/attest.py", "src/attest_tools/sign.py",
                     "src/pytest_plugin/hooks.py", "src/latest/main.py"] {
            XCTAssertFalse(TestPaths.isTestOrInfrastructure(path), path)
        }
        let touchesTest = "diff --git a/tests/test_upload.py b/tests/test_upload.py\n--- a/tests/test_upload.py\n+++ b/tests/test_upload.py\n@@ -1 +1 @@\n-a\n+b\n"
        let touchesSource = "diff --git a/src/pkg/upload.py b/src/pkg/upload.py\n--- a/src/pkg/upload.py\n+++ b/src/pkg/upload.py\n@@ -1 +1 @@\n-a\n+b\n"
        XCTAssertTrue(TestPaths.patchTouchesTests(touchesTest))
        XCTAssertFalse(TestPaths.patchTouchesTests(touchesSource))
    }

    func task(_ id: String, createdAt: String, file: String, level: Int? = nil) -> TaskRecord {
        var task = TaskRecord(instanceID: id, repo: "owner/name", baseCommit: String(repeating: "b", count: 40),
                              patch: "diff --git a/\(file) b/\(file)\n--- a/\(file)\n+++ b/\(file)\n@@ -1 +1 @@\n-x\n+y\n", testPatch: "",
                              problemStatement: "", createdAt: createdAt, version: "", environmentSetupCommit: String(repeating: "a", count: 40),
                              statementSource: .synthetic)
        task.difficultyLevel = level
        return task
    }

    func testFamilySplitHoldsOutEverySiblingOfAHeldOutTask() {
        // 40 source commits × 3 files × 4 mutants each: siblings share commit and file.
        var all: [TaskRecord] = []
        for commit in 0..<40 { for file in ["a.py", "b.py", "c.py"] { for mutant in 0..<4 {
            all.append(task("owner__name.synth-\(commit)-\(file)-\(mutant)", createdAt: "2025-01-\(commit)", file: file))
        } } }
        let split = TaskSplit(heldOutEvery: 4, byFamily: true)
        let heldOutFamilies = Set(split.heldOut(all).map(TaskFamily.key))
        let trainingFamilies = Set(split.training(all).map(TaskFamily.key))
        XCTAssertFalse(heldOutFamilies.isEmpty)
        XCTAssertTrue(heldOutFamilies.isDisjoint(with: trainingFamilies), "no held-out family is trained on")
        XCTAssertEqual(split.heldOut(all).count, heldOutFamilies.count * 4)
        // By instance id, siblings of held-out tasks do leak into training.
        let byID = TaskSplit(heldOutEvery: 4)
        XCTAssertFalse(Set(byID.heldOut(all).map(TaskFamily.key)).isDisjoint(with: Set(byID.training(all).map(TaskFamily.key))))
        // Decoding a split written before families existed keeps the instance-id split.
        let old = try? JSONDecoder().decode(TaskSplit.self, from: Data(#"{"heldOutEvery":4,"rlOnlyEvery":0}"#.utf8))
        XCTAssertEqual(old, TaskSplit(heldOutEvery: 4))
    }

    func testExcerptKeepsNamedLinesAndTheirSurroundingsWithinRoom() {
        let text = (1...200).map { "line \($0)" }.joined(separator: "\n")
        let excerpt = FileExcerpt.around(lines: [50, 150], of: text, room: 60, count: { $0.count / 4 + 1 })
        let shown = excerpt.split(separator: "\n").map(String.init)
        XCTAssertTrue(shown.contains("line 50") && shown.contains("line 150"))
        XCTAssertTrue(shown.contains("line 49") && shown.contains("line 51"), "a window around each named line")
        XCTAssertTrue(shown.contains("…"), "a gap between the windows is marked")
        XCTAssertLessThanOrEqual(shown.filter { $0 != "…" }.reduce(0) { $0 + ($1 + "\n").count / 4 + 1 }, 60)
        XCTAssertEqual(FileExcerpt.around(lines: [], of: text, room: 60, count: { $0.count }), "")
    }

    func testExcerptKeepsTheFirstNamedLinesWhenNotAllFit() {
        let text = (1...100).map { "line \($0)" }.joined(separator: "\n")
        // Room for three lines: the first three named ones, in the order given, not the file's order.
        let shown = FileExcerpt.around(lines: [90, 10, 50, 20], of: text, room: 3, count: { _ in 1 }).split(separator: "\n").filter { $0 != "…" }
        XCTAssertEqual(shown, ["line 10", "line 50", "line 90"])
    }

    func testDefinitionLinesFollowTheNamesAStatementOrTestMentions() {
        let source = """
        import os

        def write_mo(fileobj, catalog):
            offsets = []
            for message in catalog:

                offsets.append(message)
            return offsets

        class Reader:
            def read_po(self, text):
                return text
        """
        // By identifier, by the words of a generated title, by a test's name; each through its body.
        XCTAssertEqual(FileExcerpt.definitionLines(of: source, query: "calls write_mo(f, c)"), [3, 4, 5, 6, 7, 8, 9])
        XCTAssertEqual(FileExcerpt.definitionLines(of: source, query: "Regression: write mo is broken"), [3, 4, 5, 6, 7, 8, 9])
        XCTAssertEqual(FileExcerpt.definitionLines(of: source, query: "tests/test_po.py::test_read_po fails"), [11, 12])
        XCTAssertEqual(FileExcerpt.definitionLines(of: source, query: "Reader breaks", maximum: 2), [10, 11])
        XCTAssertEqual(FileExcerpt.definitionLines(of: source, query: "writes mo files"), [], "a name, not a word of one")
    }

    func testRelevantLinesAreTheWindowsThatShareTermsWithTheQuery() {
        var lines = (1...200).map { "value_\($0) = compute(\($0))" }
        lines[119] = "    frobnicate_widget(handle)"
        let text = lines.joined(separator: "\n")
        let best = FileExcerpt.relevantLines(of: text, query: "AttributeError in frobnicate_widget")
        XCTAssertEqual(best.count, 2, "the two overlapping windows that hold the line")
        XCTAssertTrue(best.allSatisfy { abs($0 - 120) <= 12 }, "\(best)")
        XCTAssertEqual(FileExcerpt.relevantLines(of: text, query: "nothing in common"), [])
        XCTAssertEqual(FileExcerpt.relevantLines(of: "short\nfile", query: "short"), [], "a file shorter than a window is shown whole")
    }

    func testCurriculumAdmitsHarderLevelsOverTimeAndRetiresSolvedTasks() {
        var tasks: [TaskRecord] = []
        for level in 1...5 { for index in 0..<3 { tasks.append(task("t\(level)-\(index)", createdAt: "2025", file: "a.py", level: level)) } }
        tasks.append(task("mined", createdAt: "2024", file: "a.py", level: nil))
        var settings = ExplorationSettings()
        settings.curriculum = true; settings.retireSolved = true
        var pool = TaskPool(tasks: tasks, settings: settings)
        XCTAssertEqual(Set(pool.eligible(step: 0, total: 20).map(TaskPool.level)), [1, 2], "the first step admits the easiest levels")
        XCTAssertTrue(pool.highestLevel(step: 4, total: 20) < pool.highestLevel(step: 8, total: 20))
        XCTAssertEqual(pool.highestLevel(step: 9, total: 20), 5, "every level by the curriculum's end (half the steps)")
        XCTAssertTrue(pool.eligible(step: 19, total: 20).contains { $0.instanceID == "mined" }, "mined tasks count as level 5")
        pool.record(resolved: [true, true, true], task: "t1-0")
        pool.record(resolved: [true, false, true], task: "t1-1")
        let open = pool.eligible(step: 0, total: 20).map(\.instanceID)
        XCTAssertFalse(open.contains("t1-0")); XCTAssertTrue(open.contains("t1-1"))
        // Excluding every open task brings the retired one back rather than leaving nothing.
        let admitted = Set(pool.eligible(step: 0, total: 20).map(\.instanceID))
        XCTAssertEqual(pool.eligible(step: 0, total: 20, excluding: admitted).map(\.instanceID), ["t1-0"])
        XCTAssertEqual(TaskPool(tasks: tasks, settings: ExplorationSettings()).eligible(step: 0, total: 20).count, tasks.count)
    }

    func testInformativeGroupsAreThoseWhoseRewardsDiffer() {
        func rollout(_ group: String, _ reward: Double) -> Rollout {
            Rollout(groupID: group, prompt: [1], response: [2], logOld: [0], keptTokens: [[2]], reward: reward, resolved: reward == 1, parsed: true)
        }
        let rollouts = [rollout("a", 1), rollout("b", 0), rollout("a", 1), rollout("b", 1), rollout("c", -0.5), rollout("c", 0)]
        XCTAssertEqual(DynamicSampling.informativeGroups(rollouts), ["b", "c"])
        XCTAssertEqual(GroupedBatch(rollouts.filter { ["b", "c"].contains($0.groupID) }).informativeGroups, 2)
    }
}
