import ArgumentParser
import Environments
import Foundation
import Git
import Sandbox
import Store
import Synthesis
import Validation

struct SynthCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synth",
        abstract: "Synthesise verified tasks from a validated commit: mutants, combinations, reverted PRs.",
        discussion: """
        Takes the newest validated tasks of --repo (their base_commit, environment and metadata; \
        --commits picks how many), runs the whole suite there 1 + --reruns times with a call \
        tracer (which tests call into which files), then tries candidates:

          mutation      one edit found with Python's ast (a helper run with the environment's own \
        interpreter): flip a comparison or boolean, off-by-one on a bound, change a constant, swap \
        two arguments, drop a statement or an else branch, invert a condition, remove a return; \
        Swift files get token-level edits.
          combination   2 or 3 of those edits in one file (harder).
          pr_mirror     a historic mined PR's code change applied in reverse (its bug back).

        Each candidate is written as a parentless commit (kept ones under refs/forge/synth/) and run \
        against only the passing tests that call into the edited files. It is kept iff some of them \
        fail (FAIL_TO_PASS, confirmed by --reruns reruns; flaky ones leave) — the others are \
        PASS_TO_PASS; otherwise it is discarded with the reason (does not compile, breaks the \
        build, no test fails, flaky, timeout). Same resulting tree, same candidate: tried once.

        Tasks get ids owner__name.synth-<tree hash>, statement_source synthetic, a problem \
        statement written from the failing tests' evidence, and difficulty_level 1..5 (see README). \
        Every try is saved as it finishes: an interrupted run resumes where it stopped.
        """)

    @OptionGroup var store: StoreOptions

    @Option(help: "The repository (owner/name) whose validated tasks give the source commits.")
    var repo: String

    @Option(help: ArgumentHelp("Local clone of the repository (mutant commits are written to it).", valueName: "path"))
    var clone: String

    @Option(help: ArgumentHelp("Comma-separated strategies: mutation, combination, pr_mirror (default all).", valueName: "list"))
    var strategies: String = SynthesisStrategy.allCases.map(\.rawValue).joined(separator: ",")

    @Option(help: "Stop once this many tasks are kept.")
    var max: Int?

    @Option(help: "Stop once this many candidates are tried.")
    var maxCandidates: Int?

    @Option(help: "How many source commits (newest validated tasks first).")
    var commits: Int = 1

    @Option(help: ArgumentHelp("Mutate this commit instead (it must be a validated task's base_commit).", valueName: "rev"))
    var commit: String?

    @Option(help: "Candidates tried in parallel.")
    var jobs: Int = 1

    @Option(help: "Extra clean-suite runs and reruns of failing tests, to find flaky tests.")
    var reruns: Int = 1

    @Option(help: ArgumentHelp("Take shard i of N (1-based) of the candidates, by a stable hash of their ids.", valueName: "i/N"))
    var shard: String?

    @Option(help: ArgumentHelp("Folder for environments, runs and mutant trees.", valueName: "path"))
    var workspace: String = "Workspace"

    @Option(help: ArgumentHelp("Recipes folder (default: the one shipped with Forge).", valueName: "path"))
    var recipes: String?

    @Flag(help: "Run every candidate against the whole suite instead of the tests that call into its files.")
    var noTestSelection = false

    @Flag(help: "Run tests without bubblewrap (no network isolation). Only where bwrap cannot run.")
    var noSandbox = false

    var parsedStrategies: Set<SynthesisStrategy> {
        get throws {
            var result = Set<SynthesisStrategy>()
            for name in strategies.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !name.isEmpty {
                guard let strategy = SynthesisStrategy(rawValue: name) else {
                    throw ValidationError("--strategies: unknown '\(name)', expected \(SynthesisStrategy.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                result.insert(strategy)
            }
            if result.isEmpty { throw ValidationError("--strategies: name at least one strategy") }
            return result
        }
    }

    func validate() throws {
        if jobs < 1 { throw ValidationError("--jobs must be at least 1") }
        if reruns < 0 { throw ValidationError("--reruns cannot be negative") }
        if commits < 1 { throw ValidationError("--commits must be at least 1") }
        if let max, max < 1 { throw ValidationError("--max must be at least 1") }
        if let maxCandidates, maxCandidates < 1 { throw ValidationError("--max-candidates must be at least 1") }
        if let shard { do { _ = try Shard(parsing: shard) } catch { throw ValidationError("--shard: \(error)") } }
        if repo.split(separator: "/").count != 2 { throw ValidationError("--repo: expected owner/name, got '\(repo)'") }
        _ = try parsedStrategies
    }

    func run() throws {
        // Sandboxed code must not see the store, the clones or other tasks' runs kept here.
        SensitivePaths.register([workspace])
        let parsedShard = try shard.map { try Shard(parsing: $0) } ?? .all
        // Every shard runs the clean suite and exports the source tree under fixed names; shards
        // running at once on one workspace (a cluster's array tasks) each get their own folders.
        let shardFolder = parsedShard.count > 1 ? "/shard-\(parsedShard.index)-of-\(parsedShard.count)" : ""
        let options = SynthesisOptions(strategies: try parsedStrategies, maxTasks: max, maxCandidates: maxCandidates,
                                       jobs: jobs, reruns: reruns, useSandbox: !noSandbox, testSelection: !noTestSelection,
                                       shard: parsedShard, runsDirectory: workspace + "/runs" + shardFolder,
                                       workDirectory: workspace + "/synth" + shardFolder)
        let summary = try Self.synthesize(store: try store.open(), db: store.db, repo: repo, clone: clone, commit: commit, commits: commits,
                                          workspace: workspace, recipes: recipes, options: options)
        print(summary.table)
        try InterruptWatch.exitIfInterrupted()
    }

    /// Synthesis from the newest `commits` validated base commits of `repo` (or `commit`),
    /// with progress and Ctrl-C handling; shared with `forge demo`.
    static func synthesize(store taskStore: TaskStore, db: String, repo: String, clone: String, commit: String?, commits: Int,
                           workspace: String, recipes: String?, options: SynthesisOptions) throws -> SynthesisSummary {
        let validIDs = Set(try taskStore.verdicts(kind: .validation, status: ValidationStatus.valid.rawValue).map(\.instanceID))
        let history = try taskStore.tasks(matching: TaskFilter(repo: repo))
        var sources: [TaskRecord] = []
        var seenCommits = Set<String>()
        for task in history.sorted(by: { $0.createdAt > $1.createdAt })
        where validIDs.contains(task.instanceID) && task.statementSource != .synthetic {
            if seenCommits.insert(task.baseCommit).inserted { sources.append(task) }
        }
        if let commit {
            let id = try Repository.open(clone).resolveCommit(commit).hex
            sources = sources.filter { $0.baseCommit == id }
            guard !sources.isEmpty else {
                throw CommandFailure("--commit \(commit): \(id) is not the base_commit of a validated \(repo) task in \(db); run forge validate first")
            }
        } else {
            guard !sources.isEmpty else {
                throw CommandFailure("no validated tasks of \(repo) in \(db): run forge mine and forge validate first")
            }
            sources = Array(sources.prefix(commits))
        }
        if options.useSandbox {
            do { _ = try Sandbox.probe() } catch {
                throw CommandFailure("\(error)")
            }
        }
        let book = try RecipeBook.load(directory: recipes)
        let builder = EnvironmentBuilder(root: URL(fileURLWithPath: workspace).appendingPathComponent("envs"), recipes: book,
                                         options: .init(sandboxInstalls: options.useSandbox))
        let synthesizer = try Synthesizer(clone: clone, environments: builder, options: options)

        let interrupt = InterruptWatch(finishing: "candidates")
        defer { interrupt.cancel() }
        let stop = interrupt.stop

        let bar = ProgressBar(options.maxTasks == nil ? "synthesising (tried)" : "synthesising (kept)")
        let summary = try synthesizer.run(repo: repo, sources: sources, history: history, store: taskStore, stop: stop) {
            bar.update(done: $0, total: $1)
        }
        bar.finish()
        return summary
    }
}
