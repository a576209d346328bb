import ArgumentParser
import Foundation
import Model
import Pipeline
import Store
import Training

extension AttentionMode: ExpressibleByArgument {}
extension ContextMode: ExpressibleByArgument {}

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train the policy on mined tasks, stage by stage: pretrain → warmup → sparse → sft → rl.",
        discussion: """
        Each stage writes a run folder (--out): config.json, metrics.jsonl, SVG plots, a checkpoint \
        and, when done, model.safetensors and tokenizer.json, which the next stage reads with --from. \
        Interrupt a stage with Ctrl-C (SIGINT) or SIGTERM: it finishes the step, checkpoints and \
        exits with status 130; the same command again resumes where it stopped.
        """,
        subcommands: [Pretrain.self, Warmup.self, Sparse.self, SFT.self, RL.self])

    /// What every stage reads: the store, which tasks, their clones, the run folder.
    struct Common: ParsableArguments {
        @OptionGroup var store: StoreOptions
        @OptionGroup var selection: TaskSelection
        @Option(help: ArgumentHelp("Local clone: PATH, or owner/name=PATH (repeatable).", valueName: "clone"))
        var clone: [String] = []
        @Option(help: ArgumentHelp("Folder for clones, environments and evaluations.", valueName: "path"))
        var workspace = "Workspace"
        @Option(help: ArgumentHelp("Run folder this stage writes (and resumes from).", valueName: "path"))
        var out: String

        func tasks() throws -> (tasks: [TaskRecord], clones: [String: String]) {
            let pipeline = store.pipeline(workspace: workspace)
            let tasks = try pipeline.store().tasks(matching: try selection.filter)
            guard !tasks.isEmpty else { throw CommandFailure("no tasks in \(store.db) match the selection") }
            let clones = try pipeline.workspace.clones(clone, for: Array(Set(tasks.map(\.repo))).sorted())
            return (tasks, clones)
        }

        func folder<Settings: Encodable>(stage: String, settings: Settings) throws -> RunFolder {
            try RunFolder(url: URL(fileURLWithPath: out), stage: stage, config: settings)
        }
    }

    /// What the language-model stages learn from: the tasks' repositories, or folders of code.
    struct CorpusOptions: ParsableArguments {
        @Option(parsing: .upToNextOption,
                help: ArgumentHelp("Learn from the source files under these folders instead of the tasks' repositories (no store needed).",
                                   valueName: "folder"))
        var corpus: [String] = []

        func source(_ common: Common) throws -> CorpusSource {
            if !corpus.isEmpty { return CorpusSource(folders: corpus.map { URL(fileURLWithPath: $0) }) }
            let (tasks, clones) = try common.tasks()
            return CorpusSource(tasks: tasks, clones: clones)
        }
    }

    struct CopyWindowOptions: ParsableArguments {
        @Option(help: "Share of training windows (0 to 1) whose last part repeats an earlier span of the window: trains the copying SEARCH blocks need; the loss on copied spans is logged as copy_validation_loss.")
        var copyShare: Double = 0

        /// The share as training settings keep it: nil for none, so run folders written before the option still resume.
        var share: Double? { copyShare > 0 ? copyShare : nil }

        func validate() throws {
            guard (0...1).contains(copyShare) else { throw ValidationError("--copy-share must be between 0 and 1, not \(copyShare)") }
        }
    }

    /// Runs a stage with progress and interruption handling.
    static func perform(_ label: String, _ body: (StageReport) throws -> Void) throws {
        let interrupt = InterruptWatch(finishing: "step", signals: [SIGINT, SIGTERM])
        defer { interrupt.cancel() }
        let bar = ProgressBar(label)
        let report = StageReport(message: { line in bar.clearLine(); print(line) }, progress: { bar.update(done: $0, total: $1) })
        try exitingOnTrainingInterruption {
            defer { bar.finish() }
            try body(report)
        }
    }

    /// The optimizer schedule every language-model and SFT stage takes; each stage brings its own
    /// defaults (and words for its batch and learning rate) through `Defaults`.
    struct Schedule<Defaults: ScheduleDefaults>: ParsableArguments {
        @Option(help: "Optimizer steps of this stage.") var steps = Defaults.steps
        @Option(help: ArgumentHelp(Defaults.batchHelp)) var batch = Defaults.batch
        @Option(help: ArgumentHelp(Defaults.learningRateHelp)) var lr: Float = Defaults.learningRate
        @Option(help: "Steps between validation-loss measurements.") var evalEvery = Defaults.evalEvery
        @Option(help: "Steps between checkpoints (one is also written at the end and when interrupted).") var checkpointEvery = Defaults.checkpointEvery
        @Option(help: "Random seed (initialisation, training windows, sampling).") var seed: UInt64 = Defaults.seed
    }

    static func from(_ path: String) -> URL { URL(fileURLWithPath: path) }

    struct Pretrain: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Next-token training from scratch on the tasks' repositories at their base commits (and the task text).",
            discussion: "Trains a byte-level BPE tokenizer first; corpus.jsonl lists every document with its license.")
        @OptionGroup var common: Common
        @OptionGroup var corpus: CorpusOptions
        @Option(help: "Tokenizer vocabulary size.") var vocabSize = 2048
        @Option(help: "Transformer layers.") var layers = 4
        @Option(help: "Model width (d_model).") var dModel = 128
        @Option(help: "Attention heads.") var heads = 4
        @Option(help: "Dimensions of each attention head that RoPE rotates (default: half the head); the rest match content at any distance.") var ropeDims: Int?
        @Option(help: "Query/key width of the copy (pointer) head, 0 for none: next-token probabilities mix the vocabulary softmax with a copy of the token after an earlier position the head points at.") var copyDim = 32
        @Option(help: "Final hidden states (this position's and the ones before it) the copy head's queries and keys read, so it points at a run of tokens, not one.") var copyNgram = 1
        @Flag(help: "Let the copy head follow its own pointer: a copy that holds continues from where it was (a learned bonus on the next source).") var copyFollow = false
        @Option(help: "Context length of the model.") var context = 512
        @Option(help: "Training window (default: the context length).") var sequenceLength: Int?
        @Option(help: "DSA keys per query for the later sparse stages.") var topK = 128
        @Option(help: "Lightning indexer heads (H_I): few and small, so that scoring every key costs less than the attention it saves.") var indexerHeads = 4
        @Option(help: "Lightning indexer head size (d_I).") var indexerDim = 32
        @OptionGroup var schedule: Schedule<Defaults>
        @OptionGroup var copy: CopyWindowOptions

        enum Defaults: ScheduleDefaults {
            static let steps = 300, batch = 8, evalEvery = 25, checkpointEvery = 50
            static let learningRate: Float = 3e-3
        }

        func run() throws {
            let (steps, batch, lr, evalEvery, seed) = (schedule.steps, schedule.batch, schedule.lr, schedule.evalEvery, schedule.seed)
            var settings = PretrainSettings()
            settings.vocabularySize = vocabSize
            settings.model = TransformerConfig(layers: layers, dModel: dModel, heads: heads, ropeDims: ropeDims, copyDim: copyDim, copyNgram: copyNgram, copyFollow: copyFollow, context: context, vocab: 1,
                                               indexerHeads: indexerHeads, indexerDim: indexerDim, topK: topK)
            settings.training = TrainingSettings(batch: batch, sequenceLength: sequenceLength ?? context, steps: steps, maxLearningRate: lr, minLearningRate: lr / 10,
                                                 warmupSteps: min(30, steps / 10), evalEvery: evalEvery, seed: seed)
            settings.training.copyShare = copy.share
            settings.checkpointEvery = schedule.checkpointEvery
            let source = try corpus.source(common)
            let folder = try common.folder(stage: "pretrain", settings: settings)
            try TrainCommand.perform("pretrain") { report in
                _ = try LanguageStages.pretrain(settings: settings, source: source, folder: folder, report: report)
            }
        }
    }

    struct Warmup: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "DSA dense warm-up: the model frozen, only the lightning indexer learns the dense attention (KL).",
            discussion: "Reports how much of the dense attention mass the indexer's top-k keeps, before and after.")
        @OptionGroup var common: Common
        @OptionGroup var corpus: CorpusOptions
        @Option(help: ArgumentHelp("Run folder of the pretrain stage.", valueName: "path")) var from: String
        @OptionGroup var schedule: Schedule<Defaults>
        @Option(help: "Window length.") var sequenceLength = 512

        enum Defaults: ScheduleDefaults {
            static let steps = 100, batch = 4, evalEvery = 25, checkpointEvery = 25
            static let learningRateHelp = "Learning rate of the indexer."
        }

        func run() throws {
            var settings = WarmupSettings()
            settings.steps = schedule.steps; settings.batch = schedule.batch; settings.sequenceLength = sequenceLength
            settings.learningRate = schedule.lr; settings.evalEvery = schedule.evalEvery
            settings.checkpointEvery = schedule.checkpointEvery; settings.seed = schedule.seed
            let source = try corpus.source(common)
            let folder = try common.folder(stage: "warmup", settings: settings)
            try TrainCommand.perform("warmup") { report in
                _ = try LanguageStages.warmup(settings: settings, from: TrainCommand.from(from), source: source,
                                              folder: folder, report: report)
            }
        }
    }

    struct Sparse: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "DSA sparse stage: top-k attention on, all parameters on the LM loss, the indexer on its KL over the selected set.",
            discussion: "--attention dense trains the same continuation without DSA: the baseline to compare the sparse loss with.")
        @OptionGroup var common: Common
        @OptionGroup var corpus: CorpusOptions
        @Option(help: ArgumentHelp("Run folder of the warmup stage.", valueName: "path")) var from: String
        @Option(help: "Attention while training on: sparse (DSA top-k) or dense (the baseline).") var attention: AttentionMode = .sparse
        @OptionGroup var schedule: Schedule<Defaults>
        @Option(help: "Training window in tokens.") var sequenceLength = 512
        @OptionGroup var copy: CopyWindowOptions

        enum Defaults: ScheduleDefaults {
            static let steps = 100, batch = 8, evalEvery = 25, checkpointEvery = 50
            static let seed: UInt64 = 2
        }

        func run() throws {
            let (steps, batch, lr, evalEvery, seed) = (schedule.steps, schedule.batch, schedule.lr, schedule.evalEvery, schedule.seed)
            var settings = SparseSettings()
            settings.attention = attention
            settings.training = TrainingSettings(batch: batch, sequenceLength: sequenceLength, steps: steps, maxLearningRate: lr, minLearningRate: lr / 10,
                                                 warmupSteps: min(10, steps / 10), evalEvery: evalEvery, seed: seed)
            settings.training.copyShare = copy.share
            settings.checkpointEvery = schedule.checkpointEvery
            let source = try corpus.source(common)
            let folder = try common.folder(stage: "sparse", settings: settings)
            try TrainCommand.perform(attention.rawValue) { report in
                _ = try LanguageStages.sparse(settings: settings, from: TrainCommand.from(from), source: source,
                                              folder: folder, report: report)
            }
        }
    }

    /// Prompt and split flags shared by sft and rl.
    struct PromptOptions: ParsableArguments {
        @Option(help: "Code shown in the prompt: oracle (files the gold patch edits), bm25 (retrieved, no peeking) or retrieval (files the failing tests' output names, then BM25 over the non-test sources; a long file shows the lines the output names, the functions the statement names and its best-matching windows).") var contextMode: ContextMode = .oracle
        @Option(help: "Files shown at most.") var maxFiles = 2
        @Option(help: "Tokens of the response (generation length, SFT target cap).") var maxResponseTokens = 160
        @Option(help: "Prompt + response tokens at most (default: the model's context), e.g. a cheap short-prompt SFT before SFT at full length.") var promptContext: Int?
        @Option(help: "Context lines an SFT target's SEARCH block keeps around the changed lines at least (more where needed to make it unique); 0 starts a one-line fix's SEARCH at the line itself.") var searchContext = PromptSettings.defaultSearchContext
        @Option(help: "Hold out one task in N (by a stable hash of its id) for measuring.") var heldOutEvery = 5
        @Option(help: "Keep one training task in N from SFT for RL only (by a second hash; 0: SFT and RL share them).") var rlOnlyEvery = 0
        @Option(help: "What the held-out split hashes: task (the instance id) or family (source commit and edited files, so a held-out task's siblings are held out too).") var splitBy: SplitKey = .task

        enum SplitKey: String, ExpressibleByArgument, CaseIterable { case task, family }

        func validate() throws {
            guard heldOutEvery >= 2 else { throw ValidationError("--held-out-every must be at least 2") }
            guard rlOnlyEvery == 0 || rlOnlyEvery >= 2 else { throw ValidationError("--rl-only-every must be 0 or at least 2") }
            if let promptContext, promptContext < maxResponseTokens + PromptBuilder.minimumPromptTokens {
                throw ValidationError("--prompt-context must leave at least \(PromptBuilder.minimumPromptTokens) prompt tokens beside --max-response-tokens (\(maxResponseTokens))")
            }
        }

        var split: TaskSplit { TaskSplit(heldOutEvery: heldOutEvery, rlOnlyEvery: rlOnlyEvery, byFamily: splitBy == .family) }

        /// The failing tests' output of each task's validation (its "before" run), which the
        /// retrieval mode reads; empty in the other modes.
        func failureOutput(store: TaskStore, tasks: [TaskRecord]) throws -> [String: String] {
            guard prompt.mode == .retrieval else { return [:] }
            var output: [String: String] = [:]
            for task in tasks {
                guard let run = try store.runs(instanceID: task.instanceID, purpose: "validate").first(where: { $0.phase == .before }),
                      let path = run.logPath, let data = FileManager.default.contents(atPath: path) else { continue }
                // The failures and their tracebacks are reported last.
                output[task.instanceID] = String(decoding: data.suffix(20_000), as: UTF8.self)
            }
            return output
        }

        var prompt: PromptSettings {
            var settings = PromptSettings(mode: contextMode, maxFiles: maxFiles, maxResponseTokens: maxResponseTokens, promptContext: promptContext)
            settings.searchContext = searchContext == PromptSettings.defaultSearchContext ? nil : searchContext
            return settings
        }
    }

    struct SFT: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "sft",
            abstract: "Supervised fine-tuning on validated tasks: statement + code → the gold patch as SEARCH/REPLACE blocks.")
        @OptionGroup var common: Common
        @OptionGroup var promptOptions: PromptOptions
        @Option(help: ArgumentHelp("Run folder of an earlier stage.", valueName: "path")) var from: String
        @Flag(help: "Train only on tasks whose prompt shows the lines the gold patch edits (the held-out loss still covers every held-out task).")
        var shownSitesOnly = false
        @Option(help: ArgumentHelp("Repair drills to mix in: lines of the training commits' code mutated as `forge synth` does, each with the block that restores it (no tests run; never a line a held-out patch edits). 0: none.", valueName: "count"))
        var repairDrills = 0
        @Option(help: "Share of each batch drawn from the repair drills.") var drillShare = 0.5
        @OptionGroup var schedule: Schedule<Defaults>

        enum Defaults: ScheduleDefaults {
            static let steps = 200, batch = 4, evalEvery = 25, checkpointEvery = 50
            static let batchHelp = "Tasks per step.", learningRateHelp = "Peak learning rate."
        }

        func validate() throws {
            guard repairDrills >= 0 else { throw ValidationError("--repair-drills must be 0 or more, not \(repairDrills)") }
            guard (0...1).contains(drillShare) else { throw ValidationError("--drill-share must be between 0 and 1, not \(drillShare)") }
        }

        func run() throws {
            var settings = SFTSettings()
            settings.shownSitesOnly = shownSitesOnly ? true : nil
            settings.repairDrills = repairDrills > 0 ? RepairDrillSettings(count: repairDrills, share: drillShare) : nil
            settings.prompt = promptOptions.prompt
            settings.split = promptOptions.split
            settings.steps = schedule.steps; settings.batch = schedule.batch; settings.learningRate = schedule.lr
            settings.evalEvery = schedule.evalEvery; settings.checkpointEvery = schedule.checkpointEvery; settings.seed = schedule.seed
            let (tasks, clones) = try common.tasks()
            let failureOutput = try promptOptions.failureOutput(store: common.store.open(), tasks: tasks)
            let folder = try common.folder(stage: "sft", settings: settings)
            try TrainCommand.perform("sft") { report in
                _ = try SFTStage.run(settings: settings, from: TrainCommand.from(from), tasks: tasks, clones: clones, folder: folder, report: report,
                                     failureOutput: failureOutput)
            }
        }
    }

    struct RL: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rl",
            abstract: "GRPO with DeepSeek-V3.2's stabilisers; rewards from the tasks' test suites.",
            discussion: """
            Before the first step, gold patches must score resolved and a no-op patch must not \
            (the reward check); otherwise the stage stops. Rewards: 1 resolved, 0 not, \
            --format-reward for output that is not a usable SEARCH/REPLACE edit.
            """)
        @OptionGroup var common: Common
        @OptionGroup var promptOptions: PromptOptions
        @Option(help: ArgumentHelp("Run folder of the SFT stage (also the KL reference).", valueName: "path")) var from: String
        @Option(help: "Optimizer steps of this stage.") var steps = 20
        @Option(help: "Samples per task (G).") var groupSize = 4
        @Option(help: "Tasks sampled per step.") var tasksPerStep = 4
        @Option(help: "Gradient steps per batch of rollouts.") var updatesPerStep = 2
        @Option(help: "Learning rate of the policy.") var lr: Float = 1e-4
        @Option(help: "Sampling temperature of the rollouts.") var temperature: Float = 1
        @Option(help: "Nucleus (top-p) threshold of the rollouts.") var topP: Float = 0.95
        @Option(help: "β of the KL penalty.") var kl: Double = 0.02
        @Option(help: "ε of the clipped ratio.") var clip: Double = 0.2
        @Option(help: "δ of off-policy sequence masking.") var maskThreshold: Double = 0.5
        @Option(help: "Reward for output that is no usable SEARCH/REPLACE edit.") var formatReward: Double = -0.5
        @Option(help: "Tasks whose gold and no-op patches are scored before training (the reward check).") var sanityTasks = 2
        @Option(help: "Patches scored in parallel with generation.") var jobs = 2
        @Option(help: "Steps between checkpoints (one is also written at the end and when interrupted).") var checkpointEvery = 5
        @Option(help: "Random seed (initialisation, training windows, sampling).") var seed: UInt64 = 1
        @Flag(help: "Run tests without bubblewrap (no network isolation). Only where bwrap cannot run.") var noSandbox = false
        @Flag(help: "DAPO's dynamic sampling: draw more tasks until the step has --tasks-per-step groups whose rewards differ, and train on those only.") var dynamicSampling = false
        @Option(help: "Drawing rounds per step at most under --dynamic-sampling.") var maxDrawRounds = 3
        @Flag(help: "Admit tasks by difficulty_level, easiest first, reaching the hardest halfway through the steps (mined tasks count as level 5).") var curriculum = false
        @Flag(help: "Stop drawing a task once a whole group of it resolved (while other tasks remain).") var retireSolved = false

        func run() throws {
            var settings = RLSettings()
            settings.exploration.dynamicSampling = dynamicSampling; settings.exploration.maxDrawRounds = maxDrawRounds
            settings.exploration.curriculum = curriculum; settings.exploration.retireSolved = retireSolved
            settings.prompt = promptOptions.prompt
            settings.split = promptOptions.split
            settings.steps = steps; settings.tasksPerStep = tasksPerStep; settings.updatesPerStep = updatesPerStep
            settings.learningRate = lr; settings.temperature = temperature; settings.topP = topP
            settings.grpo.groupSize = groupSize; settings.grpo.klCoefficient = kl; settings.grpo.clipEpsilon = clip
            settings.grpo.maskThreshold = maskThreshold; settings.grpo.formatReward = formatReward
            settings.checkpointEvery = checkpointEvery; settings.seed = seed; settings.sanityTasks = sanityTasks
            let (tasks, clones) = try common.tasks()
            let failureOutput = try promptOptions.failureOutput(store: common.store.open(), tasks: tasks)
            let folder = try common.folder(stage: "rl", settings: settings)
            let rewarder = PatchRewarder(scoring: try common.store.pipeline(workspace: common.workspace, sandbox: !noSandbox)
                .scoring(clones: clones, runID: "rl-" + folder.url.lastPathComponent, jobs: jobs))
            try TrainCommand.perform("rl") { report in
                _ = try RLStage.run(settings: settings, from: TrainCommand.from(from), tasks: tasks, clones: clones, rewarder: rewarder,
                                    folder: folder, report: report, failureOutput: failureOutput)
            }
        }
    }
}

