// Supervised fine-tuning on validated tasks: prompt = statement + code at the base commit,
// target = the gold patch as SEARCH/REPLACE blocks; the loss counts target tokens only.
import Foundation
import Model
import Basics
import Store

/// Which tasks train and which are held out for measuring: a stable hash of the instance id,
/// so every stage and every machine splits the same way. Of the training tasks, one in
/// `rlOnlyEvery` (by a second hash) can be kept from SFT for RL alone: RL then learns on tasks
/// the SFT model never imitated, as the held-out ones are, instead of re-sharpening memorised
/// answers.
public struct TaskSplit: Codable, Sendable, Equatable {
    /// One task in this many is held out (1 of N shards by instance id).
    public var heldOutEvery = 5
    /// One training task in this many is for RL only; 0 shares every training task between SFT and RL.
    public var rlOnlyEvery = 0
    /// Hash the task family (source commit and edit site, `TaskFamily.key`) instead of the
    /// instance id, so that a held-out task's siblings are held out with it.
    public var byFamily = false

    public init(heldOutEvery: Int = 5, rlOnlyEvery: Int = 0, byFamily: Bool = false) {
        self.heldOutEvery = heldOutEvery; self.rlOnlyEvery = rlOnlyEvery; self.byFamily = byFamily
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        heldOutEvery = try container.decode(Int.self, forKey: .heldOutEvery)
        // Run folders written before the RL-only pool existed shared every task.
        rlOnlyEvery = try container.decodeIfPresent(Int.self, forKey: .rlOnlyEvery) ?? 0
        byFamily = try container.decodeIfPresent(Bool.self, forKey: .byFamily) ?? false
    }

    func splitKey(_ task: TaskRecord) -> String { byFamily ? TaskFamily.key(task) : task.instanceID }
    public func isHeldOut(_ task: TaskRecord) -> Bool { Shard.index(of: splitKey(task), count: max(2, heldOutEvery)) == 1 }
    public func isRLOnly(_ task: TaskRecord) -> Bool {
        rlOnlyEvery >= 2 && !isHeldOut(task) && Self.mixedHash(splitKey(task)) % UInt64(rlOnlyEvery) == 0
    }

    /// The id's FNV-1a hash through splitmix64's finaliser. The held-out split takes FNV-1a's
    /// low bits as they are, and any second split on those bits (or on FNV-1a of the id plus a
    /// suffix, whose low bit is the id's low bit flipped) would follow the first one.
    static func mixedHash(_ instanceID: String) -> UInt64 {
        var z = Shard.fnv1a64(instanceID)
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    public func training(_ tasks: [TaskRecord]) -> [TaskRecord] { tasks.filter { !isHeldOut($0) } }
    public func heldOut(_ tasks: [TaskRecord]) -> [TaskRecord] { tasks.filter(isHeldOut) }
    /// SFT's tasks: the training tasks not kept for RL.
    public func supervised(_ tasks: [TaskRecord]) -> [TaskRecord] { training(tasks).filter { !isRLOnly($0) } }
    /// RL's tasks: the RL-only pool when there is one, else every training task.
    public func reinforcement(_ tasks: [TaskRecord]) -> [TaskRecord] { rlOnlyEvery >= 2 ? tasks.filter(isRLOnly) : training(tasks) }
}

public struct SFTSettings: Codable, Sendable, Equatable {
    public var prompt = PromptSettings()
    public var split = TaskSplit()
    public var steps = 200
    public var batch = 4
    public var learningRate: Float = 1e-3
    public var warmupSteps = 10
    public var evalEvery = 25
    public var checkpointEvery = 50
    public var seed: UInt64 = 1
    public var optimizer = AdamWSettings(weightDecay: 0.01)
    /// Trains only on examples whose prompt shows the lines the gold blocks edit (nil: on all),
    /// so the policy learns to copy the site it was shown, not to write code it was not shown;
    /// the held-out loss stays over every held-out example. nil rather than false, so run
    /// folders written before the option still resume.
    public var shownSitesOnly: Bool?
    /// Repair drills mixed into the batches (`RepairDrills`); nil trains on the tasks alone.
    public var repairDrills: RepairDrillSettings?
    public init() {}
}

/// One supervised example: the prompt and the target tokens that follow it.
public struct SFTExample: Sendable {
    public var instanceID: String
    public var prompt: [Int]
    public var target: [Int]
    /// Whether the prompt shows the lines the target's SEARCH blocks copy.
    public var siteShown: Bool
}

public enum SFTStage {
    /// Examples of tasks whose gold patch has a block form that fits the response budget.
    public static func examples(tasks: [TaskRecord], builder: PromptBuilder) throws -> (examples: [SFTExample], skipped: [String]) {
        var examples: [SFTExample] = [], skipped: [String] = []
        for task in tasks {
            guard let blocks = try builder.goldBlocks(for: task), let target = builder.target(from: blocks) else {
                skipped.append(task.instanceID); continue
            }
            let prompt = try builder.prompt(for: task)
            examples.append(SFTExample(instanceID: task.instanceID, prompt: prompt.tokens, target: target,
                                       siteShown: builder.showsEditSite(blocks, in: prompt)))
        }
        return (examples, skipped)
    }

