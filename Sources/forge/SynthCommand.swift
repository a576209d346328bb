import ArgumentParser
import Foundation
import Pipeline
import Store
import Synthesis

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

    @Option(help: ArgumentHelp("Comma-separated strategies: mutation, combination, pr_mirror (default all).", valueName: "list"),
            transform: SynthCommand.parseStrategies)
    var strategies: Set<SynthesisStrategy> = Set(SynthesisStrategy.allCases)

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

    @Option(help: ArgumentHelp("Take shard i of N (1-based) of the candidates, by a stable hash of their ids.", valueName: "i/N"),
            transform: Shard.init(parsing:))
    var shard: Shard = .all

    @Option(help: ArgumentHelp("Folder for environments, runs and mutant trees.", valueName: "path"))
    var workspace: String = "Workspace"

    @Option(help: ArgumentHelp("Recipes folder (default: the one shipped with Forge).", valueName: "path"))
    var recipes: String?

    @Flag(help: "Run every candidate against the whole suite instead of the tests that call into its files.")
    var noTestSelection = false

    @Flag(help: "Run tests without bubblewrap (no network isolation). Only where bwrap cannot run.")
    var noSandbox = false

    /// `mutation,pr_mirror` → those strategies; an unknown name is rejected while parsing.
    static func parseStrategies(_ text: String) throws -> Set<SynthesisStrategy> {
        var result = Set<SynthesisStrategy>()
        for name in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !name.isEmpty {
            guard let strategy = SynthesisStrategy(rawValue: name) else {
                throw ValidationError("unknown strategy '\(name)', expected \(SynthesisStrategy.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            result.insert(strategy)
        }
        if result.isEmpty { throw ValidationError("name at least one strategy") }
        return result
    }

    func validate() throws {
        if jobs < 1 { throw ValidationError("--jobs must be at least 1") }
        if reruns < 0 { throw ValidationError("--reruns cannot be negative") }
        if commits < 1 { throw ValidationError("--commits must be at least 1") }
        if let max, max < 1 { throw ValidationError("--max must be at least 1") }
        if let maxCandidates, maxCandidates < 1 { throw ValidationError("--max-candidates must be at least 1") }
        if repo.split(separator: "/").count != 2 { throw ValidationError("--repo: expected owner/name, got '\(repo)'") }
    }

    func run() throws {
        var request = Pipeline.SynthesisRequest(repo: repo, clone: clone)
        request.commit = commit; request.commits = commits; request.strategies = strategies; request.maxTasks = max
        request.maxCandidates = maxCandidates; request.jobs = jobs; request.reruns = reruns
        request.testSelection = !noTestSelection; request.shard = shard
        let pipeline = store.pipeline(workspace: workspace, recipes: recipes, sandbox: !noSandbox)
        let interrupt = InterruptWatch(finishing: "candidates")
        defer { interrupt.cancel() }
        let summary = try ProgressBar.showing(max == nil ? "synthesising (tried)" : "synthesising (kept)") { progress in
            try pipeline.synthesize(request, stop: interrupt.stop, progress: progress)
        }
        print(summary.table)
        try interrupt.exitIfInterrupted()
    }
}
