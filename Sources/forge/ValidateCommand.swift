import ArgumentParser
import Foundation

struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Confirm tasks' gold patches by running their tests before and after, in a sandbox.",
        discussion: """
        For each task: build (or reuse) its environment from Recipes/ as of the task's date, export \
        base_commit into a fresh folder with no git history, apply test_patch and run the test files \
        it touches (before), then apply the gold patch and run them again (after). Each state runs \
        1 + --reruns times; tests whose outcome changes between runs are FLAKY and leave both lists. \
        A task is valid iff FAIL_TO_PASS is non-empty and PASS_TO_FAIL is empty.

        Every task's result is saved as soon as it finishes, so an interrupted batch (Ctrl-C \
        finishes the tasks in flight) resumes where it stopped; --force validates again. Tests run \
        inside bubblewrap with no network; without bubblewrap Forge refuses unless --no-sandbox.
        """)

    @OptionGroup var store: StoreOptions
    @OptionGroup var selection: TaskSelection

    @Option(help: ArgumentHelp("Local clone of the tasks' repository.", valueName: "path"))
    var clone: String

    @Option(help: "Tasks validated in parallel.")
    var jobs: Int = 1

    @Option(help: "Extra runs of each state, to find flaky tests.")
    var reruns: Int = 1

    @Option(help: ArgumentHelp("Folder for environments and runs.", valueName: "path"))
    var workspace: String = "Workspace"

    @Option(help: ArgumentHelp("Recipes folder (default: the one shipped with Forge).", valueName: "path"))
    var recipes: String?

    @Flag(help: "Run tests without bubblewrap (no network isolation). Only where bwrap cannot run.")
    var noSandbox = false

    @Flag(help: "Validate tasks that already have a verdict again.")
    var force = false

    func validate() throws {
        if jobs < 1 { throw ValidationError("--jobs must be at least 1") }
        if reruns < 0 { throw ValidationError("--reruns cannot be negative") }
    }

    func run() throws {
        let pipeline = store.pipeline(workspace: workspace, recipes: recipes, sandbox: !noSandbox)
        let tasks = try pipeline.store().tasks(matching: selection.filter)
        let interrupt = InterruptWatch(finishing: "tasks")
        defer { interrupt.cancel() }
        let summary = try ProgressBar.showing("validating") { progress in
            try pipeline.validate(tasks: tasks, clone: clone, jobs: jobs, reruns: reruns, force: force, stop: interrupt.stop,
                                  progress: progress)
        }
        print(summary.table)
        try interrupt.exitIfInterrupted()
    }
}
