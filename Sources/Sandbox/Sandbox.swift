import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A path made visible inside the sandbox, at the same or another location.
public struct BindMount: Sendable, Hashable {
    public var source: String
    public var destination: String

    /// Binds `source` at `destination` (default: the same path).
    public init(_ source: String, at destination: String? = nil) {
        self.source = source
        self.destination = destination ?? source
    }
}

/// What a sandboxed command may see and touch.
///
/// The bubblewrap sandbox is: the host root read-only, fresh /dev, /proc and /tmp, the work
/// directory writable, extra binds as requested, no network, its own pid/ipc/uts namespaces where
/// the kernel allows, a new session, and an environment of exactly `Command.environment`.
public struct SandboxPolicy: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        /// Run directly on the host (the CLI's --no-sandbox).
        case unsandboxed
        /// Run under bubblewrap.
        case bubblewrap
    }

    public var kind: Kind
    /// The only host directory the command may write to (bound read-write at the same path).
    public var workDirectory: String
    /// Extra host paths visible read-only (e.g. a virtual environment shared between tasks).
    /// Under the read-only root everything is visible anyway, except what lives under /tmp.
    public var readOnlyBinds: [BindMount]
    /// Extra host paths visible read-write (e.g. a uv cache).
    public var readWriteBinds: [BindMount]
    /// Keep the host network (default: off, `--unshare-net`).
    public var allowNetwork: Bool
    /// The bwrap binary; nil looks up `bwrap` in /usr/local/bin:/usr/bin:/bin.
    public var bwrapPath: String?
    /// Host paths made invisible before the binds are mounted (an empty tmpfs over a directory,
    /// /dev/null over a file): the read-only root would otherwise show them, e.g. other tasks'
    /// workspaces, clones with later history, or the task store. Binds below them still appear.
    public var hiddenPaths: [String] = []

    /// No sandbox: commands run directly on the host.
    public static let none = SandboxPolicy(kind: .unsandboxed, workDirectory: "", readOnlyBinds: [],
                                           readWriteBinds: [], allowNetwork: true, bwrapPath: nil)

    /// A bubblewrap sandbox writable only in `workDirectory` (plus `readWrite`).
    public static func bubblewrap(
        workDirectory: String,
        readOnly: [BindMount] = [],
        readWrite: [BindMount] = [],
        allowNetwork: Bool = false,
        bwrapPath: String? = nil,
        hidden: [String] = []
    ) -> SandboxPolicy {
        SandboxPolicy(kind: .bubblewrap, workDirectory: workDirectory, readOnlyBinds: readOnly,
                      readWriteBinds: readWrite, allowNetwork: allowNetwork, bwrapPath: bwrapPath, hiddenPaths: hidden)
    }

    /// The bwrap argv (without the bwrap binary itself) that runs `command` under this policy.
    /// `unshareNamespaces` adds --unshare-pid/ipc/uts (see `SandboxCapabilities`).
    public func bubblewrapArguments(for command: Command, unshareNamespaces: Bool) -> [String] {
        var args = ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
        for path in hiddenPaths where !path.hasPrefix("/tmp/") { // the fresh /tmp hides those already
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { continue }
            args += isDirectory.boolValue ? ["--tmpfs", path] : ["--ro-bind", "/dev/null", path]
        }
        // After the tmpfs, so binds under /tmp land on it (bwrap creates their mount points there;
        // under the read-only root only existing paths can be mount points).
        for bind in readOnlyBinds { args += ["--ro-bind", bind.source, bind.destination] }
        for bind in readWriteBinds { args += ["--bind", bind.source, bind.destination] }
        args += ["--bind", workDirectory, workDirectory]
        if !allowNetwork { args.append("--unshare-net") }
        if unshareNamespaces { args += ["--unshare-pid", "--unshare-ipc", "--unshare-uts"] }
        args += ["--die-with-parent", "--new-session", "--clearenv"]
        for (key, value) in command.effectiveEnvironment.sorted(by: { $0.key < $1.key }) {
            args += ["--setenv", key, value]
        }
        args += ["--chdir", command.workingDirectory ?? workDirectory, "--"]
        let environment = command.effectiveEnvironment
        let program = (try? resolveExecutable(command.executable, environment: environment)) ?? command.executable
        return args + [program] + command.arguments
    }
}

/// What the bubblewrap probe found.
public struct SandboxCapabilities: Sendable, Hashable {
    /// Absolute path of the bwrap binary.
    public var bwrapPath: String
    /// Whether pid/ipc/uts namespaces could be created besides the network namespace. Without a
    /// pid namespace, grandchildren that outlive a killed sandbox are not guaranteed to die.
    public var unshareNamespaces: Bool
}

