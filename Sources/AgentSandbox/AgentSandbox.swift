import Environments
import Evaluation
import Foundation
import Sandbox
import Store
import Synchronization
import Validation

/// Limits and isolation settings shared by every sandbox of a host.
public struct AgentSandboxOptions: Sendable {
    /// Bytes of output kept per action (the rest is dropped and a truncation note appended).
    public var outputCap: Int
    /// Seconds an action may run when it names no timeout (and the most any may ask for).
    public var maxActionTimeout: Double
    /// Host paths no sandbox may see (the Forge workspace, the task store, ...). Each sandbox
    /// also hides the sandboxes' root, the task's clone and its environment's build checkout.
    public var hiddenPaths: [String]
    /// The bwrap binary; nil finds it on PATH.
    public var bwrapPath: String?
    /// Largest file `read_file` answers with.
    public var maxFileBytes: Int

    public init(outputCap: Int = 1 << 20, maxActionTimeout: Double = 1800, hiddenPaths: [String] = [], bwrapPath: String? = nil,
                maxFileBytes: Int = 64 << 20) {
        self.outputCap = outputCap; self.maxActionTimeout = maxActionTimeout; self.hiddenPaths = hiddenPaths; self.bwrapPath = bwrapPath
        self.maxFileBytes = maxFileBytes
    }
}

/// One task's agent sandbox: its workspace, its persistent shells and its one-off commands, all
/// under one bubblewrap policy: the workspace read-write at /testbed, the environment read-only,
/// no network, and everything else of the host read-only with Forge's own files hidden.
/// Blocking methods: call them off the cooperative pool.
public final class AgentSandbox: Sendable {
    /// Where the agent sees its workspace: where validation and evaluation runs see their trees
    /// (so test ids match), SWE-bench's /testbed under the sandbox's own /tmp (the read-only
    /// root has no mount point for /testbed itself).
    public static let workspacePath = TestRunner.sandboxTestbed
    /// Where the shells read their command files (read-only).
    static let controlPath = "/tmp/.forge-rex"

    public let id: String
    public let task: TaskRecord
    /// `<root>/<pid>-<id>`: `testbed/` (the workspace) and `control/`.
    public let folder: String
    let workspace: TaskWorkspace
    let sandbox: Sandbox
    let environmentVariables: [String: String]
    let options: AgentSandboxOptions
    private let control: String
    private struct State {
        var sessions: [String: ShellSession] = [:]
        /// Numbers the control files of sessions and commands.
        var counter = 0
        var lastUsed = monotonicNow()
        var isClosed = false

        func checkOpen(_ id: String) throws(RexError) {
            if isClosed { throw RexError.runtime("sandbox \(id) is closed") }
        }

        mutating func nextStamp() -> Int { counter += 1; return counter }
    }
    private let state = Mutex(State())
    var isClosed: Bool { state.withLock { $0.isClosed } }

    /// Prepares the workspace and the policy; starts no process yet.
    init(id: String, task: TaskRecord, clone: String, environment: PreparedEnvironment, root: String, options: AgentSandboxOptions) throws {
        self.id = id
        self.task = task
        self.options = options
        folder = "\(root)/\(getpid())-\(id)"
        control = folder + "/control"
        try? FileManager.default.removeItem(atPath: folder)
        do {
            try FileManager.default.createDirectory(atPath: control, withIntermediateDirectories: true)
            workspace = try TaskWorkspace.create(at: folder + "/testbed", task: task, clone: clone)
            var variables = environment.testEnvironment(projectDirectory: Self.workspacePath)
            let standardPath = "/usr/local/bin:/usr/bin:/bin"
            if let venv = environment.venvPath {
                variables["VIRTUAL_ENV"] = venv
                variables["PATH"] = "\(venv)/bin:" + (variables["PATH"] ?? standardPath)
            }
            variables["PATH"] = variables["PATH"] ?? standardPath
            for (key, value) in ["HOME": "/tmp/home", "TMPDIR": "/tmp", "LANG": "C.UTF-8", "TERM": "dumb", "PAGER": "cat",
                                 "GIT_PAGER": "cat", "GIT_CONFIG_NOSYSTEM": "1"] where variables[key] == nil {
                variables[key] = value
            }
            environmentVariables = variables
            let hidden = options.hiddenPaths + [root, clone, environment.builtFrom] + environment.neighbouringEnvironments
            sandbox = try Sandbox(policy: .bubblewrap(
                workDirectory: workspace.path,
                readOnly: environment.readOnlyPaths.filter { FileManager.default.fileExists(atPath: $0) }.map { BindMount($0) }
                    + [BindMount(control, at: Self.controlPath)],
                readWrite: [BindMount(workspace.path, at: Self.workspacePath)],
                bwrapPath: options.bwrapPath, hidden: hidden, limits: environment.sandboxLimits))
        } catch {
            try? FileManager.default.removeItem(atPath: folder)
            throw error
        }
    }

    deinit { close() }

