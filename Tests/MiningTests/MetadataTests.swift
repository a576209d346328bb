import Foundation
import XCTest
@testable import Git
@testable import Mining
import Store

final class MetadataTests: XCTestCase {
    override class func tearDown() {
        MinerTests.shared = nil   // removes the shared fixture's directory
        super.tearDown()
    }

    private func json(_ object: Any) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
    }

    /// GitHub API objects for the demo history, timed around PR 1's first commit.
    private func objects(_ demo: DemoHistory) throws -> [[String: Any]] {
        let firstCommit = try demo.fixture.git("log", "-1", "--format=%at", demo.commits["pr1-head"]! + "~1")
        let t = Int64(firstCommit.trimmingCharacters(in: .whitespacesAndNewlines))!
        func at(_ offset: Int64) -> String { Signature.iso8601UTC(t + offset) }
        let api = "https://api.github.com/repos/forge/demo"
        return [
            ["number": 10, "title": "add() fails on strings", "body": "add('1', '2') raises TypeError.\r\nIt should convert.",
             "created_at": at(-7200), "state": "closed", "comments": 2],
            ["id": 1, "issue_url": "\(api)/issues/10", "body": "Confirmed on 1.4.", "created_at": at(-3600)],
            ["id": 2, "issue_url": "\(api)/issues/10", "body": "Thanks for the fix!", "created_at": at(3600)],
            ["id": 3, "issue_url": "\(api)/issues/10", "body": "Still seen on Windows?", "created_at": at(-1800)],
            ["number": 13, "title": "add(None, x) crashes", "body": "", "created_at": at(-100)],
            ["number": 8, "title": "Speed up add", "body": "It is faster now.", "created_at": "2020-09-20T08:00:00+02:00",
             "merged_at": "2020-09-21T00:00:00Z", "head": ["sha": demo.commits["pr8-head"]!], "base": ["sha": demo.commits["pr5-merge"]!]],
            ["number": 1, "title": "Accept strings in add", "body": "Fixes #10", "created_at": "2020-09-13T12:26:40Z",
             "merged_at": "2020-09-14T00:00:00Z", "head": ["sha": demo.commits["pr1-head"]!]],
            ["number": 3, "title": "Handle empty input", "body": "", "created_at": "2020-09-15T00:00:00Z", "merged_at": NSNull(),
             "head": ["sha": demo.commits["pr3-head"]!]],
            ["id": 4, "pull_request_url": "\(api)/pulls/1", "body": "nit: rename", "created_at": at(0)],
        ]
    }

    func testMetadataGivesStatementsHintsAndDates() throws {
        let demo = try MinerTests.demo()
        var metadata = Metadata()
        try metadata.read(Array(try objects(demo).map(json).joined(separator: "\n").utf8), source: "meta.jsonl")
        let result = try Miner(repository: try Repository.open(demo.fixture.path), repo: DemoHistory.repo)
            .mine(metadata: metadata)
        let tasks = Dictionary(uniqueKeysWithValues: result.tasks.map { ($0.pullNumber!, $0) })

        let t1 = try XCTUnwrap(tasks[1])
        XCTAssertEqual(t1.statementSource, .issue)
        XCTAssertEqual(t1.problemStatement, "add() fails on strings\nadd('1', '2') raises TypeError.\nIt should convert.")
        XCTAssertEqual(t1.hintsText, "Confirmed on 1.4.\nStill seen on Windows?", "only comments before the PR's first commit, oldest first")
        XCTAssertEqual(t1.createdAt, "2020-09-13T12:26:40Z")
        XCTAssertEqual(t1.issueNumbers, [10])

        let t3 = try XCTUnwrap(tasks[3])   // the link is only in a commit message
        XCTAssertEqual(t3.statementSource, .issue)
        XCTAssertEqual(t3.problemStatement, "add(None, x) crashes")

        let t8 = try XCTUnwrap(tasks[8])   // no issue: the PR's own text
        XCTAssertEqual(t8.statementSource, .pullRequest)
        XCTAssertEqual(t8.problemStatement, "Speed up add\nIt is faster now.")
        XCTAssertEqual(t8.createdAt, "2020-09-20T06:00:00Z", "offsets are converted to UTC")
        XCTAssertEqual(t8.hintsText, "")

        let t2 = try XCTUnwrap(tasks[2])   // links issues the metadata does not have, no PR object
        XCTAssertEqual(t2.statementSource, .commit)
    }

    func testEveryInputShapeReadsTheSame() throws {
        let demo = try MinerTests.demo()
        let objects = try objects(demo)
        var reference = Metadata()
        try reference.read(Array(try objects.map(json).joined(separator: "\n").utf8), source: "lines")

        // One pretty-printed array.
        let pretty = String(decoding: try JSONSerialization.data(withJSONObject: objects, options: [.prettyPrinted]), as: UTF8.self)
        // gh api --paginate: arrays back to back, no separator.
        let pages = "[" + (try objects.prefix(4).map(json).joined(separator: ",")) + "]["
            + (try objects.dropFirst(4).map(json).joined(separator: ",")) + "]\n"
        for (name, text) in [("pretty", pretty), ("pages", pages)] {
            var metadata = Metadata()
            try metadata.read(Array(text.utf8), source: name)
            XCTAssertEqual(metadata.pulls, reference.pulls, name)
            XCTAssertEqual(metadata.issues, reference.issues, name)
            XCTAssertEqual(metadata.comments, reference.comments, name)
        }
        XCTAssertEqual(reference.pulls[1]?.headCommit?.hex, demo.commits["pr1-head"])
        XCTAssertEqual(reference.comments[10]?.count, 3)
        XCTAssertNil(reference.comments[1], "review comments on diff lines are not conversation")

        // GitHub archive events carry the same objects inside payloads.
        let events: [[String: Any]] = [
            ["type": "IssuesEvent", "payload": ["action": "opened", "issue": objects[0]]],
            ["type": "IssueCommentEvent", "payload": ["issue": objects[0], "comment": objects[1]]],
            ["type": "PullRequestEvent", "payload": ["number": 1, "pull_request": objects[6]]],
            ["type": "WatchEvent", "payload": ["action": "started"]],
        ]
        var archive = Metadata()
        try archive.read(Array(try events.map(json).joined(separator: "\n").utf8), source: "archive")
        XCTAssertEqual(archive.issues[10], reference.issues[10])
        XCTAssertEqual(archive.pulls[1], reference.pulls[1])
        XCTAssertEqual(archive.comments[10]?.map(\.body), ["Confirmed on 1.4."])
    }

    func testMalformedMetadataNamesFileAndLine() throws {
        let directory = NSTemporaryDirectory() + "forge-meta-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let cases: [(String, String, String)] = [
            ("{\"number\": 1, \"title\": \"ok\"}\n{\"number\": , \"title\": \"x\"}\n", ":2: malformed JSON: unexpected ','", "syntax error"),
            ("{\"number\": 1}\n{\"number\": 2}\n{\"number\": \"seven\", \"title\": \"x\"}\n", ":3: \"number\" must be an integer", "wrong type"),
            ("[\n  {\"number\": 1},\n  {\"number\": 2,\n   \"title\": [1]}\n]\n", ":4: \"title\" must be a string or null", "pretty JSON"),
            ("{\"number\": 1}\n{\"number\": 2, \"title\": \"unterminated}\n", ":2: malformed JSON: unterminated string", "truncated"),
            ("{\"number\": 1}\n{\"login\": \"octocat\"}\n", ":2: object is not a GitHub issue, pull request, comment or event", "unknown object"),
            ("{\"id\": 5, \"issue_url\": \"https://api.github.com/repos/a/b/issues/x\", \"created_at\": \"2020-01-01T00:00:00Z\"}\n",
             ":1: issue_url does not end in an issue number", "bad url"),
        ]
        for (index, (text, expected, label)) in cases.enumerated() {
            let path = directory + "/meta\(index).jsonl"
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            XCTAssertThrowsError(try Metadata.load(contentsOf: path), label) { error in
                XCTAssertTrue("\(error)".hasPrefix(path + expected), "\(label): \(error)")
            }
        }
        XCTAssertThrowsError(try Metadata.load(contentsOf: directory + "/missing.json")) { error in
            XCTAssertTrue("\(error)".contains("missing.json"), "\(error)")
        }
    }

    func testTimestamps() {
        XCTAssertEqual(Timestamp.seconds("1970-01-01T00:00:00Z"), 0)
        XCTAssertEqual(Timestamp.seconds("2024-03-01T10:30:00Z"), 1_709_289_000)
        XCTAssertEqual(Timestamp.seconds("2024-03-01T12:30:00.123+02:00"), 1_709_289_000)
        XCTAssertEqual(Timestamp.seconds("2000-02-29T00:00:00-0130"), 951_787_800)
        XCTAssertNil(Timestamp.seconds("yesterday"))
        XCTAssertEqual(Timestamp.normalized("2024-03-01T12:30:00+02:00"), "2024-03-01T10:30:00Z")
    }
}
