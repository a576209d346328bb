import Foundation
import GitFixtures
import XCTest
@testable import Git

final class DiffTests: XCTestCase {
    /// Lines 1…n of a numbered text, so renames with small edits stay similar.
    static func numbered(_ n: Int, prefix: String = "line") -> String {
        (1...n).map { "\(prefix) \($0): some words to make the line long enough\n" }.joined()
    }

    /// Deterministic pseudo-random bytes with a NUL, so git treats them as binary.
    static func binary(_ count: Int, seed: UInt64) -> [UInt8] {
        var state = seed
        return (0..<count).map { index in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return index == 3 ? 0 : UInt8(truncatingIfNeeded: state >> 33)
        }
    }

    /// A commit pair exercising every kind of change `git diff --binary` prints.
    static func makeRichDiff() throws -> (Fixture, String, String) {
        let f = try Fixture()
        try f.write("src/renamed_old.py", numbered(30))
        try f.write("src/deleted.py", "gone soon\n")
        try f.write("src/modified.py", numbered(40, prefix: "code"))
        try f.write("bin/run.sh", "#!/bin/sh\necho hi\n")
        try f.write("bin/tool.sh", "#!/bin/sh\necho tool\n")
        try f.write("assets/blob.bin", binary(3000, seed: 1))
        try f.write("assets/gone.bin", binary(500, seed: 2))
        try f.write("docs/noeol.txt", "no newline at end")
        try f.write("latin1.txt", Array("caf".utf8) + [0xE9] + Array(" au lait\nsecond line\n".utf8))
        try f.sh("ln -s src/modified.py link && printf 'plain\\n' > $'caf\\xe9.txt' && printf 'accent\\n' > 'naïve.txt'")
        let a = try f.commit("base")

        try f.git("mv", "src/renamed_old.py", "src/renamed_new.py")
        var renamed = numbered(30)
        renamed = renamed.replacingOccurrences(of: "line 7: some", with: "line 7: SOME")
        try f.write("src/renamed_new.py", renamed)
        try f.git("rm", "-q", "src/deleted.py", "assets/gone.bin")
        var modified = numbered(40, prefix: "code")
        modified = modified.replacingOccurrences(of: "code 3:", with: "code three:")
        modified += "appended\n"
        try f.write("src/modified.py", modified)
        try f.sh("chmod +x bin/run.sh")                               // mode only
        try f.write("bin/tool.sh", "#!/bin/sh\necho tool v2\n", executable: true)  // mode + content
        var blob = binary(3000, seed: 1); blob[1500] ^= 0xFF; blob += [1, 2, 3]
        try f.write("assets/blob.bin", blob)                          // small change: delta
        try f.write("assets/new.bin", binary(700, seed: 3))            // added binary: literal
        try f.write("docs/noeol.txt", "still no newline at end")
        try f.write("latin1.txt", Array("caf".utf8) + [0xE9] + Array(" noir\nsecond line\n".utf8))
        try f.sh("printf 'plain changed\\n' > $'caf\\xe9.txt' && printf 'accent 2\\n' > 'naïve.txt' && rm link && ln -s bin/run.sh link")
        try f.write("src/added.py", "print('new')\n")
        let b = try f.commit("change everything")
        return (f, a, b)
    }

