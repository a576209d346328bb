import Foundation
import GitFixtures
import XCTest
@testable import Git
@testable import Mining
import Store

final class MinerTests: XCTestCase {
    /// Built once: the history takes a few seconds of git commands.
    nonisolated(unsafe) static var shared: DemoHistory?
    static func demo() throws -> DemoHistory {
        if let shared { return shared }
        let built = try DemoHistory()
        shared = built
        return built
    }

    override class func tearDown() {
        shared = nil   // removes the fixture's directory
        super.tearDown()
    }

    func testMinesEveryKindOfPullRequestExactly() throws {
        let demo = try Self.demo()
        let f = demo.fixture, c = demo.commits
        let result = try Miner(repository: try Repository.open(f.path), repo: DemoHistory.repo).mine()
        let tasks = Dictionary(uniqueKeysWithValues: result.tasks.map { ($0.pullNumber!, $0) })
        XCTAssertEqual(result.tasks.map(\.pullNumber), [1, 2, 3, 5, 6, 8])
        XCTAssertEqual(result.skipped, [SkippedPullRequest(number: 4, reason: .notMerged),
                                        SkippedPullRequest(number: 7, reason: .noTestChanges)])

        func diff(_ base: String, _ head: String, _ paths: String...) throws -> String {
            try f.git(["diff", "--binary", base, head, "--"] + paths)
        }
        func time(_ commit: String) throws -> String {
            try f.git("show", "-s", "--format=%cd", "--date=format-local:%Y-%m-%dT%H:%M:%SZ", commit)
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }

        // PR 1: merge commit. Base = merge-base(first parent, second parent).
        let t1 = try XCTUnwrap(tasks[1])
        XCTAssertEqual(t1.instanceID, "forge__demo-1")
        XCTAssertEqual(t1.repo, "forge/demo")
        XCTAssertEqual(t1.mergeStyle, .merge)
        XCTAssertEqual(t1.mergeCommit, c["pr1-merge"])
        XCTAssertEqual(t1.baseCommit, c["initial"])
        XCTAssertEqual(t1.baseCommit, try demo.mergeBase(c["pr1-merge"]! + "^1", c["pr1-head"]!))
        XCTAssertEqual(t1.patch, try diff(c["initial"]!, c["pr1-head"]!, "demo/core.py"))
        XCTAssertEqual(t1.testPatch, try diff(c["initial"]!, c["pr1-head"]!, "tests/test_core.py"))
        XCTAssertEqual(t1.otherPatch, try diff(c["initial"]!, c["pr1-head"]!, "CHANGELOG.md"))
        XCTAssertEqual(t1.issueNumbers, [10])
        XCTAssertEqual(t1.statementSource, .commit)
        XCTAssertEqual(t1.problemStatement, "Make add accept strings")
        XCTAssertEqual(t1.hintsText, "")
        XCTAssertEqual(t1.createdAt, try time(c["pr1-merge"]!))
        XCTAssertEqual(t1.version, "1.4")
        XCTAssertEqual(t1.environmentSetupCommit, c["initial"])
        XCTAssertEqual(t1.language, "python")
        XCTAssertEqual(t1.failToPass, [])

        // PR 2: squash without a ref. Base = its parent; rename, deletion, binary change.
        let t2 = try XCTUnwrap(tasks[2])
        XCTAssertEqual(t2.mergeStyle, .squash)
        XCTAssertEqual(t2.baseCommit, c["pr1-merge"])
        XCTAssertEqual(t2.patch, try diff(c["pr1-merge"]!, c["pr2-squash"]!, "demo/helpers.py", "demo/logo.png", "demo/old.py", "demo/utils.py"))
        XCTAssertTrue(t2.patch.contains("rename from demo/helpers.py\nrename to demo/utils.py\n"))
        XCTAssertTrue(t2.patch.contains("deleted file mode 100644"))
        XCTAssertTrue(t2.patch.contains("GIT binary patch"))
        XCTAssertEqual(t2.testPatch, try diff(c["pr1-merge"]!, c["pr2-squash"]!, "tests/test_utils.py"))
        XCTAssertEqual(t2.issueNumbers, [11, 12])
        XCTAssertEqual(t2.problemStatement, "Rename helpers to utils\n\nCloses: #11\nresolves forge/demo#12")
        XCTAssertEqual(t2.version, "1.4")

        // PR 3: rebase. Landing found by patch-id; base = merge-base(landing^1, PR head).
        let t3 = try XCTUnwrap(tasks[3])
        XCTAssertEqual(t3.mergeStyle, .rebase)
        XCTAssertEqual(t3.mergeCommit, c["pr3-landing"])
        XCTAssertEqual(t3.baseCommit, c["pr3-fork"])
        XCTAssertEqual(t3.baseCommit, try demo.mergeBase(c["pr3-landing"]! + "^1", c["pr3-head"]!))
        XCTAssertEqual(t3.patch, try diff(c["pr3-fork"]!, c["pr3-head"]!, "demo/core.py"))
        XCTAssertEqual(t3.testPatch, try diff(c["pr3-fork"]!, c["pr3-head"]!, "tests/test_empty.py"))
        XCTAssertEqual(t3.issueNumbers, [13])
        XCTAssertEqual(t3.problemStatement, "Handle empty input\n\nfix #13\n\nTest empty input")
        XCTAssertEqual(t3.version, "1.4")
        XCTAssertEqual(t3.environmentSetupCommit, c["initial"])

        // PR 5: Latin-1 merge message, non-UTF-8 file name, two links, a foreign one ignored.
        let t5 = try XCTUnwrap(tasks[5])
        XCTAssertEqual(t5.baseCommit, c["pr3-landing"])
        XCTAssertEqual(t5.issueNumbers, [14, 15])
        XCTAssertEqual(t5.problemStatement, "Café support. Fixes #14, closes https://github.com/forge/demo/issues/15, fixes other/repo#99")
        XCTAssertTrue(t5.testPatch.contains("diff --git \"a/tests/data/caf\\351.txt\" \"b/tests/data/caf\\351.txt\""), t5.testPatch)
        XCTAssertEqual(t5.patch, try diff(c["pr3-landing"]!, c["pr5-head"]!, "demo/core.py"))
        XCTAssertEqual(t5.version, "1.5")
        XCTAssertEqual(t5.environmentSetupCommit, c["bump"], "the commit that last changed pyproject.toml")

        // PR 6: squash with a ref, on a release branch.
        let t6 = try XCTUnwrap(tasks[6])
        XCTAssertEqual(t6.mergeStyle, .squash)
        XCTAssertEqual(t6.mergeCommit, c["pr6-squash"])
        XCTAssertEqual(t6.baseCommit, c["bump"])
        XCTAssertEqual(t6.patch, try diff(c["bump"]!, c["pr6-head"]!, "demo/core.py"))
        XCTAssertEqual(t6.issueNumbers, [16])
        XCTAssertEqual(t6.problemStatement, "Backport: accept strings in add\n\nFixes #16")

        // PR 8: no link.
        let t8 = try XCTUnwrap(tasks[8])
        XCTAssertEqual(t8.issueNumbers, [])
        XCTAssertEqual(t8.statementSource, .commit)
        XCTAssertEqual(t8.problemStatement, "Go faster")
        XCTAssertEqual(t8.baseCommit, try demo.mergeBase(c["pr8-merge"]! + "^1", c["pr8-head"]!))
        XCTAssertNotEqual(t8.baseCommit, c["pr5-merge"], "PR 7 merged in between")
        XCTAssertEqual(t8.environmentSetupCommit, c["bump"])
    }

