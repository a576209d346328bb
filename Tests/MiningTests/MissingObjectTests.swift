import Foundation
import GitFixtures
import XCTest
@testable import Git
@testable import Mining

/// Partial clones and damaged mirrors lack objects: the pull requests that need one are skipped
/// with the object's id, and the rest are still mined.
final class MissingObjectTests: XCTestCase {
    /// PRs 1 and 2 land by merge commits, each changing its own module; PR 3 lands by rebase
    /// (found through its ref). Returns the fixture and each PR's new blob of the module it changes.
    private func history() throws -> (Fixture, [Int: String]) {
        let f = try Fixture()
        try f.write("pyproject.toml", "[project]\nname = \"calc\"\nversion = \"1.0.0\"\n")
        try f.write("calc/core.py", "def add(a, b):\n    return a + b\n")
        try f.write("calc/mod1.py", "ONE = 1\n")
        try f.write("calc/mod2.py", "TWO = 2\n")
        try f.write("tests/test_core.py", "from calc.core import add\n\ndef test_add():\n    assert add(1, 2) == 3\n")
        try f.commit("Initial import")
        var blobs: [Int: String] = [:]
        for number in 1...2 {
            try f.git("checkout", "-q", "-b", "pr\(number)")
            try f.write("calc/mod\(number).py", "VALUE = \(number * 10)\n")
            try f.write("tests/test_mod\(number).py", "from calc.mod\(number) import VALUE\n\ndef test_value():\n    assert VALUE == \(number * 10)\n")
            try f.commit("Change \(number)")
            blobs[number] = try f.revParse("HEAD:calc/mod\(number).py")
            try f.git("update-ref", "refs/pull/\(number)/head", "HEAD")
            try f.git("checkout", "-q", "main")
            try f.git("merge", "-q", "--no-ff", "pr\(number)", "-m", "Merge pull request #\(number) from a/pr\(number)")
        }
        // PR 3 lands by rebase: only its ref names it, so discovery diffs its commits.
        try f.git("checkout", "-q", "-b", "pr3")
        try f.write("calc/core.py", "def add(a, b):\n    return b + a\n")
        try f.write("tests/test_core.py", "from calc.core import add\n\ndef test_add():\n    assert add(2, 1) == 3\n")
        try f.commit("Swap operands")
        blobs[3] = try f.revParse("HEAD:calc/core.py")
        try f.git("update-ref", "refs/pull/3/head", "HEAD")
        try f.git("checkout", "-q", "main")
        try f.git("cherry-pick", "pr3")
        return (f, blobs)
    }

    private func deleteLooseObject(_ id: String, in f: Fixture) throws {
        let path = f.root.appendingPathComponent(".git/objects/\(id.prefix(2))/\(id.dropFirst(2))").path
        XCTAssertTrue(FileManager.default.fileExists(atPath: path), "the fixture's objects are loose")
        try FileManager.default.removeItem(atPath: path)
    }

    func testPullRequestWithAMissingBlobIsSkippedAndTheRestMined() throws {
        let (f, blobs) = try history()
        let complete = try Miner(repository: try Repository.open(f.path), repo: "a/calc").mine()
        XCTAssertEqual(complete.tasks.compactMap(\.pullNumber).sorted(), [1, 2, 3])

        try deleteLooseObject(blobs[1]!, in: f)
        let result = try Miner(repository: try Repository.open(f.path), repo: "a/calc").mine()
        XCTAssertEqual(result.tasks.compactMap(\.pullNumber).sorted(), [2, 3])
        let skip = try XCTUnwrap(result.skipped.first { $0.number == 1 }, "\(result.skipped)")
        guard case .missingObject(let id, let operation) = skip.reason else { return XCTFail("\(skip)") }
        XCTAssertEqual(id, blobs[1])
        XCTAssertTrue(skip.description.contains(blobs[1]!), skip.description)
        XCTAssertFalse(operation.isEmpty)
        XCTAssertEqual(skip.reason.category, "object missing from the clone")
        // Not marked as mined: a later fetch that brings the object back mines it.
        XCTAssertFalse(result.state.minedPullNumbers.contains(1))
        XCTAssertTrue(result.state.minedPullNumbers.isSuperset(of: [2, 3]))
    }

    func testRebasedPullRequestWithAMissingBlobIsSkipped() throws {
        let (f, blobs) = try history()
        try deleteLooseObject(blobs[3]!, in: f)
        let result = try Miner(repository: try Repository.open(f.path), repo: "a/calc").mine()
        XCTAssertEqual(result.tasks.compactMap(\.pullNumber).sorted(), [1, 2])
        let skip = try XCTUnwrap(result.skipped.first { $0.number == 3 }, "\(result.skipped)")
        guard case .missingObject(let id, _) = skip.reason else { return XCTFail("\(skip)") }
        XCTAssertEqual(id, blobs[3])
    }
}
