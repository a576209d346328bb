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

    func testOneWorkerRunsOnTheCallingThread() {
        var onMain = false
        WorkerPool.run(workers: 0) { _ in onMain = Thread.isMainThread }
        XCTAssertTrue(onMain)
    }
}