    /// Every stored patch applies at its base in a fresh worktree; all three rebuild the PR head.
    func testEveryPatchAppliesAtItsBase() throws {
        let demo = try Self.demo()
        let f = demo.fixture, c = demo.commits
        let result = try Miner(repository: try Repository.open(f.path), repo: DemoHistory.repo).mine()
        let heads = [1: c["pr1-head"]!, 2: c["pr2-squash"]!, 3: c["pr3-head"]!, 5: c["pr5-head"]!, 6: c["pr6-head"]!, 8: c["pr8-head"]!]
        for task in result.tasks {
            let work = f.root.deletingLastPathComponent().appendingPathComponent("apply-\(task.pullNumber!)").path
            try f.git("worktree", "add", "-q", "--detach", work, task.baseCommit)
            for patch in [task.patch, task.testPatch] where !patch.isEmpty {
                XCTAssertNoThrow(try Fixture.run(["git", "apply", "--check", "-"], in: work, input: Array(patch.utf8)),
                                 "\(task.instanceID) does not apply")
            }
            let all = task.patch + task.testPatch + task.otherPatch
            try Fixture.run(["git", "apply", "--index", "-"], in: work, input: Array(all.utf8))
            let tree = String(decoding: try Fixture.run(["git", "write-tree"], in: work), as: UTF8.self)
            XCTAssertEqual(tree.trimmingCharacters(in: .newlines), try f.revParse("\(heads[task.pullNumber!]!)^{tree}"),
                           "\(task.instanceID): patches do not rebuild the PR head")
            try f.git("worktree", "remove", "--force", work)
        }
    }