    /// Seconds since the last request.
    var idleSeconds: Double { state.withLock { monotonicNow() - $0.lastUsed } }
    func touch() { state.withLock { $0.lastUsed = monotonicNow() } }

    // MARK: - Sessions

    func createSession(_ fields: RequestFields) throws -> CreateSessionResponse {
        let name = try fields.string("session", default: "default")
        _ = try fields.choice("session_type", ["bash"], default: "bash")
        let startup = try fields.strings("startup_source")
        let startupTimeout = try fields.optionalNumber("startup_timeout") ?? 1
        let file: (host: String, sandbox: String) = try state.withLock { (state) throws(RexError) in
            try state.checkOpen(id)
            guard state.sessions[name] == nil else { throw RexError.sessionExists("session \(name) already exists") }
            let stamp = state.nextStamp()
            return ("\(control)/session-\(stamp).sh", "\(Self.controlPath)/session-\(stamp).sh")
        }
        let (session, output) = try ShellSession.start(name: name, sandbox: sandbox, environment: environmentVariables,
                                                       workingDirectory: Self.workspacePath, commandFile: file,
                                                       startupSource: startup, startupTimeout: startupTimeout)
        let raced: Bool = state.withLock { state in
            if state.isClosed || state.sessions[name] != nil { return true }
            state.sessions[name] = session
            return false
        }
        if raced {
            session.close()
            throw RexError.sessionExists("session \(name) already exists")
        }
        return CreateSessionResponse(output: output)
    }

    func runInSession(_ fields: RequestFields) throws -> Observation {
        let action = try SessionAction(fields)
        let session = try lookUp(action.session)
        if action.isInterrupt {
            guard session.interruptNow() else {
                dropSession(action.session)
                throw RexError.sessionNotInitialized("session '\(action.session)' did not recover from the interrupt and was closed")
            }
            return Observation(output: "", exitCode: 0)
        }
        if action.isInteractive {
            throw RexError.invalidValue("interactive commands (is_interactive_command / is_interactive_quit) are not supported by Forge's sandbox")
        }
        let timeout = min(action.timeout ?? options.maxActionTimeout, options.maxActionTimeout)
        let result: ActionOutput
        do {
            result = try session.run(action.command, timeout: timeout, outputCap: options.outputCap)
        } catch let error as RexError {
            if session.isDead { dropSession(action.session) }
            throw error
        }
        if action.check == .raise && result.exitCode != 0 {
            let message = "Command \(pythonRepr(action.command)) failed with exit code \(result.exitCode). Here is the output:\n\(pythonRepr(result.output))"
            throw RexError.nonZeroExitCode(action.errorMessage.isEmpty ? message : "\(action.errorMessage): \(message)")
        }
        return Observation(output: result.output, exitCode: action.check == .ignore ? nil : result.exitCode)
    }

    func closeSession(_ fields: RequestFields) throws -> CloseSessionResponse {
        let name = try fields.string("session", default: "default")
        let session = try lookUp(name)
        dropSession(name)
        session.close()
        return CloseSessionResponse()
    }

    private func lookUp(_ name: String) throws -> ShellSession {
        try state.withLock { (state) throws(RexError) in
            try state.checkOpen(id)
            guard let session = state.sessions[name] else { throw RexError.sessionDoesNotExist("session \(pythonRepr(name)) does not exist") }
            return session
        }
    }

    private func dropSession(_ name: String) { _ = state.withLock { $0.sessions.removeValue(forKey: name) } }

    // MARK: - One-off commands and files

    func execute(_ fields: RequestFields) throws -> CommandResponse {
        let request = try ExecuteRequest(fields)
        let stamp: Int = try state.withLock { (state) throws(RexError) in try state.checkOpen(id); return state.nextStamp() }
        let out = "\(control)/exec-\(stamp).out", err = "\(control)/exec-\(stamp).err"
        defer { unlink(out); unlink(err) }
        let timeout = min(request.timeout ?? options.maxActionTimeout, options.maxActionTimeout)
        let command = Command(request.argv[0], Array(request.argv.dropFirst()), logPath: out,
                              environment: request.environment ?? environmentVariables,
                              workingDirectory: request.workingDirectory ?? Self.workspacePath, timeout: timeout, killGracePeriod: 1,
                              streams: request.mergeOutput ? .merged : .separate(stderrLogPath: err), outputCap: options.outputCap)
        let result = try sandbox.run(command)
        if result.timedOut { throw RexError.commandTimeout("Timeout (\(pythonFloat(timeout))s) exceeded while running command") }
        let stdout = Self.text(of: out), stderr = request.mergeOutput ? "" : Self.text(of: err)
        let code = result.exitCode.map(Int.init) ?? -1
        if request.check && code != 0 {
            let message = "Command \(pythonRepr(request.display)) failed with exit code \(code). Stdout:\n\(pythonRepr(stdout))\nStderr:\n\(pythonRepr(stderr))"
            throw RexError.nonZeroExitCode(request.errorMessage.isEmpty ? message : "\(request.errorMessage): \(message)")
        }
        return CommandResponse(stdout: stdout, stderr: stderr, exitCode: code)
    }

