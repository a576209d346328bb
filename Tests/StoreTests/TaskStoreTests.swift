import Foundation
import GRDB
import XCTest
@testable import Store

final class TaskStoreTests: StoreTestCase {
    func testUpsertIsIdempotentAndCountsChanges() throws {
        let store = try openStore()
        let tasks = (1...3).map { sampleTask($0) }
        XCTAssertEqual(try store.upsert(tasks), UpsertCounts(inserted: 3))
        let stamps = try updatedAtByID(store)
        XCTAssertEqual(try store.upsert(tasks), UpsertCounts(unchanged: 3))
        XCTAssertEqual(try updatedAtByID(store), stamps, "an unchanged task keeps its updated_at")

        var validated = tasks[1]
        validated.failToPass = ["tests/test_m.py::test_2"]
        validated.flaky = ["tests/test_m.py::test_slow"]
        Thread.sleep(forTimeInterval: 0.01)
        XCTAssertEqual(try store.upsert([tasks[0], validated, tasks[2]]), UpsertCounts(updated: 1, unchanged: 2))
        XCTAssertEqual(try store.task(id: validated.instanceID), validated)
        let after = try updatedAtByID(store)
        XCTAssertGreaterThan(after[validated.instanceID]!, stamps[validated.instanceID]!)
        XCTAssertEqual(after[tasks[0].instanceID], stamps[tasks[0].instanceID])
        XCTAssertNil(try store.task(id: "psf__requests-404"))
    }

    func testEveryFieldSurvivesTheDatabase() throws {
        let store = try openStore()
        var task = sampleTask(7)
        task.hintsText = "see also #3 — “quoted” \u{1F600}"
        task.passToFail = ["a::b[1-2]"]
        task.otherPatch = "diff --git a/CHANGES b/CHANGES\n"
        task.license = "Apache-2.0"
        var bare = sampleTask(8)
        bare.pullNumber = nil; bare.mergeCommit = nil; bare.mergeStyle = nil; bare.language = nil
        bare.issueNumbers = []; bare.passToPass = []; bare.statementSource = .commit
        try store.upsert([task, bare])
        XCTAssertEqual(try store.task(id: task.instanceID), task)
        XCTAssertEqual(try store.task(id: bare.instanceID), bare)
    }

    func testInvalidTaskIsRejectedAndTheBatchWritesNothing() throws {
        let store = try openStore()
        var bad = sampleTask(2)
        bad.createdAt = "last tuesday"
        guard let error = storeError({ try store.upsert([sampleTask(1), bad, sampleTask(3)]) }) else { return }
        XCTAssertEqual(error, .invalidTask(instanceID: "psf__requests-2", field: "created_at",
                                           reason: "'last tuesday' is not an ISO-8601 date-time"))
        XCTAssertEqual(try store.taskCount(), 0, "the first task of the failed batch was rolled back")
    }

    func testFilters() throws {
        let store = try openStore()
        let tasks = [
            sampleTask(1, repo: "psf/requests", createdAt: "2022-12-31T23:59:59Z"),
            sampleTask(2, repo: "psf/requests", createdAt: "2023-01-01 00:00:00"),
            sampleTask(10, repo: "psf/requests", createdAt: "2023-01-01T03:00:00+02:00"),  // 01:00Z
            sampleTask(11, repo: "pallets/flask", createdAt: "2023-06-15T12:00:00Z"),
            sampleTask(12, repo: "pallets/flask", createdAt: "2024-01-01T00:00:00Z"),
        ]
        try store.upsert(tasks.reversed())
        func ids(_ filter: TaskFilter) throws -> [String] {
            let viaTasks = try store.tasks(matching: filter).map(\.instanceID)
            XCTAssertEqual(try store.instanceIDs(matching: filter), viaTasks)
            XCTAssertEqual(try store.taskCount(matching: filter), viaTasks.count)
            return viaTasks
        }
        XCTAssertEqual(try ids(TaskFilter()), ["pallets__flask-11", "pallets__flask-12", "psf__requests-1",
                                               "psf__requests-10", "psf__requests-2"])
        XCTAssertEqual(try ids(TaskFilter(repo: "pallets/flask")), ["pallets__flask-11", "pallets__flask-12"])
        XCTAssertEqual(try ids(TaskFilter(repo: "nobody/nothing")), [])
        XCTAssertEqual(try ids(TaskFilter(idGlob: "psf__requests-1*")), ["psf__requests-1", "psf__requests-10"])
        XCTAssertEqual(try ids(TaskFilter(idGlob: "*-1?")), ["pallets__flask-11", "pallets__flask-12", "psf__requests-10"])
        XCTAssertEqual(try ids(TaskFilter(idGlob: "PSF__*")), [], "GLOB is case-sensitive")
        XCTAssertEqual(try ids(TaskFilter(idGlob: "psf__requests-10, pallets__flask-1*")), ["pallets__flask-11", "pallets__flask-12", "psf__requests-10"], "a comma-separated list matches any")
        XCTAssertEqual(try ids(TaskFilter(createdSince: "2023-01-01")),
                       ["pallets__flask-11", "pallets__flask-12", "psf__requests-10", "psf__requests-2"])
        XCTAssertEqual(try ids(TaskFilter(createdBefore: "2023-01-01T01:00:00Z")), ["psf__requests-1", "psf__requests-2"])
        XCTAssertEqual(try ids(TaskFilter(createdSince: "2023-01-01T02:30:00+01:30", createdBefore: "2024-01-01")),
                       ["pallets__flask-11", "psf__requests-10"])
        XCTAssertEqual(try ids(TaskFilter(limit: 2)), ["pallets__flask-11", "pallets__flask-12"])
        XCTAssertEqual(try ids(TaskFilter(limit: 0)), [])
        XCTAssertEqual(try ids(TaskFilter(repo: "psf/requests", idGlob: "*-1*", createdSince: "2023-01-01", limit: 5)),
                       ["psf__requests-10"])
        let all = try ids(TaskFilter())
        var sharded: [String] = []
        for index in 1...3 {
            let shard = try Shard(index: index, count: 3)
            let part = try ids(TaskFilter(shard: shard))
            XCTAssertEqual(part, all.filter(shard.contains))
            sharded += part
        }
        XCTAssertEqual(sharded.sorted(), all)

        XCTAssertEqual(storeError({ _ = try store.tasks(matching: TaskFilter(createdSince: "soon")) }),
                       .invalidFilter("created since 'soon' is not an ISO-8601 date or date-time"))
        XCTAssertEqual(storeError({ _ = try store.tasks(matching: TaskFilter(limit: -1)) }),
                       .invalidFilter("limit must not be negative (got -1)"))
    }

