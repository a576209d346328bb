import Foundation
import Model
import Pipeline
import Store
import Training

/// The demo's training leg: a small policy through pretrain → warm-up → sparse → SFT → RL on the
/// sample's tasks, minutes on 2 cores, ending with the held-out resolved rate before and after.
enum DemoTraining {
    static func run(tasks: [TaskRecord], clones: [String: String], pipeline: Pipeline) throws {
        let runs = URL(fileURLWithPath: pipeline.workspace.folder).appendingPathComponent("demo/runs")
        let source = CorpusSource(tasks: tasks, clones: clones)
        let report = StageReport(message: { print("   " + $0) })
        // One training task in two is kept from SFT for RL: RL then learns on tasks SFT never
        // imitated, as the held-out ones are (on memorised tasks every sample resolves: no signal).
        let split = TaskSplit(heldOutEvery: 4, rlOnlyEvery: 2)
        let prompt = PromptSettings(mode: .oracle, maxFiles: 1, maxResponseTokens: 192)
        let heldOut = Array(split.heldOut(tasks.filter(\.isEvaluable)).prefix(20))

        print("5. pretrain: a dense 2-layer model on the sample's code")
        var pretrain = PretrainSettings()
        pretrain.vocabularySize = 1024
        // The sample's code is a few thousand tokens: short windows, and k = 32 so that DSA selects.
        // The copy head: SFT resolved 4, 4 and 1 of 20 held-out tasks in three runs with it, 1 and 2
        // in two without (runs differ by up to ±3); on real repositories it is what makes SEARCH
        // lines come from the prompt (Benchmarks/learning-real.md).
        pretrain.model = TransformerConfig(layers: 2, dModel: 128, heads: 4, copyDim: 32, context: 512, vocab: 1, topK: 32)
        pretrain.training = TrainingSettings(batch: 8, sequenceLength: 128, steps: 200, maxLearningRate: 3e-3, minLearningRate: 3e-4,
                                             warmupSteps: 20, evalEvery: 50)
        let pretrainFolder = try RunFolder(url: runs.appendingPathComponent("pretrain"), stage: "pretrain", config: pretrain)
        let base = try LanguageStages.pretrain(settings: pretrain, source: source, folder: pretrainFolder, report: report)

        print("6. DSA: dense warm-up of the indexer, then the sparse stage")
        var warmup = WarmupSettings()
        warmup.steps = 40; warmup.sequenceLength = 128; warmup.evalEvery = 40
        let warmupFolder = try RunFolder(url: runs.appendingPathComponent("warmup"), stage: "warmup", config: warmup)
        _ = try LanguageStages.warmup(settings: warmup, from: pretrainFolder.url, source: source, folder: warmupFolder, report: report)
        var sparse = SparseSettings()
        sparse.training = TrainingSettings(batch: 8, sequenceLength: 128, steps: 60, maxLearningRate: 1e-3, minLearningRate: 1e-4,
                                           warmupSteps: 6, evalEvery: 60)
        let sparseFolder = try RunFolder(url: runs.appendingPathComponent("sparse"), stage: "sparse", config: sparse)
        _ = try LanguageStages.sparse(settings: sparse, from: warmupFolder.url, source: source, folder: sparseFolder, report: report)

        print("7. SFT on the training tasks' gold patches (SEARCH/REPLACE blocks)")
        var sft = SFTSettings()
        sft.prompt = prompt; sft.split = split; sft.steps = 150; sft.batch = 8; sft.evalEvery = 50
        let sftFolder = try RunFolder(url: runs.appendingPathComponent("sft"), stage: "sft", config: sft)
        let tuned = try SFTStage.run(settings: sft, from: sparseFolder.url, tasks: tasks, clones: clones, folder: sftFolder, report: report)

        print("8. RL: GRPO with the tests as the reward")
        let rewarder = PatchRewarder(scoring: try pipeline.scoring(clones: clones, runID: "demo-rl", jobs: 2))
        var rl = RLSettings()
        rl.prompt = prompt; rl.split = split; rl.steps = 6; rl.tasksPerStep = 4
        rl.exploration.dynamicSampling = true; rl.exploration.maxDrawRounds = 2
        let rlFolder = try RunFolder(url: runs.appendingPathComponent("rl"), stage: "rl", config: rl)
        let trained = try RLStage.run(settings: rl, from: sftFolder.url, tasks: tasks, clones: clones, rewarder: rewarder, folder: rlFolder,
                                      report: report)

        print("\n\(heldOut.count) held-out tasks resolved (greedy, scored by their tests):")
        let tokenizer = try Tokenizer.load(from: sftFolder.tokenizerURL)
        let builder = try PromptBuilder(tokenizer: tokenizer, clones: clones, settings: prompt, context: base.config.context)
        for (name, model) in [("base (pretrained)", base), ("after SFT", tuned), ("after RL", trained)] {
            let rate = try AgentSolver.resolvedRate(model: model, builder: builder, tasks: heldOut, rewarder: rewarder)
            print("  " + name.padding(toLength: 18, withPad: " ", startingAt: 0)
                  + String(format: " %3d / %d resolved   %3d usable edits", rate.resolved, rate.total, rate.parsed))
        }
        print("run folders (metrics.jsonl, plots): \(runs.path)")
    }
}
