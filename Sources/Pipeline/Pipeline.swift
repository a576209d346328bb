import Environments
import Evaluation
import Foundation
import Workers
import Git
import Mining
import Sandbox
import Store
import Synthesis
import Validation

/// Progress of a batch: items done, of `total` when known.
public typealias PipelineProgress = @Sendable (_ done: Int, _ total: Int?) -> Void

/// The stages over one workspace and its store: mine → validate → synthesise → evaluate, each
/// resumable and stoppable through `stop` (the work in flight is finished and kept). Callers
/// parse, show progress and print; the wiring of stores, recipes, environments and sandboxes is
/// here once.
public final class Pipeline {
    public let workspace: Workspace
    private var openedStore: TaskStore?

    public init(workspace: Workspace) { self.workspace = workspace }

    /// The store, opened on first use (so bad input found before it leaves no database behind).
    public func store() throws -> TaskStore {
        if let openedStore { return openedStore }
        let store = try workspace.openStore()
        openedStore = store
        return store
    }

    // MARK: Mining

    public struct MiningRequest {
        public var clone: String
        /// owner/name; nil reads it from the clone's origin remote.
        public var repo: String?
        /// GitHub REST API objects (JSON or JSONL) for problem statements and hints.
        public var metadata: String?
        public var options: MiningOptions
        /// Keep only tasks in this shard.
        public var shard: Shard?
        /// Ignore the saved mining state and walk the whole history again.
        public var full: Bool

        public init(clone: String, repo: String? = nil, metadata: String? = nil, options: MiningOptions = MiningOptions(),
                    shard: Shard? = nil, full: Bool = false) {
            self.clone = clone; self.repo = repo; self.metadata = metadata; self.options = options; self.shard = shard; self.full = full
        }
    }

    public struct MiningReport {
        public var repo: String
        /// What the miner found; nil when `stop` ended the run between batches.
        public var summary: MiningSummary?
        /// What the written batches did to the store.
        public var counts = UpsertCounts()
        /// Tasks written (those in the shard).
        public var written = 0
        public var batches = 0
        public var seconds: Double = 0
        public var interrupted: Bool { summary == nil }
    }

    /// Mines merged pull requests into the store, batch by batch: each batch with the mining state
    /// that follows it in one transaction, so memory stays flat and a stopped run resumes after
    /// the last batch written. `stop` is checked after each batch.
    public func mine(_ request: MiningRequest, stop: StopFlag = StopFlag(), notice: (String) -> Void = { _ in },
                     progress: PipelineProgress? = nil) throws -> MiningReport {
        let repository = try Repository.open(request.clone)
        let name = try request.repo ?? RepositoryName.fromOrigin(of: repository, clone: request.clone)
        // Task ids (`owner__name-N`) are built from it and become folder names.
        do { try Identifier.checkRepositoryName(name) } catch { throw PipelineError("\(error)") }
        let metadata = try request.metadata.map(Metadata.load(contentsOf:))
        let store = try store()
        var previous = MiningState()
        if !request.full, let saved = try store.miningState(repo: name), let cache = saved.cache {
            previous = try JSONDecoder().decode(MiningState.self, from: cache)
            if !previous.isCurrent {
                notice("the saved mining state is from other discovery rules: walking the whole history again")
            }
        }
        struct Stopped: Error {}
        let started = Date()
        var report = MiningReport(repo: name)
        do {
            report.summary = try Miner(repository: repository, repo: name, options: request.options)
                .mine(metadata: metadata, previous: previous, progress: progress) { batch in
                    let tasks = batch.tasks.filter { request.shard?.contains($0.instanceID) ?? true }
                    let state = MiningStateRecord(repo: name, walkedTips: batch.state.tips.map(\.hex),
                                                  cache: try JSONEncoder().encode(batch.state))
                    let written = try store.save(tasks: tasks, miningStates: [state])
                    report.counts.inserted += written.inserted
                    report.counts.updated += written.updated
                    report.counts.unchanged += written.unchanged
                    report.written += tasks.count
                    report.batches += 1
                    if stop.isStopped { throw Stopped() }
                }
        } catch is Stopped {
            report.summary = nil
        }
        report.seconds = Date().timeIntervalSince(started)
        return report
    }

