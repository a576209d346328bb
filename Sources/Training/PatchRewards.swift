// Rewards from the test suites: each distinct (task, patch) is scored once by the evaluator —
// test patch applied in a fresh copy, FAIL_TO_PASS and PASS_TO_PASS run in the sandbox — and the
// verdict is kept in `rewards.jsonl`, so repeated samples and resumed runs never run tests twice.
import Environments
import Evaluation
import Foundation
import Store

public struct ScoredPatch: Codable, Sendable {
    public var instanceID: String
    public var patchSHA: String
    /// Of the test patch and test lists it was scored against.
    public var testsSHA: String
    public var status: String
    public var seconds: Double
    public var resolved: Bool { status == EvaluationStatus.resolved.rawValue }
    /// An infrastructure error says nothing about the patch: such samples are left out of training.
    public var isError: Bool { status == EvaluationStatus.error.rawValue }
}

public final class PatchRewarder: @unchecked Sendable {
    public let evaluator: Evaluator
    let cacheURL: URL?
    private let lock = NSLock()
    private var cache: [String: ScoredPatch] = [:]
    /// Scorings under way. A confident policy samples the same patch several times in a group;
    /// those samples wait for the one test run instead of starting their own, which would share
    /// its run folder and delete its work tree mid-run.
    private var inFlight: [String: Flight] = [:]

    private final class Flight: @unchecked Sendable {
        let done = DispatchGroup()
        var verdict: ScoredPatch?
        init() { done.enter() }
    }

    /// `cacheURL`: where verdicts are kept across runs (nil: in memory only).
    public init(evaluator: Evaluator, cacheURL: URL?) throws {
        self.evaluator = evaluator
        self.cacheURL = cacheURL
        if let cacheURL, let data = FileManager.default.contents(atPath: cacheURL.path) {
            for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
                if let scored = try? JSONDecoder().decode(ScoredPatch.self, from: Data(line.utf8)), !scored.isError {
                    cache[scored.instanceID + "@" + scored.patchSHA + "@" + scored.testsSHA] = scored
                }
            }
        }
    }

    /// A verdict holds for one patch against one version of a task's tests.
    static func testsSHA(_ task: TaskRecord) -> String {
        SHA256.hex(([Evaluator.scoringRules, task.testPatch] + task.failToPass + ["|"] + task.passToPass).joined(separator: "\n"))
    }

    static func key(_ task: TaskRecord, patchSHA: String) -> String { task.instanceID + "@" + patchSHA + "@" + testsSHA(task) }

    /// The verdict for `patch` on `task`, from the cache, from an identical scoring under way, or
    /// from a test run now. Thread-safe; `cached` is true when no test ran for this call.
    public func score(_ patch: String, task: TaskRecord) -> (scored: ScoredPatch, cached: Bool) {
        let sha = SHA256.hex(patch)
        let key = PatchRewarder.key(task, patchSHA: sha)
        lock.lock()
        if let hit = cache[key] { lock.unlock(); return (hit, true) }
        if let running = inFlight[key] {
            lock.unlock()
            running.done.wait()
            return (running.verdict!, true)
        }
        let flight = Flight()
        inFlight[key] = flight
        lock.unlock()
        let scored = evaluate(patch, sha: sha, task: task)
        lock.lock()
        inFlight[key] = nil
        flight.verdict = scored
        lock.unlock()
        flight.done.leave()
        return (scored, false)
    }

    /// One test run of `patch`; the verdict is cached (in memory and in `rewards.jsonl`) unless it is an error.
    private func evaluate(_ patch: String, sha: String, task: TaskRecord) -> ScoredPatch {
        let key = PatchRewarder.key(task, patchSHA: sha)
        let started = Date()
        let prediction = Prediction(instanceID: task.instanceID, model: "patch-" + String(sha.prefix(16)), patch: patch)
        let evaluation = evaluator.evaluate(prediction, task: task)
        let scored = ScoredPatch(instanceID: task.instanceID, patchSHA: sha, testsSHA: PatchRewarder.testsSHA(task),
                                 status: evaluation.result.status.rawValue, seconds: Date().timeIntervalSince(started))
        lock.lock()
        defer { lock.unlock() }
        if !scored.isError {
            cache[key] = scored
            if let cacheURL, let line = try? JSONEncoder().encode(scored) {
                if !FileManager.default.fileExists(atPath: cacheURL.path) { FileManager.default.createFile(atPath: cacheURL.path, contents: nil) }
                if let handle = try? FileHandle(forWritingTo: cacheURL) {
                    _ = try? handle.seekToEnd()
                    try? handle.write(contentsOf: line + Data("\n".utf8))
                    try? handle.close()
                }
            }
        }
        return scored
    }

    /// Adds one text file no test reads.
    static let noopPatch = """
        diff --git a/forge-reward-probe.txt b/forge-reward-probe.txt
        new file mode 100644
        --- /dev/null
        +++ b/forge-reward-probe.txt
        @@ -0,0 +1 @@
        +This file changes nothing the tests see.

        """

    /// Before any RL step: gold patches must resolve and empty patches must not, or the reward
    /// is broken (a harness that passes everything would teach the policy to write nothing).
    public func checkSanity(tasks: [TaskRecord]) throws {
        for task in tasks {
            let gold = score(task.patch, task: task).scored
            guard gold.resolved else {
                throw TrainingDataError("reward check failed: the gold patch of \(task.instanceID) scores \(gold.status), not resolved; " +
                                        "fix the environment or validation before RL")
            }
            // An empty patch is scored 0 without running anything; a patch that changes nothing the
            // tests see makes the harness really run them on the unfixed code.
            let noop = score(PatchRewarder.noopPatch, task: task).scored
            guard !noop.resolved, !noop.isError else {
                throw TrainingDataError("reward check failed: a patch that fixes nothing scores \(noop.status) on \(task.instanceID)" +
                                        (noop.isError ? "" : "; its FAIL_TO_PASS tests do not test the fix"))
            }
        }
    }
}
