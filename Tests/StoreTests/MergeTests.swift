import Foundation
import GRDB
import XCTest
@testable import Store

final class MergeTests: StoreTestCase {
    /// The multi-machine flow: every machine gets the mined tasks, validates its shard, and the
    /// shard databases are merged back.
    func testMergesTwoShardDatabases() throws {
        let mined = (1...20).map { sampleTask($0) }
        let shards = try [Shard(parsing: "1/2"), Shard(parsing: "2/2")]
        let stores = try shards.map { shard in try openStore("shard-\(shard.index).sqlite") }
        for store in stores { try store.upsert(mined) }
        Thread.sleep(forTimeInterval: 0.02)  // validation writes are later than mining writes

        let environment = EnvironmentRecord(key: "env-py311", recipeName: "python", recipeHash: "r", interpreter: "cpython-3.11",
                                            manifestsHash: "m", status: .built, buildSeconds: 3,
                                            createdAt: Date(timeIntervalSince1970: 1_700_000_000))
        var runIDs: Set<String> = []
        for (shard, store) in zip(shards, stores) {
            var validated: [TaskRecord] = []
            var runs: [TestRunRecord] = []
            var verdicts: [VerdictRecord] = []
            for var task in mined where shard.contains(task.instanceID) {
                task.failToPass = ["tests/test_m.py::test_\(task.pullNumber!)"]
                let run = TestRunRecord(instanceID: task.instanceID, purpose: "validate", phase: .after,
                                        command: ["pytest"], exitStatus: 0, wallSeconds: 1, environmentKey: environment.key)
                runIDs.insert(run.id)
                validated.append(task); runs.append(run)
                verdicts.append(VerdictRecord(instanceID: task.instanceID, kind: .validation, status: "valid",
                                              failToPass: task.failToPass, runIDs: [run.id]))
            }
            XCTAssertFalse(validated.isEmpty, "shard \(shard) got no tasks")
            try store.save(tasks: validated, runs: runs, verdicts: verdicts, environments: [environment])
        }
        let firstShardSize = mined.filter { shards[0].contains($0.instanceID) }.count

        let merged = try openStore("merged.sqlite")
        let first = try merged.merge(from: stores[0].path)
        XCTAssertEqual(first.tasks, UpsertCounts(inserted: 20))
        XCTAssertEqual(first.conflicts, [])
        XCTAssertEqual(first.runs.added, firstShardSize)
        XCTAssertEqual(first.environments, UnionCounts(added: 1))

        let second = try merged.merge(from: stores[1].path)
        // Every task differs between the two shard stores: each was validated in exactly one.
        XCTAssertEqual(second.conflicts.count, 20)
        XCTAssertEqual(second.tasks, UpsertCounts(updated: 20 - firstShardSize, unchanged: firstShardSize))
        for conflict in second.conflicts {
            XCTAssertEqual(conflict.differingFields, ["FAIL_TO_PASS"])
            XCTAssertEqual(conflict.winner, shards[1].contains(conflict.instanceID) ? .incoming : .existing, "\(conflict)")
        }
        XCTAssertEqual(second.runs.added, 20 - firstShardSize)
        XCTAssertEqual(second.verdicts.added, 20 - firstShardSize)
        XCTAssertEqual(second.environments, UnionCounts(kept: 1))

        let all = try merged.tasks()
        XCTAssertEqual(all.count, 20)
        XCTAssertTrue(all.allSatisfy { $0.failToPass == ["tests/test_m.py::test_\($0.pullNumber!)"] })
        XCTAssertEqual(try merged.finishedInstanceIDs(kind: .validation), Set(mined.map(\.instanceID)))
        XCTAssertEqual(Set(try mined.flatMap { try merged.runs(instanceID: $0.instanceID).map(\.id) }), runIDs)

        // Merging again changes nothing.
        let again = try merged.merge(from: stores[1].path)
        XCTAssertEqual(again.tasks, UpsertCounts(unchanged: 20))
        XCTAssertEqual(again.conflicts.count, firstShardSize, "tasks validated in shard 1 still differ in shard 2's copy")
        XCTAssertEqual(again.runs.added + again.runs.replaced + again.verdicts.added + again.verdicts.replaced, 0)
    }