    // MARK: Validation

    /// Confirms `tasks`' gold patches (all from the repository `clone` holds), saving each
    /// task's verdict as it finishes; tasks with a verdict are skipped unless `force`.
    public func validate(tasks: [TaskRecord], clone: String, jobs: Int = 1, reruns: Int = 1, force: Bool = false,
                         stop: StopFlag = StopFlag(), progress: @escaping PipelineProgress = { _, _ in }) throws -> ValidationSummary {
        let repositories = Set(tasks.map(\.repo))
        guard repositories.count <= 1 else {
            throw PipelineError("the selected tasks come from \(repositories.count) repositories (\(repositories.sorted().joined(separator: ", "))): pass --repo to pick the one --clone holds")
        }
        let store = try store()
        try workspace.checkSandbox()
        let validator = Validator(repository: try Repository.open(clone), environments: try workspace.environmentBuilder(),
                                  options: ValidationOptions(reruns: reruns, jobs: jobs, useSandbox: workspace.useSandbox,
                                                             runsDirectory: workspace.runsDirectory))
        return try BatchValidation.run(tasks: tasks, validator: validator, store: store, force: force, stop: stop) { progress($0, $1) }
    }

    // MARK: Evaluation

    public struct EvaluationRequest {
        /// A predictions file, or `gold` for every gradable task's own patch.
        public var predictions: String
        /// `--clone` entries: PATH, or owner/name=PATH.
        public var clones: [String] = []
        /// Default: the predictions file's name (with `-swebench` under SWE-bench semantics).
        public var runID: String?
        public var layout: EvaluationLayout = .swebench
        public var jobs = 1
        public var timeout: Double?
        public var shard: Shard?
        public var swebenchSemantics = false
        public var retryErrors = false
        public var force = false

        public init(predictions: String) { self.predictions = predictions }

        /// Runs under the two semantics keep apart, so resuming one never reuses the other's verdicts.
        public var resolvedRunID: String {
            runID ?? Self.defaultRunID(predictions) + (swebenchSemantics ? "-swebench" : "")
        }

        /// `preds.jsonl` → `preds`.
        public static func defaultRunID(_ path: String) -> String {
            let name = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
            let cleaned = Prediction.directoryName(model: name)
            return cleaned.hasPrefix(".") ? "run" + cleaned : cleaned
        }
    }

    /// Scores predictions by running their tasks' tests; results are saved as they finish, so
    /// the same request resumes. Predicted ids the store does not hold are reported through
    /// `notice` and left out.
    public func evaluate(_ request: EvaluationRequest, stop: StopFlag = StopFlag(), notice: (String) -> Void = { _ in },
                         progress: @escaping PipelineProgress = { _, _ in }) throws -> EvaluationSummary {
        let store = try store()
        // `gold`, as in SWE-bench: every gradable task's own patch (a file named gold needs a path: ./gold).
        let isGold = request.predictions == PredictionsFile.goldName
        let predictions = isGold ? PredictionsFile.gold(try store.tasks().filter(\.isEvaluable))
                                 : try PredictionsFile.load(path: request.predictions)
        if predictions.isEmpty {
            throw PipelineError(isGold ? "--predictions gold: \(workspace.database) holds no gradable task (validate first)"
                                       : "\(request.predictions): no predictions")
        }
        let scope = try EvaluationScope(predictions: predictions, store: store, shard: request.shard)
        if !scope.unknownIDs.isEmpty {
            let sample = scope.unknownIDs.sorted().prefix(5).joined(separator: ", ")
            notice("warning: \(scope.unknownIDs.count) predicted instance id(s) are not in \(workspace.database), not scored: \(sample)\(scope.unknownIDs.count > 5 ? ", …" : "")")
        }
        try workspace.checkSandbox()
        let evaluator = try Evaluator(
            clones: try workspace.clones(request.clones, for: scope.repositories), environments: try workspace.environmentBuilder(),
            options: EvaluationOptions(runID: request.resolvedRunID,
                                       evaluationsDirectory: workspace.folder + (request.layout == .swebench ? "/logs/run_evaluation" : "/evals"),
                                       jobs: request.jobs, useSandbox: workspace.useSandbox, timeout: request.timeout, layout: request.layout,
                                       swebenchSemantics: request.swebenchSemantics))
        return try BatchEvaluation.run(predictions: predictions, tasks: scope.tasks, unknownIDs: scope.unknownIDs, evaluator: evaluator,
                                       store: store, retryErrors: request.retryErrors, force: request.force, stop: stop) { progress($0, $1) }
    }

