import Foundation
import GitFixtures
import XCTest
@testable import Git
@testable import Mining
import Store

/// Batches handed to the writer on two workers: in PR order with the tasks of an unbatched run,
/// and a failing write stops the run with its error.
final class BatchWriteTests: XCTestCase {
    private struct WriteFailed: Error {}

    /// `count` merged PRs, each changing its own module and test; those numbered in `rebased`
    /// land by cherry-pick (only their ref names them), the rest by merge commits.
    private func history(count: Int, rebased: Set<Int> = []) throws -> Fixture {
        let f = try Fixture("batchwrite")
        try f.write("README", "project\n")
        try f.commit("Initial import")
        for number in 1...count {
            try f.git("checkout", "-q", "-b", "pr\(number)")
            try f.write("pkg/mod\(number).py", "VALUE = \(number)\n")
            try f.write("tests/test_mod\(number).py", "def test_mod\(number)():\n    assert True\n")
            let head = try f.commit("Module \(number)")
            try f.git("update-ref", "refs/pull/\(number)/head", head)
            try f.git("checkout", "-q", "main")
            if rebased.contains(number) {
                try f.git("cherry-pick", head)
            } else {
                try f.git("merge", "-q", "--no-ff", "-m", "Merge pull request #\(number) from bo/pr\(number)", head)
            }
        }
        return f
    }

    func testBatchesArriveInOrderWithTheTasksOfOneRun() throws {
        let f = try history(count: 40)
        let miner = Miner(repository: try Repository.open(f.path), repo: "a/b", options: MiningOptions(workers: 2))
        let all = try miner.mine()
        var batches: [MiningBatch] = []
        _ = try miner.mine(batchSize: 16) { batches.append($0) }
        XCTAssertEqual(batches.map(\.tasks.count), [16, 16, 8])
        XCTAssertEqual(batches.map(\.isLast), [false, false, true])
        XCTAssertEqual(batches.flatMap(\.tasks), all.tasks)
        XCTAssertEqual(batches.last?.state.minedPullNumbers, Set(1...40))
    }

    /// Rebase discovery runs while the merged PRs are built: the PRs it finds come in the last
    /// batches, the tasks are those of one unbatched run, and a run stopped after any batch
    /// resumes to the same store.
    func testRebasedPullRequestsComeLastAndEveryBatchStateResumes() throws {
        let rebased: Set<Int> = [3, 10, 17, 30]
        let f = try history(count: 36, rebased: rebased)
        let miner = Miner(repository: try Repository.open(f.path), repo: "a/b", options: MiningOptions(workers: 2))
        let all = try miner.mine()
        XCTAssertEqual(all.tasks.compactMap(\.pullNumber), Array(1...36))
        XCTAssertEqual(Set(all.tasks.filter { $0.mergeStyle == .rebase }.compactMap(\.pullNumber)), rebased)

        var batches: [MiningBatch] = []
        let summary = try miner.mine(batchSize: 16) { batches.append($0) }
        let order = batches.flatMap { $0.tasks.compactMap(\.pullNumber) }
        XCTAssertEqual(order, (1...36).filter { !rebased.contains($0) } + rebased.sorted())
        XCTAssertEqual(batches.map(\.isLast), Array(repeating: false, count: batches.count - 1) + [true])
        XCTAssertEqual(summary.state, all.state)
        XCTAssertEqual(Set(batches.flatMap(\.tasks).map(\.instanceID)), Set(all.tasks.map(\.instanceID)))
        for (index, batch) in batches.enumerated().dropLast() {
            let resumed = try miner.mine(previous: batch.state)
            let written = batches[...index].flatMap(\.tasks)
            XCTAssertEqual((written + resumed.tasks).sorted { $0.instanceID < $1.instanceID },
                           all.tasks.sorted { $0.instanceID < $1.instanceID }, "resumed after batch \(index)")
            XCTAssertEqual(resumed.state, all.state, "resumed after batch \(index)")
        }
    }

    func testAFailedWriteEndsTheRunWithItsError() throws {
        let f = try history(count: 40)
        let miner = Miner(repository: try Repository.open(f.path), repo: "a/b", options: MiningOptions(workers: 2))
        var written = 0
        XCTAssertThrowsError(try miner.mine(batchSize: 16) { _ in
            written += 1
            if written == 2 { throw WriteFailed() }
        }) { XCTAssertTrue($0 is WriteFailed) }
        XCTAssertEqual(written, 2)
    }
}