    func testPatchBytesEqualGitDiffBinary() throws {
        let (f, a, b) = try Self.makeRichDiff()
        let repo = try Repository.open(f.path)
        let diff = try repo.diff(from: ObjectID(hex: a), to: ObjectID(hex: b)!)
        let expected = try f.gitBytes(["diff", "--binary", a, b])
        let actual = try diff.patchBytes()
        if actual != expected {   // keep both for a human diff
            try Data(actual).write(to: URL(fileURLWithPath: NSTemporaryDirectory() + "forge-ours.patch"))
            try Data(expected).write(to: URL(fileURLWithPath: NSTemporaryDirectory() + "forge-git.patch"))
        }
        XCTAssertTrue(actual == expected, "patch bytes differ from git diff --binary (see forge-ours.patch)")

        let entries = try diff.entries()
        let byPath = Dictionary(uniqueKeysWithValues: entries.map { ($0.path, $0) })
        XCTAssertEqual(byPath["src/renamed_new.py"]?.status, .renamed)
        XCTAssertEqual(byPath["src/renamed_new.py"]?.oldPath, "src/renamed_old.py")
        XCTAssertEqual(byPath["src/deleted.py"]?.status, .deleted)
        XCTAssertEqual(byPath["src/added.py"]?.status, .added)
        XCTAssertEqual(byPath["bin/run.sh"]?.newMode, 0o100755)
        XCTAssertEqual(byPath["bin/run.sh"]?.oldMode, 0o100644)
        XCTAssertEqual(byPath["assets/blob.bin"]?.isBinary, true)
        XCTAssertEqual(byPath["assets/new.bin"]?.isBinary, true)
        XCTAssertEqual(byPath["src/modified.py"]?.isBinary, false)
        XCTAssertNotNil(entries.first { $0.newPathBytes == Array("caf".utf8) + [0xE9] + Array(".txt".utf8) })
        XCTAssertEqual(byPath["src/modified.py"]?.status, .modified)
        let modifiedPatch = try diff.patch(at: byPath["src/modified.py"]!.index)
        XCTAssertEqual(modifiedPatch.additions, 2)
        XCTAssertEqual(modifiedPatch.deletions, 1)
    }

    func testPatchTextAppliesAndReproducesTheTree() throws {
        let (f, a, b) = try Self.makeRichDiff()
        let repo = try Repository.open(f.path)
        let diff = try repo.diff(from: ObjectID(hex: a), to: ObjectID(hex: b)!)
        let text = try diff.patchText(for: Array(0..<diff.count))
        // The Latin-1 file cannot be a Swift String verbatim: it is carried as a binary patch.
        let latin = try diff.entries().first { $0.path == "latin1.txt" }!
        XCTAssertFalse(try diff.patch(at: latin.index).textIsExact)
        XCTAssertTrue(try diff.patch(at: latin.index).text.contains("GIT binary patch"))

        let work = f.root.deletingLastPathComponent().appendingPathComponent("work").path
        try f.git("worktree", "add", "-q", "--detach", work, a)
        try Fixture.run(["git", "apply", "--check", "-"], in: work, input: Array(text.utf8))
        try Fixture.run(["git", "apply", "--index", "-"], in: work, input: Array(text.utf8))
        let tree = String(decoding: try Fixture.run(["git", "write-tree"], in: work), as: UTF8.self)
        XCTAssertEqual(tree.trimmingCharacters(in: .whitespacesAndNewlines), try f.revParse("\(b)^{tree}"))
    }

    func testSubsetPatchEqualsGitDiffOfThosePaths() throws {
        let (f, a, b) = try Self.makeRichDiff()
        let repo = try Repository.open(f.path)
        let diff = try repo.diff(from: ObjectID(hex: a), to: ObjectID(hex: b)!)
        let picked = try diff.entries().filter { ["src/modified.py", "assets/new.bin", "bin/run.sh"].contains($0.path) }
        XCTAssertEqual(picked.count, 3)
        let expected = try f.git("diff", "--binary", a, b, "--", "src/modified.py", "assets/new.bin", "bin/run.sh")
        XCTAssertEqual(try diff.patchText(for: picked.map(\.index)), expected)
    }

    func testPatchIDMatchesGitPatchIDStable() throws {
        let f = try Fixture()
        try f.write("a.py", Self.numbered(20))
        try f.write("b.py", "x = 1\n")
        try f.commit("one")
        try f.write("a.py", Self.numbered(20).replacingOccurrences(of: "line 5:", with: "line five:"))
        try f.write("b.py", "x = 2\ny = 3\n")
        try f.write("c.py", "new\n")
        let c = try f.commit("two")
        let repo = try Repository.open(f.path)
        let show = try f.gitBytes(["show", "--no-renames", c])
        let gitID = String(decoding: try Fixture.run(["git", "patch-id", "--stable"], in: f.path, input: show),
                           as: UTF8.self).split(separator: " ").first.map(String.init)
        XCTAssertEqual(try repo.patchID(ofCommit: ObjectID(hex: c)!).hex, gitID)
    }