/// Why sandboxed runs cannot happen.
public enum SandboxError: Error, Sendable, Hashable, CustomStringConvertible {
    /// bwrap is missing or cannot create the namespaces it needs.
    case unavailable(String)
    /// The policy's work directory or a bind source does not exist.
    case missingPath(String, role: String)

    public var description: String {
        switch self {
        case .unavailable(let reason):
            return "sandbox unavailable: \(reason); install bubblewrap (apt-get install bubblewrap) "
                + "and allow unprivileged user namespaces, or pass --no-sandbox to run tests unsandboxed"
        case .missingPath(let path, let role):
            return "sandbox \(role) \(path) does not exist"
        }
    }
}

/// Runs commands under a `SandboxPolicy`.
public struct Sandbox: Sendable {
    public let policy: SandboxPolicy
    /// nil for the unsandboxed policy.
    public let capabilities: SandboxCapabilities?
    private let runner = CommandRunner()

    /// Checks that the policy can be enforced here (bwrap present and able to create namespaces)
    /// and that its paths exist. Throws `SandboxError`.
    public init(policy: SandboxPolicy) throws {
        self.policy = policy
        guard policy.kind == .bubblewrap else {
            capabilities = nil
            return
        }
        let manager = FileManager.default
        guard manager.fileExists(atPath: policy.workDirectory) else {
            throw SandboxError.missingPath(policy.workDirectory, role: "work directory")
        }
        for bind in policy.readOnlyBinds + policy.readWriteBinds where !manager.fileExists(atPath: bind.source) {
            throw SandboxError.missingPath(bind.source, role: "bind source")
        }
        capabilities = try Sandbox.probe(bwrapPath: policy.bwrapPath)
    }

    /// The command as it will actually be spawned: bwrap with its arguments, or `command` itself.
    public func wrap(_ command: Command) -> Command {
        guard let capabilities else { return command }
        var wrapped = command
        wrapped.executable = capabilities.bwrapPath
        wrapped.arguments = policy.bubblewrapArguments(for: command, unshareNamespaces: capabilities.unshareNamespaces)
        // bwrap itself gets an empty environment; the child's comes from --setenv.
        wrapped.environment = [:]
        wrapped.inheritEnvironment = false
        wrapped.workingDirectory = nil
        wrapped.spareMainProcessOnTerminate = true
        return wrapped
    }

    /// Runs `command` in the sandbox on the calling thread.
    public func run(_ command: Command) throws -> CommandResult {
        try runner.run(wrap(command))
    }

    /// Runs `command` in the sandbox without blocking the cooperative pool.
    public func run(_ command: Command) async throws -> CommandResult {
        try await runner.run(wrap(command))
    }

    // MARK: - Probe

    private static let probeLock = NSLock()
    nonisolated(unsafe) private static var probeCache: [String: Result<SandboxCapabilities, SandboxError>] = [:]

    /// Finds bwrap and checks, once per binary and process, which namespaces it can create.
    public static func probe(bwrapPath: String? = nil) throws -> SandboxCapabilities {
        let key = bwrapPath ?? ""
        probeLock.lock()
        defer { probeLock.unlock() }
        if let cached = probeCache[key] { return try cached.get() }
        let result = Result { try runProbe(bwrapPath: bwrapPath) }.mapError { $0 as! SandboxError }
        probeCache[key] = result
        return try result.get()
    }

    private static func runProbe(bwrapPath: String?) throws -> SandboxCapabilities {
        let path: String
        if let bwrapPath {
            guard access(bwrapPath, X_OK) == 0 else { throw SandboxError.unavailable("\(bwrapPath) is not an executable") }
            path = bwrapPath
        } else {
            guard let found = try? resolveExecutable("bwrap", environment: [:]) else {
                throw SandboxError.unavailable("bwrap not found in \(defaultSearchPath)")
            }
            path = found
        }
        let logPath = NSTemporaryDirectory() + "/forge-bwrap-probe-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).log"
        defer { unlink(logPath) }
        let base = ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
                    "--unshare-net", "--die-with-parent", "--new-session", "--clearenv"]
        let namespaces = ["--unshare-pid", "--unshare-ipc", "--unshare-uts"]
        func works(_ extra: [String]) -> Bool {
            let probe = Command(path, base + extra + ["--", "/bin/true"], logPath: logPath, timeout: 20, killGracePeriod: 1,
                                outputCap: 4096)
            return (try? CommandRunner().run(probe))?.succeeded ?? false
        }
        if works(namespaces) { return SandboxCapabilities(bwrapPath: path, unshareNamespaces: true) }
        if works([]) { return SandboxCapabilities(bwrapPath: path, unshareNamespaces: false) }
        let message = (try? String(contentsOfFile: logPath, encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        throw SandboxError.unavailable("\(path) cannot create a sandbox with a private network namespace"
            + (message.isEmpty ? "" : " (\(message.split(separator: "\n").first ?? ""))"))
    }
}
