import CGit2
import Foundation
import GitFixtures
import XCTest
@testable import Git

/// Rename detection with pair scores kept (`RenameSimilarity`) pairs files exactly as libgit2's
/// default metric and `git diff -M` do, also where `git_diff_find_similar` re-pairs (many
/// moved files that resemble each other, so better matches eject earlier ones pass after pass).
final class RenameSimilarityTests: XCTestCase {
    /// A commit that moves `count` near-identical modules to a new package, editing each a little,
    /// deletes a few and adds a few unrelated files.
    static func makeMoves(count: Int) throws -> (Fixture, String, String) {
        let f = try Fixture()
        func module(_ index: Int, edit: Bool) -> String {
            var lines = (1...40).map { "    value_\($0) = compute(\($0), scale=\($0 % 7))\n" }
            lines[index % 40] = "    special_\(index) = \(index)\n"
            if edit { lines[(index * 7) % 40] = "    edited_\(index) = True\n" }
            return "def module_\(index % 3)():\n" + lines.joined()
        }
        for index in 0..<count { try f.write("old/pkg/mod\(index).py", module(index, edit: false)) }
        try f.write("old/pkg/unrelated.py", "print('keep me out of pairings')\n")
        let a = try f.commit("modules")
        try f.sh("git rm -q -r old")
        for index in 0..<count where index % 5 != 0 { try f.write("new/pkg/m\(index).py", module(index, edit: true)) }
        for index in 0..<3 { try f.write("new/pkg/fresh\(index).py", "x = \(index)\n") }
        let b = try f.commit("move")
        return (f, a, b)
    }

    func testPairsAsLibgit2DefaultMetricAndGitDiff() throws {
        let (f, a, b) = try Self.makeMoves(count: 60)
        let repo = try Repository.open(f.path)
        let diff = try repo.diff(from: ObjectID(hex: a), to: ObjectID(hex: b)!)
        let ours = try diff.entries().map { "\($0.status) \($0.oldPath) -> \($0.newPath) \($0.similarity)" }

        // The same tree diff through libgit2's own metric (no `metric` set).
        var options = git_diff_options()
        XCTAssertEqual(git_diff_options_init(&options, UInt32(GIT_DIFF_OPTIONS_VERSION)), 0)
        let oldTree = try repo.tree(ObjectID(hex: a)!), newTree = try repo.tree(ObjectID(hex: b)!)
        var raw: OpaquePointer?
        XCTAssertEqual(git_diff_tree_to_tree(&raw, repo.pointer, oldTree.pointer, newTree.pointer, &options), 0)
        defer { git_diff_free(raw) }
        var find = git_diff_find_options()
        XCTAssertEqual(git_diff_find_options_init(&find, UInt32(GIT_DIFF_FIND_OPTIONS_VERSION)), 0)
        find.flags = GIT_DIFF_FIND_RENAMES.rawValue | GIT_DIFF_FIND_DONT_IGNORE_WHITESPACE.rawValue
        find.rename_threshold = 50
        find.rename_limit = 1000
        XCTAssertEqual(git_diff_find_similar(raw, &find), 0)
        let theirs = (0..<git_diff_num_deltas(raw)).map { index -> String in
            let delta = git_diff_get_delta(raw, index)!.pointee
            let status: FileStatus = delta.status == GIT_DELTA_RENAMED ? .renamed
                : delta.status == GIT_DELTA_ADDED ? .added : delta.status == GIT_DELTA_DELETED ? .deleted : .modified
            return "\(status) \(String(cString: delta.old_file.path)) -> \(String(cString: delta.new_file.path)) \(delta.similarity)"
        }
        XCTAssertEqual(ours, theirs)
        XCTAssertGreaterThan(ours.filter { $0.hasPrefix("renamed") }.count, 30, "the fixture must pair many renames")

        // And the patch is git's, byte for byte.
        XCTAssertEqual(try diff.patchBytes(), try f.gitBytes(["diff", "--binary", "-M", a, b]))
    }
}
