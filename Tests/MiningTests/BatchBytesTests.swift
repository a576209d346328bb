import Foundation
import GitFixtures
import XCTest
@testable import Git
@testable import Mining
import Store

/// Batches bounded by the bytes of patch text they hold, not only by their number of PRs: a few
/// huge pull requests (sympy's oldest carry 20 MB of patch each) must not all sit in one batch.
final class BatchBytesTests: XCTestCase {
    /// `count` merged PRs, each changing its own module and test; every third one adds `large`
    /// lines to its module, the others one line.
    private func history(count: Int, large: Int) throws -> Fixture {
        let f = try Fixture("batchbytes")
        try f.write("README", "project\n")
        try f.commit("Initial import")
        for number in 1...count {
            try f.git("checkout", "-q", "-b", "pr\(number)")
            let lines = number % 3 == 0 ? large : 1
            try f.write("pkg/mod\(number).py", (0..<lines).map { "VALUE_\($0) = \($0 * number)\n" }.joined())
            try f.write("tests/test_mod\(number).py", "def test_mod\(number)():\n    assert True\n")
            try f.commit("Module \(number)")
            let head = try f.head()
            try f.git("update-ref", "refs/pull/\(number)/head", head)
            try f.git("checkout", "-q", "main")
            try f.git("merge", "-q", "--no-ff", "-m", "Merge pull request #\(number) from bo/pr\(number)", head)
            try f.git("branch", "-q", "-D", "pr\(number)")
        }
        return f
    }

    /// One worker: a batch closes after the first run of PRs (four at a time) that brings it to
    /// the budget, so everything but its last run holds less than the budget; the tasks, in
    /// order, and the final state are those of a single unbounded run.
    func testBatchesCloseOnceTheirPatchTextReachesTheBudget() throws {
        let f = try history(count: 24, large: 2_000)
        let miner = Miner(repository: try Repository.open(f.path), repo: "a/b", options: MiningOptions(workers: 1))
        let all = try miner.mine()
        XCTAssertEqual(all.tasks.compactMap(\.pullNumber), Array(1...24))
        let largeTask = try XCTUnwrap(all.tasks.first { $0.pullNumber == 3 }).patchTextBytes
        XCTAssertGreaterThan(largeTask, 30_000)

        let budget = largeTask   // one large PR fills a batch
        var batches: [MiningBatch] = []
        let summary = try miner.mine(batchSize: 256, batchBytes: budget) { batches.append($0) }
        XCTAssertGreaterThan(batches.count, 1)
        XCTAssertEqual(batches.map(\.isLast), Array(repeating: false, count: batches.count - 1) + [true])
        for batch in batches.dropLast() {
            let bytes = batch.tasks.map(\.patchTextBytes)
            XCTAssertGreaterThanOrEqual(bytes.reduce(0, +), budget, "a batch closed before its budget was spent")
            XCTAssertLessThan(bytes.dropLast(4).reduce(0, +), budget, "a run was taken after the budget was spent")
        }
        XCTAssertEqual(batches.flatMap(\.tasks), all.tasks)
        XCTAssertEqual(summary.state, all.state)
    }

    /// Whatever the bounds and the number of workers, the same tasks come out in the same order,
    /// every PR is in exactly one batch, and each batch's state resumes after it.
    func testResultsAreIdenticalAcrossBatchBounds() throws {
        let f = try history(count: 20, large: 300)
        let reference = try Miner(repository: try Repository.open(f.path), repo: "a/b", options: MiningOptions(workers: 1)).mine()
        XCTAssertEqual(reference.tasks.count, 20)
        for workers in [1, 2] {
            let miner = Miner(repository: try Repository.open(f.path), repo: "a/b", options: MiningOptions(workers: workers))
            for (size, bytes) in [(1, Int.max), (3, Int.max), (256, 1), (256, 5_000), (7, 20_000), (256, Int.max)] {
                var batches: [MiningBatch] = []
                let summary = try miner.mine(batchSize: size, batchBytes: bytes) { batches.append($0) }
                let label = "workers \(workers), batchSize \(size), batchBytes \(bytes)"
                XCTAssertEqual(batches.flatMap(\.tasks), reference.tasks, label)
                XCTAssertTrue(batches.allSatisfy { $0.tasks.count <= size }, label)
                XCTAssertEqual(summary.state, reference.state, label)
                // Resuming after any batch builds exactly the tasks of the batches after it.
                for (index, batch) in batches.enumerated().dropLast() where index % 3 == 0 {
                    let resumed = try miner.mine(previous: batch.state)
                    XCTAssertEqual(resumed.tasks, batches[(index + 1)...].flatMap(\.tasks), label)
                }
            }
        }
    }
}