    /// In a clone with more than 2^14 packed objects git abbreviates index lines to 8 digits.
    func testAbbreviationScalesWithPackedObjectCount() throws {
        let f = try Fixture()
        var stream = ""
        let files = 16_500
        for i in 1...files { stream += "blob\nmark :\(i)\ndata <<EOF\ncontent \(i)\nEOF\n" }
        stream += "commit refs/heads/main\ncommitter Ada <a@b> 1600000000 +0000\ndata <<EOF\nbig\nEOF\n"
        for i in 1...files { stream += "M 100644 :\(i) d\(i % 50)/f\(i).txt\n" }
        try f.git("fast-import", "--quiet", input: Array(stream.utf8))
        try f.git("reset", "-q", "--hard", "main")
        try f.write("d1/f1.txt", "changed\n")
        try f.write("d2/f2.txt", "changed too\n")
        let b = try f.commit("change")
        let repo = try Repository.open(f.path)
        XCTAssertEqual(repo.defaultAbbreviationLength, 8)
        let diff = try repo.diff(from: ObjectID(hex: try f.revParse("HEAD~1")), to: ObjectID(hex: b)!)
        XCTAssertEqual(String(decoding: try diff.patchBytes(), as: UTF8.self), try f.git("diff", "--binary", "HEAD~1", "HEAD"))
    }

    /// Without possible renames or mode changes each file is diffed from its blobs; the bytes
    /// must still be git's.
    func testBlobBackendMatchesGitDiffBinary() throws {
        let f = try Fixture()
        try f.write("src/a.py", Self.numbered(30))
        try f.write("bin/run.sh", "#!/bin/sh\necho 1\n", executable: true)
        try f.write("assets/blob.bin", Self.binary(2000, seed: 5))
        try f.write("noeol.txt", "x")
        try f.write("gone/one.txt", "one\n")
        try f.write("gone/two.bin", Self.binary(100, seed: 6))
        try f.write("gone/tool.sh", "#!/bin/sh\n", executable: true)
        try f.sh("printf 'v1\\n' > $'caf\\xe9.txt'")
        let a = try f.commit("base")
        try f.write("src/a.py", Self.numbered(30).replacingOccurrences(of: "line 9:", with: "line nine:"))
        try f.write("bin/run.sh", "#!/bin/sh\necho 2\n", executable: true)
        var blob = Self.binary(2000, seed: 5); blob[100] ^= 1
        try f.write("assets/blob.bin", blob)
        try f.write("noeol.txt", "y")
        try f.write("src/new.py", "print('added')\n")
        try f.write("bin/new.sh", "#!/bin/sh\n", executable: true)
        try f.write("assets/new.bin", Self.binary(300, seed: 7))
        try f.sh("printf 'v2\\n' > $'caf\\xe9.txt'")
        let b = try f.commit("modify and add")
        try f.git("rm", "-q", "-r", "gone")
        let c = try f.commit("delete")
        let repo = try Repository.open(f.path)
        for (from, to) in [(a, b), (b, c), (a, a)] {
            let diff = try repo.diff(from: ObjectID(hex: from), to: ObjectID(hex: to)!)
            XCTAssertTrue(diff.usesBlobBackend)
            XCTAssertEqual(String(decoding: try diff.patchBytes(), as: UTF8.self), try f.git("diff", "--binary", from, to))
            let raw = try f.git("diff", "--raw", "--no-renames", "--no-abbrev", from, to).split(separator: "\n")
            XCTAssertEqual(try repo.changedFiles(from: ObjectID(hex: from), to: ObjectID(hex: to)!).count, raw.count)
        }
        // Both adds and deletes: rename detection needs libgit2's tree diff.
        XCTAssertFalse(try repo.diff(from: ObjectID(hex: a), to: ObjectID(hex: c)!).usesBlobBackend)
        XCTAssertTrue(try repo.diff(from: ObjectID(hex: a), to: ObjectID(hex: c)!, options: DiffOptions(detectRenames: false)).usesBlobBackend)
        XCTAssertEqual(try repo.diff(from: ObjectID(hex: a), to: ObjectID(hex: b)!).patchID(),
                       try repo.diff(from: ObjectID(hex: a), to: ObjectID(hex: b)!, options: DiffOptions(detectRenames: false)).patchID())
        let entries = try repo.diff(from: ObjectID(hex: a), to: ObjectID(hex: b)!).entries()
        XCTAssertEqual(entries.first { $0.path == "bin/new.sh" }?.newMode, 0o100755)
        XCTAssertEqual(entries.first { $0.path == "bin/new.sh" }?.status, .added)
        XCTAssertEqual(entries.first { $0.path == "assets/blob.bin" }?.isBinary, true)
    }
}
