import Foundation
import GitFixtures
import XCTest
@testable import Git

final class RepositoryTests: XCTestCase {
    func testOpeningANonRepositoryNamesThePath() throws {
        let dir = NSTemporaryDirectory() + "forge-not-a-repo-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        XCTAssertThrowsError(try Repository.open(dir)) { error in
            XCTAssertEqual((error as? GitError)?.code, .notARepository)
            XCTAssertEqual("\(error)", "not a git repository: \(dir)")
        }
    }

    func testReferencesPeelTagsAndIncludePullRefs() throws {
        let f = try Fixture()
        try f.write("a.txt", "1\n")
        let first = try f.commit("first")
        try f.git("tag", "-a", "v1.0.0", "-m", "release")
        try f.git("tag", "light")
        try f.write("a.txt", "2\n")
        let second = try f.commit("second")
        try f.git("update-ref", "refs/pull/7/head", second)
        try f.git("branch", "feature", first)
        let repo = try Repository.open(f.path)
        let refs = Dictionary(uniqueKeysWithValues: try repo.references().map { ($0.name, $0) })
        XCTAssertEqual(Set(refs.keys), ["refs/heads/main", "refs/heads/feature", "refs/tags/v1.0.0",
                                        "refs/tags/light", "refs/pull/7/head"])
        let tag = refs["refs/tags/v1.0.0"]!
        XCTAssertEqual(tag.commit?.hex, first)
        XCTAssertEqual(tag.target.hex, try f.revParse("v1.0.0"))   // the tag object itself
        XCTAssertNotEqual(tag.target, tag.commit)
        XCTAssertEqual(refs["refs/tags/light"]?.commit?.hex, first)
        XCTAssertEqual(refs["refs/pull/7/head"]?.pullNumber, 7)
        XCTAssertEqual(refs["refs/pull/7/head"]?.commit?.hex, second)
        XCTAssertEqual(try repo.defaultBranch()?.name, "refs/heads/main")
    }

    func testDefaultBranchFallsBackToOriginHeadThenMaster() throws {
        let f = try Fixture()
        try f.write("a.txt", "1\n")
        try f.commit("first")
        try f.git("branch", "-m", "main", "trunk")
        let clone = f.root.deletingLastPathComponent().appendingPathComponent("clone").path
        try Fixture.run(["git", "clone", "-q", "--bare", f.path, clone], in: f.path)
        // A bare clone's HEAD names trunk.
        XCTAssertEqual(try Repository.open(clone).defaultBranch()?.name, "refs/heads/trunk")
        // Detached HEAD with an origin/HEAD: the remote's default wins.
        let work = f.root.deletingLastPathComponent().appendingPathComponent("work").path
        try Fixture.run(["git", "clone", "-q", f.path, work], in: f.path)
        try Fixture.run(["git", "checkout", "-q", "--detach"], in: work)
        XCTAssertEqual(try Repository.open(work).defaultBranch()?.name, "refs/remotes/origin/trunk")
        // No HEAD branch and no origin: master.
        try f.git("checkout", "-q", "--detach")
        try f.git("branch", "master")
        XCTAssertEqual(try Repository.open(f.path).defaultBranch()?.name, "refs/heads/master")
    }

    func testCommitFieldsAndNonUTF8Messages() throws {
        let f = try Fixture()
        try f.write("a.txt", "1\n")
        try f.git("add", "-A")
        try Fixture.run(["git", "commit", "-q", "-m", "Subject line\n  continued\n\nBody text"], in: f.path,
                        environment: ["GIT_AUTHOR_DATE": "2020-01-02T03:04:05+0200",
                                      "GIT_COMMITTER_DATE": "2021-02-03T04:05:06-0130"])
        let first = try f.head()
        // Latin-1 bytes declared as such, and raw invalid UTF-8 without a declaration.
        try f.write("msg-latin1", Array("Caf".utf8) + [0xE9] + Array(" fix\n".utf8))
        try f.write("a.txt", "2\n")
        try f.git("add", "a.txt")
        try f.git("-c", "i18n.commitEncoding=ISO-8859-1", "commit", "-q", "-F", "msg-latin1")
        let latin = try f.head()
        // git commit repairs invalid UTF-8, so write the raw commit object by hand.
        let tree = try f.revParse("HEAD^{tree}")
        let raw = Array("tree \(tree)\nparent \(latin)\nauthor Ada <a@b> 1600000000 +0000\ncommitter Ada <a@b> 1600000000 +0000\n\nBroken ".utf8)
            + [0xFF, 0xFE] + Array(" bytes\n".utf8)
        let broken = try f.git("hash-object", "-t", "commit", "-w", "--stdin", input: raw).trimmingCharacters(in: .newlines)

        let repo = try Repository.open(f.path)
        let c = try repo.commit(ObjectID(hex: first)!)
        XCTAssertEqual(c.parentIDs, [])
        XCTAssertEqual(c.author.time, 1_577_927_045)   // 2020-01-02T01:04:05Z
        XCTAssertEqual(c.author.offsetMinutes, 120)
        XCTAssertEqual(c.author.iso8601UTC, "2020-01-02T01:04:05Z")
        XCTAssertEqual(c.committer.offsetMinutes, -90)
        XCTAssertEqual(c.author.name, "Ada")
        XCTAssertEqual(c.summary, try f.git("log", "-1", "--format=%s", first).trimmingCharacters(in: .newlines))
        XCTAssertEqual(c.summary, "Subject line   continued")
        XCTAssertEqual(c.treeID.hex, try f.revParse("\(first)^{tree}"))

        let l = try repo.commit(ObjectID(hex: latin)!)
        XCTAssertEqual(l.messageEncoding, "ISO-8859-1")
        XCTAssertEqual(l.messageBytes, Array("Caf".utf8) + [0xE9] + Array(" fix\n".utf8))
        XCTAssertEqual(l.summary, "Café fix")
        XCTAssertEqual(l.parentIDs.map(\.hex), [first])

        let b = try repo.commit(ObjectID(hex: broken)!)
        XCTAssertEqual(b.message, "Broken \u{FFFD}\u{FFFD} bytes\n")

        // The raw-object reader agrees with libgit2's parsed commit.
        for commit in [c, l, b] {
            let info = try repo.commitInfo(commit.id)
            XCTAssertEqual(info.summary, commit.summary)
            XCTAssertEqual(info.parentIDs, commit.parentIDs)
            XCTAssertEqual(info.treeID, commit.treeID)
            XCTAssertEqual(info.authorName, commit.author.name)
            XCTAssertEqual(info.authorEmail, commit.author.email)
            XCTAssertEqual(info.authorTime, commit.author.time)
            XCTAssertEqual(info.committerTime, commit.committer.time)
        }
        XCTAssertThrowsError(try repo.commitInfo(c.treeID)) { XCTAssertEqual(($0 as? GitError)?.code, .invalid) }
    }

    /// Two branches merged, a tag on a side branch: every walk checked against git rev-list.
    static func makeBranchyHistory() throws -> Fixture {
        let f = try Fixture()
        try f.write("a.txt", "1\n"); try f.commit("c1")
        try f.write("a.txt", "2\n"); try f.commit("c2")
        try f.git("checkout", "-q", "-b", "side")
        try f.write("b.txt", "s1\n"); try f.commit("s1")
        try f.write("b.txt", "s2\n"); try f.commit("s2")
        try f.git("checkout", "-q", "main")
        try f.write("a.txt", "3\n"); try f.commit("c3")
        try f.git("merge", "-q", "--no-ff", "side", "-m", "merge side")
        try f.write("a.txt", "4\n"); try f.commit("c4")
        try f.git("checkout", "-q", "-b", "release", "HEAD~2")
        try f.write("r.txt", "r\n"); try f.commit("r1")
        try f.git("tag", "v2.0.0")
        try f.git("checkout", "-q", "main")
        return f
    }

    func testWalksMatchRevList() throws {
        let f = try Self.makeBranchyHistory()
        let repo = try Repository.open(f.path)
        let main = try repo.resolveCommit("main"), release = try repo.resolveCommit("release")
        let side = try repo.resolveCommit("side")
        func revList(_ args: String...) throws -> [String] {
            try f.git(["rev-list"] + args).split(separator: "\n").map(String.init)
        }
        let all = try repo.walk(from: [main, release], order: .topological).all()
        XCTAssertEqual(Set(all.map(\.hex)), Set(try revList("main", "release")))
        assertTopological(all, repo)
        let firstParent = try repo.walk(from: [main], order: .topological, firstParentOnly: true).all()
        XCTAssertEqual(firstParent.map(\.hex), try revList("--first-parent", "main"))
        let hidden = try repo.walk(from: [main, release], hiding: [side], order: .time).all()
        XCTAssertEqual(Set(hidden.map(\.hex)), Set(try revList("main", "release", "^side")))
        let timeOrder = try repo.walk(from: [main], order: .time).all()
        XCTAssertEqual(timeOrder.map(\.hex), try revList("--date-order", "main"))
        // Hiding an id that is not in the repository is ignored (an old tip that was gc'ed).
        let ghost = ObjectID(hex: String(repeating: "ab", count: 20))!
        XCTAssertEqual(try repo.walk(from: [main], hiding: [ghost]).all().count, try revList("main").count)
        // Reused walk.
        let walk = try repo.walk(from: [main], hiding: [side])
        let once = try walk.all()
        try walk.reset(); try walk.push(main); try walk.hide(side)
        XCTAssertEqual(try walk.all(), once)
    }

    private func assertTopological(_ ids: [ObjectID], _ repo: Repository, file: StaticString = #filePath, line: UInt = #line) {
        let position = Dictionary(uniqueKeysWithValues: ids.enumerated().map { ($1, $0) })
        for id in ids {
            for parent in (try! repo.commit(id)).parentIDs {
                if let p = position[parent] { XCTAssertLessThan(position[id]!, p, "child after parent", file: file, line: line) }
            }
        }
    }

    func testMergeBaseBlobAndAncestry() throws {
        let f = try Self.makeBranchyHistory()
        let repo = try Repository.open(f.path)
        let release = try repo.resolveCommit("release"), side = try repo.resolveCommit("side")
        let main = try repo.resolveCommit("main")
        let expected = try f.git("merge-base", "release", "side").trimmingCharacters(in: .newlines)
        XCTAssertEqual(try repo.mergeBase(release, side)?.hex, expected)
        XCTAssertTrue(try repo.isAncestor(side, of: main))
        XCTAssertFalse(try repo.isAncestor(release, of: main))
        XCTAssertEqual(try repo.fileContent(atPath: "b.txt", in: side), Array("s2\n".utf8))
        XCTAssertNil(try repo.fileContent(atPath: "missing.txt", in: side))
        XCTAssertEqual(try repo.tree(main).entry(named: "a.txt")?.kind, .file)

        // Unrelated histories have no merge base.
        try f.git("checkout", "-q", "--orphan", "other")
        try f.write("z.txt", "z\n"); let orphan = try f.commit("orphan")
        XCTAssertNil(try repo.mergeBase(main, ObjectID(hex: orphan)!))
    }

    func testExportTreeWritesModesAndSymlinks() throws {
        let f = try Fixture()
        try f.write("pkg/run.sh", "#!/bin/sh\n", executable: true)
        try f.write("pkg/data.txt", "data\n")
        try f.sh("ln -s pkg/data.txt link && mkdir -p deep/er && printf x > deep/er/x && printf 'raw\\n' > $'caf\\xe9'")
        let c = try f.commit("tree")
        let repo = try Repository.open(f.path)
        let out = f.root.deletingLastPathComponent().appendingPathComponent("export").path
        try repo.exportTree(of: ObjectID(hex: c)!, to: out)
        let fm = FileManager.default
        XCTAssertFalse(fm.fileExists(atPath: out + "/.git"))
        XCTAssertEqual(try String(contentsOfFile: out + "/pkg/data.txt", encoding: .utf8), "data\n")
        XCTAssertTrue(fm.isExecutableFile(atPath: out + "/pkg/run.sh"))
        XCTAssertFalse(fm.isExecutableFile(atPath: out + "/pkg/data.txt"))
        XCTAssertEqual(try fm.destinationOfSymbolicLink(atPath: out + "/link"), "pkg/data.txt")
        XCTAssertEqual(try String(contentsOfFile: out + "/deep/er/x", encoding: .utf8), "x")
        // Same tree as git's own: hash the exported directory into a fresh index.
        try Fixture.run(["git", "init", "-q"], in: out)
        try Fixture.run(["git", "add", "-A"], in: out)
        let tree = String(decoding: try Fixture.run(["git", "write-tree"], in: out), as: UTF8.self)
        XCTAssertEqual(tree.trimmingCharacters(in: .newlines), try f.revParse("\(c)^{tree}"))
    }

    func testCreateRepositoryHoldsOnlyTheBaseTree() throws {
        let f = try Fixture()
        try f.write("src/a.py", "v1\n")
        let base = try f.commit("base")
        try f.write("src/a.py", "v2 the fix\n")
        let fix = try f.commit("fix")
        let repo = try Repository.open(f.path)
        let fixBlob = try repo.tree(ObjectID(hex: fix)!).entry(atPath: "src/a.py")!.id
        let out = f.root.deletingLastPathComponent().appendingPathComponent("workspace").path
        let (workspace, commit) = try Repository.createRepository(at: out, fromTreeOf: ObjectID(hex: base)!, in: repo)
        XCTAssertEqual(try workspace.commit(commit).treeID.hex, try f.revParse("\(base)^{tree}"))
        XCTAssertFalse(workspace.contains(fixBlob))
        XCTAssertFalse(workspace.contains(ObjectID(hex: fix)!))
        let log = String(decoding: try Fixture.run(["git", "log", "--all", "--format=%H"], in: out), as: UTF8.self)
        XCTAssertEqual(log.split(separator: "\n").map(String.init), [commit.hex])
        XCTAssertEqual(try String(contentsOfFile: out + "/src/a.py", encoding: .utf8), "v1\n")
        let status = String(decoding: try Fixture.run(["git", "status", "--porcelain"], in: out), as: UTF8.self)
        XCTAssertEqual(status, "")
    }

    func testShallowCloneWalksToItsBoundary() throws {
        let f = try Self.makeBranchyHistory()
        let clone = f.root.deletingLastPathComponent().appendingPathComponent("shallow").path
        try Fixture.run(["git", "clone", "-q", "--no-local", "--depth", "2", "file://" + f.path, clone], in: f.path)
        let repo = try Repository.open(clone)
        XCTAssertTrue(repo.isShallow)
        XCTAssertFalse(repo.shallowBoundary.isEmpty)
        let head = try repo.resolveCommit("HEAD")
        let expected = String(decoding: try Fixture.run(["git", "rev-list", "HEAD"], in: clone), as: UTF8.self)
            .split(separator: "\n").map(String.init)
        let walked = try repo.walk(from: [head], order: .topological).all()
        XCTAssertEqual(Set(walked.map(\.hex)), Set(expected))
        XCTAssertEqual(walked.first, head)
        let firstParent = try repo.walk(from: [head], firstParentOnly: true).all()
        XCTAssertEqual(firstParent.count, 2)
    }

    func testMissingObjectIsAClearError() throws {
        let f = try Fixture()
        try f.write("a.txt", "1\n"); try f.commit("one")
        let repo = try Repository.open(f.path)
        let ghost = ObjectID(hex: String(repeating: "cd", count: 20))!
        XCTAssertThrowsError(try repo.commit(ghost)) { error in
            XCTAssertEqual((error as? GitError)?.code, .notFound)
            XCTAssertTrue("\(error)".contains(ghost.hex), "\(error)")
        }
    }
}
