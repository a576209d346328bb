// The stages end to end on the embedded sample, with the real evaluator: the reward check,
// every stage's run folder, SFT targets that reproduce gold patches, and an RL step.
import Environments
import Evaluation
import Foundation
import Git
import Mining
import Model
import Sample
import Store
import Validation
import XCTest
@testable import Training

final class StageTests: XCTestCase {
    func testStagesOnTheSampleWithTestSuiteRewards() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("forge-training-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let created = try SampleRepository.createSynchronously(in: root.path)
        let store = try TaskStore(path: root.appendingPathComponent("forge.db").path)
        let mined = try Miner(repository: try Repository.open(created.repository), repo: SampleRepository.repoName)
            .mine(metadata: try Metadata.load(contentsOf: created.metadata))
        try store.save(tasks: mined.tasks)
        let builder = EnvironmentBuilder(root: root.appendingPathComponent("envs"), recipes: try RecipeBook(directory: RecipeBook.bundledDirectory()),
                                         options: .init(uvCacheDirectory: FileManager.default.temporaryDirectory.appendingPathComponent("forge-training-uv-cache")))
        let validator = Validator(repository: try Repository.open(created.repository), environments: builder,
                                  options: ValidationOptions(reruns: 0, jobs: 2, useSandbox: true, runsDirectory: root.appendingPathComponent("runs").path))
        _ = try BatchValidation.run(tasks: try store.tasks(), validator: validator, store: store)
        let tasks = try store.tasks()
        let valid = tasks.filter { !$0.failToPass.isEmpty && $0.passToFail.isEmpty }
        XCTAssertEqual(valid.count, 3)
        let clones = [SampleRepository.repoName: created.repository]
        let evaluator = try Evaluator(clones: clones, environments: builder,
                                      options: EvaluationOptions(runID: "training-test", evaluationsDirectory: root.appendingPathComponent("evals").path, jobs: 2))
        let rewarder = PatchRewarder(scoring: ScoringService(evaluator: evaluator, store: store, options: ScoringOptions(workers: 2)))

        // The reward check: gold resolves, a no-op patch does not — and a task whose FAIL_TO_PASS
        // tests already pass without the fix is caught.
        try rewarder.checkSanity(tasks: valid)
        var broken = valid[0]
        broken.failToPass = broken.passToPass
        XCTAssertThrowsError(try rewarder.checkSanity(tasks: [broken])) { error in
            XCTAssertTrue("\(error)".contains("a patch that fixes nothing scores resolved on \(broken.instanceID)"), "\(error)")
        }

        // The same patch scored from several threads at once (a confident policy samples one
        // patch many times per group) runs its tests once, and every caller gets that verdict.
        // (Another run id: the verdicts stored above are not found under it.)
        let freshEvaluator = try Evaluator(clones: clones, environments: builder,
                                           options: EvaluationOptions(runID: "training-test-fresh", evaluationsDirectory: root.appendingPathComponent("evals").path, jobs: 2))
        let fresh = PatchRewarder(scoring: ScoringService(evaluator: freshEvaluator, store: store, options: ScoringOptions(workers: 2)))
        let verdicts = VerdictBox()
        DispatchQueue.concurrentPerform(iterations: 4) { index in verdicts.set(index, fresh.score(valid[1].patch, task: valid[1]).scored) }
        let concurrent = (0..<4).compactMap { verdicts.get($0) }
        XCTAssertEqual(concurrent.map(\.status), Array(repeating: "resolved", count: 4))
        XCTAssertEqual(concurrent.filter { $0.seconds > 0 }.count, 1, "one test run shared by all: \(concurrent.map(\.seconds))")

        // Every valid gold patch survives the trip through SEARCH/REPLACE blocks and scores resolved.
        let tokenizer = try TokenizerTrainer(vocabularySize: 400).train(documents: tasks.map { Array(($0.patch + $0.problemStatement).utf8) })
        let prompts = try PromptBuilder(tokenizer: tokenizer, clones: clones, settings: PromptSettings(maxResponseTokens: 400), context: 1024)
        for task in valid {
            let target = try XCTUnwrap(try prompts.target(for: task), task.instanceID)
            let patch = try prompts.patch(fromResponse: target, for: task).get()
            XCTAssertTrue(rewarder.score(patch, task: task).scored.resolved, "blocks of \(task.instanceID) resolve it:\n\(patch)")
            let prompt = try prompts.prompt(for: task)
            XCTAssertEqual(prompt.files, PatchText.touchedPaths(task.patch).prefix(2).map { $0 })
            XCTAssertTrue(prompts.showsEditSite(try XCTUnwrap(try prompts.goldBlocks(for: task)), in: prompt),
                          "the oracle prompt shows what \(task.instanceID)'s blocks copy")
            XCTAssertFalse(try tokenizer.decodeText(prompt.tokens).contains("+++ b/"), "the prompt never holds the patch")
        }
        let bm25 = try PromptBuilder(tokenizer: tokenizer, clones: clones, settings: PromptSettings(mode: .bm25, maxFiles: 1), context: 1024)
        XCTAssertEqual(try bm25.contextFiles(for: valid[0]).count, 1)
        // A shorter prompt context caps prompt + response below the model's context.
        let short = try PromptBuilder(tokenizer: tokenizer, clones: clones,
                                      settings: PromptSettings(maxResponseTokens: 64, promptContext: 192), context: 1024)
        XCTAssertEqual(short.context, 192)
        for task in valid {
            let full = try prompts.prompt(for: task).tokens.count, capped = try short.prompt(for: task).tokens.count
            XCTAssertLessThanOrEqual(capped + 64, 192, task.instanceID)
            XCTAssertGreaterThan(full, capped, "\(task.instanceID): the full prompt is longer")
        }
        XCTAssertThrowsError(try PromptBuilder(tokenizer: tokenizer, clones: clones,
                                               settings: PromptSettings(maxResponseTokens: 160, promptContext: 200), context: 1024))
        // Retrieval fills the room with many files; whatever the room, a file's path never pushes the
        // prompt past it (a header that fit but left no room for the body once overflowed a 4K context).
        let retrieval = try (96...260).map { promptContext in
            try PromptBuilder(tokenizer: tokenizer, clones: clones, settings: PromptSettings(mode: .retrieval, maxFiles: 8, maxResponseTokens: 32,
                                                                                          promptContext: promptContext), context: 1024)
        }
        for builder in retrieval {
            for task in tasks { XCTAssertLessThanOrEqual(try builder.prompt(for: task).tokens.count + 32, builder.context, task.instanceID) }
        }

        // pretrain → warmup → sparse → sft → rl, tiny and short; each leaves its run folder.
        let source = CorpusSource(tasks: tasks, clones: clones)
        let quiet = StageReport(message: { _ in })
        var pretrain = PretrainSettings()
        pretrain.vocabularySize = 400
        pretrain.model = TransformerConfig(layers: 1, dModel: 32, heads: 2, context: 512, vocab: 1, topK: 16)
        pretrain.training = TrainingSettings(batch: 2, sequenceLength: 128, steps: 4, evalEvery: 2, evalWindows: 2)
        let pretrainFolder = try RunFolder(url: root.appendingPathComponent("pretrain"), stage: "pretrain", config: pretrain)
        _ = try LanguageStages.pretrain(settings: pretrain, source: source, folder: pretrainFolder, report: quiet)
        let corpus = try String(contentsOf: pretrainFolder.url.appendingPathComponent("corpus.jsonl"), encoding: .utf8)
        XCTAssertTrue(corpus.contains("\"path\":\"textkit\\/wrap.py\""), corpus)
        XCTAssertTrue(FileManager.default.fileExists(atPath: pretrainFolder.url.appendingPathComponent("loss.svg").path))

        var warmup = WarmupSettings()
        warmup.steps = 3; warmup.batch = 1; warmup.sequenceLength = 64; warmup.evalEvery = 3; warmup.evalWindows = 2
        let warmupFolder = try RunFolder(url: root.appendingPathComponent("warmup"), stage: "warmup", config: warmup)
        let warmed = try LanguageStages.warmup(settings: warmup, from: pretrainFolder.url, source: source, folder: warmupFolder, report: quiet)
        XCTAssertEqual(warmed.config.attention, .sparse)
        let recovery = try warmupFolder.metrics().compactMap { $0["dense_mass_recovered"] }
        XCTAssertEqual(recovery.count, 2, "measured before and after")
        XCTAssertTrue(recovery.allSatisfy { $0 > 0 && $0 <= 1.0001 })

        var sparse = SparseSettings()
        sparse.training = TrainingSettings(batch: 1, sequenceLength: 64, steps: 2, evalEvery: 2, evalWindows: 2)
        let sparseFolder = try RunFolder(url: root.appendingPathComponent("sparse"), stage: "sparse", config: sparse)
        _ = try LanguageStages.sparse(settings: sparse, from: warmupFolder.url, source: source, folder: sparseFolder, report: quiet)
        XCTAssertNotNil(try sparseFolder.metrics().last?["indexer_kl"])

        var sft = SFTSettings()
        sft.prompt = PromptSettings(maxResponseTokens: 300)
        sft.split = TaskSplit(heldOutEvery: 2)
        sft.steps = 2; sft.batch = 1; sft.evalEvery = 2
        let sftFolder = try RunFolder(url: root.appendingPathComponent("sft"), stage: "sft", config: sft)
        _ = try SFTStage.run(settings: sft, from: sparseFolder.url, tasks: tasks, clones: clones, folder: sftFolder, report: quiet)
        XCTAssertEqual(try sftFolder.metrics().count, 3)
        XCTAssertNotNil(try sftFolder.metrics().first?["train_site_shown"], "context recall is recorded")
        // Training only where the prompt shows the edit site: oracle prompts show every one.
        var shownOnly = sft
        shownOnly.shownSitesOnly = true
        shownOnly.repairDrills = RepairDrillSettings(count: 4, share: 0.5)
        let messages = MessageBox()
        _ = try SFTStage.run(settings: shownOnly, from: sparseFolder.url, tasks: tasks, clones: clones,
                             folder: try RunFolder(url: root.appendingPathComponent("sft-shown"), stage: "sft", config: shownOnly),
                             report: StageReport(message: { messages.append($0) }))
        let trainCount = try XCTUnwrap(messages.lines.first { $0.hasPrefix("sft: ") && $0.contains("training examples") }?.split(separator: " ")[1])
        XCTAssertTrue(messages.lines.contains("sft: training on the \(trainCount) examples whose prompt shows the edit site"), "\(messages.lines)")
        let drillLine = try XCTUnwrap(messages.lines.first { $0.contains(" repair drills (") }, "\(messages.lines)")
        XCTAssertGreaterThan(Int(drillLine.split(separator: " ")[1]) ?? 0, 0, "drills from the sample's own code: \(drillLine)")

        var rl = RLSettings()
        rl.prompt = sft.prompt
        rl.split = sft.split
        rl.steps = 1; rl.tasksPerStep = 1; rl.grpo.groupSize = 2; rl.sanityTasks = 1
        let rlFolder = try RunFolder(url: root.appendingPathComponent("rl"), stage: "rl", config: rl)
        _ = try RLStage.run(settings: rl, from: sftFolder.url, tasks: tasks, clones: clones, rewarder: rewarder, folder: rlFolder, report: quiet)
        let line = try XCTUnwrap(try rlFolder.metrics().last)
        for key in ["mean_reward", "resolved_rate", "kl", "masked_fraction", "clip_fraction", "entropy", "tokens_per_second", "test_seconds", "model_seconds"] {
            XCTAssertNotNil(line[key], key)
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: rlFolder.finalModelURL.path))
    }
}

/// Report lines collected from a stage.
final class MessageBox: @unchecked Sendable {
    private let lock = NSLock()
    private var collected: [String] = []
    func append(_ line: String) { lock.lock(); collected.append(line); lock.unlock() }
    var lines: [String] { lock.lock(); defer { lock.unlock() }; return collected }
}
