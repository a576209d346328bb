// The one way Forge scores a patch on a task outside a predictions file: `forge serve`'s
// `POST /score`, an agent sandbox's `/forge/submit` and RL's rewards all come here.
import Environments
import Foundation
import Store
import Synchronization

/// Limits of the scoring service.
public struct ScoringOptions: Sendable {
    /// Predictions scored at once: one worker thread each (and the evaluator's `jobs`).
    public var workers: Int
    /// Requests that may wait for a worker; one more is refused (429). Blocking callers (RL),
    /// which bound their own concurrency, are never refused.
    public var queueCapacity: Int
    /// Seconds an asynchronous request waits for its result, queue time included.
    public var requestTimeout: Double

    public init(workers: Int = 2, queueCapacity: Int = 64, requestTimeout: Double = 600) {
        self.workers = workers; self.queueCapacity = queueCapacity; self.requestTimeout = requestTimeout
    }
}

/// One answered score: the evaluator's result and where it came from.
public struct Scored: Sendable {
    public var result: InstanceResult
    public var task: TaskRecord
    /// The (task, tests, patch) key it is stored under.
    public var key: String
    /// Read back from an earlier run, or shared with an identical request, instead of run for this call.
    public var cached: Bool
    /// Wall time of the test run this call started; 0 when `cached`.
    public var seconds: Double
}

/// Why a score could not be given.
public enum ScoringError: Error, CustomStringConvertible, Hashable, Sendable {
    case unknownInstance(String)
    /// The task exists but cannot be scored: no FAIL_TO_PASS (not validated), or PASS_TO_FAIL.
    case notEvaluable(instanceID: String, reason: String)
    /// Every worker is busy and the waiting queue is full: try again after `retryAfter` seconds.
    case queueFull(capacity: Int, retryAfter: Int)
    /// No result within the request's time limit. A run that had started still finishes and is
    /// stored, so the same request later gets it.
    case deadlineExceeded(seconds: Double, started: Bool)
    case shuttingDown
    /// The store could not be read or written: an infrastructure failure.
    case storage(String)

    public var description: String {
        switch self {
        case .unknownInstance(let id): return "unknown instance_id '\(id)'"
        case .notEvaluable(let id, let reason): return "task '\(id)' cannot be scored: \(reason)"
        case .queueFull(let capacity, let retryAfter): return "scoring queue is full (\(capacity) waiting): retry after \(retryAfter) s"
        case .deadlineExceeded(let seconds, let started):
            return "no result within \(String(format: "%g", seconds)) s"
                + (started ? " (the run goes on; if it finishes, the same request later gets its stored result)" : " (it was still queued and was dropped)")
        case .shuttingDown: return "the server is shutting down"
        case .storage(let why): return "storage failure: \(why)"
        }
    }
}

/// Scores patches with `Evaluator` on a fixed set of worker threads behind one FIFO queue.
/// Each (task, tests, patch) triple is one prediction of its own "model" named after the triple's
/// key, so its files live in their own folder and its verdict has its own kind: a later identical
/// request, in this process or after a restart, reads them back instead of running again, and
/// identical requests in flight at once share one run. Re-validating a task (new test lists or
/// test patch) changes the key. Infrastructure errors are not reused: the next request runs again.
public final class ScoringService: Sendable {
    /// The evaluation run of scores served over HTTP (`<evals>/serve/...`, verdict kinds
    /// `eval:serve/...`); RL runs score under their own run ids.
    public static let runID = "serve"

    public let evaluator: Evaluator
    public let store: TaskStore
    public let options: ScoringOptions
    public let metrics = ScoringMetrics()

    private typealias Waiter = @Sendable (Result<Scored, ScoringError>) -> Void

    private struct Job: Sendable {
        let prediction: Prediction
        let task: TaskRecord
        let enqueued = Date()
        var started = false
        var waiters: [UInt64: Waiter] = [:]
    }

    private struct State: Sendable {
        var queue: [String] = [] // keys, first come first served
        var jobs: [String: Job] = [:] // queued and running, by key
        var running = 0
        var stopping = false
        var nextWaiter: UInt64 = 0
    }

    private let state = Mutex(State())
    /// One signal per queued job, and one per worker at shutdown.
    private let queued = DispatchSemaphore(value: 0)
    private let workersDone = DispatchGroup()

    /// Workers start at once.
    public init(evaluator: Evaluator, store: TaskStore, options: ScoringOptions) {
        precondition(options.workers >= 1 && options.queueCapacity >= 0 && options.requestTimeout > 0)
        self.evaluator = evaluator
        self.store = store
        self.options = options
        for index in 0..<options.workers {
            workersDone.enter()
            let thread = Thread { [self] in
                workerLoop()
                workersDone.leave()
            }
            thread.name = "forge-scoring-worker-\(index)"
            thread.start()
        }
    }

    /// Identifies what a verdict holds for: the scoring rules, the task, its tests and the patch.
    public static func key(task: TaskRecord, patch: String) -> String {
        // NUL cannot occur in an instance id or a test id, so no two triples give the same text.
        let tests = ([task.testPatch] + task.failToPass + ["|"] + task.passToPass).joined(separator: "\u{0}")
        return String(SHA256.hex([Evaluator.scoringRules, task.instanceID, tests, patch].joined(separator: "\u{0}")).prefix(32))
    }