    func testIncrementalRunsWalkOnlyNewHistory() throws {
        let demo = try DemoHistory()   // own copy: this test adds commits
        let f = demo.fixture
        let repository = try Repository.open(f.path)
        let miner = Miner(repository: repository, repo: DemoHistory.repo)
        var reports: [(Int, Int?)] = []
        let first = try miner.mine { done, total in reports.append((done, total)) }
        XCTAssertEqual(first.tasks.count, 6)
        XCTAssertEqual(reports.last?.0, reports.last?.1, "progress ends complete")
        XCTAssertTrue(reports.contains { $0.1 == nil }, "the walk reports an unknown total")

        // Same tips: nothing new, nothing walked. The state round-trips through JSON.
        let saved = try JSONEncoder().encode(first.state)
        let state = try JSONDecoder().decode(Mining.MiningState.self, from: saved)
        XCTAssertEqual(state, first.state)
        let again = try miner.mine(previous: state)
        XCTAssertEqual(again.tasks.count, 0)
        XCTAssertEqual(again.commitsWalked, 0)
        XCTAssertEqual(again.state.tips, first.state.tips)

        // A new PR: only its commits and the merge are walked.
        try f.git("checkout", "-q", "-b", "more")
        try f.write("demo/more.py", "MORE = 1\n")
        try f.write("tests/test_more.py", "from demo.more import MORE\n\ndef test_more():\n    assert MORE == 1\n")
        try f.commit("More\n\nCloses #20")
        try f.git("checkout", "-q", "main")
        try f.git("merge", "-q", "--no-ff", "more", "-m", "Merge pull request #9 from gus/more\n\nMore")
        let third = try miner.mine(previous: again.state)
        XCTAssertEqual(third.tasks.map(\.instanceID), ["forge__demo-9"])
        XCTAssertEqual(third.tasks.first?.issueNumbers, [20])
        XCTAssertEqual(third.commitsWalked, 2)

        // A PR ref that has not landed is remembered with its head, and found once it lands.
        XCTAssertEqual(third.state.unmergedPullHeads, [4: ObjectID(hex: demo.commits["pr4-head"]!)!])
        try f.git("checkout", "-q", "-b", "later")
        try f.write("demo/later.py", "LATER = 1\n")
        try f.write("tests/test_later.py", "from demo.later import LATER\n\ndef test_later():\n    assert LATER\n")
        let later = try f.commit("Later feature")
        try f.git("update-ref", "refs/pull/10/head", later)
        try f.git("checkout", "-q", "main")
        try f.git("branch", "-q", "-D", "later")
        let waiting = try miner.mine(previous: third.state)
        XCTAssertEqual(waiting.tasks.count, 0)
        XCTAssertEqual(waiting.skipped.map(\.number), [4, 10])
        XCTAssertEqual(waiting.state.unmergedPullHeads[10]?.hex, later)
        try f.git("cherry-pick", later)
        let landedLater = try miner.mine(previous: waiting.state)
        XCTAssertEqual(landedLater.tasks.map(\.instanceID), ["forge__demo-10"])
        XCTAssertEqual(landedLater.tasks.first?.mergeStyle, .rebase)
        XCTAssertEqual(landedLater.commitsWalked, 1)
        XCTAssertEqual(landedLater.state.unmergedPullHeads.keys.sorted(), [4])

        // A PR ref fetched later for a change that landed long ago is found from cached patch-ids.
        try f.git("update-ref", "-d", "refs/pull/3/head")
        let fresh = try miner.mine()
        XCTAssertFalse(fresh.tasks.contains { $0.pullNumber == 3 })
        try f.git("update-ref", "refs/pull/3/head", demo.commits["pr3-head"]!)
        let late = try miner.mine(previous: fresh.state)
        XCTAssertEqual(late.tasks.map(\.pullNumber), [3])
        XCTAssertEqual(late.commitsWalked, 0)
        XCTAssertEqual(try miner.mine(previous: late.state).tasks.count, 0)
    }

