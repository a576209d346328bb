// The RL stage: GRPO with test-suite rewards. Each step samples G responses for each of a few
// training tasks from π_old (the current model), scores them on a background queue while
// generation goes on, then takes `updatesPerStep` AdamW steps on the GRPO objective against the
// frozen reference (the model the stage started from). Only the first update is on-policy; the
// later ones are where clipping and off-policy masking act.
import Foundation
import Model
import Basics
import Store
import Synchronization

public struct RLSettings: Codable, Sendable, Equatable {
    public var grpo = GRPOSettings()
    public var prompt = PromptSettings()
    public var split = TaskSplit()
    public var steps = 20
    public var tasksPerStep = 4
    public var updatesPerStep = 2
    public var learningRate: Float = 1e-4
    public var temperature: Float = 1
    public var topP: Float = 0.95
    public var topK = 0
    /// Tasks whose gold and no-op patches are scored before training (the reward check).
    public var sanityTasks = 2
    public var checkpointEvery = 5
    public var seed: UInt64 = 1
    public var optimizer = AdamWSettings(weightDecay: 0, clipNorm: 1)
    public var exploration = ExplorationSettings()
    public init() {}

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        grpo = try container.decode(GRPOSettings.self, forKey: .grpo)
        prompt = try container.decode(PromptSettings.self, forKey: .prompt)
        split = try container.decode(TaskSplit.self, forKey: .split)
        steps = try container.decode(Int.self, forKey: .steps)
        tasksPerStep = try container.decode(Int.self, forKey: .tasksPerStep)
        updatesPerStep = try container.decode(Int.self, forKey: .updatesPerStep)
        learningRate = try container.decode(Float.self, forKey: .learningRate)
        temperature = try container.decode(Float.self, forKey: .temperature)
        topP = try container.decode(Float.self, forKey: .topP)
        topK = try container.decode(Int.self, forKey: .topK)
        sanityTasks = try container.decode(Int.self, forKey: .sanityTasks)
        checkpointEvery = try container.decode(Int.self, forKey: .checkpointEvery)
        seed = try container.decode(UInt64.self, forKey: .seed)
        optimizer = try container.decode(AdamWSettings.self, forKey: .optimizer)
        // Run folders written before exploration existed drew tasks uniformly.
        exploration = try container.decodeIfPresent(ExplorationSettings.self, forKey: .exploration) ?? ExplorationSettings()
    }

    var sampling: SamplingSettings { SamplingSettings(temperature: temperature, topK: topK, topP: topP) }
}

