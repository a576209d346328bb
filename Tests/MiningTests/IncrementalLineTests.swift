import Foundation
import GitFixtures
import XCTest
@testable import Git
@testable import Mining

/// An incremental run finds what a full run finds when the default branch is fast-forwarded to a
/// branch mined before: that branch's commits join the default line without being walked again.
/// (sympy: a clone mined with `master` 200 commits back, then mined again with `master`
/// restored, missed #29858, which landed in commits the 1.14 release branch already held.)
final class IncrementalLineTests: XCTestCase {
    func testFastForwardedDefaultBranchIsComparedWithUnmergedPullRefs() throws {
        let f = try Fixture("incremental-line")
        try f.write("pkg/calc.py", (1...20).map { "def f\($0)(x):\n    return x + \($0)\n" }.joined())
        try f.write("tests/test_calc.py", "from pkg.calc import f1\n\ndef test_f1():\n    assert f1(1) == 2\n")
        try f.commit("Initial import")

        // PR #5: one commit changing code and tests; only its PR ref keeps it.
        try f.git("checkout", "-q", "-b", "pr5")
        try f.write("pkg/calc.py", try f.git("show", "HEAD:pkg/calc.py").replacingOccurrences(of: "return x + 3\n", with: "return x + 300\n"))
        try f.write("tests/test_calc.py", try f.git("show", "HEAD:tests/test_calc.py") + "\ndef test_f3():\n    assert True\n")
        try f.git("add", "-A")
        try f.git("commit", "-q", "--author", "Bo <bo@example.com>", "-m", "Scale f3")
        let head = try f.head()
        try f.git("update-ref", "refs/pull/5/head", head)
        try f.git("checkout", "-q", "main")
        try f.git("branch", "-q", "-D", "pr5")

        // A development branch carries the PR's commit (cherry-picked: author and date kept) while
        // main stays behind.
        try f.git("checkout", "-q", "-b", "develop")
        try f.write("README", "notes\n"); try f.commit("Notes")
        try f.git("cherry-pick", head)
        let landed = try f.head()
        try f.write("README", "more notes\n"); try f.commit("More notes")
        try f.git("checkout", "-q", "main")

        let repository = try Repository.open(f.path)
        let miner = Miner(repository: repository, repo: "a/b")
        let first = try miner.mine()
        XCTAssertFalse(first.tasks.contains { $0.pullNumber == 5 }, "main does not have it yet")
        XCTAssertEqual(first.state.unmergedPullHeads[5]?.hex, head)

        // main is fast-forwarded to develop: nothing new to walk, but the line has new commits.
        try f.git("merge", "-q", "--ff-only", "develop")
        let second = try miner.mine(previous: first.state)
        XCTAssertEqual(second.commitsWalked, 0)
        let task = try XCTUnwrap(second.tasks.first { $0.pullNumber == 5 }, "the incremental run finds #5")
        XCTAssertEqual(task.mergeStyle, .rebase)
        XCTAssertEqual(task.mergeCommit, landed)
        XCTAssertEqual(second.state.unmergedPullHeads[5], nil)

        // The same task as a full run of the same history.
        let full = try miner.mine()
        XCTAssertEqual(full.tasks.filter { $0.pullNumber == 5 }, [task])
        XCTAssertEqual(try miner.mine(previous: second.state).tasks, [], "and nothing again")
    }
}