    /// The prediction "model" (folder and verdict kind) a key's results are stored under.
    public static func folderName(key: String) -> String { "patch-\(key)" }

    /// Queued and running predictions now.
    public var load: (queued: Int, running: Int) { state.withLock { ($0.queue.count, $0.running) } }

    /// The stored task `instanceID`, if it can be scored.
    public func evaluableTask(_ instanceID: String) throws(ScoringError) -> TaskRecord {
        let found: TaskRecord?
        do { found = try store.task(id: instanceID) } catch { throw .storage("\(error)") }
        guard let task = found else { throw .unknownInstance(instanceID) }
        guard task.isEvaluable else {
            throw .notEvaluable(instanceID: task.instanceID, reason: task.failToPass.isEmpty
                ? "no FAIL_TO_PASS tests: validate it first (forge validate)" : "its gold patch breaks PASS_TO_FAIL tests")
        }
        return task
    }

    /// Scores `patch` (nil: no patch) on the stored task `instanceID`, waiting at most
    /// `requestTimeout`; refused when the queue is full.
    public func score(instanceID: String, patch: String?) async throws(ScoringError) -> Scored {
        let task = try evaluableTask(instanceID)
        let key = Self.key(task: task, patch: patch ?? "")
        if let stored = storedResult(key: key, task: task) { return stored }
        let outcome: Result<Scored, ScoringError> = await withCheckedContinuation { continuation in
            let refusal = enqueue(key: key, task: task, patch: patch ?? "", deadline: options.requestTimeout, refuseWhenFull: true) {
                continuation.resume(returning: $0)
            }
            if let refusal { continuation.resume(returning: .failure(refusal)) }
        }
        return try outcome.get()
    }

    /// Scores `patch` on `task` as given (RL hands tasks it holds), blocking the calling thread
    /// until the result is in; never refused for a full queue and never timed out.
    public func scoreWaiting(patch: String, task: TaskRecord) throws(ScoringError) -> Scored {
        let key = Self.key(task: task, patch: patch)
        if let stored = storedResult(key: key, task: task) { return stored }
        let answer = Mutex<Result<Scored, ScoringError>?>(nil)
        let answered = DispatchSemaphore(value: 0)
        let refusal = enqueue(key: key, task: task, patch: patch, deadline: nil, refuseWhenFull: false) { result in
            answer.withLock { $0 = result }
            answered.signal()
        }
        if let refusal { throw refusal }
        answered.wait()
        return try answer.withLock { $0! }.get()
    }

    /// Stops taking requests, answers queued ones `shuttingDown` and waits for the running ones
    /// to finish (their results are stored).
    public func shutdown() {
        let dropped: [Job] = state.withLock { state in
            state.stopping = true
            let waiting = state.queue.compactMap { state.jobs.removeValue(forKey: $0) }
            state.queue = []
            return waiting
        }
        for _ in 0..<options.workers { queued.signal() }
        for job in dropped { for waiter in job.waiters.values { waiter(.failure(.shuttingDown)) } }
        workersDone.wait()
    }

    // MARK: - Internals

    /// Joins the identical job under way or queues a new one; returns why it was refused instead.
    private func enqueue(key: String, task: TaskRecord, patch: String, deadline: Double?, refuseWhenFull: Bool,
                         _ waiter: @escaping Waiter) -> ScoringError? {
        let registered: Result<UInt64, ScoringError> = state.withLock { state in
            if state.stopping { return .failure(.shuttingDown) }
            state.nextWaiter += 1
            let id = state.nextWaiter
            if state.jobs[key] != nil {
                state.jobs[key]!.waiters[id] = waiter // an identical request is queued or running: share it
                return .success(id)
            }
            if refuseWhenFull && state.queue.count >= options.queueCapacity {
                return .failure(.queueFull(capacity: options.queueCapacity, retryAfter: retryAfter(state)))
            }
            var job = Job(prediction: Prediction(instanceID: task.instanceID, model: Self.folderName(key: key), patch: patch), task: task)
            job.waiters[id] = waiter
            state.jobs[key] = job
            state.queue.append(key)
            return .success(id)
        }
        switch registered {
        case .failure(let refusal):
            if case .queueFull = refusal { metrics.rejected() }
            return refusal
        case .success(let id):
            queued.signal()
            if let deadline {
                DispatchQueue.global().asyncAfter(deadline: .now() + deadline) { [weak self] in self?.expire(key: key, waiter: id) }
            }
            return nil
        }
    }

