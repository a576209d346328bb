import AgentSandbox
import ArgumentParser
import Foundation
import Pipeline
import Serving
import Store

struct SandboxCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sandbox",
        abstract: "Agent sandboxes over Forge's tasks, driven through SWE-ReX's runtime protocol (no Docker).",
        subcommands: [SandboxServeCommand.self])
}

struct SandboxServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve a task's workspace as a SWE-ReX runtime: persistent sandboxed shells, files, and scored submissions.",
        discussion: """
        For each --task, prepares a workspace: a fresh git repository holding base_commit and its \
        ancestors only (no later commit, no test patch), with the task's environment (built or \
        taken from the cache) active. Serves SWE-ReX's RemoteRuntime endpoints over it: \
        GET /is_alive, POST /create_session, /run_in_session, /close_session, /execute, \
        /read_file, /write_file, /upload, /close, with SWE-ReX's JSON fields and its error \
        transfer (HTTP 511 {"swerexception": {message, class_path, traceback, extra_info}}), \
        so SWE-agent and other SWE-ReX clients drive it unmodified: \
        RemoteRuntime(host="http://127.0.0.1", port=PORT, auth_token=KEY).

        Sessions are persistent bash shells, each in its own bubblewrap sandbox: the workspace is \
        writable at /tmp/testbed (where validation and evaluation runs see their trees), the environment read-only, the rest of the machine read-only with \
        Forge's files (workspace, store, clones) hidden, and no network. An action that passes \
        its timeout is interrupted (SIGINT, then SIGKILL to its processes) and the session stays \
        usable; output past --output-cap bytes is dropped.

        POST /forge/submit {model_name_or_path?} diffs the workspace against base_commit, scores \
        the patch exactly as `forge eval` does (test patch applied in a fresh copy, FAIL_TO_PASS \
        and PASS_TO_PASS run), answers {status, resolved, reward, ..., model_patch} and appends a \
        SWE-bench prediction line to WORKSPACE/agent-sandboxes/predictions.jsonl.

        With one --task, the sandbox answers at the root; with several, each answers under \
        /sandboxes/INSTANCE_ID/ (use that as RemoteRuntime's host, with port=None). POST /close \
        or --idle-timeout removes a sandbox; the server stops when none is left. A crashed server \
        leaves no process (bwrap dies with it) and its folders are removed at the next start.
        """)

    @Option(name: .customLong("task"), help: ArgumentHelp("Instance id of a validated task (repeatable).", valueName: "id"))
    var tasks: [String] = []

    @OptionGroup var listen: ListenOptions<ListenDefaults>

    enum ListenDefaults: ListenOptionDefaults {
        static let port = 8000
        static let apiKeyHelp = "Key every request must carry in X-API-Key (SWE-ReX's auth token)."
    }

    @Option(help: ArgumentHelp("Seconds without a request after which a sandbox is removed (0: never).", valueName: "seconds"))
    var idleTimeout: Double = 3600

    @Option(help: ArgumentHelp("Bytes of output kept per action.", valueName: "bytes"))
    var outputCap: Int = 1 << 20

    @Option(help: ArgumentHelp("Longest an action may run, and the limit of actions that name none.", valueName: "seconds"))
    var maxActionTimeout: Double = 1800

    @Option(help: ArgumentHelp("Actions run at once over all sandboxes; more are answered 429 (retry later).", valueName: "n"))
    var maxConcurrentActions: Int = 32

    @OptionGroup var store: StoreOptions

    @Option(help: ArgumentHelp("Local clone: PATH, or owner/name=PATH (repeatable).", valueName: "clone"))
    var clone: [String] = []

    @Option(help: ArgumentHelp("Folder for environments, evaluation output and sandboxes.", valueName: "path"))
    var workspace: String = "Workspace"

    @Option(help: ArgumentHelp("Recipes folder (default: the one shipped with Forge).", valueName: "path"))
    var recipes: String?

    func validate() throws {
        if tasks.isEmpty { throw ValidationError("name at least one task: --task INSTANCE_ID") }
        if Set(tasks).count != tasks.count { throw ValidationError("--task names the same task twice") }
        for id in tasks {
            do { try Identifier.checkInstanceID(id) } catch { throw ValidationError("--task: \(error)") }
        }
        if idleTimeout < 0 { throw ValidationError("--idle-timeout must not be negative") }
        if outputCap < 1 { throw ValidationError("--output-cap must be positive") }
        if maxActionTimeout <= 0 { throw ValidationError("--max-action-timeout must be positive") }
        if maxConcurrentActions < 1 { throw ValidationError("--max-concurrent-actions must be at least 1") }
    }

    func run() async throws {
        // Runs happen in other working directories: relative paths would break there.
        let workspace = Workspace(folder: self.workspace, database: store.db, recipesDirectory: recipes).absolute
        try workspace.checkSandbox()
        let taskStore = try Pipeline(workspace: workspace).store()
        var repositories: Set<String> = []
        for id in tasks {
            guard let task = try taskStore.task(id: id) else { throw CommandFailure("--task \(id): no such task in \(store.db)") }
            guard task.isEvaluable else {
                throw CommandFailure("--task \(id): not a valid task (no FAIL_TO_PASS tests or its gold patch breaks PASS_TO_FAIL); run forge validate first")
            }
            repositories.insert(task.repo)
        }
        let clones = try workspace.clones(clone, for: repositories.sorted()).mapValues { URL(fileURLWithPath: $0).standardizedFileURL.path }
        let options = AgentSandboxOptions(outputCap: outputCap, maxActionTimeout: maxActionTimeout, hiddenPaths: workspace.hiddenPaths)
        let sandboxHost = try SandboxHost(root: workspace.folder + "/agent-sandboxes", store: taskStore, clones: clones,
                                          environments: try workspace.environmentBuilder(),
                                          evaluationsDirectory: workspace.evaluationsDirectory, options: options)
        for id in tasks {
            do { _ = try sandboxHost.open(instanceID: id) } catch {
                sandboxHost.closeAll()
                throw CommandFailure("cannot open a sandbox for \(id): \(error)")
            }
        }
        let server = SandboxServer(configuration: SandboxServerConfiguration(
            host: listen.host, port: listen.port, apiKey: listen.apiKey, idleTimeout: idleTimeout > 0 ? idleTimeout : nil, stopWhenEmpty: true,
            maxConcurrentActions: maxConcurrentActions), host: sandboxHost)
        let (host, tasks) = (listen.host, tasks)
        let serving = Task {
            try await server.run { port in
                let routes = tasks.count == 1 ? "" : " under /sandboxes/<id>/"
                print("forge sandbox: http://\(host):\(port)\(routes) — \(tasks.joined(separator: ", "))")
            }
        }
        // SIGINT/SIGTERM stop the server, which then removes every sandbox.
        let signals = [SIGINT, SIGTERM].map { number -> DispatchSourceSignal in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number)
            source.setEventHandler { serving.cancel() }
            source.resume()
            return source
        }
        defer { signals.forEach { $0.cancel() } }
        try await serving.value
        print("forge sandbox: stopped; sandboxes removed")
    }
}
