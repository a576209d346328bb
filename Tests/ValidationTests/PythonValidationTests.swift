import Foundation
import Store
import Validation
import XCTest

/// The validation issue's acceptance tests on Python fixtures: real libgit2 exports, uv
/// environments resolved from PyPI as of the task date, bubblewrap, pytest.
final class PythonValidationTests: XCTestCase {
    /// The calc fixture and its four mined tasks validated once in one batch (reruns 1): several
    /// tests below read their verdicts.
    struct CalcBatch {
        let fixture: CalcFixture
        let store: TaskStore
        let summary: ValidationSummary
    }

    nonisolated(unsafe) private static var calcBatch: Result<CalcBatch, Error>?
    private static let calcLock = NSLock()

    static func validatedCalc() throws -> CalcBatch {
        try calcLock.withLock {
            if let calcBatch { return try calcBatch.get() }
            let result = Result {
                let fixture = try CalcFixture()
                let store = try Harness.store()
                let tasks = fixture.tasks.keys.sorted().map { fixture.tasks[$0]! }
                try store.save(tasks: tasks)
                let summary = try BatchValidation.run(tasks: tasks, validator: try Harness.validator(fixture.repository, reruns: 1, jobs: 2),
                                                      store: store)
                return CalcBatch(fixture: fixture, store: store, summary: summary)
            }
            calcBatch = result
            return try result.get()
        }
    }

    private func verdict(_ pull: Int, file: StaticString = #filePath, line: UInt = #line) throws -> (VerdictRecord, TaskRecord, [TestRunRecord]) {
        let batch = try Self.validatedCalc()
        let id = TaskRecord.instanceID(repo: CalcFixture.repo, pullNumber: pull)
        let verdict = try XCTUnwrap(try batch.store.verdict(instanceID: id, kind: .validation), "no verdict for \(id)", file: file, line: line)
        let task = try XCTUnwrap(try batch.store.task(id: id), file: file, line: line)
        return (verdict, task, try batch.store.runs(instanceID: id, purpose: "validate"))
    }

    func testMiningTheFixtureFindsFourTasks() throws {
        let batch = try Self.validatedCalc()
        XCTAssertEqual(batch.fixture.tasks.keys.sorted(), [1, 2, 3, 4])
        XCTAssertEqual(batch.summary.tried, 4)
        XCTAssertEqual(batch.summary.byStatus[.valid], 2)
        XCTAssertEqual(batch.summary.byStatus[.invalid], 2)
        XCTAssertEqual(batch.summary.byStatus[.error] ?? 0, 0)
        XCTAssertEqual(batch.summary.environments.count, 1, "all four tasks share one environment")
        XCTAssertEqual(try batch.store.environments(status: .built).count, 1)
    }

    func testValidTaskHasExactFailToPassAndPassToPass() throws {
        let (verdict, task, runs) = try verdict(1)
        XCTAssertEqual(verdict.status, "valid", verdict.reason ?? "")
        XCTAssertNil(verdict.reason)
        XCTAssertEqual(verdict.failToPass, [CalcFixture.id("test_clamp_high")])
        XCTAssertEqual(verdict.passToPass, ["test_add", "test_clamp_low", "test_mul"].map(CalcFixture.id))
        XCTAssertEqual(verdict.passToFail, [])
        XCTAssertEqual(verdict.flaky, [])
        // The task itself carries the lists, as SWE-bench's datasets do.
        XCTAssertEqual(task.failToPass, verdict.failToPass)
        XCTAssertEqual(task.passToPass, verdict.passToPass)

        // Two states × (1 + 1 rerun), each run recorded with what tasks.md asks for.
        XCTAssertEqual(runs.count, 4)
        XCTAssertEqual(Set(runs.map { "\($0.phase.rawValue)-\($0.attempt)" }), ["before-0", "before-1", "after-0", "after-1"])
        XCTAssertEqual(Set(verdict.runIDs), Set(runs.map(\.id)))
        for run in runs {
            XCTAssertFalse(run.timedOut)
            XCTAssertTrue(run.command.contains("tests/test_ops.py"), "runs the file the test patch touches: \(run.command)")
            XCTAssertNotNil(run.environmentKey)
            XCTAssertNotNil(run.junitPath, "pytest wrote JUnit XML")
            XCTAssertGreaterThan(run.wallSeconds, 0)
            XCTAssertEqual(run.exitStatus, run.phase == .before ? 1 : 0, log(of: run))
            XCTAssertEqual(run.results[CalcFixture.id("test_clamp_high")], run.phase == .before ? "failed" : "passed")
            XCTAssertTrue(log(of: run).contains("test_clamp_high"), "the raw log is kept")
        }
        let environment = try XCTUnwrap(try Self.validatedCalc().store.environment(key: runs[0].environmentKey!))
        XCTAssertTrue(environment.interpreter.contains("3."), environment.interpreter)
        XCTAssertTrue(environment.resolvedPackages.contains { $0.hasPrefix("pytest==") }, "\(environment.resolvedPackages)")
        XCTAssertFalse(environment.recipeHash.isEmpty)
    }

    func testTestsThatPassBeforeTheFixGiveNoFailToPass() throws {
        let (verdict, _, _) = try verdict(2)
        XCTAssertEqual(verdict.status, "invalid")
        XCTAssertEqual(verdict.reason, "no FAIL_TO_PASS")
        XCTAssertEqual(verdict.failToPass, [])
        XCTAssertEqual(verdict.passToPass, ["test_add", "test_clamp_high", "test_clamp_low", "test_mul", "test_percent"].map(CalcFixture.id))
    }

    func testFixThatBreaksAnotherTestIsPassToFail() throws {
        let (verdict, _, _) = try verdict(4)
        XCTAssertEqual(verdict.status, "invalid")
        XCTAssertEqual(verdict.reason, "PASS_TO_FAIL: \(CalcFixture.id("test_mul"))")
        XCTAssertEqual(verdict.passToFail, [CalcFixture.id("test_mul")])
        XCTAssertEqual(verdict.failToPass, [CalcFixture.id("test_percent_rounds")])
    }

    func testFlakyTestIsDetectedAndExcludedFromTheLists() throws {
        let (verdict, task, runs) = try verdict(3)
        let flaky = CalcFixture.id("test_flaky_timing")
        XCTAssertEqual(verdict.status, "valid", verdict.reason ?? "")
        XCTAssertEqual(verdict.flaky, [flaky])
        XCTAssertEqual(task.flaky, [flaky])
        XCTAssertEqual(verdict.failToPass, [CalcFixture.id("test_percent_of_nothing")])
        XCTAssertEqual(verdict.passToPass, ["test_add", "test_clamp_high", "test_clamp_low", "test_mul", "test_percent"].map(CalcFixture.id))
        XCTAssertFalse(verdict.passToFail.contains(flaky))
        // It really changed outcome between reruns of the same state.
        for phase in [RunPhase.before, .after] {
            let outcomes = runs.filter { $0.phase == phase }.sorted { $0.attempt < $1.attempt }.map { $0.results[flaky] }
            XCTAssertEqual(outcomes, ["passed", "failed"], "\(phase)")
        }
    }
}