    func testDeleteTasks() throws {
        let store = try openStore()
        try store.upsert((1...4).map { sampleTask($0) })
        XCTAssertEqual(try store.deleteTasks(ids: ["psf__requests-2", "psf__requests-4", "psf__requests-99"]), 2)
        XCTAssertEqual(try store.instanceIDs(), ["psf__requests-1", "psf__requests-3"])
        XCTAssertEqual(try store.deleteTasks(ids: []), 0)
    }

    func testMiningStateEnvironmentsRunsAndVerdicts() throws {
        let store = try openStore()
        let created = Date(timeIntervalSince1970: 1_700_000_000)

        let state = MiningStateRecord(repo: "psf/requests", walkedTips: ["a1", "b2"], cache: Data([0, 1, 2, 255]), updatedAt: created)
        try store.saveMiningState(state)
        XCTAssertEqual(try store.miningState(repo: "psf/requests"), state)
        var moved = state
        moved.walkedTips = ["c3"]; moved.cache = nil
        try store.saveMiningState(moved)
        XCTAssertEqual(try store.miningState(repo: "psf/requests"), moved)
        XCTAssertTrue(try store.deleteMiningState(repo: "psf/requests"))
        XCTAssertNil(try store.miningState(repo: "psf/requests"))
        XCTAssertFalse(try store.deleteMiningState(repo: "psf/requests"))

        let built = EnvironmentRecord(key: "env-1", recipeName: "python-pytest", recipeHash: "r1", interpreter: "cpython-3.11.7",
                                      manifestsHash: "m1", status: .built, strategy: "requirements",
                                      resolvedPackages: ["pytest==8.3.2", "requests==2.32.3"], buildSeconds: 4.25,
                                      logPath: "/logs/env-1.log", createdAt: created)
        let failed = EnvironmentRecord(key: "env-2", recipeName: "python-pytest", recipeHash: "r1", interpreter: "cpython-2.7.18",
                                       manifestsHash: "m2", status: .failed, buildSeconds: 1.5,
                                       error: "no wheel for lxml", createdAt: created)
        try store.saveEnvironment(failed)
        try store.saveEnvironment(built)
        XCTAssertEqual(try store.environment(key: "env-1"), built)
        XCTAssertEqual(try store.environments(), [built, failed])
        XCTAssertEqual(try store.environments(status: .failed), [failed])
        XCTAssertTrue(try store.deleteEnvironment(key: "env-2"))
        XCTAssertEqual(try store.environments(), [built])

        let before = TestRunRecord(instanceID: "psf__requests-1", purpose: "validate", phase: .before,
                                   command: ["python", "-m", "pytest", "tests/test_m.py"], exitStatus: 1,
                                   wallSeconds: 2.5, logPath: "/logs/1.log", junitPath: "/logs/1.xml",
                                   environmentKey: "env-1", results: ["tests/test_m.py::test_1": "failed", "tests/test_m.py::test_ok": "passed"],
                                   createdAt: created)
        let after = TestRunRecord(instanceID: "psf__requests-1", purpose: "validate", phase: .after,
                                  command: before.command, exitStatus: nil, wallSeconds: 60, timedOut: true,
                                  createdAt: created.addingTimeInterval(1))
        let evalRun = TestRunRecord(instanceID: "psf__requests-1", purpose: "eval", phase: .after, command: ["pytest"],
                                    exitStatus: 0, wallSeconds: 1, createdAt: created.addingTimeInterval(2))
        XCTAssertNotEqual(before.id, after.id)
        try store.save(runs: [after, evalRun, before])
        XCTAssertEqual(try store.run(id: before.id), before)
        XCTAssertEqual(try store.runs(instanceID: "psf__requests-1"), [before, after, evalRun])
        XCTAssertEqual(try store.runs(instanceID: "psf__requests-1", purpose: "validate"), [before, after])
        XCTAssertEqual(try store.runs(instanceID: "psf__requests-2"), [])
        XCTAssertEqual(try store.deleteRuns(instanceID: "psf__requests-1", purpose: "eval"), 1)
        XCTAssertEqual(try store.runs(instanceID: "psf__requests-1").count, 2)

        let valid = VerdictRecord(instanceID: "psf__requests-1", kind: .validation, status: "valid",
                                  failToPass: ["tests/test_m.py::test_1"], passToPass: ["tests/test_m.py::test_ok"],
                                  runIDs: [before.id, after.id], finishedAt: created)
        let pending = VerdictRecord(instanceID: "psf__requests-2", kind: .validation, status: "running", finishedAt: nil)
        let evaluated = VerdictRecord(instanceID: "psf__requests-1", kind: .evaluation(runID: "gpt-x"), status: "resolved",
                                      finishedAt: created)
        try store.save(verdicts: [valid, pending, evaluated])
        XCTAssertEqual(evaluated.kind.rawValue, "eval:gpt-x")
        XCTAssertEqual(try store.verdict(instanceID: "psf__requests-1", kind: .validation), valid)
        XCTAssertEqual(try store.verdicts(kind: .validation), [valid, pending])
        XCTAssertEqual(try store.verdicts(kind: .validation, status: "valid"), [valid])
        XCTAssertEqual(try store.finishedInstanceIDs(kind: .validation), ["psf__requests-1"])
        XCTAssertEqual(try store.finishedInstanceIDs(kind: "eval:gpt-x"), ["psf__requests-1"])
        var done = pending
        done.status = "invalid"; done.reason = "FAIL_TO_PASS is empty"; done.finishedAt = created
        try store.saveVerdict(done)
        XCTAssertEqual(try store.finishedInstanceIDs(kind: .validation), ["psf__requests-1", "psf__requests-2"])
        XCTAssertEqual(try store.deleteVerdicts(kind: .validation, instanceID: "psf__requests-2"), 1)
        XCTAssertEqual(try store.deleteVerdicts(kind: .validation), 1)
        XCTAssertEqual(try store.verdicts(kind: .evaluation(runID: "gpt-x")), [evaluated])
    }

