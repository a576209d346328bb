import Foundation
import GitFixtures
import XCTest
@testable import Git
@testable import Mining

/// Merge bases computed from the walked graph (`AncestryIndex`) against libgit2's `git_merge_base`
/// on histories with many branches, criss-cross merges and skewed commit times.
final class AncestryIndexTests: XCTestCase {
    /// A pseudo-random history written with one `git fast-import`: `branches` lines of work that
    /// commit and merge each other (criss-cross merges included); every seventh commit is dated
    /// up to a day before its parent, as rebased or clock-skewed commits are. Returns the
    /// fixture and every commit id.
    private func randomHistory(seed: UInt64, commits: Int, branches: Int) throws -> (Fixture, [ObjectID]) {
        let f = try Fixture("ancestry")
        var state = seed
        func next(_ bound: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int((state >> 33) % UInt64(bound))
        }
        var stream = ""
        var tips = [Int](repeating: 1, count: branches)   // marks
        var time = 1_600_000_000
        stream += "commit refs/heads/main\nmark :1\ncommitter Ada <ada@example.com> \(time) +0000\ndata 5\nroot\n"
        stream += "M 644 inline file\ndata 2\n0\n\n"
        for mark in 2...commits {
            let branch = next(branches)
            time += 60
            let date = mark % 7 == 0 ? time - next(86_400) : time
            stream += "commit refs/heads/b\(branch)\nmark :\(mark)\ncommitter Ada <ada@example.com> \(date) +0000\n"
            stream += "data \(String(mark).utf8.count)\n\(mark)\nfrom :\(tips[branch])\n"
            if next(3) == 0 {
                let other = next(branches)
                if other != branch && tips[other] != tips[branch] { stream += "merge :\(tips[other])\n" }
            }
            stream += "M 644 inline f\(branch)\ndata \(String(mark).utf8.count + 1)\n\(mark)\n\n"
            tips[branch] = mark
        }
        try f.git(["fast-import", "--quiet"], input: Array(stream.utf8))
        let ids = try f.git("rev-list", "--all").split(separator: "\n").compactMap { ObjectID(hex: String($0)) }
        return (f, ids)
    }

    private func graph(of repository: Repository, _ ids: [ObjectID]) throws -> CommitGraph {
        var graph = CommitGraph(repository: repository, isComplete: true)
        for id in ids { graph.add(id, CommitGraph.Node(try repository.commitInfo(id))) }
        graph.indexAncestry()
        return graph
    }

    /// Every pair of commits: a single best common ancestor is libgit2's answer, "none" is
    /// libgit2's "no merge base", and the index declines only where git finds several.
    func testMergeBasesMatchLibgit2OnRandomHistories() throws {
        for seed: UInt64 in [1, 7, 42] {
            let (f, ids) = try randomHistory(seed: seed, commits: 90, branches: 5)
            let repository = try Repository.open(f.path)
            let index = try XCTUnwrap(try graph(of: repository, ids).ancestry)
            var decided = 0, declined: [(ObjectID, ObjectID)] = []
            for a in ids {
                for b in ids {
                    switch index.mergeBase(a, b) {
                    case .base(let id):
                        decided += 1
                        XCTAssertEqual(id, try repository.mergeBase(a, b), "seed \(seed): \(a) \(b)")
                    case .none:
                        decided += 1
                        XCTAssertNil(try repository.mergeBase(a, b), "seed \(seed): \(a) \(b)")
                    case .undecided:
                        declined.append((a, b))
                    }
                }
            }
            XCTAssertGreaterThan(decided, ids.count * ids.count * 3 / 4, "seed \(seed)")   // criss-crosses abound here
            for (a, b) in declined.prefix(50) {
                let all = try f.git("merge-base", "--all", a.hex, b.hex).split(separator: "\n")
                XCTAssertGreaterThan(all.count, 1, "seed \(seed): declined \(a) \(b) with one merge base")
            }

            // Every branch tip left out of the walk, as unmerged PR heads are: read on demand.
            let parents = Set(try ids.flatMap { try repository.commitInfo($0).parentIDs })
            let tips = (0..<5).compactMap { try? f.revParse("b\($0)") }.compactMap { ObjectID(hex: $0) }
                .filter { !parents.contains($0) }
            XCTAssertFalse(tips.isEmpty)
            let partial = try graph(of: repository, ids.filter { !tips.contains($0) })
            let outside = { (id: ObjectID) -> (time: Int64, parents: [ObjectID])? in
                guard let info = try? repository.commitInfo(id) else { return nil }
                return (info.committerTime, info.parentIDs)
            }
            var decidedOutside = 0
            for a in tips {
                for b in ids {
                    XCTAssertEqual(try partial.mergeBase(a, b, reader: repository), try repository.mergeBase(a, b))
                    XCTAssertEqual(partial.ancestry?.mergeBase(a, b), a == b ? .base(a) : .undecided)
                    if case .base(let id) = partial.ancestry?.mergeBase(a, b, outside: outside) {
                        decidedOutside += 1
                        XCTAssertEqual(id, try repository.mergeBase(a, b), "seed \(seed): \(a) \(b)")
                    }
                }
            }
            XCTAssertGreaterThan(decidedOutside, tips.count * ids.count / 2, "seed \(seed)")
        }
    }

    /// Two unrelated histories share nothing; a commit the walk did not record (older history
    /// in an incremental run) leaves the answer to libgit2, and `CommitGraph.mergeBase` then
    /// gives libgit2's.
    func testDisjointHistoriesAndCommitsOutsideTheWalk() throws {
        let f = try Fixture("ancestry-partial")
        try f.write("a", "1\n"); let root = try f.commit("root")
        try f.write("a", "2\n"); let middle = try f.commit("middle")
        try f.git("checkout", "-q", "-b", "side")
        try f.write("b", "1\n"); let side = try f.commit("side")
        try f.git("checkout", "-q", "main")
        try f.write("a", "3\n"); let tip = try f.commit("tip")
        try f.git("checkout", "-q", "--orphan", "other")
        try f.write("c", "1\n"); let orphan = try f.commit("orphan")
        let repository = try Repository.open(f.path)
        let ids = [root, middle, side, tip, orphan].map { ObjectID(hex: $0)! }
        let full = try graph(of: repository, ids)
        XCTAssertEqual(full.ancestry?.mergeBase(ids[3], ids[2]), .base(ids[1]))
        XCTAssertEqual(full.ancestry?.mergeBase(ids[3], ids[4]), AncestryIndex.MergeBase.none)
        XCTAssertEqual(full.ancestry?.mergeBase(ids[1], ids[3]), .base(ids[1]))

        // Only the commits after `middle` were walked.
        let partial = try graph(of: repository, [ids[2], ids[3]])
        XCTAssertEqual(partial.ancestry?.mergeBase(ids[3], ids[2]), .undecided)
        XCTAssertEqual(try partial.mergeBase(ids[3], ids[2], reader: repository), ids[1])
        XCTAssertEqual(try partial.mergeBase(ids[3], ids[3], reader: repository), ids[3])
    }
}