    func testShallowCloneSkipsWhatItCannotSee() throws {
        let demo = try Self.demo()
        let full = try Miner(repository: try Repository.open(demo.fixture.path), repo: DemoHistory.repo).mine()
        let clone = demo.fixture.root.deletingLastPathComponent().appendingPathComponent("shallow").path
        try Fixture.run(["git", "clone", "-q", "--no-local", "--depth", "3", "file://" + demo.fixture.path, clone], in: demo.fixture.path)
        let repository = try Repository.open(clone)
        XCTAssertTrue(repository.isShallow)
        let result = try Miner(repository: repository, repo: DemoHistory.repo).mine()
        // Depth 3 from main's tip keeps PR 8 and its base; PR 7's base is a boundary commit and
        // PR 5's merge is one (its PR head was cut off). The release branch is not cloned.
        XCTAssertEqual(result.tasks.map(\.pullNumber), [8])
        XCTAssertEqual(result.skipped.map(\.number), [5, 7], "\(result.skipped)")
        for skip in result.skipped {
            guard case .historyIncomplete = skip.reason else { return XCTFail("\(skip)") }
        }
        // What it does mine is identical to mining the full clone.
        for task in result.tasks {
            let twin = try XCTUnwrap(full.tasks.first { $0.instanceID == task.instanceID })
            XCTAssertEqual(task.baseCommit, twin.baseCommit)
            XCTAssertEqual(task.patch, twin.patch)
            XCTAssertEqual(task.testPatch, twin.testPatch)
        }
    }

    func testFilters() throws {
        let demo = try Self.demo()
        let repository = try Repository.open(demo.fixture.path)
        func mine(_ options: MiningOptions) throws -> MiningResult {
            try Miner(repository: repository, repo: DemoHistory.repo, options: options).mine()
        }
        let everything = try mine(MiningOptions(requireTestAndCode: false))
        XCTAssertEqual(everything.tasks.compactMap(\.pullNumber), [1, 2, 3, 5, 6, 7, 8])

        let small = try mine(MiningOptions(maxPatchLines: 6))
        XCTAssertFalse(small.tasks.contains { $0.pullNumber == 2 }, "PR 2 is the largest")
        XCTAssertTrue(small.skipped.contains { if case .patchTooLarge = $0.reason { return $0.number == 2 } else { return false } })

        let noBinary = try mine(MiningOptions(excludePaths: [PathGlob("*.png")]))
        XCTAssertTrue(noBinary.skipped.contains(SkippedPullRequest(number: 2, reason: .excludedPath("demo/logo.png"))))

        let onlyEmpty = try mine(MiningOptions(includePaths: [PathGlob("tests/**/test_empty.py")]))
        XCTAssertEqual(onlyEmpty.tasks.compactMap(\.pullNumber), [3])

        let pr5Time = try XCTUnwrap(everything.tasks.first { $0.pullNumber == 5 }?.createdAt)
        let cut = Date(timeIntervalSince1970: TimeInterval(Timestamp.seconds(pr5Time)!))
        let late = try mine(MiningOptions(createdAfter: cut))
        XCTAssertEqual(late.tasks.compactMap(\.pullNumber), [5, 6, 8])
        let early = try mine(MiningOptions(createdBefore: cut))
        XCTAssertEqual(early.tasks.compactMap(\.pullNumber), [1, 2, 3, 5])
    }

