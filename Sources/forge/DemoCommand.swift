import ArgumentParser
import Foundation
import Pipeline
import Sample

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
        let demo = workspace + "/demo"
        try? FileManager.default.removeItem(atPath: demo)
        let created = try SampleRepository.createSynchronously(in: demo)
        print("1. sample: \(created.repository)")

        let pipeline = Pipeline(workspace: Workspace(folder: workspace, database: demo + "/forge.db", useSandbox: !noSandbox))
        let store = try pipeline.store()
        // One Ctrl-C path for the whole demo: the stage running finishes its work in flight, then exit 130.
        let interrupt = InterruptWatch(finishing: "work")
        defer { interrupt.cancel() }
        let mined = try pipeline.mine(Pipeline.MiningRequest(clone: created.repository, repo: SampleRepository.repoName,
                                                             metadata: created.metadata), stop: interrupt.stop)
        try interrupt.exitIfInterrupted()
        let found = mined.summary!
        print("2. mined \(found.taskCount) tasks from \(found.commitsWalked) commits; skipped: "
              + found.skipped.map(\.description).joined(separator: "; "))

        print("3. validating (environment build, before/after runs, 1 rerun each)")
        let summary = try ProgressBar.showing("validating") { progress in
            try pipeline.validate(tasks: try store.tasks(), clone: created.repository, jobs: jobs, reruns: 1, force: true,
                                  stop: interrupt.stop, progress: progress)
        }
        print(summary.table)
        print("\ntasks:")
        for verdict in try store.verdicts(kind: .validation).sorted(by: { $0.instanceID < $1.instanceID }) {
            print("  \(verdict.instanceID)  \(verdict.status)  \(verdict.reason ?? "FAIL_TO_PASS \(verdict.failToPass.count), PASS_TO_PASS \(verdict.passToPass.count)")")
        }
        print("\nexport them with: forge export --db \(demo)/forge.db")
        try interrupt.exitIfInterrupted()
        guard !noTrain else { return }
        print("\n4. synthesising bug tasks from the validated commits (AST mutations and combinations)")
        var synthesis = Pipeline.SynthesisRequest(repo: SampleRepository.repoName, clone: created.repository)
        synthesis.commits = 3; synthesis.strategies = [.mutation, .combination]; synthesis.maxCandidates = 120
        synthesis.jobs = jobs; synthesis.reruns = 1
        let synthesized = try ProgressBar.showing("synthesising (tried)") { progress in
            try pipeline.synthesize(synthesis, stop: interrupt.stop, progress: progress)
        }
        print(synthesized.table)
        try interrupt.exitIfInterrupted()
        try exitingOnTrainingInterruption {
            try DemoTraining.run(tasks: try store.tasks(), clones: [SampleRepository.repoName: created.repository], pipeline: pipeline)
        }
    }
}