    func testSaveWritesEveryTableInOneTransaction() throws {
        let store = try openStore()
        var bad = sampleTask(5)
        bad.createdAt = ""
        let run = TestRunRecord(instanceID: bad.instanceID, purpose: "validate", phase: .before, command: ["pytest"],
                                exitStatus: 0, wallSeconds: 1)
        let verdict = VerdictRecord(instanceID: bad.instanceID, kind: .validation, status: "valid")
        XCTAssertNotNil(storeError({ try store.save(tasks: [bad], runs: [run], verdicts: [verdict]) }))
        XCTAssertNil(try store.run(id: run.id))
        XCTAssertNil(try store.verdict(instanceID: bad.instanceID, kind: .validation))

        let good = sampleTask(5, failToPass: ["t"])
        XCTAssertEqual(try store.save(tasks: [good], runs: [run], verdicts: [verdict]), UpsertCounts(inserted: 1))
        XCTAssertEqual(try store.task(id: good.instanceID), good)
        XCTAssertNotNil(try store.run(id: run.id))
        XCTAssertEqual(try store.finishedInstanceIDs(kind: .validation), [good.instanceID])
    }

    func testTwoConnectionsWriteConcurrentlyWithoutLosingRows() throws {
        // Shard workers and the CLI may open the same file at once: WAL + busy timeout serialize them.
        let stores = [try openStore(), try openStore()]
        let failures = ErrorBox()
        DispatchQueue.concurrentPerform(iterations: 2) { worker in
            for batch in 0..<10 {
                let tasks = (0..<10).map { sampleTask(10_000 * (worker + 1) + batch * 10 + $0) }
                do { try stores[worker].upsert(tasks) } catch { failures.add(error) }
            }
        }
        XCTAssertEqual(failures.errors.count, 0, "\(failures.errors)")
        XCTAssertEqual(try stores[0].taskCount(), 200)
        XCTAssertEqual(try stores[1].instanceIDs(), try stores[0].instanceIDs())
    }

    private func updatedAtByID(_ store: TaskStore) throws -> [String: Date] {
        try store.pool.read { db in
            var stamps: [String: Date] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT instance_id, updated_at FROM task") {
                stamps[row["instance_id"]] = row["updated_at"]
            }
            return stamps
        }
    }
}

private final class ErrorBox: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [any Error] = []
    func add(_ error: any Error) { lock.lock(); stored.append(error); lock.unlock() }
    var errors: [any Error] { lock.lock(); defer { lock.unlock() }; return stored }
}