    func readFile(_ fields: RequestFields) throws -> ReadFileResponse {
        let path = try fields.string("path")
        let errors = try fields.optionalString("errors") ?? "strict"
        try state.withLock { (state) throws(RexError) in try state.checkOpen(id) }
        return ReadFileResponse(content: try workspace.read(path, sandboxRoot: Self.workspacePath, lossy: errors != "strict", maxBytes: options.maxFileBytes))
    }

    func writeFile(_ fields: RequestFields) throws -> EmptyResponse {
        let content = try fields.string("content"), path = try fields.string("path")
        try state.withLock { (state) throws(RexError) in try state.checkOpen(id) }
        try workspace.write(Data(content.utf8), to: path, sandboxRoot: Self.workspacePath)
        return EmptyResponse()
    }

    /// `/upload`: one file, or a zip archive unpacked into a folder (inside the sandbox, so an
    /// archive's `../` entries cannot reach past the workspace).
    func upload(_ form: MultipartForm) throws -> EmptyResponse {
        guard let file = form.files["file"] else { throw RexHTTPError.invalid("file", "Field required", type: "missing") }
        guard let target = form.fields["target_path"] else { throw RexHTTPError.invalid("target_path", "Field required", type: "missing") }
        try state.withLock { (state) throws(RexError) in try state.checkOpen(id) }
        guard form.fields["unzip"]?.lowercased() == "true" else {
            try workspace.write(file, to: target, sandboxRoot: Self.workspacePath)
            return EmptyResponse()
        }
        // unzip runs in the sandbox, which sees nothing of the host to write to: the target only
        // has to name a folder of the workspace.
        var folders: [Substring] = []
        for name in try workspace.relativePath(for: target, sandboxRoot: Self.workspacePath).split(separator: "/") where name != "." {
            guard name == ".." else { folders.append(name); continue }
            guard folders.popLast() != nil else {
                throw RexError.permission("[Errno 13] Permission denied: \(pythonRepr(target)): outside the workspace \(Self.workspacePath)")
            }
        }
        let inside = ([Substring(Self.workspacePath)] + folders).joined(separator: "/")
        let stamp: Int = state.withLock { $0.nextStamp() }
        let archive = "upload-\(stamp).zip"
        try file.write(to: URL(fileURLWithPath: "\(control)/\(archive)"))
        defer { unlink("\(control)/\(archive)"); unlink("\(control)/\(archive).log") }
        let command = Command("/usr/bin/unzip", ["-o", "-q", "\(Self.controlPath)/\(archive)", "-d", inside], logPath: "\(control)/\(archive).log",
                              environment: environmentVariables, workingDirectory: Self.workspacePath, timeout: 300, outputCap: 1 << 16)
        let result = try sandbox.run(command)
        guard result.succeeded else { throw RexError.invalidValue("could not unzip the upload into \(pythonRepr(target)): \(result.logTail(maxBytes: 800))") }
        return EmptyResponse()
    }

    private static func text(of path: String) -> String {
        FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }

    // MARK: - Submission

    /// The workspace's changes against `base_commit` as a binary git diff, made inside the
    /// sandbox (the agent controls `.git/config`: its git must never run on the host), through
    /// a throwaway index so the agent's own index is left alone.
    func diff() throws -> String {
        let stamp: Int = try state.withLock { (state) throws(RexError) in try state.checkOpen(id); return state.nextStamp() }
        let out = "\(control)/diff-\(stamp).out", err = "\(control)/diff-\(stamp).err"
        defer { unlink(out); unlink(err) }
        let script = """
        cp .git/index "$TMPDIR/forge-submit.index" 2>/dev/null; export GIT_INDEX_FILE="$TMPDIR/forge-submit.index"
        git add -A . && git -c core.quotePath=false diff --cached --binary --no-ext-diff --no-textconv --no-color --no-relative \
          --src-prefix=a/ --dst-prefix=b/ \(task.baseCommit)
        """
        let cap = 32 << 20
        let command = Command("/bin/sh", ["-c", script], logPath: out, environment: environmentVariables,
                              workingDirectory: Self.workspacePath, timeout: 300, streams: .separate(stderrLogPath: err), outputCap: cap)
        let result = try sandbox.run(command)
        guard result.succeeded else {
            throw RexError.runtime("cannot diff the workspace against base_commit \(task.baseCommit): " + Self.text(of: err).suffix(800))
        }
        guard !result.truncated else { throw RexError.invalidValue("the workspace's diff is larger than \(cap) bytes") }
        return Self.text(of: out)
    }

    // MARK: - Closing

    /// Kills every shell and process and removes the sandbox's files. Idempotent.
    public func close() {
        let open: [ShellSession] = state.withLock { state in
            state.isClosed = true
            defer { state.sessions = [:] }
            return Array(state.sessions.values)
        }
        for session in open { session.close() }
        try? FileManager.default.removeItem(atPath: folder)
    }
}