struct AgentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Run the trained policy on tasks.",
        subcommands: [Solve.self])

    struct Solve: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Answer tasks with a model; write SWE-bench predictions (instance_id, model_name_or_path, model_patch).",
            discussion: """
            --model is a run folder of `forge train` (its model.safetensors and tokenizer.json) or a \
            checkpoint file (.safetensors) of one. \
            Output that is not a usable SEARCH/REPLACE edit becomes an empty model_patch. Score the \
            file with `forge eval --predictions FILE`.
            """)
        @OptionGroup var store: StoreOptions
        @OptionGroup var selection: TaskSelection
        @OptionGroup var promptOptions: TrainCommand.PromptOptions
        @Option(help: ArgumentHelp("Local clone: PATH, or owner/name=PATH (repeatable).", valueName: "clone")) var clone: [String] = []
        @Option(help: ArgumentHelp("Folder for clones.", valueName: "path")) var workspace = "Workspace"
        @Option(help: ArgumentHelp("Run folder of a finished training stage, or a checkpoint .safetensors.", valueName: "path")) var model: String
        @Option(help: ArgumentHelp("Predictions file to write (JSONL).", valueName: "file")) var out: String
        @Option(help: "model_name_or_path in the predictions (default: the run folder's name).") var name: String?
        @Flag(help: "Only the tasks training held out (--held-out-every).") var heldOut = false
        @Option(help: ArgumentHelp("Also write each raw response and why it was unusable (JSONL).", valueName: "file")) var responses: String?
        @Option(help: "Sampling temperature; 0 is greedy.") var temperature: Float = 0
        @Option(help: "Sampling seed.") var seed: UInt64 = 1
        @Flag(help: "Sample without the edit-format guard (by default a marker line out of place, or the end inside a block, is never generated).")
        var unconstrained = false
        @Flag(help: "Let SEARCH lines be any text (by default a block names a file the prompt showed and its SEARCH lines are consecutive lines shown of it).")
        var ungrounded = false

        func run() throws {
            let pipeline = store.pipeline(workspace: workspace)
            let taskStore = try pipeline.store()
            var tasks = try taskStore.tasks(matching: try selection.filter).filter(\.isEvaluable)
            if heldOut { tasks = promptOptions.split.heldOut(tasks) }
            guard !tasks.isEmpty else { throw CommandFailure("no valid tasks in \(store.db) match the selection") }
            let clones = try pipeline.workspace.clones(clone, for: Array(Set(tasks.map(\.repo))).sorted())
            let (policy, tokenizer) = try LanguageStages.start(from: URL(fileURLWithPath: model))
            let builder = try PromptBuilder(tokenizer: tokenizer, clones: clones, settings: promptOptions.prompt, context: policy.config.context)
            builder.failureOutput = try promptOptions.failureOutput(store: taskStore, tasks: tasks)
            if unconstrained { builder.responseConstraint = nil }
            builder.groundsSearch = !ungrounded
            let bar = ProgressBar("solving")
            let solved = try AgentSolver.solve(model: policy, builder: builder, tasks: tasks, sampling: SamplingSettings(temperature: temperature),
                                               seed: seed) { bar.update(done: $0, total: $1) }
            bar.finish()
            let modelName = name ?? URL(fileURLWithPath: model).lastPathComponent
            try AgentSolver.predictionsJSONL(solved, modelName: modelName).write(to: URL(fileURLWithPath: out), options: .atomic)
            struct Line: Encodable {
                let instance_id: String, prompt: String, response: String, format_error: String?
                let search_lines: Int, search_lines_in_prompt: Int
            }
            var lines: [Line] = []
            for item in solved {
                let prompt = (try? tokenizer.decodeText(item.prompt)) ?? ""
                let response = (try? tokenizer.decodeText(item.response.map(\.token).filter { $0 != builder.endToken })) ?? ""
                let grounding = EditFormat.searchLinesShown(response: response, prompt: prompt)
                lines.append(Line(instance_id: item.task.instanceID, prompt: prompt, response: response, format_error: item.formatError,
                                  search_lines: grounding.total, search_lines_in_prompt: grounding.shown))
            }
            if let responses {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                var data = Data()
                for line in lines { data += try encoder.encode(line) + Data("\n".utf8) }
                try data.write(to: URL(fileURLWithPath: responses), options: .atomic)
            }
            let usable = solved.filter { $0.patch != nil }.count
            let searchLines = lines.map(\.search_lines).reduce(0, +), shown = lines.map(\.search_lines_in_prompt).reduce(0, +)
            print("wrote \(solved.count) predictions to \(out): \(usable) usable edits, \(solved.count - usable) unusable (empty model_patch); "
                  + "\(shown) of \(searchLines) SEARCH lines are lines of the prompt")
        }
    }
}

/// A stage's schedule defaults, read by `TrainCommand.Schedule`: only the counts are required,
/// the rest has the values most stages use.
protocol ScheduleDefaults {
    static var steps: Int { get }
    static var batch: Int { get }
    static var evalEvery: Int { get }
    static var checkpointEvery: Int { get }
    static var learningRate: Float { get }
    static var seed: UInt64 { get }
    static var batchHelp: String { get }
    static var learningRateHelp: String { get }
}

extension ScheduleDefaults {
    static var learningRate: Float { 1e-3 }
    static var seed: UInt64 { 1 }
    static var batchHelp: String { "Windows per step." }
    static var learningRateHelp: String { "Peak learning rate (cosine decay to a tenth)." }
}