    /// The examples padded to one length: inputs, and targets that are −1 except on target tokens.
    static func batch(_ examples: [SFTExample], padding: Int) -> (tokens: [Int], targets: [Int], length: Int) {
        let length = examples.map { $0.prompt.count + $0.target.count - 1 }.max() ?? 1
        var tokens: [Int] = [], targets: [Int] = []
        for example in examples {
            let sequence = example.prompt + example.target
            let inputs = Array(sequence.dropLast()), labels = Array(sequence.dropFirst())
            for position in 0..<length {
                tokens.append(position < inputs.count ? inputs[position] : padding)
                targets.append(position < labels.count && position >= example.prompt.count - 1 ? labels[position] : -1)
            }
        }
        return (tokens, targets, length)
    }

    static func loss(_ model: Transformer, _ examples: [SFTExample], padding: Int, chunk: Int) throws -> Double {
        var total = 0.0, counted = 0
        for start in stride(from: 0, to: examples.count, by: chunk) {
            let part = Array(examples[start..<min(examples.count, start + chunk)])
            let (tokens, targets, _) = batch(part, padding: padding)
            let n = targets.filter { $0 >= 0 }.count
            total += Double(try model.forward(tokens: tokens, targets: targets, batch: part.count).language) * Double(n)
            counted += n
        }
        return counted == 0 ? 0 : total / Double(counted)
    }

