import Foundation
import Workers
import Git
import GitFixtures
import Pipeline
import Sandbox
import Validation
import XCTest

/// The wiring commands share: repository names from a clone's origin (read through libgit2),
/// clone lookup, and stopping a mining run between batches.
final class WorkspaceTests: XCTestCase {
    private var directory: String!

    override func setUp() {
        directory = NSTemporaryDirectory() + "forge-pipeline-\(getpid())-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

    func testOriginURLsGiveOwnerAndName() {
        XCTAssertEqual(RepositoryName.fromURL("https://github.com/psf/requests.git"), "psf/requests")
        XCTAssertEqual(RepositoryName.fromURL("git@github.com:psf/requests"), "psf/requests")
        XCTAssertEqual(RepositoryName.fromURL("ssh://git@host:22/owner/name.git"), "owner/name")
        XCTAssertNil(RepositoryName.fromURL("requests"))
        XCTAssertNil(RepositoryName.fromURL("https://host/owner/.git"))
    }

    func testTheNameComesFromTheOriginRemoteThroughLibgit2() throws {
        let fixture = try Fixture()
        _ = try fixture.commit("first")
        let repository = try Repository.open(fixture.path)
        XCTAssertNil(try repository.remoteURL(named: "origin"))
        XCTAssertThrowsError(try RepositoryName.fromOrigin(of: repository, clone: fixture.path)) {
            XCTAssertTrue("\($0)".contains("no origin remote"), "\($0)")
        }
        // Spelled as git writes it, with another remote first and an extra key: libgit2 reads the
        // config (the hand-written parser this replaces took the first `url` of any section).
        _ = try fixture.git("remote", "add", "upstream", "https://github.com/up/stream.git")
        _ = try fixture.git("remote", "add", "origin", "git@github.com:forge-sample/textkit.git")
        _ = try fixture.git("config", "remote.origin.pushurl", "https://example.invalid/push/x.git")
        let reopened = try Repository.open(fixture.path)
        XCTAssertEqual(try reopened.remoteURL(named: "origin"), "git@github.com:forge-sample/textkit.git")
        XCTAssertEqual(try RepositoryName.fromOrigin(of: reopened, clone: fixture.path), "forge-sample/textkit")
        // A bare mirror reads the same way.
        let bare = directory + "/mirror.git"
        _ = try Fixture.run(["git", "clone", "--bare", "--quiet", fixture.path, bare], in: directory)
        XCTAssertEqual(try RepositoryName.fromOrigin(of: try Repository.open(bare), clone: bare),
                       fixture.root.deletingLastPathComponent().lastPathComponent + "/repo")
    }

    func testClonesComeFromFlagsThenTheDefaultPlaces() throws {
        let workspace = Workspace(folder: directory + "/ws", database: directory + "/db/forge.db")
        try FileManager.default.createDirectory(atPath: directory + "/ws/clones/a__b", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: directory + "/db/d", withIntermediateDirectories: true)
        XCTAssertEqual(try workspace.clones(["/x"], for: ["o/one"]), ["o/one": "/x"])
        XCTAssertEqual(try workspace.clones(["c/d=/y"], for: ["a/b", "c/d"]),
                       ["a/b": directory + "/ws/clones/a__b", "c/d": "/y"])
        XCTAssertEqual(try workspace.clones([], for: ["c/d"]), ["c/d": directory + "/db/d"])
        XCTAssertThrowsError(try workspace.clones(["/x"], for: ["e/f", "g/h"])) {
            XCTAssertTrue("\($0)".contains("name each clone, --clone owner/name=PATH"), "\($0)")
        }
        XCTAssertThrowsError(try workspace.clones([], for: ["e/f"])) {
            XCTAssertTrue("\($0)".hasPrefix("no clone of e/f: pass --clone e/f=PATH"), "\($0)")
        }
    }

    /// A stop raised while mining ends the run after the batch in flight: that batch is in the
    /// store with its mining state, and the next run resumes from it.
    func testAStoppedMiningRunKeepsItsBatchAndTheNextRunResumes() throws {
        let fixture = try Fixture()
        try fixture.write("lib.py", "def f():\n    return 1\n")
        try fixture.write("test_lib.py", "from lib import f\n\ndef test_f():\n    assert f() == 1\n")
        _ = try fixture.commit("start")
        _ = try fixture.git("checkout", "-q", "-b", "fix")
        try fixture.write("lib.py", "def f():\n    return 2\n")
        try fixture.write("test_lib.py", "from lib import f\n\ndef test_f():\n    assert f() == 2\n")
        _ = try fixture.commit("f returns 2")
        _ = try fixture.git("checkout", "-q", "main")
        _ = try fixture.git("merge", "-q", "--no-ff", "fix", "-m", "Merge pull request #1 from someone/fix")
        let pipeline = Pipeline(workspace: Workspace(folder: directory + "/ws", database: directory + "/forge.db"))
        let stop = StopFlag()
        stop.stop()
        let request = Pipeline.MiningRequest(clone: fixture.path, repo: "o/n")
        let stopped = try pipeline.mine(request, stop: stop)
        XCTAssertTrue(stopped.interrupted)
        XCTAssertEqual(stopped.batches, 1)
        XCTAssertEqual(stopped.counts.inserted, 1)
        XCTAssertEqual(try pipeline.store().tasks().map(\.instanceID), ["o__n-1"])
        let resumed = try pipeline.mine(request)
        XCTAssertFalse(resumed.interrupted)
        XCTAssertEqual(resumed.counts.inserted, 0)
    }
}