    func testConflictWithEqualTimestampsResolvesTheSameEitherWay() throws {
        var left = sampleTask(1); left.version = "1.0"
        var right = sampleTask(1); right.version = "2.0"
        let stamp = "2024-01-01 00:00:00.000"
        func store(_ name: String, _ task: TaskRecord) throws -> TaskStore {
            let store = try openStore(name)
            try store.upsert([task])
            try store.pool.write { try $0.execute(sql: "UPDATE task SET updated_at = ?", arguments: [stamp]) }
            return store
        }
        let a = try store("a.sqlite", left), b = try store("b.sqlite", right)
        let aCopy = try store("a2.sqlite", left), bCopy = try store("b2.sqlite", right)
        let intoA = try a.merge(from: bCopy.path), intoB = try b.merge(from: aCopy.path)
        XCTAssertEqual(try a.task(id: left.instanceID), try b.task(id: left.instanceID))
        XCTAssertEqual(intoA.conflicts.first?.differingFields, ["version"])
        XCTAssertEqual(intoA.conflicts.first?.reason, "same updated_at and created_at, its JSONL line sorts last")
        XCTAssertNotEqual(intoA.conflicts.first?.winner, intoB.conflicts.first?.winner)

        var later = sampleTask(1, createdAt: "2025-01-01T00:00:00Z"); later.version = "0.1"
        let c = try store("c.sqlite", later)
        let intoC = try c.merge(from: a.path)
        XCTAssertEqual(intoC.conflicts.first?.winner, .existing)
        XCTAssertEqual(intoC.conflicts.first?.reason, "same updated_at, its created_at is later")
        XCTAssertEqual(try c.task(id: later.instanceID), later)
    }

    func testVerdictAndEnvironmentClashesPreferFinishedAndLater() throws {
        let old = Date(timeIntervalSince1970: 1_700_000_000), new = old.addingTimeInterval(60)
        let target = try openStore("target.sqlite"), source = try openStore("source.sqlite")
        let env = EnvironmentRecord(key: "e", recipeName: "r", recipeHash: "h", interpreter: "i", manifestsHash: "m",
                                    status: .failed, buildSeconds: 1, createdAt: old)
        var rebuilt = env; rebuilt.status = .built; rebuilt.createdAt = new
        try target.save(verdicts: [VerdictRecord(instanceID: "t-1", kind: .validation, status: "running", finishedAt: nil),
                                   VerdictRecord(instanceID: "t-2", kind: .validation, status: "valid", finishedAt: new)],
                        environments: [env],
                        miningStates: [MiningStateRecord(repo: "o/r", walkedTips: ["a"], updatedAt: new)])
        try source.save(verdicts: [VerdictRecord(instanceID: "t-1", kind: .validation, status: "invalid", finishedAt: old),
                                   VerdictRecord(instanceID: "t-2", kind: .validation, status: "invalid", finishedAt: old)],
                        environments: [rebuilt],
                        miningStates: [MiningStateRecord(repo: "o/r", walkedTips: ["b"], updatedAt: old),
                                       MiningStateRecord(repo: "o/s", walkedTips: ["c"], updatedAt: old)])
        let report = try target.merge(from: source.path)
        XCTAssertEqual(report.verdicts, UnionCounts(added: 0, replaced: 1, kept: 1))
        XCTAssertEqual(try target.verdict(instanceID: "t-1", kind: .validation)?.status, "invalid", "finished beats unfinished")
        XCTAssertEqual(try target.verdict(instanceID: "t-2", kind: .validation)?.status, "valid", "later finish wins")
        XCTAssertEqual(report.environments, UnionCounts(replaced: 1))
        XCTAssertEqual(try target.environment(key: "e")?.status, .built)
        XCTAssertEqual(report.miningStates, UnionCounts(added: 1, kept: 1))
        XCTAssertEqual(try target.miningState(repo: "o/r")?.walkedTips, ["a"])
    }

    func testMergeRefusesItselfMissingFilesAndNewerSchemasWithoutChangingAnything() throws {
        let store = try openStore()
        try store.upsert([sampleTask(1)])
        XCTAssertEqual(storeError({ try store.merge(from: store.path) }), .mergeIntoItself(path: store.path))
        XCTAssertEqual(storeError({ try store.merge(from: folder + "/./tasks.sqlite") }),
                       .mergeIntoItself(path: folder + "/./tasks.sqlite"))
        XCTAssertEqual(storeError({ try store.merge(from: path("nope.sqlite")) }), .missingDatabase(path: path("nope.sqlite")))
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("nope.sqlite")))

        let future = try openStore("future.sqlite")
        try future.upsert([sampleTask(2)])
        try future.pool.write { try $0.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v2-not-yet')") }
        guard case .newerSchema(let reported, _)? = storeError({ try store.merge(from: future.path) }) else {
            return XCTFail("a newer-schema shard must be refused")
        }
        XCTAssertEqual(reported, future.path)
        XCTAssertEqual(try store.instanceIDs(), ["psf__requests-1"])
    }
}
