import Evaluation
import Foundation
import Store

/// Limits of the scoring service.
public struct ScoringOptions: Sendable {
    /// Predictions scored at once: one worker thread each (and the evaluator's `jobs`).
    public var workers: Int
    /// Requests that may wait for a worker; one more is refused (429).
    public var queueCapacity: Int
    /// Seconds a request waits for its result, queue time included (504 after that).
    public var requestTimeout: Double

    public init(workers: Int = 2, queueCapacity: Int = 64, requestTimeout: Double = 600) {
        self.workers = workers; self.queueCapacity = queueCapacity; self.requestTimeout = requestTimeout
    }
}

/// One answered score: the evaluator's result and where it came from.
public struct Scored: Sendable {
    public var result: InstanceResult
    public var task: TaskRecord
    /// The (instance, patch) key it is stored under.
    public var key: String
    /// Read back from an earlier run instead of run now.
    public var cached: Bool
}

/// Scores predictions with `Evaluator` on a fixed set of worker threads behind a bounded FIFO
/// queue. Each (instance, patch) pair is one prediction of its own "model" named after the pair's
/// key, so its files live in their own folder and its verdict has its own kind: a later identical
/// request, in this process or after a restart, reads them back instead of running again.
/// Identical requests in flight at once share one run. Infrastructure errors are not reused:
/// the next identical request runs again.
public final class ScoringService: @unchecked Sendable {
    /// The evaluation run every served score belongs to (`<evals>/serve/...`, verdict kinds `eval:serve/...`).
    public static let runID = "serve"

    public let evaluator: Evaluator
    public let store: TaskStore
    public let options: ScoringOptions
    public let metrics = ScoringMetrics()

    private final class Job {
        let key: String
        let prediction: Prediction
        let task: TaskRecord
        var waiters: [UInt64: CheckedContinuation<Result<Scored, ServingError>, Never>] = [:]
        var started = false
        let enqueued = Date()
        init(key: String, prediction: Prediction, task: TaskRecord) { self.key = key; self.prediction = prediction; self.task = task }
    }

    // Guarded by `condition`.
    private let condition = NSCondition()
    private var queue: [Job] = []
    private var jobs: [String: Job] = [:]
    private var running = 0
    private var stopping = false
    private var nextWaiter: UInt64 = 0
    private let workersDone = DispatchGroup()

