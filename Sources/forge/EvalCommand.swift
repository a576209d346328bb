import ArgumentParser
import Evaluation
import Foundation
import Pipeline
import Store

extension EvaluationLayout: ExpressibleByArgument {}

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Score model predictions (SWE-bench prediction files) by running the tasks' tests in a sandbox.",
        discussion: """
        Reads JSONL, a JSON list or an object keyed by instance id of {instance_id, \
        model_name_or_path, model_patch}, or 'gold' (the tasks' own patches). For each \
        prediction: export base_commit into a fresh folder, apply the model patch (CRLF and a \
        missing final newline repaired; then git apply, git apply --recount --inaccurate-eof, \
        patch -p1 --fuzz=3), put every test and test-infrastructure file (conftest.py, test \
        folders, pytest configuration, sitecustomize.py, …) back to base, apply test_patch, and \
        run only the files holding the task's FAIL_TO_PASS and PASS_TO_PASS tests in the task's \
        environment (built or reused under WORKSPACE/envs). Resolved iff every one of those tests \
        passes. A patch whose changes to the tests affect the run is tests_modified (not run, \
        unresolved); --swebench-semantics keeps SWE-bench's rules instead (only test_patch's \
        files are reset, nothing is tests_modified) for comparisons with its harness.

        --layout swebench (the default) writes SWE-bench's layout under \
        WORKSPACE/logs/run_evaluation/RUN-ID/: MODEL/INSTANCE/{report.json, test_output.txt, \
        run_instance.log, eval.sh} and MODEL.RUN-ID.json with make_run_report's keys and \
        counting (no report.json for errors or patches that did not apply; test_output.txt has \
        SWE-bench's markers, so swebench's get_logs_eval regrades it). --layout forge writes \
        WORKSPACE/evals/RUN-ID/MODEL.RUN-ID.json (SWE-bench's report keys plus \
        patch_apply_failed_ids, apply_method, touches_tests_ids, tests_modified_ids) and per-instance folders \
        WORKSPACE/evals/RUN-ID/MODEL/INSTANCE/ (patch.diff, apply.log, test.log, junit.xml, \
        report.json). Infrastructure errors (environment, sandbox, timeout) are kept apart from \
        model failures. Results are saved as they finish: the same command resumes; \
        --retry-errors re-runs the errors, --force everything.

        Clones: --clone PATH (one repository) or --clone owner/name=PATH (repeatable). Without it \
        Forge looks in WORKSPACE/clones/owner__name and next to the --db file (the demo's layout).
        """)

    @Option(help: ArgumentHelp("Predictions file (JSONL, a JSON list, or an object keyed by instance id), or 'gold' for the tasks' own patches.", valueName: "file"))
    var predictions: String

    @Option(help: ArgumentHelp("Output layout: swebench (WORKSPACE/logs/run_evaluation/RUN-ID/MODEL/INSTANCE/, SWE-bench's files and report keys; the default) or forge (WORKSPACE/evals/...).", valueName: "layout"))
    var layout: EvaluationLayout = .swebench

    @OptionGroup var store: StoreOptions

    @Option(help: ArgumentHelp("Local clone: PATH, or owner/name=PATH (repeatable).", valueName: "clone"))
    var clone: [String] = []

    @Option(help: "Predictions scored in parallel.")
    var jobs: Int = 1

    @Option(help: ArgumentHelp("Name of this evaluation (default: the predictions file's name).", valueName: "name"))
    var runID: String?

    @Option(help: ArgumentHelp("Folder for environments and evaluation output.", valueName: "path"))
    var workspace: String = "Workspace"

    @Option(help: ArgumentHelp("Recipes folder (default: the one shipped with Forge).", valueName: "path"))
    var recipes: String?

    @Option(help: ArgumentHelp("Score only predictions in shard i of N (1-based, by instance id).", valueName: "i/N"),
            transform: Shard.init(parsing:))
    var shard: Shard?

    @Option(help: ArgumentHelp("Test time limit per prediction in seconds (default: the recipe's).", valueName: "seconds"))
    var timeout: Double?

    @Flag(help: "Run tests without bubblewrap (no network isolation). Only where bwrap cannot run.")
    var noSandbox = false

    @Flag(help: "Score predictions that ended in an infrastructure error again.")
    var retryErrors = false

    @Flag(help: "Score every prediction again, finished or not.")
    var force = false

    @Flag(help: ArgumentHelp("SWE-bench's exact semantics: the model patch, then test_patch over it; other test-infrastructure changes stay and nothing is tests_modified. The default run id gets a -swebench suffix."))
    var swebenchSemantics = false

    func validate() throws {
        if jobs < 1 { throw ValidationError("--jobs must be at least 1") }
        if let timeout, timeout <= 0 { throw ValidationError("--timeout must be positive") }
        if let runID, runID.isEmpty || runID.contains("/") || runID.hasPrefix(".") {
            throw ValidationError("--run-id must be a plain name (no '/'), got '\(runID)'")
        }
    }

    func run() throws {
        var request = Pipeline.EvaluationRequest(predictions: predictions)
        request.clones = clone; request.runID = runID; request.layout = layout; request.jobs = jobs; request.timeout = timeout
        request.shard = shard; request.swebenchSemantics = swebenchSemantics; request.retryErrors = retryErrors; request.force = force
        let pipeline = store.pipeline(workspace: workspace, recipes: recipes, sandbox: !noSandbox)
        let interrupt = InterruptWatch(finishing: "predictions")
        defer { interrupt.cancel() }
        let summary = try ProgressBar.showing("evaluating") { progress in
            try pipeline.evaluate(request, stop: interrupt.stop, notice: printToStandardError, progress: progress)
        }
        print(summary.table)
        try interrupt.exitIfInterrupted()
    }
}
