import ArgumentParser
import Environments
import Evaluation
import Foundation
import Sandbox
import Store
import Validation

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
    var layout: String = EvaluationLayout.swebench.rawValue

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

    @Option(help: ArgumentHelp("Score only predictions in shard i of N (1-based, by instance id).", valueName: "i/N"))
    var shard: String?

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
        if EvaluationLayout(rawValue: layout) == nil {
            throw ValidationError("--layout: unsupported '\(layout)', expected \(EvaluationLayout.allCases.map(\.rawValue).joined(separator: " or "))")
        }
        if let timeout, timeout <= 0 { throw ValidationError("--timeout must be positive") }
        if let shard { do { _ = try Shard(parsing: shard) } catch { throw ValidationError("--shard: \(error)") } }
        if let runID, runID.isEmpty || runID.contains("/") || runID.hasPrefix(".") {
            throw ValidationError("--run-id must be a plain name (no '/'), got '\(runID)'")
        }
    }

    func run() throws {
        // Sandboxed code must not see the store, the clones or other tasks' runs kept here.
        SensitivePaths.register([workspace])
        let taskStore = try store.open()
        // `gold`, as in SWE-bench: every gradable task's own patch (a file named gold needs a path: ./gold).
        let loaded = predictions == PredictionsFile.goldName
            ? PredictionsFile.gold(try taskStore.tasks().filter(\.isEvaluable))
            : try PredictionsFile.load(path: predictions)
        if loaded.isEmpty { throw ValidationError("--predictions gold: \(store.db) holds no gradable task (validate first)") }
        let outputLayout = EvaluationLayout(rawValue: layout)!
        let scope = try EvaluationScope(predictions: loaded, store: taskStore, shard: try shard.map { try Shard(parsing: $0) })
        if !scope.unknownIDs.isEmpty {
            let sample = scope.unknownIDs.sorted().prefix(5).joined(separator: ", ")
            FileHandle.standardError.write(Data("warning: \(scope.unknownIDs.count) predicted instance id(s) are not in \(store.db), not scored: \(sample)\(scope.unknownIDs.count > 5 ? ", …" : "")\n".utf8))
        }
        if !noSandbox {
            do { _ = try Sandbox.probe() } catch {
                throw CommandFailure("\(error)")
            }
        }
        let book = try RecipeBook.load(directory: recipes)
        let builder = EnvironmentBuilder(root: URL(fileURLWithPath: workspace).appendingPathComponent("envs"), recipes: book,
                                         options: .init(sandboxInstalls: !noSandbox))
        // Runs under the two semantics keep apart, so resuming one never reuses the other's verdicts.
        let name = runID ?? Self.defaultRunID(predictions) + (swebenchSemantics ? "-swebench" : "")
        let evaluator = try Evaluator(clones: try clones(for: scope.repositories), environments: builder,
                                      options: EvaluationOptions(runID: name,
                                                                 evaluationsDirectory: workspace + (outputLayout == .swebench ? "/logs/run_evaluation" : "/evals"),
                                                                 jobs: jobs, useSandbox: !noSandbox, timeout: timeout, layout: outputLayout,
                                                                 swebenchSemantics: swebenchSemantics))
        let interrupt = InterruptWatch(finishing: "predictions")
        defer { interrupt.cancel() }
        let stop = interrupt.stop

        let bar = ProgressBar("evaluating")
        let summary = try BatchEvaluation.run(predictions: loaded, tasks: scope.tasks, unknownIDs: scope.unknownIDs,
                                              evaluator: evaluator, store: taskStore, retryErrors: retryErrors, force: force,
                                              stop: stop) { bar.update(done: $0, total: $1) }
        bar.finish()
        print(summary.table)
        try InterruptWatch.exitIfInterrupted()
    }

    /// `preds.jsonl` → `preds`.
    static func defaultRunID(_ path: String) -> String {
        let name = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
        let cleaned = Prediction.directoryName(model: name)
        return cleaned.hasPrefix(".") ? "run" + cleaned : cleaned
    }

    /// owner/name → clone path, from --clone or the default places.
    private func clones(for repositories: [String]) throws -> [String: String] {
        try Self.resolveClones(clone, for: repositories, workspace: workspace, db: store.db)
    }

    /// `--clone` entries (PATH, or owner/name=PATH) and the default places, for each repository;
    /// shared with `forge serve`.
    static func resolveClones(_ clone: [String], for repositories: [String], workspace: String, db: String) throws -> [String: String] {
        var map: [String: String] = [:]
        var bare: [String] = []
        for entry in clone {
            if let equals = entry.firstIndex(of: "="), entry[..<equals].split(separator: "/").count == 2 {
                map[String(entry[..<equals])] = String(entry[entry.index(after: equals)...])
            } else {
                bare.append(entry)
            }
        }
        if !bare.isEmpty {
            let unnamed = repositories.filter { map[$0] == nil }
            guard bare.count == 1, unnamed.count <= 1 else {
                throw ValidationError("the tasks come from \(repositories.count) repositories (\(repositories.joined(separator: ", "))): name each clone, --clone owner/name=PATH")
            }
            if let repo = unnamed.first { map[repo] = bare[0] }
        }
        let databaseFolder = (db as NSString).deletingLastPathComponent
        for repo in repositories where map[repo] == nil {
            let name = String(repo.split(separator: "/").last ?? "")
            let candidates = ["\(workspace)/clones/\(repo.replacingOccurrences(of: "/", with: "__"))",
                              "\(workspace)/clones/\(name)", "\(databaseFolder.isEmpty ? "." : databaseFolder)/\(name)"]
            guard let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
                throw ValidationError("no clone of \(repo): pass --clone \(repo)=PATH (looked in \(candidates.joined(separator: ", ")))")
            }
            map[repo] = found
        }
        return map
    }
}