public enum RLStage {
    public static func run(settings: RLSettings, from run: URL, tasks: [TaskRecord], clones: [String: String], rewarder: PatchRewarder,
                           folder: RunFolder, report: StageReport, failureOutput: [String: String] = [:]) throws -> Transformer {
        guard settings.temperature > 0 else { throw TrainingDataError("RL needs a sampling temperature above 0") }
        guard settings.grpo.groupSize >= 2 else { throw TrainingDataError("a GRPO group needs at least 2 samples") }
        let (initial, tokenizer) = try LanguageStages.start(from: run)
        let reference = try Transformer.load(from: run.appendingPathComponent("model.safetensors"))
        if !FileManager.default.fileExists(atPath: folder.tokenizerURL.path) { try tokenizer.save(to: folder.tokenizerURL) }
        let builder = try PromptBuilder(tokenizer: tokenizer, clones: clones, settings: settings.prompt, context: initial.config.context)
        builder.failureOutput = failureOutput
        // Tasks whose fix cannot be written within the response budget only add noise.
        let training = try settings.split.reinforcement(tasks.filter { !$0.failToPass.isEmpty && $0.passToFail.isEmpty })
            .filter { try builder.target(for: $0) != nil }
        guard !training.isEmpty else { throw TrainingDataError("no valid training tasks for RL whose fix fits \(settings.prompt.maxResponseTokens) response tokens") }
        report("rl: \(training.count) training tasks")

        let saved = try folder.savedState()
        if saved == nil {
            report("rl: reward check on \(min(settings.sanityTasks, training.count)) tasks (gold → resolved, no-op → not)")
            try rewarder.checkSanity(tasks: Array(training.prefix(settings.sanityTasks)))
        }
        let model = try saved != nil ? folder.checkpointModel() : initial
        let optimizer = AdamW(layout: model.layout, settings: settings.optimizer)
        var random = SamplerRandom(seed: settings.seed)
        let started = Date().addingTimeInterval(-(saved?.values["seconds"] ?? 0))
        if let saved {
            try folder.resume(from: saved, optimizer: optimizer, random: &random)
            report("rl: resuming at step \(saved.step) of \(settings.steps)")
        }
        let plots: [(file: String, yLabel: String, keys: [String])] = [
            ("reward.svg", "reward", ["mean_reward", "resolved_rate"]), ("kl.svg", "KL to reference", ["kl"]),
            ("stabilisers.svg", "fraction of tokens", ["clip_fraction", "masked_fraction"]),
        ]
        var pool = TaskPool(tasks: training, settings: settings.exploration)
        let rounds = settings.exploration.dynamicSampling ? max(1, settings.exploration.maxDrawRounds) : 1
        try StageLoop.run(folder: folder, progress: report.progress, start: saved?.step ?? 0, total: settings.steps, checkpointEvery: settings.checkpointEvery, save: { step in
            try folder.saveCheckpoint(model: model, optimizer: optimizer,
                                      state: CheckpointState(step: step, random: random.stateWords, values: ["seconds": Date().timeIntervalSince(started)]))
            try folder.writePlots(plots)
        }, step: { step in
            // Draw, sample and score; with dynamic sampling, draw again for the informative groups still missing.
            var collected = Collected(), kept: [Rollout] = [], drawn = Set<String>(), draws = 0
            for _ in 0..<rounds {
                let missing = settings.tasksPerStep - DynamicSampling.informativeGroups(kept).count
                guard missing > 0 else { break }
                let stepTasks = pick(missing, from: pool.eligible(step: step, total: settings.steps, excluding: drawn), random: &random)
                guard !stepTasks.isEmpty else { break }
                drawn.formUnion(stepTasks.map(\.instanceID))
                draws += stepTasks.count
                let drawnRound = try collect(model: model, tasks: stepTasks, builder: builder, rewarder: rewarder, settings: settings, seed: random.next())
                collected.add(drawnRound)
                let informative = Set(DynamicSampling.informativeGroups(drawnRound.rollouts))
                for task in stepTasks {
                    pool.record(resolved: drawnRound.rollouts.filter { $0.groupID == task.instanceID }.map(\.resolved), task: task.instanceID)
                }
                kept += settings.exploration.dynamicSampling ? drawnRound.rollouts.filter { informative.contains($0.groupID) } : drawnRound.rollouts
            }
            let batch = GroupedBatch(kept)
            let modelStarted = Date()
            let referenceLogProbabilities = try PolicyGradient.referenceLogProbabilities(reference: reference, rollouts: batch.rollouts,
                                                                                          temperature: settings.temperature)
            var statistics = PolicyStepStatistics()
            var norm: Float = 0
            if batch.informativeGroups > 0 {
                for update in 0..<settings.updatesPerStep {
                    model.zeroGradients()
                    let stats = try PolicyGradient.accumulate(model: model, batch: batch, reference: referenceLogProbabilities,
                                                              settings: settings.grpo, temperature: settings.temperature)
                    if update == 0 { statistics = stats } else { statistics.clipFraction = stats.clipFraction; statistics.maskedFraction = stats.maskedFraction }
                    norm = optimizer.update(params: model.params, grads: model.grads, learningRate: settings.learningRate)
                }
            } else if !batch.rollouts.isEmpty {
                // Groups whose rewards all agree have no advantage: nothing to update, only statistics to report.
                statistics = try PolicyGradient.accumulate(model: model, batch: batch, reference: referenceLogProbabilities,
                                                           settings: settings.grpo, temperature: settings.temperature, backward: false)
            }
            let all = collected.rollouts, rewards = all.map(\.reward)
            var line: MetricsLine = [
                "step": Double(step + 1),
                "mean_reward": rewards.isEmpty ? 0 : rewards.reduce(0, +) / Double(rewards.count),
                "resolved_rate": rewards.isEmpty ? 0 : Double(all.filter(\.resolved).count) / Double(rewards.count),
                "parsed_rate": rewards.isEmpty ? 0 : Double(all.filter(\.parsed).count) / Double(rewards.count),
                // The reward-hacking watch: samples whose patch edits tests or test infrastructure.
                "test_file_share": rewards.isEmpty ? 0 : Double(collected.testTouching) / Double(rewards.count),
                "tasks_drawn": Double(draws), "trained_groups": Double(batch.groupCount),
                "curriculum_level": Double(pool.highestLevel(step: step, total: settings.steps)), "retired_tasks": Double(pool.solved.count),
                "informative_groups": Double(batch.informativeGroups), "scoring_errors": Double(collected.errors),
                "kl": statistics.meanKL, "clip_fraction": statistics.clipFraction, "masked_fraction": statistics.maskedFraction,
                "entropy": statistics.entropy, "objective": statistics.objective, "gradient_norm": Double(norm),
                "tokens_per_second": Double(collected.generatedTokens) / max(collected.generationSeconds, 1e-9),
                "test_seconds": collected.testSeconds, "model_seconds": collected.generationSeconds + Date().timeIntervalSince(modelStarted),
                "seconds": Date().timeIntervalSince(started),
            ]
            if model.config.attention == .sparse, step % settings.checkpointEvery == 0, let first = kept.first ?? all.first {
                line["dense_mass_recovered"] = Double(try model.denseMassRecovered(tokens: first.prompt, batch: 1, k: model.config.topK))
            }
            return line
        }, report: { line in
            report(String(format: "step %3.0f  reward %.3f  resolved %.2f  parsed %.2f  KL %.4f  clip %.3f  masked %.3f  entropy %.3f  groups %.0f/%.0f  test-file %.2f  tests %.0f s  model %.0f s",
                          line["step"]!, line["mean_reward"]!, line["resolved_rate"]!, line["parsed_rate"]!, line["kl"]!, line["clip_fraction"]!,
                          line["masked_fraction"]!, line["entropy"]!, line["trained_groups"]!, line["tasks_drawn"]!, line["test_file_share"]!,
                          line["test_seconds"]!, line["model_seconds"]!))
        })
        try model.save(to: folder.finalModelURL, extraMetadata: ["stage": "rl", "tokenizer": "tokenizer.json"])
        return model
    }

