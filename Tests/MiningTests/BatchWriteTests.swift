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

    /// `count` merged PRs, each changing its own module and test.
    private func history(count: Int) throws -> Fixture {
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
            try f.git("merge", "-q", "--no-ff", "-m", "Merge pull request #\(number) from bo/pr\(number)", head)
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