    /// The scoring service over `clones` for scores that are not a batch (RL rewards): results
    /// under `folder/evals/runID`, verdicts in the store, `jobs` scored at once.
    public func scoring(clones: [String: String], runID: String, jobs: Int) throws -> ScoringService {
        SensitivePaths.register(workspace.hiddenPaths)
        let evaluator = try Evaluator(clones: clones, environments: try workspace.environmentBuilder(),
                                      options: EvaluationOptions(runID: runID, evaluationsDirectory: workspace.evaluationsDirectory, jobs: jobs,
                                                                 useSandbox: workspace.useSandbox))
        return ScoringService(evaluator: evaluator, store: try store(), options: ScoringOptions(workers: jobs))
    }

    // MARK: Synthesis

    public struct SynthesisRequest {
        /// owner/name: its newest validated tasks give the source commits.
        public var repo: String
        /// Mutant commits are written to it.
        public var clone: String
        /// Mutate this commit (a validated task's base_commit) instead of the newest ones.
        public var commit: String?
        /// How many source commits, newest validated tasks first.
        public var commits = 1
        public var strategies = Set(SynthesisStrategy.allCases)
        public var maxTasks: Int?
        public var maxCandidates: Int?
        public var jobs = 1
        public var reruns = 1
        public var testSelection = true
        public var shard = Shard.all

        public init(repo: String, clone: String) { self.repo = repo; self.clone = clone }
    }

    /// Synthesises tasks from the newest `commits` validated base commits of `repo` (or
    /// `commit`); every try is saved as it finishes, so the same request resumes.
    public func synthesize(_ request: SynthesisRequest, stop: StopFlag = StopFlag(),
                           progress: @escaping PipelineProgress = { _, _ in }) throws -> SynthesisSummary {
        let store = try store()
        let validIDs = Set(try store.verdicts(kind: .validation, status: ValidationStatus.valid.rawValue).map(\.instanceID))
        let history = try store.tasks(matching: TaskFilter(repo: request.repo))
        var sources: [TaskRecord] = []
        var seenCommits = Set<String>()
        for task in history.sorted(by: { $0.createdAt > $1.createdAt })
        where validIDs.contains(task.instanceID) && task.statementSource != .synthetic {
            if seenCommits.insert(task.baseCommit).inserted { sources.append(task) }
        }
        if let commit = request.commit {
            let id = try Repository.open(request.clone).resolveCommit(commit).hex
            sources = sources.filter { $0.baseCommit == id }
            guard !sources.isEmpty else {
                throw PipelineError("--commit \(commit): \(id) is not the base_commit of a validated \(request.repo) task in \(workspace.database); run forge validate first")
            }
        } else {
            guard !sources.isEmpty else {
                throw PipelineError("no validated tasks of \(request.repo) in \(workspace.database): run forge mine and forge validate first")
            }
            sources = Array(sources.prefix(request.commits))
        }
        try workspace.checkSandbox()
        // Every shard runs the clean suite and exports the source tree under fixed names; shards
        // running at once on one workspace (a cluster's array tasks) each get their own folders.
        let shardFolder = request.shard.count > 1 ? "/shard-\(request.shard.index)-of-\(request.shard.count)" : ""
        let options = SynthesisOptions(strategies: request.strategies, maxTasks: request.maxTasks, maxCandidates: request.maxCandidates,
                                       jobs: request.jobs, reruns: request.reruns, useSandbox: workspace.useSandbox,
                                       testSelection: request.testSelection, shard: request.shard,
                                       runsDirectory: workspace.runsDirectory + shardFolder,
                                       workDirectory: workspace.folder + "/synth" + shardFolder)
        let synthesizer = try Synthesizer(clone: request.clone, environments: try workspace.environmentBuilder(), options: options)
        return try synthesizer.run(repo: request.repo, sources: sources, history: history, store: store, stop: stop) { progress($0, $1) }
    }
}
