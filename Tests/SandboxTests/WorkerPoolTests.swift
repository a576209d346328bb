import Foundation
import Workers
import XCTest
import Sandbox

/// `--jobs N` runs N workers at once whatever the number of CPUs: test runs mostly wait on
/// their children, so more jobs than cores overlap those waits.
final class WorkerPoolTests: XCTestCase {
    func testEveryWorkerRunsAtOnceEvenWithMoreWorkersThanCores() {
        let workers = ProcessInfo.processInfo.activeProcessorCount * 2 + 1
        let lock = NSCondition()
        var active = 0, peak = 0, ran: Set<Int> = []
        WorkerPool.run(workers: workers) { worker in
            lock.lock()
            active += 1
            peak = max(peak, active)
            ran.insert(worker)
            lock.broadcast()
            // Each worker waits (up to 10 s) until all are in: only possible if all run at once.
            let deadline = Date().addingTimeInterval(10)
            while peak < workers, lock.wait(until: deadline) {}
            active -= 1
            lock.unlock()
        }
        XCTAssertEqual(peak, workers)
        XCTAssertEqual(ran, Set(0..<workers))
    }

    /// `alongside` runs on the calling thread while the workers run (each side waits for the
    /// other here, so neither can run before or after the other), and its error comes back only
    /// once every worker has finished.
    func testAlongsideRunsOnTheCallingThreadWhileWorkersRun() {
        struct Failed: Error {}
        let lock = NSCondition()
        var workerStarted = false, alongsideStarted = false, workersDone = 0
        var alongsideOnCaller = false
        XCTAssertThrowsError(try WorkerPool.run(workers: 2, { _ in
            lock.lock()
            workerStarted = true
            lock.broadcast()
            let deadline = Date().addingTimeInterval(10)
            while !alongsideStarted, lock.wait(until: deadline) {}
            workersDone += 1
            lock.unlock()
        }, alongside: {
            alongsideOnCaller = Thread.isMainThread
            lock.lock()
            alongsideStarted = true
            lock.broadcast()
            let deadline = Date().addingTimeInterval(10)
            while !workerStarted, lock.wait(until: deadline) {}
            lock.unlock()
            throw Failed()
        })) { XCTAssertTrue($0 is Failed) }
        XCTAssertTrue(alongsideOnCaller)
        XCTAssertTrue(workerStarted && alongsideStarted)
        XCTAssertEqual(workersDone, 2, "the error is rethrown after the workers are joined")
    }

    func testOneWorkerRunsOnTheCallingThread() {
        var onMain = false
        WorkerPool.run(workers: 0) { _ in onMain = Thread.isMainThread }
        XCTAssertTrue(onMain)
    }
}
