import Foundation
import GitFixtures
import XCTest
@testable import Git
@testable import Mining
import Store

/// Pull requests that landed without the usual marks (public histories have them all), and
/// mining in batches.
final class UntidyHistoryTests: XCTestCase {
    /// A project with one module and its test, committed on main.
    private func project() throws -> Fixture {
        let f = try Fixture("untidy")
        try f.write("pkg/calc.py", (1...30).map { "def f\($0)(x):\n    return x + \($0)\n" }.joined())
        try f.write("tests/test_calc.py", "from pkg.calc import f1\n\ndef test_f1():\n    assert f1(1) == 2\n")
        try f.commit("Initial import")
        return f
    }

    /// A PR branch off main's tip: one commit changing code and tests, by `author`; returns its head.
    private func pullBranch(_ f: Fixture, _ name: String, number: Int, author: String = "Bo <bo@example.com>",
                            edit: String = "return x + 3\n", replacement: String = "return x + 300\n") throws -> String {
        try f.git("checkout", "-q", "-b", name)
        let code = try f.git("show", "HEAD:pkg/calc.py").replacingOccurrences(of: edit, with: replacement)
        try f.write("pkg/calc.py", code)
        try f.write("tests/test_calc.py", try f.git("show", "HEAD:tests/test_calc.py") + "\ndef test_\(name)():\n    assert True\n")
        try f.git("add", "-A")
        try f.git("commit", "-q", "--author", author, "-m", "Change \(name)")
        let head = try f.head()
        try f.git("update-ref", "refs/pull/\(number)/head", head)
        try f.git("checkout", "-q", "main")
        try f.git("branch", "-q", "-D", name)   // only the PR ref keeps the head
        return head
    }

    /// A PR merged with `--no-ff` under `subject` comes out as a merge landing with its base.
    private func assertMergedUnder(_ subject: String, number: Int) throws {
        let f = try project()
        let base = try f.head()
        let head = try pullBranch(f, "pr\(number)", number: number)
        try f.write("README", "unrelated\n"); try f.commit("Unrelated change on main")
        try f.git("merge", "-q", "--no-ff", "-m", subject, head)
        let merge = try f.head()

        let result = try Miner(repository: try Repository.open(f.path), repo: "a/b").mine()
        XCTAssertEqual(result.skipped, [], subject)
        let task = try XCTUnwrap(result.tasks.first { $0.pullNumber == number }, subject)
        XCTAssertEqual(task.mergeStyle, .merge)
        XCTAssertEqual(task.mergeCommit, merge)
        XCTAssertEqual(task.baseCommit, base)
        XCTAssertEqual(task.patch + task.testPatch, try f.git("diff", "--binary", base, head))
    }

    func testMergeCommitTitledLikeASquashIsAMerge() throws {
        try assertMergedUnder("Serialize/deserialize chained exceptions (#5787)", number: 5787)
    }

    /// python-control's #1104 and #1145 were merged with the message edited down to
    /// `Merge pull request #N`: no ` from owner/branch`.
    func testMergeCommitWithABareMergeSubjectIsAMerge() throws {
        try assertMergedUnder("Merge pull request #1104", number: 1104)
        XCTAssertEqual(PullRequestDiscovery.mergedPullNumber(subject: "Merge pull request #12: fix it"), 12)
        XCTAssertNil(PullRequestDiscovery.mergedPullNumber(subject: "Merge pull request #12x"))
    }