    /// `count` distinct tasks (all of them when there are fewer), drawn by `random`.
    static func pick(_ count: Int, from tasks: [TaskRecord], random: inout SamplerRandom) -> [TaskRecord] {
        var pool = tasks
        var chosen: [TaskRecord] = []
        while chosen.count < count && !pool.isEmpty { chosen.append(pool.remove(at: Int(random.next() % UInt64(pool.count)))) }
        return chosen
    }

    struct Collected {
        var rollouts: [Rollout] = []
        var errors = 0
        var generatedTokens = 0
        var generationSeconds = 0.0
        var testSeconds = 0.0
        /// Samples whose patch edits tests or test infrastructure.
        var testTouching = 0

        mutating func add(_ other: Collected) {
            rollouts += other.rollouts; errors += other.errors; generatedTokens += other.generatedTokens
            generationSeconds += other.generationSeconds; testSeconds += other.testSeconds; testTouching += other.testTouching
        }
    }

    /// G samples per task; each parsed patch is scored on a background queue while the next
    /// ones are generated. Samples whose scoring hit an infrastructure error are left out.
    static func collect(model: Transformer, tasks: [TaskRecord], builder: PromptBuilder, rewarder: PatchRewarder,
                        settings: RLSettings, seed: UInt64) throws -> Collected {
        var collected = Collected()
        let session = InferenceSession(model: model)
        let scoring = DispatchQueue(label: "forge.rl.scoring", attributes: .concurrent)
        let group = DispatchGroup(), slots = DispatchSemaphore(value: max(1, rewarder.evaluator.options.jobs))
        var pending: [(index: Int, task: TaskRecord, patch: String)] = []
        let verdicts = VerdictBox()
        var drafts: [Rollout] = []
        for (taskIndex, task) in tasks.enumerated() {
            let prompt = try builder.prompt(for: task)
            // The group shares one prefill of the (long) prompt.
            let generationStarted = Date()
            let responses = try session.generateSamples(prompt: prompt.tokens,
                                                        seeds: (0..<settings.grpo.groupSize).map { seed &+ UInt64(taskIndex * 1000 + $0) },
                                                        maxNewTokens: settings.prompt.maxResponseTokens, settings: settings.sampling,
                                                        stopToken: builder.endToken, constraint: builder.responseConstraint(for: prompt))
            collected.generationSeconds += Date().timeIntervalSince(generationStarted)
            for response in responses {
                collected.generatedTokens += response.count
                let parsed = builder.patch(fromResponse: response.map(\.token), for: task)
                let index = drafts.count
                drafts.append(Rollout(groupID: task.instanceID, prompt: prompt.tokens, response: response.map(\.token),
                                      logOld: response.map { Double($0.logProbability) }, keptTokens: response.map(\.keptTokens),
                                      reward: settings.grpo.formatReward, resolved: false, parsed: false))
                guard case .success(let patch) = parsed else { continue }
                if TestPaths.patchTouchesTests(patch) { collected.testTouching += 1 }
                pending.append((index, task, patch))
                group.enter()
                slots.wait()
                scoring.async {
                    let result = rewarder.score(patch, task: task)
                    var verdict = result.scored
                    if result.cached { verdict.seconds = 0 }   // no test ran for this sample
                    verdicts.set(index, verdict)
                    slots.signal()
                    group.leave()
                }
            }
        }
        group.wait()
        var leftOut = Set<Int>()
        for item in pending {
            let verdict = verdicts.get(item.index)!
            collected.testSeconds += verdict.seconds
            if verdict.isError { collected.errors += 1; leftOut.insert(item.index); continue }
            drafts[item.index].parsed = true
            drafts[item.index].resolved = verdict.resolved
            drafts[item.index].reward = verdict.resolved ? 1 : 0
        }
        collected.rollouts = drafts.indices.filter { !leftOut.contains($0) }.map { drafts[$0] }
        return collected
    }
}

/// Verdicts written by scoring threads, read after they all finished.
final class VerdictBox: Sendable {
    private let verdicts = Mutex<[Int: ScoredPatch]>([:])
    func set(_ index: Int, _ verdict: ScoredPatch) { verdicts.withLock { $0[index] = verdict } }
    func get(_ index: Int) -> ScoredPatch? { verdicts.withLock { $0[index] } }
}