    /// A finished, non-error result of this key from the store and its `report.json` (both are
    /// needed, as `forge eval` resumes only when both survive).
    func storedResult(key: String, task: TaskRecord) -> Scored? {
        let model = Self.folderName(key: key)
        guard let verdict = try? store.verdict(instanceID: task.instanceID, kind: evaluator.verdictKind(model: model)),
              verdict.finishedAt != nil, verdict.status != EvaluationStatus.error.rawValue else { return nil }
        let path = evaluator.instanceDirectory(model: model, instanceID: task.instanceID) + "/report.json"
        guard let data = FileManager.default.contents(atPath: path),
              let decoded = try? JSONDecoder().decode([String: InstanceResult].self, from: data),
              let result = decoded[task.instanceID], result.status != .error else { return nil }
        metrics.scored(status: result.status, stored: true)
        return Scored(result: result, task: task, key: key, cached: true, seconds: 0)
    }

    private func workerLoop() {
        while true {
            queued.wait()
            let next: (key: String, job: Job)?? = state.withLock { state in
                if state.stopping { return .some(nil) }
                guard !state.queue.isEmpty else { return nil } // its job expired before a worker took it
                let key = state.queue.removeFirst()
                state.jobs[key]!.started = true
                state.running += 1
                return (key, state.jobs[key]!)
            }
            guard let taken = next else { continue }
            guard let (key, job) = taken else { return }
            metrics.waited(Date().timeIntervalSince(job.enqueued))
            let outcome = run(job, key: key)
            let waiters: [Waiter] = state.withLock { state in
                state.running -= 1
                let waiters = state.jobs.removeValue(forKey: key)?.waiters ?? [:]
                return waiters.keys.sorted().map { waiters[$0]! }
            }
            for (index, waiter) in waiters.enumerated() {
                // The first waiter is the one the run was for; the others shared it.
                waiter(index == 0 ? outcome : outcome.map { var shared = $0; shared.cached = true; shared.seconds = 0; return shared })
            }
        }
    }

    /// What `BatchEvaluation` does for one prediction: evaluate, then save runs, verdict and
    /// environment in one transaction.
    private func run(_ job: Job, key: String) -> Result<Scored, ScoringError> {
        if let stored = storedResult(key: key, task: job.task) { return .success(stored) } // finished between the check and the queue
        let started = Date()
        let evaluation = evaluator.evaluate(job.prediction, task: job.task)
        do {
            try store.save(runs: evaluation.runs, verdicts: [evaluation.verdict], environments: evaluation.environment.map { [$0] } ?? [])
        } catch {
            return .failure(.storage("saving the result of \(job.task.instanceID): \(error)"))
        }
        let seconds = Date().timeIntervalSince(started)
        metrics.scored(status: evaluation.result.status, stored: false, seconds: seconds)
        return .success(Scored(result: evaluation.result, task: job.task, key: key, cached: false, seconds: seconds))
    }

    private func expire(key: String, waiter id: UInt64) {
        let expired: (Waiter, Bool)? = state.withLock { state in
            guard let job = state.jobs[key], let waiter = state.jobs[key]!.waiters.removeValue(forKey: id) else { return nil }
            if state.jobs[key]!.waiters.isEmpty && !job.started { // nobody waits for it any more: drop it
                state.queue.removeAll { $0 == key }
                state.jobs[key] = nil
            }
            return (waiter, job.started)
        }
        guard let (waiter, started) = expired else { return }
        metrics.expired()
        waiter(.failure(.deadlineExceeded(seconds: options.requestTimeout, started: started)))
    }

    /// Seconds until a queue slot is likely free: the mean run time per worker ahead of it.
    private func retryAfter(_ state: State) -> Int {
        let mean = metrics.meanRunSeconds ?? 5
        return max(1, Int((mean * Double(state.queue.count + state.running) / Double(options.workers)).rounded(.up)))
    }
}

/// Counters of the scoring service, since the process started.
public final class ScoringMetrics: Sendable {
    public struct Counts: Sendable {
        /// "status|source" → count, where source is "run" (tests run now) or "stored".
        public var scored: [String: Int] = [:]
        public var runSecondsSum = 0.0
        public var runCount = 0
        public var waitSecondsSum = 0.0
        public var waitCount = 0
        public var rejected = 0
        public var expired = 0
    }

    private let counts = Mutex(Counts())

    func scored(status: EvaluationStatus, stored: Bool, seconds: Double? = nil) {
        counts.withLock {
            $0.scored["\(status.rawValue)|\(stored ? "stored" : "run")", default: 0] += 1
            if let seconds { $0.runSecondsSum += seconds; $0.runCount += 1 }
        }
    }

    func waited(_ seconds: Double) { counts.withLock { $0.waitSecondsSum += seconds; $0.waitCount += 1 } }
    func rejected() { counts.withLock { $0.rejected += 1 } }
    func expired() { counts.withLock { $0.expired += 1 } }

    /// The counters now.
    public var snapshot: Counts { counts.withLock { $0 } }

    /// Mean seconds of one evaluation run so far; nil before the first.
    var meanRunSeconds: Double? { counts.withLock { $0.runCount == 0 ? nil : $0.runSecondsSum / Double($0.runCount) } }

    /// Scores answered with this status (runs and stored results together).
    public func scoredTotal(status: EvaluationStatus) -> Int {
        counts.withLock { $0.scored.filter { $0.key.hasPrefix(status.rawValue + "|") }.values.reduce(0, +) }
    }
}