    /// A state saved by a miner with other discovery rules (before bare merge subjects counted) is
    /// not resumed from: its skipped PRs would stay skipped. A current one is.
    func testAStateFromOtherDiscoveryRulesWalksTheHistoryAgain() throws {
        let f = try project()
        let head = try pullBranch(f, "bare", number: 1145)
        try f.git("merge", "-q", "--no-ff", "-m", "Merge pull request #1145", head)
        let miner = Miner(repository: try Repository.open(f.path), repo: "a/b")
        let first = try miner.mine()
        XCTAssertEqual(first.tasks.map(\.pullNumber), [1145])
        XCTAssertTrue(first.state.isCurrent)
        XCTAssertEqual(try miner.mine(previous: first.state).commitsWalked, 0, "a current state resumes")

        var older = first.state
        older.rules = MiningState.currentRules - 1
        older.minedPullNumbers = []
        let decoded = try JSONDecoder().decode(MiningState.self, from: try JSONEncoder().encode(older))
        XCTAssertFalse(decoded.isCurrent)
        let again = try miner.mine(previous: decoded)
        XCTAssertGreaterThan(again.commitsWalked, 0)
        XCTAssertEqual(again.tasks.map(\.pullNumber), [1145])
        // A state saved before rules were recorded decodes as rules 1.
        var legacy = try JSONSerialization.jsonObject(with: try JSONEncoder().encode(first.state)) as! [String: Any]
        legacy["rules"] = nil
        XCTAssertEqual(try JSONDecoder().decode(MiningState.self, from: try JSONSerialization.data(withJSONObject: legacy)).rules, 1)
    }

    func testSingleParentCommitWithMergeSubjectIsALanding() throws {
        let f = try project()
        let flattenedHead = try pullBranch(f, "atz", number: 8399)
        try f.write("README", "main moved on\n"); try f.commit("Main moves on before the merge")
        let parent = try f.head()
        // The merge flattened: the PR's change as one commit on main, its subject kept.
        try f.git("merge", "-q", "--squash", flattenedHead)
        let landing = try f.commit("Merge pull request #8399 from atzannes/master")
        // A classic merge of another PR whose squash-style commit also exists: the merge wins.
        let head = try pullBranch(f, "other", number: 12, edit: "return x + 7", replacement: "return x * 7")
        try f.git("merge", "-q", "--no-ff", "-m", "Merge pull request #12 from bo/other", head)
        let merge12 = try f.head()
        try f.commit("Backport of other (#12)")

        let result = try Miner(repository: try Repository.open(f.path), repo: "a/b").mine()
        XCTAssertEqual(result.tasks.map(\.pullNumber), [12, 8399])
        let flattened = try XCTUnwrap(result.tasks.last)
        XCTAssertEqual(flattened.mergeCommit, landing)
        XCTAssertEqual(flattened.baseCommit, parent, "the flattened commit's parent, not the PR ref's fork point")
        XCTAssertEqual(flattened.mergeStyle, .squash)
        XCTAssertEqual(result.tasks.first?.mergeCommit, merge12)
        XCTAssertEqual(result.tasks.first?.mergeStyle, .merge)
    }

    func testChangeRecommittedWithEditsByItsAuthorIsFound() throws {
        let f = try project()
        _ = try pullBranch(f, "bo", number: 41)
        _ = try pullBranch(f, "cy", number: 42, author: "Cy <cy@example.com>", edit: "return x + 9", replacement: "return x - 9")
        _ = try pullBranch(f, "di", number: 43, author: "Di <di@example.com>", edit: "return x + 11", replacement: "return x // 11")
        try f.write("README", "unrelated\n"); try f.commit("Unrelated change on main")
        // #41: Bo's change applied by hand with one more line edited and another message.
        var code = try f.git("show", "HEAD:pkg/calc.py").replacingOccurrences(of: "return x + 3\n", with: "return x + 300\n")
        code = code.replacingOccurrences(of: "return x + 4\n", with: "return x + 400\n")
        try f.write("pkg/calc.py", code)
        try f.write("tests/test_calc.py", try f.git("show", "HEAD:tests/test_calc.py") + "\ndef test_bo():\n    assert True\n")
        try f.git("add", "-A")
        try f.git("commit", "-q", "--author", "Bo <bo@example.com>", "-m", "Apply the fix for f3 from the contributor")
        let recommit = try f.head()
        // #42: Cy's lines, committed by someone else: not Cy's commit, so not matched.
        let other = try f.git("show", "HEAD:pkg/calc.py").replacingOccurrences(of: "return x + 9", with: "return x - 9")
        try f.write("pkg/calc.py", other)
        try f.write("tests/test_calc.py", try f.git("show", "HEAD:tests/test_calc.py") + "\ndef test_cy():\n    assert True\n")
        try f.commit("Same change, another author")
        // #43: Di commits something else to the same file: not the PR's lines.
        try f.write("pkg/calc.py", try f.git("show", "HEAD:pkg/calc.py").replacingOccurrences(of: "return x + 20", with: "return x + 2000"))
        try f.git("add", "-A")
        try f.git("commit", "-q", "--author", "Di <di@example.com>", "-m", "Another change to calc")

        let result = try Miner(repository: try Repository.open(f.path), repo: "a/b").mine()
        XCTAssertEqual(result.tasks.map(\.pullNumber), [41])
        let task = try XCTUnwrap(result.tasks.first)
        XCTAssertEqual(task.mergeCommit, recommit)
        XCTAssertEqual(task.mergeStyle, .squash)
        XCTAssertEqual(task.baseCommit, try f.revParse("\(recommit)^"))
        XCTAssertTrue(task.patch.contains("return x + 400"), "the task is what landed, edits included")
        XCTAssertEqual(result.skipped, [42, 43].map { SkippedPullRequest(number: $0, reason: .notMerged) })
    }