    /// Rebased onto a main whose copy of the file changed elsewhere: different blobs, same
    /// patch-id. Squashed without "(#N)": found through the PR title from metadata.
    func testRebaseAndSquashFoundByPatchID() throws {
        let f = try Fixture()
        try f.write("a.py", DemoHistory.numbered(50, "line"))
        try f.write("tests/test_a.py", "def test_a():\n    pass\n")
        try f.commit("initial")
        try f.git("checkout", "-q", "-b", "five")
        try f.write("a.py", DemoHistory.numbered(50, "line").replacingOccurrences(of: "line_5 = 5", with: "line_5 = 55"))
        try f.commit("Fix five")
        try f.write("tests/test_a.py", "def test_a():\n    pass\n\ndef test_five():\n    assert True\n")
        let head1 = try f.commit("Test five")
        try f.git("update-ref", "refs/pull/1/head", head1)
        try f.git("checkout", "-q", "main")
        try f.write("a.py", DemoHistory.numbered(50, "line").replacingOccurrences(of: "line_45 = 45", with: "line_45 = 4545"))
        try f.commit("Unrelated change far below")
        try f.git("cherry-pick", head1 + "~1", head1)
        let landing1 = try f.head()

        try f.git("checkout", "-q", "-b", "twenty")
        let fork2 = try f.head()
        try f.write("a.py", try f.git("show", "HEAD:a.py").replacingOccurrences(of: "line_20 = 20", with: "line_20 = 2020"))
        try f.commit("twenty, part one")
        try f.write("tests/test_a.py", "def test_a():\n    pass\n\ndef test_twenty():\n    assert True\n")
        let head2 = try f.commit("twenty, part two")
        try f.git("update-ref", "refs/pull/2/head", head2)
        try f.git("checkout", "-q", "main")
        try f.git("merge", "-q", "--squash", "twenty")
        let landing2 = try f.commit("Improve twenty")
        try f.git("branch", "-q", "-D", "five", "twenty")

        let repository = try Repository.open(f.path)
        let plain = try Miner(repository: repository, repo: "a/b").mine()
        XCTAssertEqual(plain.tasks.map(\.pullNumber), [1, 2])
        XCTAssertEqual(plain.tasks.first?.mergeStyle, .rebase)
        XCTAssertEqual(plain.tasks.first?.mergeCommit, landing1)
        XCTAssertEqual(plain.tasks.first?.baseCommit, try f.revParse("main~4"), "the fork point, before the unrelated change")
        XCTAssertFalse(plain.state.patchIDs.isEmpty, "blobs differed, so patch-ids decided (and are cached)")
        // No key links the squash to PR 2, but its author and changed lines do: the squash commit,
        // as it landed, is the task.
        XCTAssertEqual(plain.skipped, [])
        XCTAssertEqual(plain.tasks.last?.mergeCommit, landing2)
        XCTAssertEqual(plain.tasks.last?.baseCommit, try f.revParse("\(landing2)^"))

        var metadata = Metadata()
        try metadata.read(Array(#"{"number": 2, "title": "Improve twenty", "body": "", "head": {"sha": "\#(head2)"}}"#.utf8), source: "m")
        let titled = try Miner(repository: repository, repo: "a/b").mine(metadata: metadata)
        XCTAssertEqual(titled.tasks.map(\.pullNumber), [1, 2])
        let t2 = try XCTUnwrap(titled.tasks.last)
        XCTAssertEqual(t2.mergeStyle, .squash)
        XCTAssertEqual(t2.mergeCommit, landing2)
        XCTAssertEqual(t2.baseCommit, fork2)
        XCTAssertEqual(t2.statementSource, .pullRequest)
    }

    /// 100 PRs of every style at once: each found exactly once, in its style, with git's base.
    /// (`SyntheticHistory(pulls: 2000, directCommitsPerPull: 7)` is the 20,000-commit benchmark.)
    func testSyntheticHistoryAtScale() throws {
        let f = try Fixture("synthetic")
        try SyntheticHistory(pulls: 100, directCommitsPerPull: 3).write(into: f.path)
        let repository = try Repository.open(f.path)
        let result = try Miner(repository: repository, repo: "bench/bench", options: MiningOptions(workers: 3)).mine()
        let landed = (1...100).filter(SyntheticHistory.landed)
        XCTAssertEqual(result.tasks.compactMap(\.pullNumber), landed)
        XCTAssertEqual(result.skipped, [50, 100].map { SkippedPullRequest(number: $0, reason: .notMerged) })
        for task in result.tasks {
            let number = task.pullNumber!
            XCTAssertEqual(task.mergeStyle?.rawValue, SyntheticHistory.style(number), "#\(number)")
            XCTAssertEqual(task.issueNumbers, [10_000 + number])
            guard number % 6 == 1 || task.mergeStyle == .rebase else { continue }   // git processes are slow
            let head = task.mergeStyle == .merge ? task.mergeCommit! + "^2" : "refs/pull/\(number)/head"
            XCTAssertEqual(task.baseCommit, try f.git("merge-base", task.mergeCommit! + "^1", head).trimmingCharacters(in: .newlines))
            XCTAssertEqual(task.patch + task.testPatch, try f.git("diff", "--binary", task.baseCommit, head), "#\(number)")
        }
        // Versions come from pyproject.toml at the base; the environment from its last change.
        let manifestCommits = Set(try f.git("log", "--format=%H", "--first-parent", "main", "--", "pyproject.toml")
            .split(separator: "\n").map(String.init))
        XCTAssertGreaterThan(manifestCommits.count, 1, "the history bumps pyproject.toml")
        for task in result.tasks {
            XCTAssertTrue(manifestCommits.contains(task.environmentSetupCommit), "#\(task.pullNumber!)")
            let base = ObjectID(hex: task.baseCommit)!
            XCTAssertTrue(try repository.isAncestor(ObjectID(hex: task.environmentSetupCommit)!, of: base))
            let pyproject = String(decoding: try XCTUnwrap(repository.fileContent(atPath: "pyproject.toml", in: base)), as: UTF8.self)
            XCTAssertTrue(pyproject.contains("version = \"\(task.version).0\""), "#\(task.pullNumber!): \(task.version)")
        }
        XCTAssertGreaterThan(Set(result.tasks.map(\.version)).count, 1)
    }

    func testCorruptObjectIsAClearError() throws {
        let f = try Fixture()
        try f.write("a.py", "x = 1\n")
        try f.commit("one")
        try f.write("a.py", "x = 2\n")
        let head = try f.commit("two (#1)")
        let tree = try f.revParse("\(head)^{tree}")
        let object = f.root.appendingPathComponent(".git/objects/\(tree.prefix(2))/\(tree.dropFirst(2))")
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: object.path)
        try Data("not zlib at all".utf8).write(to: object)
        XCTAssertThrowsError(try Miner(repository: try Repository.open(f.path), repo: "a/b").mine()) { error in
            XCTAssertTrue(error is GitError, "\(error)")
            XCTAssertTrue("\(error)".contains(tree), "the message names the object: \(error)")
        }
    }
}
