import ArgumentParser
import Evaluation
import Foundation
import Pipeline
import Serving
import Store

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve tasks and patch scoring over HTTP (a reward service for RL trainers).",
        discussion: """
        JSON API (OpenAPI 3.1: Sources/Serving/openapi.yaml, also at GET /openapi.yaml): \
        GET /health, GET /metrics (Prometheus), GET /tasks?repo=&validated=&limit=&offset=, \
        GET /tasks/ID (statement, hints, base commit, snapshot path), GET /tasks/ID/snapshot.tar, \
        POST /score {instance_id, model_patch, model_name_or_path?} → {status, resolved, reward, \
        f2p_passed, f2p_total, p2p_passed, p2p_total, log_url, ...}, GET /logs/....

        Patches are scored exactly as `forge eval` scores them, by --jobs workers in the \
        environments `forge validate` built; --queue more may wait (then 429 with Retry-After). \
        Each (instance, patch) pair is stored under WORKSPACE/evals/serve/ and in the store, so an \
        identical request, even after a restart, gets the stored result. Infrastructure errors \
        are answered 500 with status "error" and no reward.
        """)

    @OptionGroup var listen: ListenOptions<ListenDefaults>

    enum ListenDefaults: ListenOptionDefaults {
        static let port = 8080
        static let apiKeyHelp = "Key every request but GET /health must carry in X-API-Key."
    }

    @OptionGroup var store: StoreOptions

    @Option(help: ArgumentHelp("Local clone: PATH, or owner/name=PATH (repeatable).", valueName: "clone"))
    var clone: [String] = []

    @Option(help: "Predictions scored at once (workers).")
    var jobs: Int = 2

    @Option(help: "Score requests that may wait for a worker; more are answered 429.")
    var queue: Int = 64

    @Option(help: ArgumentHelp("Seconds a score request may take, queueing included (504 after).", valueName: "seconds"))
    var timeout: Double = 600

    @Option(help: ArgumentHelp("Largest POST /score body in bytes (413 above).", valueName: "bytes"))
    var maxBody: Int = 4 << 20

    @Option(help: ArgumentHelp("Folder for environments, evaluation output and snapshots.", valueName: "path"))
    var workspace: String = "Workspace"

    @Option(help: ArgumentHelp("Recipes folder (default: the one shipped with Forge).", valueName: "path"))
    var recipes: String?

    @Flag(help: "Run tests without bubblewrap (no network isolation). Only where bwrap cannot run.")
    var noSandbox = false

    func validate() throws {
        if jobs < 1 { throw ValidationError("--jobs must be at least 1") }
        if queue < 0 { throw ValidationError("--queue must not be negative") }
        if timeout <= 0 { throw ValidationError("--timeout must be positive") }
        if maxBody < 1 { throw ValidationError("--max-body must be positive") }
    }

    func run() async throws {
        // Runs happen in other working directories (sandbox, exports): relative paths would break there.
        let workspace = Workspace(folder: self.workspace, database: store.db, recipesDirectory: recipes, useSandbox: !noSandbox).absolute
        let taskStore = try Pipeline(workspace: workspace).store()
        let evaluable = try taskStore.tasks().filter(\.isEvaluable)
        let repositories = Array(Set(evaluable.map(\.repo))).sorted()
        try workspace.checkSandbox()
        var configuration = ServerConfiguration(
            host: listen.host, port: listen.port,
            clones: try workspace.clones(clone, for: repositories).mapValues { URL(fileURLWithPath: $0).standardizedFileURL.path },
            evaluationsDirectory: workspace.evaluationsDirectory, snapshotsDirectory: workspace.folder + "/snapshots",
            scoring: ScoringOptions(workers: jobs, queueCapacity: queue, requestTimeout: timeout), maxBodyBytes: maxBody,
            useSandbox: !noSandbox)
        configuration.apiKey = listen.apiKey
        let server = try RewardServer(configuration: configuration, store: taskStore, environments: try workspace.environmentBuilder())
        let (host, jobs, queue, timeout) = (listen.host, jobs, queue, timeout)
        try await server.run(handleSignals: true) { port in
            print("forge serve: http://\(host):\(port) — \(evaluable.count) validated task(s) in \(repositories.count) repositor\(repositories.count == 1 ? "y" : "ies"); \(jobs) worker(s), queue \(queue), timeout \(Int(timeout)) s")
        }
        print("forge serve: stopped")
    }
}