    /// The evaluator must write under `runID` (see `RewardServer`); workers start at once.
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
            thread.name = "forge-serve-worker-\(index)"
            thread.start()
        }
    }

    /// The prediction "model" (folder and verdict kind) a key's results are stored under.
    public static func folderName(key: String) -> String { "patch-\(key)" }

    /// Queued and running predictions now.
    public var load: (queued: Int, running: Int) {
        condition.lock(); defer { condition.unlock() }
        return (queue.count, running)
    }

    /// Scores one request, waiting at most `requestTimeout`. Throws `ServingError`.
    public func score(_ request: ScoreRequest) async throws -> Scored {
        let task: TaskRecord
        do {
            guard let found = try store.task(id: request.instanceID) else { throw ServingError.unknownInstance(request.instanceID) }
            task = found
        } catch let error as ServingError {
            throw error
        } catch {
            throw ServingError.storage("\(error)")
        }
        guard task.isEvaluable else {
            throw ServingError.notEvaluable(instanceID: task.instanceID, reason: task.failToPass.isEmpty
                ? "no FAIL_TO_PASS tests: validate it first (forge validate)" : "its gold patch breaks PASS_TO_FAIL tests")
        }
        let key = request.key
        if let stored = storedResult(key: key, task: task) {
            metrics.scored(status: stored.result.status, stored: true)
            return stored
        }
        let prediction = Prediction(instanceID: task.instanceID, model: Self.folderName(key: key), patch: request.patch)
        let outcome: Result<Scored, ServingError> = await withCheckedContinuation { continuation in
            let refusal: ServingError? = condition.withLock {
                if stopping { return .shuttingDown }
                nextWaiter += 1
                let waiter = nextWaiter
                if let job = jobs[key] {
                    job.waiters[waiter] = continuation // an identical request is queued or running: share it
                } else {
                    guard queue.count < options.queueCapacity else {
                        return .queueFull(capacity: options.queueCapacity, retryAfter: retryAfterLocked())
                    }
                    let job = Job(key: key, prediction: prediction, task: task)
                    job.waiters[waiter] = continuation
                    jobs[key] = job
                    queue.append(job)
                    condition.signal()
                }
                DispatchQueue.global().asyncAfter(deadline: .now() + options.requestTimeout) { [weak self] in
                    self?.expire(key: key, waiter: waiter)
                }
                return nil
            }
            if let refusal {
                if case .queueFull = refusal { metrics.rejected() }
                continuation.resume(returning: .failure(refusal))
            }
        }
        return try outcome.get()
    }

    /// Stops taking requests, answers queued ones 503 and waits for the running ones to finish
    /// (their results are stored).
    public func shutdown() {
        let dropped: [Job] = condition.withLock {
            stopping = true
            let waiting = queue
            queue = []
            for job in waiting { jobs[job.key] = nil }
            condition.broadcast()
            return waiting
        }
        for job in dropped { for waiter in job.waiters.values { waiter.resume(returning: .failure(.shuttingDown)) } }
        workersDone.wait()
    }

    // MARK: - Internals

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
        return Scored(result: result, task: task, key: key, cached: true)
    }

    private func workerLoop() {
        while true {
            let job: Job? = condition.withLock {
                while queue.isEmpty && !stopping { condition.wait() }
                guard !queue.isEmpty else { return nil }
                let job = queue.removeFirst()
                job.started = true
                running += 1
                return job
            }
            guard let job else { return }
            metrics.waited(Date().timeIntervalSince(job.enqueued))
            let outcome = run(job)
            let waiters: [CheckedContinuation<Result<Scored, ServingError>, Never>] = condition.withLock {
                running -= 1
                jobs[job.key] = nil
                defer { job.waiters = [:] }
                return Array(job.waiters.values)
            }
            for waiter in waiters { waiter.resume(returning: outcome) }
        }
    }

    /// What `BatchEvaluation` does for one prediction: evaluate, then save runs, verdict and
    /// environment in one transaction.
    private func run(_ job: Job) -> Result<Scored, ServingError> {
        if let stored = storedResult(key: job.key, task: job.task) { // finished between the check and the queue
            metrics.scored(status: stored.result.status, stored: true)
            return .success(stored)
        }
        let started = Date()
        let evaluation = evaluator.evaluate(job.prediction, task: job.task)
        do {
            try store.save(runs: evaluation.runs, verdicts: [evaluation.verdict], environments: evaluation.environment.map { [$0] } ?? [])
        } catch {
            return .failure(.storage("saving the result of \(job.task.instanceID): \(error)"))
        }
        metrics.scored(status: evaluation.result.status, stored: false, seconds: Date().timeIntervalSince(started))
        return .success(Scored(result: evaluation.result, task: job.task, key: job.key, cached: false))
    }

    private func expire(key: String, waiter: UInt64) {
        let expired: (CheckedContinuation<Result<Scored, ServingError>, Never>, Bool)? = condition.withLock {
            guard let job = jobs[key], let continuation = job.waiters.removeValue(forKey: waiter) else { return nil }
            if job.waiters.isEmpty && !job.started { // nobody waits for it any more: drop it
                queue.removeAll { $0 === job }
                jobs[key] = nil
            }
            return (continuation, job.started)
        }
        guard let (continuation, started) = expired else { return }
        metrics.expired()
        continuation.resume(returning: .failure(.deadlineExceeded(seconds: options.requestTimeout, started: started)))
    }

    /// Seconds until a queue slot is likely free: the mean run time per worker ahead of it.
    private func retryAfterLocked() -> Int {
        let mean = metrics.meanRunSeconds ?? 5
        return max(1, Int((mean * Double(queue.count + running) / Double(options.workers)).rounded(.up)))
    }
}
