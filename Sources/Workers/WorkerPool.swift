import Foundation
import Synchronization

/// The one way Forge runs `--jobs` workers: `workers` dedicated threads, each running `work`
/// (which pulls items from its caller's queue until none are left), joined before `run` returns.
///
/// Not `DispatchQueue.concurrentPerform`: it sizes its width to the active CPUs, so `--jobs 4`
/// ran two test runs at a time on a 2-core machine although test runs mostly wait on their
/// children. Dedicated threads also keep blocking waits off libdispatch's shared pool.
public enum WorkerPool {
    public static func run(workers: Int, _ work: (_ worker: Int) -> Void) {
        if max(1, workers) == 1 { work(0); return }
        run(workers: workers, work, alongside: {})
    }

    /// As `run`, while the calling thread runs `alongside` meanwhile (the miner writes one batch
    /// to the store while the workers build the next); returns once both are done. `alongside`
    /// runs on the caller's thread, so it may use what the caller's thread owns.
    public static func run<T>(workers: Int, _ work: (_ worker: Int) -> Void, alongside: () throws -> T) rethrows -> T {
        try withoutActuallyEscaping(work) { work in
            let box = WorkBox(work)
            let group = DispatchGroup()
            for worker in 0..<max(1, workers) {
                group.enter()
                let thread = Thread {
                    box.work?(worker)
                    group.leave()
                }
                thread.stackSize = 8 << 20 // as a main thread's: parsers and builders recurse
                thread.start()
            }
            // The threads are joined even when `alongside` throws: `work` must not outlive the call.
            defer {
                group.wait()
                // The finished threads' blocks may still hold the box: let go of the closure here,
                // or it would outlive the call (withoutActuallyEscaping traps on that).
                box.work = nil
            }
            return try alongside()
        }
    }

    /// Runs `body` on `items` from `workers` threads, items started in order. No item starts once
    /// `stop` is set, once `body` has thrown (the first error is rethrown after every worker has
    /// finished), or when `claim` — asked under the pool's lock before each item — says no (a
    /// caller's own limit, such as candidates started). Returns how many items were started.
    @discardableResult
    public static func forEach<Item>(_ items: [Item], workers: Int, stop: StopFlag, claim: () -> Bool = { true },
                                     _ body: (Item) throws -> Void) throws -> Int {
        try forEach(items, workers: workers, stop: stop, claim: claim) { item, _ in try body(item) }
    }

    /// `forEach` for bodies that use a resource of their worker's own (a libgit2 handle per
    /// thread): `body` also gets the worker's number, 0..<min(workers, items.count).
    @discardableResult
    public static func forEach<Item>(_ items: [Item], workers: Int, stop: StopFlag, claim: () -> Bool = { true },
                                     _ body: (_ item: Item, _ worker: Int) throws -> Void) throws -> Int {
        let taken = Mutex(0)
        let failure = Mutex<(any Error)?>(nil)
        run(workers: min(workers, items.count)) { worker in
            while true {
                let index: Int? = taken.withLock { next in
                    guard next < items.count, !stop.isStopped, failure.withLock({ $0 == nil }), claim() else { return nil }
                    defer { next += 1 }
                    return next
                }
                guard let index else { return }
                do { try body(items[index], worker) } catch {
                    failure.withLock { $0 = $0 ?? error }
                    return
                }
            }
        }
        if let error = failure.withLock({ $0 }) { throw error }
        return taken.withLock { $0 }
    }

    /// Carries the caller's closure to the threads. Safe because `run` waits for every thread
    /// before returning, so the closure never outlives the call, and the state it shares between
    /// workers is the caller's to guard (each caller takes its items under a lock).
    private final class WorkBox: @unchecked Sendable {
        var work: ((Int) -> Void)?
        init(_ work: @escaping (Int) -> Void) { self.work = work }
    }
}

/// The one cancellation signal: set from a signal handler (Ctrl-C) or another thread; workers
/// finish the item in hand and take no new one, and a running child process is stopped.
public final class StopFlag: Sendable {
    private let stopped = Atomic<Bool>(false)
    public init() {}
    public func stop() { stopped.store(true, ordering: .releasing) }
    public var isStopped: Bool { stopped.load(ordering: .acquiring) }
}
