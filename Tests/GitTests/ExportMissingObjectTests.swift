import Foundation
import GitFixtures
import XCTest
@testable import Git

/// Mirrors here lack their largest blobs (a docs GIF in kedro's base trees): exporting a tree for a
/// test run leaves such files out and names them, instead of failing every task of the repository.
final class ExportMissingObjectTests: XCTestCase {
    func testMissingBlobsAreLeftOutAndNamedOnlyWhenAsked() throws {
        let f = try Fixture()
        try f.write("calc/core.py", "def add(a, b):\n    return a + b\n")
        try f.write("docs/images/demo.gif", "GIF89a not really\n")
        try f.write("docs/images/big/huge.bin", "0123456789\n")
        let commit = try f.commit("Initial import")
        for path in ["docs/images/demo.gif", "docs/images/big"] {
            let id = try f.revParse("HEAD:\(path)")
            try FileManager.default.removeItem(atPath: f.root.appendingPathComponent(".git/objects/\(id.prefix(2))/\(id.dropFirst(2))").path)
        }
        let repository = try Repository.open(f.path)
        let commitID = try XCTUnwrap(ObjectID(hex: commit))
        let strict = f.root.deletingLastPathComponent().appendingPathComponent("strict-\(getpid())").path
        XCTAssertThrowsError(try repository.exportTree(of: commitID, to: strict))

        let lenient = f.root.deletingLastPathComponent().appendingPathComponent("lenient-\(getpid())").path
        let missing = try repository.exportTree(of: commitID, to: lenient, skippingMissingObjects: true)
        XCTAssertEqual(missing, ["docs/images/big", "docs/images/demo.gif"])
        XCTAssertEqual(try String(contentsOfFile: lenient + "/calc/core.py", encoding: .utf8), "def add(a, b):\n    return a + b\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: lenient + "/docs/images/demo.gif"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: lenient + "/docs/images/big"))
    }
}
