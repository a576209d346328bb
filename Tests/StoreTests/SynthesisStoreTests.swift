import Foundation
import XCTest
@testable import Store

final class SynthesisStoreTests: StoreTestCase {
    func candidate(_ tree: String, status: SynthesisCandidateRecord.Status, at seconds: Double) -> SynthesisCandidateRecord {
        SynthesisCandidateRecord(key: SynthesisCandidateRecord.key(repo: "psf/requests", tree: tree), repo: "psf/requests",
                                 sourceCommit: String(repeating: "a", count: 40), strategy: "mutation:flip_comparison",
                                 description: "src/requests/utils.py:10 comparison == flipped to !=", status: status,
                                 reason: status == .discarded ? "no test fails: 3 test(s) ran, all passed" : nil,
                                 testsRun: 3, seconds: 1.5, triedAt: Date(timeIntervalSince1970: seconds))
    }

    func testDifficultyLevelRoundTripsAndFiltersByRange() throws {
        let store = try openStore()
        var easy = sampleTask(1), hard = sampleTask(2)
        easy.difficultyLevel = 1; easy.synthesisStrategy = "mutation:off_by_one"
        hard.difficultyLevel = 4; hard.synthesisStrategy = "combination:drop_statement+flip_boolean"
        try store.upsert([easy, hard, sampleTask(3)])
        XCTAssertEqual(try store.task(id: easy.instanceID), easy)
        XCTAssertEqual(try store.tasks(matching: TaskFilter(levels: 1...2)).map(\.instanceID), [easy.instanceID])
        XCTAssertEqual(try store.tasks(matching: TaskFilter(levels: 1...5)).map(\.instanceID), [easy.instanceID, hard.instanceID])
        // JSONL carries both fields; a dataset without them (or SWE-bench's textual "difficulty") reads as nil.
        let line = TaskJSONL.line(for: hard)
        XCTAssertTrue(line.contains(#""difficulty_level":4,"synthesis_strategy":"combination:drop_statement+flip_boolean""#), line)
        XCTAssertEqual(try TaskJSONL.record(fromJSON: Data(line.utf8)), hard)
        let plain = TaskJSONL.line(for: sampleTask(3)).replacingOccurrences(of: #","difficulty_level":null"#, with: #","difficulty":"<15 min fix""#)
        XCTAssertNil(try TaskJSONL.record(fromJSON: Data(plain.utf8)).difficultyLevel)
    }

    func testCandidatesSaveWithTheirTaskAndMergeByTree() throws {
        let first = try openStore("a.sqlite"), second = try openStore("b.sqlite")
        var task = sampleTask(7)
        task.statementSource = .synthetic
        try first.saveSynthesis(candidate("t1", status: .kept, at: 10), task: task,
                                verdict: VerdictRecord(instanceID: task.instanceID, kind: .validation, status: "valid"))
        try first.saveSynthesis(candidate("t2", status: .discarded, at: 10))
        try second.saveSynthesis(candidate("t2", status: .discarded, at: 20))
        try second.saveSynthesis(candidate("t3", status: .discarded, at: 20))
        XCTAssertEqual(try first.synthesisCandidateKeys(repo: "psf/requests"), ["psf/requests:t1", "psf/requests:t2"])
        XCTAssertEqual(try first.task(id: task.instanceID), task)
        let report = try first.merge(from: path("b.sqlite"))
        XCTAssertEqual(report.synthesisCandidates, UnionCounts(added: 1, replaced: 1, kept: 0))
        let merged = try first.synthesisCandidates(repo: "psf/requests")
        XCTAssertEqual(merged.map(\.key), ["psf/requests:t1", "psf/requests:t2", "psf/requests:t3"])
        XCTAssertEqual(merged[1].triedAt, Date(timeIntervalSince1970: 20))
    }
}