    public static func run(settings: SFTSettings, from run: URL, tasks: [TaskRecord], clones: [String: String], folder: RunFolder,
                           report: StageReport, failureOutput: [String: String] = [:]) throws -> Transformer {
        let (initial, tokenizer) = try LanguageStages.start(from: run)
        if !FileManager.default.fileExists(atPath: folder.tokenizerURL.path) { try tokenizer.save(to: folder.tokenizerURL) }
        let builder = try PromptBuilder(tokenizer: tokenizer, clones: clones, settings: settings.prompt, context: initial.config.context)
        builder.failureOutput = failureOutput
        let valid = tasks.filter { !$0.failToPass.isEmpty && $0.passToFail.isEmpty }
        let (supervised, skippedTrain) = try examples(tasks: settings.split.supervised(valid), builder: builder)
        let (heldOut, _) = try examples(tasks: settings.split.heldOut(valid), builder: builder)
        report("sft: \(supervised.count) training examples (\(skippedTrain.count) skipped: no block form or too long), \(heldOut.count) held out")
        let trainShown = supervised.filter(\.siteShown).count, heldOutShown = heldOut.filter(\.siteShown).count
        report("sft: the prompt shows the lines the gold blocks edit for \(trainShown) of \(supervised.count) training and \(heldOutShown) of \(heldOut.count) held-out examples")
        let train = settings.shownSitesOnly == true ? supervised.filter(\.siteShown) : supervised
        guard !train.isEmpty else {
            throw TrainingDataError("no SFT examples: \(valid.count) valid tasks, \(skippedTrain.count) without a block form that fits"
                                    + (settings.shownSitesOnly == true ? ", none of the rest with its edit site in the prompt" : ""))
        }
        if settings.shownSitesOnly == true { report("sft: training on the \(train.count) examples whose prompt shows the edit site") }
        let allDrills = try settings.repairDrills.map {
            try RepairDrills.examples(settings: $0, training: settings.split.supervised(valid), heldOut: settings.split.heldOut(tasks),
                                      builder: builder, seed: settings.seed)
        } ?? []
        // One drill in 20 (64 at most) is kept back: its loss, and how many of them the final model
        // restores, say whether the repair skill generalises to lines not drilled.
        let keptBack = Array(allDrills.suffix(allDrills.count >= 20 ? min(64, allDrills.count / 20) : 0))
        let drillCheck = keptBack.map(\.example)
        let drills = allDrills.dropLast(keptBack.count).map(\.example)
        if let drillSettings = settings.repairDrills {
            let kinds = Dictionary(grouping: allDrills, by: \.kind).map { "\($0.value.count) \($0.key)" }.sorted().joined(separator: ", ")
            report("sft: \(allDrills.count) repair drills (\(kinds)), \(drillCheck.count) kept back, \(Int((drillSettings.share * 100).rounded()))% of each batch")
        }
        let padding = tokenizer.id(ofSpecialToken: SpecialTokens.padding)!

        let saved = try folder.savedState()
        let model = try saved != nil ? folder.checkpointModel() : initial
        let optimizer = AdamW(layout: model.layout, settings: settings.optimizer)
        var random = SamplerRandom(seed: settings.seed)
        let schedule = CosineSchedule(maxLearningRate: settings.learningRate, minLearningRate: settings.learningRate / 10,
                                      warmupSteps: settings.warmupSteps, totalSteps: settings.steps)
        let started = Date().addingTimeInterval(-(saved?.values["seconds"] ?? 0))
        func validation() throws -> Double? { heldOut.isEmpty ? nil : try loss(model, heldOut, padding: padding, chunk: settings.batch) }
        func drillValidation() throws -> Double? { drillCheck.isEmpty ? nil : try loss(model, drillCheck, padding: padding, chunk: settings.batch) }
        if let saved {
            try folder.resume(from: saved, optimizer: optimizer, random: &random)
            report("sft: resuming at step \(saved.step) of \(settings.steps)")
        } else {
            var line: MetricsLine = ["step": 0, "train_loss": try loss(model, Array(train.prefix(settings.batch)), padding: padding, chunk: settings.batch), "seconds": 0]
            line["validation_loss"] = try validation()
            line["drill_validation_loss"] = try drillValidation()
            line["train_site_shown"] = Double(trainShown) / Double(supervised.count)
            if !heldOut.isEmpty { line["held_out_site_shown"] = Double(heldOutShown) / Double(heldOut.count) }
            try folder.append(line)
            report(LanguageStages.describe(line))
        }
        try StageLoop.run(folder: folder, progress: report.progress, start: saved?.step ?? 0, total: settings.steps, checkpointEvery: settings.checkpointEvery, save: { step in
            try folder.saveCheckpoint(model: model, optimizer: optimizer,
                                      state: CheckpointState(step: step, random: random.stateWords, values: ["seconds": Date().timeIntervalSince(started)]))
            try folder.writePlots([("loss.svg", "target cross-entropy (nats/token)", ["train_loss", "validation_loss", "drill_validation_loss"])])
        }, step: { step in
            let drillShare = settings.repairDrills?.share ?? 0
            let chosen = (0..<settings.batch).map { _ in
                // Runs without drills draw one number per example, as before drills existed.
                if !drills.isEmpty && Double(random.next() % 1_000_000) < drillShare * 1_000_000 { return drills[Int(random.next() % UInt64(drills.count))] }
                return train[Int(random.next() % UInt64(train.count))]
            }
            let (tokens, targets, _) = batch(chosen, padding: padding)
            let lr = schedule.learningRate(step: step)
            // A sparse model keeps training its indexer on the KL over the selected set, as in the sparse stage.
            let (losses, norm) = try model.languageStep(tokens: tokens, targets: targets, batch: chosen.count, optimizer: optimizer, learningRate: lr)
            let sparse = model.config.attention == .sparse
            var line: MetricsLine = ["step": Double(step + 1), "train_loss": Double(losses.language), "learning_rate": Double(lr),
                                     "gradient_norm": Double(norm), "tokens": Double(targets.filter { $0 >= 0 }.count),
                                     "seconds": Date().timeIntervalSince(started)]
            if (step + 1) % settings.evalEvery == 0 || step + 1 == settings.steps {
                line["validation_loss"] = try validation()
                line["drill_validation_loss"] = try drillValidation()
                // How much of the dense attention the indexer's top-k keeps on a held-out prompt (DSA's health at this length).
                if sparse, let example = heldOut.first ?? train.first {
                    line["dense_mass_recovered"] = Double(try model.denseMassRecovered(tokens: example.prompt + example.target, batch: 1, k: model.config.topK))
                }
            }
            return line
        }, report: { line in if line["validation_loss"] != nil || line["step"] == Double(settings.steps) { report(LanguageStages.describe(line)) } })
        if !keptBack.isEmpty {
            let restored = try RepairDrills.restored(model: model, drills: keptBack, builder: builder)
            try folder.append(["step": Double(settings.steps), "drills_restored": Double(restored) / Double(keptBack.count)])
            report("sft: the model restores \(restored) of \(keptBack.count) kept-back drills (greedy, grounded)")
        }
        try model.save(to: folder.finalModelURL, extraMetadata: ["stage": "sft", "tokenizer": "tokenizer.json"])
        return model
    }
}
