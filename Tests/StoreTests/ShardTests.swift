import Foundation
import XCTest
@testable import Store

final class ShardTests: StoreTestCase {
    func testParsesOneBasedSpecs() throws {
        XCTAssertEqual(try Shard(parsing: "1/4"), try Shard(index: 1, count: 4))
        XCTAssertEqual(try Shard(parsing: " 4 / 4 ").description, "4/4")
        XCTAssertEqual(try Shard(parsing: "1/1"), Shard.all)
        let bad: [(String, String)] = [
            ("0/4", "invalid shard '0/4': shard index is 1-based: expected 1...4"),
            ("5/4", "invalid shard '5/4': shard index must be in 1...4"),
            ("1/0", "invalid shard '1/0': shard count must be at least 1"),
            ("-1/4", "invalid shard '-1/4': shard index must be in 1...4"),
            ("two/4", "invalid shard 'two/4': INDEX and COUNT must be whole numbers, as in 1/4"),
            ("3", "invalid shard '3': expected INDEX/COUNT such as 1/4 (1-based)"),
            ("1/2/3", "invalid shard '1/2/3': expected INDEX/COUNT such as 1/4 (1-based)"),
        ]
        for (spec, message) in bad {
            XCTAssertEqual(storeError({ _ = try Shard(parsing: spec) })?.description, message)
        }
    }

    func testFNV1a64MatchesPublishedVectors() {
        XCTAssertEqual(Shard.fnv1a64(""), 0xcbf2_9ce4_8422_2325)
        XCTAssertEqual(Shard.fnv1a64("a"), 0xaf63_dc4c_8601_ec8c)
        XCTAssertEqual(Shard.fnv1a64("foobar"), 0x8594_4171_f739_67e8)
        // 0x…e8 is divisible by 8, so "foobar" lands in the first of 8 shards on every machine.
        XCTAssertEqual(Shard.index(of: "foobar", count: 8), 1)
        XCTAssertTrue(try Shard(parsing: "1/8").contains("foobar"))
    }

    func testAssignmentIsDeterministicAndBalancedOver10000IDs() throws {
        let repos = ["psf/requests", "pallets/flask", "django/django", "a/b"]
        let ids = (0..<10_000).map { TaskRecord.instanceID(repo: repos[$0 % repos.count], pullNumber: 1000 + $0 / repos.count) }
        XCTAssertEqual(Set(ids).count, 10_000)
        for count in [2, 4, 7, 16] {
            let shards = try (1...count).map { try Shard(index: $0, count: count) }
            var sizes = Array(repeating: 0, count: count)
            for id in ids {
                let owners = shards.filter { $0.contains(id) }
                XCTAssertEqual(owners.count, 1, "\(id) must be in exactly one of \(count) shards")
                XCTAssertEqual(owners.first?.index, Shard.index(of: id, count: count))
                sizes[Shard.index(of: id, count: count) - 1] += 1
            }
            let expected = Double(ids.count) / Double(count)
            for size in sizes {
                XCTAssertLessThan(abs(Double(size) - expected) / expected, 0.08, "\(count) shards: sizes \(sizes)")
            }
            // Same answer when asked again (no per-process hash seed).
            XCTAssertEqual(ids.map { Shard.index(of: $0, count: count) }, ids.map { Shard.index(of: $0, count: count) })
        }
    }

    func testSQLShardFilterAgreesWithContainsAndComposesWithLimit() throws {
        let store = try openStore()
        try store.upsert((1...60).map { sampleTask($0) })
        let all = try store.instanceIDs()
        let shard = try Shard(parsing: "2/3")
        let members = all.filter(shard.contains)
        XCTAssertEqual(try store.instanceIDs(matching: TaskFilter(shard: shard)), members)
        XCTAssertEqual(try store.instanceIDs(matching: TaskFilter(shard: shard, limit: 5)), Array(members.prefix(5)))
        XCTAssertEqual(try store.taskCount(matching: TaskFilter(shard: .all)), 60)
    }
}
