import Foundation
import Sample
import SampleFixtures
import XCTest

final class SampleRepositoryTests: XCTestCase {
    private var directory: String!

    override func setUp() async throws {
        directory = NSTemporaryDirectory() + "forge-sample-\(UUID().uuidString)"
    }

    override func tearDown() async throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func sh(_ command: String, in dir: String) throws -> (status: Int32, output: String) {
        try runProcess("/bin/sh", ["-c", command], in: dir)
    }

    func testHistoryIsDeterministicAndHasEveryKindOfPullRequest() async throws {
        let first = try await SampleRepository.create(in: directory + "/a")
        let second = try await SampleRepository.create(in: directory + "/b")
        let headA = try sh("git rev-parse HEAD", in: first.repository).output
        let headB = try sh("git rev-parse HEAD", in: second.repository).output
        XCTAssertEqual(headA, headB, "same commit ids on every run")

        let refs = try sh("git for-each-ref --format='%(refname)' refs/pull", in: first.repository).output
        XCTAssertEqual(refs.split(separator: "\n").map(String.init), (1...7).map { "refs/pull/\($0)/head" })
        let subjects = try sh("git log --first-parent --format=%s main", in: first.repository).output
        XCTAssertTrue(subjects.contains("Merge pull request #1 from alice/fix-slug"))
        XCTAssertTrue(subjects.contains("Return no lines when wrapping empty text (#2)"))
        XCTAssertTrue(subjects.contains("Reject trailing garbage in durations"), "the rebased PR #3")
        XCTAssertFalse(subjects.contains("Experiment"), "PR #4 never lands")
        // The rebased commit is new, but carries the same change as the PR ref.
        let landed = try sh("git log -1 --format=%H --grep='^Reject trailing' main", in: first.repository).output
        let pr3 = try sh("git rev-parse refs/pull/3/head", in: first.repository).output
        XCTAssertNotEqual(landed, pr3)
        let idLanded = try sh("git show \(landed.trimmingCharacters(in: .whitespacesAndNewlines)) | git patch-id --stable", in: first.repository).output
        let idPR = try sh("git show refs/pull/3/head | git patch-id --stable", in: first.repository).output
        XCTAssertEqual(idLanded.prefix(40), idPR.prefix(40))

        let metadata = try String(contentsOfFile: first.metadata, encoding: .utf8)
        let objects = try metadata.split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
        }
        let pulls = objects.filter { $0["head"] != nil }
        XCTAssertEqual(pulls.count, 7)
        let pull3 = pulls.first { $0["number"] as? Int == 3 }!
        XCTAssertEqual(pull3["merge_commit_sha"] as? String, landed.trimmingCharacters(in: .whitespacesAndNewlines))
        XCTAssertTrue(pulls.first { $0["number"] as? Int == 4 }!["merged_at"] is NSNull)
    }

    func testFixesAreRealFailingThenPassingTests() async throws {
        let created = try await SampleRepository.create(in: directory)
        let repo = created.repository
        // At the first release every test passes; at the tip only the test PR #7 broke fails.
        XCTAssertEqual(try sh("git checkout -q v0.1.0 && python3 -m pytest -q -p no:cacheprovider", in: repo).status, 0)
        let tip = try sh("git checkout -q main && python3 -m pytest -q -p no:cacheprovider -rA", in: repo)
        XCTAssertTrue(tip.output.contains("FAILED tests/test_stats.py::test_ties_broken_alphabetically"), tip.output)
        XCTAssertTrue(tip.output.contains("1 failed, 22 passed"), tip.output)
        // PR #1's new tests fail on the code before the fix.
        let before = try sh("git checkout -q v0.1.0 && git checkout -q refs/pull/1/head -- tests/test_slug.py && python3 -m pytest -q -p no:cacheprovider tests/test_slug.py", in: repo)
        XCTAssertTrue(before.output.contains("2 failed, 3 passed"), before.output)
    }

    func testRefusesNonEmptyDestination() async throws {
        try await SampleRepository.create(in: directory)
        do {
            try await SampleRepository.create(in: directory)
            XCTFail("expected an error")
        } catch {
            XCTAssertTrue("\(error)".contains("not empty"), "\(error)")
        }
    }
}
