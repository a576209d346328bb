import Foundation
import XCTest
@testable import Sample

/// The sample's GitHub API objects as Codable structs: each line is byte for byte what the
/// dictionaries gave before (JSONSerialization with sorted keys, kept here as the reference).
final class SampleMetadataCodableTests: XCTestCase {
    private func line(_ object: SampleMetadata.APIObject) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(object), as: UTF8.self)
    }

    private func reference(_ object: [String: Any]) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self)
    }

    func testObjectsMatchTheDictionariesTheyReplace() throws {
        let body = "`slugify(\"Hello\")` → `hello`\nsecond line\t\\ é"
        let repo = SampleMetadata.repoURL, api = SampleMetadata.apiURL
        XCTAssertEqual(try line(SampleMetadata.issue(10, "A title", body, created: "2024-03-01T10:30:00Z", by: "frank")), try reference([
            "number": 10, "title": "A title", "body": body, "state": "closed", "created_at": "2024-03-01T10:30:00Z",
            "user": ["login": "frank"], "html_url": "\(repo)/issues/10", "url": "\(api)/issues/10"]))
        XCTAssertEqual(try line(SampleMetadata.comment(9001, issue: 10, body, created: "2024-03-01T10:45:00Z", by: "m")), try reference([
            "id": 9001, "issue_url": "\(api)/issues/10", "body": body, "created_at": "2024-03-01T10:45:00Z",
            "user": ["login": "m"], "html_url": "\(repo)/issues/10#issuecomment-9001"]))

        var pull = SampleMetadata.APIObject(number: 4, title: "Experiment", body: "", createdAt: "2024-03-01T20:30:00Z",
                                            user: .init(login: "eve"), htmlURL: "\(repo)/pull/4", url: "\(api)/pulls/4",
                                            head: .init(ref: "experiment", sha: "abc"), base: .init(ref: "main"), isPull: true)
        pull.state = "open"
        var expected: [String: Any] = [
            "number": 4, "title": "Experiment", "body": "", "created_at": "2024-03-01T20:30:00Z", "user": ["login": "eve"],
            "html_url": "\(repo)/pull/4", "url": "\(api)/pulls/4", "head": ["ref": "experiment", "sha": "abc"], "base": ["ref": "main"],
            "state": "open", "merged_at": NSNull()]
        XCTAssertEqual(try line(pull), try reference(expected), "an open pull's merged_at is null, not left out")
        pull.state = "closed"
        pull.mergedAt = "2024-03-10T09:00:00Z"
        pull.mergeCommitSHA = "def"
        expected["state"] = "closed"
        expected["merged_at"] = "2024-03-10T09:00:00Z"
        expected["merge_commit_sha"] = "def"
        XCTAssertEqual(try line(pull), try reference(expected))
    }
}
