import ArgumentParser
import Foundation
import Git
import Mining
import Sample
import Store

struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the pipeline on the embedded sample: create it, mine it, build its environment, validate.",
        discussion: """
        Writes the sample under WORKSPACE/demo (replacing an earlier demo), mines its pull requests \
        into WORKSPACE/demo/forge.db, then validates every task in the sandbox and prints the summary. \
        Environments are cached under WORKSPACE/envs, so a second demo reuses them.
        """)

    @Option(help: ArgumentHelp("Workspace folder.", valueName: "path"))
    var workspace: String = "Workspace"

    @Flag(help: "Run tests without bubblewrap.")
    var noSandbox = false

    @Option(help: "Tasks validated in parallel.")
    var jobs: Int = 2

    func run() throws {
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
    }
}
