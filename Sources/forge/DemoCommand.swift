import ArgumentParser
import Foundation
import Sandbox
import Git
import Mining
import Sample
import Store
import Synthesis
import Training

struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the pipeline on the embedded sample: mine, validate, synthesise tasks, train a policy on them.",
        discussion: """
        Writes the sample under WORKSPACE/demo (replacing an earlier demo), mines its pull requests \
        into WORKSPACE/demo/forge.db, validates every task in the sandbox, synthesises more tasks \
        from the validated commits, then trains a small policy (pretrain, DSA warm-up and sparse \
        stage, SFT, a few GRPO steps) and prints the held-out resolved rate before and after. \
        Environments are cached under WORKSPACE/envs, so a second demo reuses them. --no-train \
        stops after validation.
        """)

    @Option(help: ArgumentHelp("Workspace folder.", valueName: "path"))
    var workspace: String = "Workspace"

    @Flag(help: "Run tests without bubblewrap.")
    var noSandbox = false

    @Option(help: "Tasks validated in parallel.")
    var jobs: Int = 2

    @Flag(help: "Stop after validation: no synthesis, no training.")
    var noTrain = false

    func run() throws {
        // Sandboxed code must not see the store, the clones or other tasks' runs kept here.
        SensitivePaths.register([workspace])
        let demo = workspace + "/demo"
        try? FileManager.default.removeItem(atPath: demo)
        let created = try SampleRepository.createSynchronously(in: demo)
        print("1. sample: \(created.repository)")

        let store = try TaskStore(path: demo + "/forge.db")
        let result = try Miner(repository: try Repository.open(created.repository), repo: SampleRepository.repoName)
            .mine(metadata: try Metadata.load(contentsOf: created.metadata))
        try store.save(tasks: result.tasks)
        print("2. mined \(result.tasks.count) tasks from \(result.commitsWalked) commits; skipped: "
              + result.skipped.map(\.description).joined(separator: "; "))

        print("3. validating (environment build, before/after runs, 1 rerun each)")
        let summary = try ValidateCommand.validate(tasks: try store.tasks(), clone: created.repository, store: store,
                                                   workspace: workspace, recipes: nil, jobs: jobs, reruns: 1,
                                                   sandbox: !noSandbox, force: true)
        print(summary.table)
        print("\ntasks:")
        for verdict in try store.verdicts(kind: .validation).sorted(by: { $0.instanceID < $1.instanceID }) {
            print("  \(verdict.instanceID)  \(verdict.status)  \(verdict.reason ?? "FAIL_TO_PASS \(verdict.failToPass.count), PASS_TO_PASS \(verdict.passToPass.count)")")
        }
        print("\nexport them with: forge export --db \(demo)/forge.db")
        guard !noTrain else { return }
        print("\n4. synthesising bug tasks from the validated commits (AST mutations and combinations)")
        let synthesis = try SynthCommand.synthesize(
            store: store, db: demo + "/forge.db", repo: SampleRepository.repoName, clone: created.repository, commit: nil, commits: 3,
            workspace: workspace, recipes: nil,
            options: SynthesisOptions(strategies: [.mutation, .combination], maxTasks: nil, maxCandidates: 120, jobs: jobs, reruns: 1,
                                      useSandbox: !noSandbox, testSelection: true, shard: .all,
                                      runsDirectory: workspace + "/runs", workDirectory: workspace + "/synth"))
        print(synthesis.table)
        try DemoTraining.run(tasks: try store.tasks(), store: store, clones: [SampleRepository.repoName: created.repository], workspace: workspace,
                             sandbox: !noSandbox)
    }
}
