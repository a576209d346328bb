// `forge agent solve`: the policy answers tasks in SWE-bench's prediction format, so that
// `forge eval` (or SWE-bench's own harness) scores it like any other model.
import Foundation
import Model
import Store

public struct SolvedTask: Sendable {
    public var task: TaskRecord
    public var prompt: [Int]
    /// The unified diff, or nil when the output was not a usable edit (then `formatError` says why).
    public var patch: String?
    public var formatError: String?
    public var response: [SampledToken]
}

public enum AgentSolver {
    /// One generation per task (greedy when `sampling.temperature` is 0).
    public static func solve(model: Transformer, builder: PromptBuilder, tasks: [TaskRecord], sampling: SamplingSettings,
                             seed: UInt64, progress: (Int, Int) -> Void = { _, _ in }) throws -> [SolvedTask] {
        let session = InferenceSession(model: model)
        var solved: [SolvedTask] = []
        for (index, task) in tasks.enumerated() {
            let prompt = try builder.prompt(for: task)
            let response = try session.generate(prompt: prompt.tokens, maxNewTokens: builder.settings.maxResponseTokens, settings: sampling,
                                                seed: seed &+ Shard.fnv1a64(task.instanceID), stopToken: builder.endToken,
                                                constraint: builder.responseConstraint(for: prompt))
            switch builder.patch(fromResponse: response.map(\.token), for: task) {
            case .success(let patch): solved.append(SolvedTask(task: task, prompt: prompt.tokens, patch: patch, formatError: nil, response: response))
            case .failure(let error): solved.append(SolvedTask(task: task, prompt: prompt.tokens, patch: nil, formatError: error.description, response: response))
            }
            progress(index + 1, tasks.count)
        }
        return solved
    }

    /// SWE-bench's prediction lines: instance_id, model_name_or_path, model_patch ("" when unusable).
    public static func predictionsJSONL(_ solved: [SolvedTask], modelName: String) throws -> Data {
        struct Line: Encodable {
            let instance_id: String, model_name_or_path: String, model_patch: String
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var data = Data()
        for item in solved {
            data += try encoder.encode(Line(instance_id: item.task.instanceID, model_name_or_path: modelName, model_patch: item.patch ?? ""))
            data += Data("\n".utf8)
        }
        return data
    }

    /// The share of `tasks` the model resolves (greedy), scored by the test suites.
    public static func resolvedRate(model: Transformer, builder: PromptBuilder, tasks: [TaskRecord], rewarder: PatchRewarder) throws
        -> (resolved: Int, parsed: Int, total: Int) {
        let solved = try solve(model: model, builder: builder, tasks: tasks, sampling: SamplingSettings(temperature: 0), seed: 0)
        var resolved = 0
        for item in solved { if let patch = item.patch, rewarder.score(patch, task: item.task).scored.resolved { resolved += 1 } }
        return (resolved, solved.filter { $0.patch != nil }.count, tasks.count)
    }
}