    func testFastForwardIntoAMaintenanceBranchKeepsAReason() throws {
        let f = try project()
        try f.git("branch", "1.x")
        try f.git("checkout", "-q", "1.x")
        let head = try pullBranch(f, "fix", number: 7)
        try f.git("checkout", "-q", "1.x")
        try f.git("merge", "-q", "--ff-only", head)
        try f.git("checkout", "-q", "main")
        try f.write("README", "unrelated\n"); try f.commit("Unrelated change on main")

        let result = try Miner(repository: try Repository.open(f.path), repo: "a/b").mine()
        XCTAssertEqual(result.tasks, [])
        XCTAssertEqual(result.skipped.map(\.number), [7])
        guard case .landedElsewhere(let detail) = result.skipped.first?.reason else {
            return XCTFail("expected landedElsewhere, got \(String(describing: result.skipped.first))")
        }
        XCTAssertTrue(detail.contains(String(head.prefix(7))), detail)
    }

    /// Batches of two: every task once, in order; each batch's state resumes after it.
    func testBatchesAreBoundedAndResumable() throws {
        let f = try project()
        for number in 1...5 {
            let head = try pullBranch(f, "b\(number)", number: number, edit: "return x + \(number + 10)\n",
                                      replacement: "return x * \(number)\n")
            try f.git("merge", "-q", "--no-ff", "-m", "Merge pull request #\(number) from bo/b\(number)", head)
        }
        let miner = Miner(repository: try Repository.open(f.path), repo: "a/b")
        let all = try miner.mine()
        XCTAssertEqual(all.tasks.map(\.pullNumber), [1, 2, 3, 4, 5])

        var batches: [MiningBatch] = []
        let summary = try miner.mine(batchSize: 2) { batches.append($0) }
        XCTAssertEqual(batches.map { $0.tasks.compactMap(\.pullNumber) }, [[1, 2], [3, 4], [5]])
        XCTAssertEqual(batches.map(\.isLast), [false, false, true])
        XCTAssertEqual(batches.flatMap(\.tasks), all.tasks)
        XCTAssertEqual(summary.taskCount, 5)
        XCTAssertEqual(summary.state, all.state)
        XCTAssertEqual(batches[0].state.tips, [], "the walk is recorded only when every batch is written")

        // Stopped after the first batch: the re-run builds only the rest.
        let resumed = try miner.mine(previous: batches[0].state)
        XCTAssertEqual(resumed.tasks, Array(all.tasks.dropFirst(2)))
        XCTAssertEqual(resumed.state.minedPullNumbers, all.state.minedPullNumbers)
        XCTAssertEqual(try miner.mine(previous: resumed.state).tasks, [])
    }
}
