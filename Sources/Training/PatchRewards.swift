// Rewards from the test suites: each distinct (task, tests, patch) is scored once by the
// evaluator — test patch applied in a fresh copy, FAIL_TO_PASS and PASS_TO_PASS run in the
// sandbox — and the verdict is kept in the store, so repeated samples and resumed runs never run
// tests twice.
import Environments
import Evaluation
import Foundation
import Store

/// A sample's reward: the verdict's status and the seconds its test run took (0 when none ran).
public struct ScoredPatch: Codable, Sendable {
    public var instanceID: String
    public var status: String
    public var seconds: Double
    public var resolved: Bool { status == EvaluationStatus.resolved.rawValue }
    /// An infrastructure error says nothing about the patch: such samples are left out of training.
    public var isError: Bool { status == EvaluationStatus.error.rawValue }
}

/// RL's view of the scoring service: one verdict per (task, tests, patch), run once however
/// many samples or resumed runs ask for it (Evaluation's `ScoringService` keeps it in the store).
public struct PatchRewarder: Sendable {
    public let scoring: ScoringService
    public var evaluator: Evaluator { scoring.evaluator }

    public init(scoring: ScoringService) { self.scoring = scoring }

    /// The verdict for `patch` on `task`, from the store, from an identical scoring under way, or
    /// from a test run now. Thread-safe; `cached` is true when no test ran for this call.
    public func score(_ patch: String, task: TaskRecord) -> (scored: ScoredPatch, cached: Bool) {
        do {
            let scored = try scoring.scoreWaiting(patch: patch, task: task)
            return (ScoredPatch(instanceID: task.instanceID, status: scored.result.status.rawValue, seconds: scored.seconds), scored.cached)
        } catch {
            // The store failed: an infrastructure error, which training leaves out like any other.
            return (ScoredPatch(instanceID: task.instanceID, status: EvaluationStatus.error.rawValue, seconds: 0), false)
        }
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
