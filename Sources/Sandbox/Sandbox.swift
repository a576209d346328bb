import Foundation
import Synchronization
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
/// The bubblewrap sandbox is: the host root read-only, with root's home, /home, /run, /var/tmp,
/// the registered `SensitivePaths` and the policy's `hiddenPaths` replaced by empty read-only
/// tmpfs; fresh /dev, /proc, and size-limited /tmp and /dev/shm; the work directory and the
/// other binds mounted on top; no network; its own pid, ipc, uts and user namespaces; a new
/// session; an environment of exactly `Command.environment`. The command runs as uid/gid 65534
/// inside a user namespace with no capabilities and no way to make further user namespaces,
/// under the policy's `ResourceLimits`. When Forge itself runs as root, the sandbox is built in
/// two steps (`SandboxCapabilities.privilegeDrop`): bubblewrap as root lays out the mounts,
/// then `setpriv` becomes the unprivileged host uid and a second bubblewrap creates the user
/// namespace, so nothing in the sandbox is root on the host.
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
    public var readOnlyBinds: [BindMount]
    /// Extra host paths visible read-write (e.g. a uv cache).
    public var readWriteBinds: [BindMount]
    /// Keep the host network (default: off, `--unshare-net`). Only environment builds keep it.
    public var allowNetwork: Bool
    /// The bwrap binary; nil looks up `bwrap` in /usr/local/bin:/usr/bin:/bin.
    public var bwrapPath: String?
    /// Host paths made invisible (an empty tmpfs over a directory, /dev/null over a file) on top
    /// of `SandboxPolicy.alwaysHidden` and `SensitivePaths`: other tasks' workspaces, clones with
    /// later history, the task store. Binds below them still appear.
    public var hiddenPaths: [String] = []
    /// What the run may consume.
    public var limits: ResourceLimits = .standard

    /// Hidden in every sandbox: homes (root's holds credentials and, here, pyenv), runtime
    /// sockets (/run: D-Bus, munge, container daemons), and other users' scratch files.
    public static let alwaysHidden = ["/root", "/home", "/run", "/var/tmp", "/mnt", "/media"]

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
        hidden: [String] = [],
        limits: ResourceLimits = .standard
    ) -> SandboxPolicy {
        SandboxPolicy(kind: .bubblewrap, workDirectory: workDirectory, readOnlyBinds: readOnly,
                      readWriteBinds: readWrite, allowNetwork: allowNetwork, bwrapPath: bwrapPath, hiddenPaths: hidden,
                      limits: limits)
    }

    /// Every bind, the work directory last, as (source, destination, writable).
    var allBinds: [(source: String, destination: String, writable: Bool)] {
        readOnlyBinds.map { ($0.source, $0.destination, false) } + readWriteBinds.map { ($0.source, $0.destination, true) }
            + [(workDirectory, workDirectory, true)]
    }

    /// Host directories the sandboxed uid must own to write: the work directory and writable binds.
    var writableSources: [String] { [workDirectory] + readWriteBinds.map(\.source) }

    /// The bwrap argv (without the bwrap binary itself) that runs `command` under this policy.
    public func bubblewrapArguments(for command: Command, capabilities: SandboxCapabilities) -> [String] {
        let manager = FileManager.default
        var args = ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
        let tmpfsSize = limits.tmpfsMB.map { ["--size", String($0 << 20)] } ?? []
        args += ["--perms", "1777"] + tmpfsSize + ["--tmpfs", "/tmp"]
        args += ["--perms", "1777"] + tmpfsSize + ["--tmpfs", "/dev/shm"]

        // Hidden directories get a tiny tmpfs (room for the mount points of binds below them),
        // made read-only once the binds are in place; hidden files get /dev/null.
        // Parents before children (a bind below another must be mounted after it), else as given.
        let binds = allBinds.enumerated().sorted {
            let depths = ($0.element.destination.split(separator: "/").count, $1.element.destination.split(separator: "/").count)
            return depths.0 != depths.1 ? depths.0 < depths.1 : $0.offset < $1.offset
        }.map(\.element)
        var hidden = Set(Self.alwaysHidden + SensitivePaths.all + hiddenPaths)
        // A bind below a directory the sandboxed uid cannot enter (a 0700 home, say) would be
        // unreachable: hide that directory, whose contents that uid could not read anyway.
        for bind in binds {
            if let closed = Self.firstClosedAncestor(of: bind.destination) { hidden.insert(closed) }
        }
        let ordered = hidden.map { ($0 as NSString).standardizingPath }
            .filter { $0 != "/" && $0 != "/tmp" && !$0.hasPrefix("/tmp/") && $0 != "/dev/shm" }
            .sorted()
        // Keep only the outermost of nested hidden paths.
        var outermost: [String] = []
        for path in ordered where !outermost.contains(where: { path.hasPrefix($0 + "/") }) { outermost.append(path) }
        let underBind = { (path: String) in binds.contains { path.hasPrefix($0.destination + "/") } }
        var hiddenDirectories: [String] = []
        func hide(_ paths: [String]) {
            for path in paths {
                var isDirectory: ObjCBool = false
                guard manager.fileExists(atPath: path, isDirectory: &isDirectory) else { continue }
                if isDirectory.boolValue {
                    args += ["--size", String(1 << 20), "--tmpfs", path]
                    hiddenDirectories.append(path)
                } else {
                    args += ["--ro-bind", "/dev/null", path]
                }
            }
        }
        hide(outermost.filter { !underBind($0) })
        for bind in binds { args += [bind.writable ? "--bind" : "--ro-bind", bind.source, bind.destination] }
        hide(outermost.filter(underBind))
        // Root's bubblewrap creates the mount points it needs on a fresh tmpfs (/tmp, a hidden
        // directory) with mode 0700: open them so the sandboxed uid can walk to its binds.
        // Directories of another bind (the interpreter's, holding uv's) are the host's, not made here.
        let mountedElsewhere = { (candidate: String) in
            binds.contains { candidate == $0.destination || candidate.hasPrefix($0.destination + "/") }
        }
        var opened = Set<String>()
        for bind in binds {
            guard let top = (["/tmp", "/dev/shm"] + hiddenDirectories).first(where: { bind.destination.hasPrefix($0 + "/") }) else { continue }
            var path = (bind.destination as NSString).deletingLastPathComponent
            while path.count > top.count, !mountedElsewhere(path), opened.insert(path).inserted {
                path = (path as NSString).deletingLastPathComponent
            }
        }
        for path in opened.sorted() { args += ["--chmod", "0755", path] }
        for path in hiddenDirectories { args += ["--remount-ro", path] }

        if !allowNetwork { args.append("--unshare-net") }
        args += ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
        args += ["--die-with-parent", "--new-session", "--clearenv"]
        for (key, value) in command.effectiveEnvironment.sorted(by: { $0.key < $1.key }) {
            args += ["--setenv", key, value]
        }
        let directory = command.workingDirectory ?? workDirectory
        args += ["--chdir", directory]
        let userNamespace = ["--unshare-user", "--uid", String(SandboxIdentity.insideID), "--gid", String(SandboxIdentity.insideID),
                             "--disable-userns", "--cap-drop", "ALL"]
        if let drop = capabilities.privilegeDrop {
            // Root's bubblewrap has made the mounts; now become the unprivileged uid and let a
            // second bubblewrap create the user namespace over the same view.
            args += ["--", drop.setprivPath, "--reuid=\(drop.uid)", "--regid=\(drop.gid)", "--clear-groups", "--inh-caps=-all",
                     "--", capabilities.bwrapPath, "--bind", "/", "/", "--dev-bind", "/dev", "/dev"]
                + userNamespace + ["--die-with-parent", "--chdir", directory]
        } else {
            args += userNamespace
        }
        args += ["--", capabilities.prlimitPath] + limits.prlimitOptions + ["--"]
        let environment = command.effectiveEnvironment
        let program = (try? resolveExecutable(command.executable, environment: environment)) ?? command.executable
        return args + [program] + command.arguments
    }

    /// The outermost ancestor of `path` (below /, outside /tmp) that others may not search.
    static func firstClosedAncestor(of path: String) -> String? {
        var current = ""
        for component in path.split(separator: "/").dropLast() {
            current += "/" + component
            if current == "/tmp" { return nil }
            var info = stat()
            guard stat(current, &info) == 0 else { return nil } // bwrap creates what is missing
            if info.st_mode & S_IXOTH == 0 { return current }
        }
        return nil
    }
}

/// Host paths no sandbox may see, registered once by whoever knows them (the CLI: its workspace,
/// store and clones), hidden in every sandbox the process makes after that.
public enum SensitivePaths {
    private static let paths = Mutex<[String]>([])

    /// Adds paths (made absolute and standardized) to the process-wide hidden set.
    public static func register(_ newPaths: [String]) {
        let absolute = newPaths.filter { !$0.isEmpty }.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
        paths.withLock { $0 = Array(Set($0 + absolute)).sorted() }
    }

    public static var all: [String] { paths.withLock { $0 } }
}

/// Who sandboxed code is: uid/gid 65534 (nobody) inside its user namespace, and on the host the
/// unprivileged `hostID` when Forge runs as root (otherwise Forge's own uid, as bubblewrap maps it).
public enum SandboxIdentity {
    public static let insideID: UInt32 = 65534
    /// `FORGE_SANDBOX_UID` or 65534: the host uid and gid sandboxes run as when Forge is root.
    public static var hostID: UInt32 {
        ProcessInfo.processInfo.environment["FORGE_SANDBOX_UID"].flatMap { UInt32($0) }.flatMap { $0 == 0 ? nil : $0 } ?? 65534
    }

    /// Gives `paths` (recursively, never following symbolic links) to the sandbox's host uid, so
    /// the unprivileged sandbox can write there; a no-op unless Forge runs as root.
    static func handOver(_ paths: [String], to drop: SandboxCapabilities.PrivilegeDrop?) {
        guard let drop else { return }
        for root in paths { handOver(root, uid: drop.uid, gid: drop.gid) }
    }

    private static func handOver(_ path: String, uid: UInt32, gid: UInt32) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        if info.st_uid != uid || info.st_gid != gid { _ = lchown(path, uid, gid) }
        guard info.st_mode & S_IFMT == S_IFDIR, let directory = opendir(path) else { return }
        defer { closedir(directory) }
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name == "." || name == ".." { continue }
            handOver(path + "/" + name, uid: uid, gid: gid)
        }
    }
}

/// What the bubblewrap probe found.
public struct SandboxCapabilities: Sendable, Hashable {
    /// How a root Forge becomes unprivileged before the user namespace is made.
    public struct PrivilegeDrop: Sendable, Hashable {
        public var setprivPath: String
        public var uid: UInt32
        public var gid: UInt32
    }
    /// Absolute path of the bwrap binary.
    public var bwrapPath: String
    /// Absolute path of util-linux's prlimit (sets the resource limits inside the sandbox).
    public var prlimitPath: String
    /// Set when Forge runs as root.
    public var privilegeDrop: PrivilegeDrop?
}

/// Why sandboxed runs cannot happen.
public enum SandboxError: Error, Sendable, Hashable, CustomStringConvertible {
    /// bwrap (or prlimit/setpriv) is missing or the kernel cannot give the namespaces needed.
    case unavailable(String)
    /// The policy's work directory or a bind source does not exist.
    case missingPath(String, role: String)

    public var description: String {
        switch self {
        case .unavailable(let reason):
            return "sandbox unavailable: \(reason); install bubblewrap and util-linux (apt-get install bubblewrap util-linux) "
                + "on a kernel that allows user namespaces, or pass --no-sandbox to run untrusted code unconfined"
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

    /// Checks that the policy can be enforced here (the whole confinement, user namespace
    /// included) and that its paths exist. Throws `SandboxError`.
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
    /// Hands the writable directories to the sandbox's uid first (when Forge is root).
    public func wrap(_ command: Command) -> Command {
        guard let capabilities else { return command }
        SandboxIdentity.handOver(policy.writableSources, to: capabilities.privilegeDrop)
        var wrapped = command
        wrapped.executable = capabilities.bwrapPath
        wrapped.arguments = policy.bubblewrapArguments(for: command, capabilities: capabilities)
        // bwrap itself gets an empty environment; the child's comes from --setenv.
        wrapped.environment = [:]
        wrapped.inheritEnvironment = false
        wrapped.workingDirectory = nil
        wrapped.spareMainProcessOnTerminate = true
        return wrapped
    }

    /// Runs `command` in the sandbox on the calling thread.
    public func run(_ command: Command) throws -> CommandResult {
        judged(try runner.run(wrap(command)))
    }

    /// Runs `command` in the sandbox without blocking the cooperative pool.
    public func run(_ command: Command) async throws -> CommandResult {
        judged(try await runner.run(wrap(command)))
    }

    /// Names the resource limit a failed sandboxed run ran into, if its end shows one.
    private func judged(_ result: CommandResult) -> CommandResult {
        guard capabilities != nil, !result.succeeded, !result.cancelled else { return result }
        var judged = result
        judged.resourceLimit = ResourceLimitHit.detect(termination: result.termination, logTail: result.logTail(maxBytes: 64 << 10))
        return judged
    }

    // MARK: - Probe

    private static let probeCache = Mutex<[String: Result<SandboxCapabilities, SandboxError>]>([:])

    /// Finds bwrap, prlimit and (as root) setpriv, and checks once per binary and process that
    /// the whole confinement works: a command really runs as the unprivileged uid.
    public static func probe(bwrapPath: String? = nil) throws -> SandboxCapabilities {
        let key = bwrapPath ?? ""
        return try probeCache.withLock { cache in
            if let cached = cache[key] { return cached }
            let result = Result { try runProbe(bwrapPath: bwrapPath) }.mapError { $0 as! SandboxError }
            cache[key] = result
            return result
        }.get()
    }

    private static func locate(_ name: String, explicit: String? = nil) throws -> String {
        if let explicit {
            guard access(explicit, X_OK) == 0 else { throw SandboxError.unavailable("\(explicit) is not an executable") }
            return explicit
        }
        guard let found = try? resolveExecutable(name, environment: ["PATH": defaultSearchPath + ":/usr/sbin:/sbin"]) else {
            throw SandboxError.unavailable("\(name) not found in \(defaultSearchPath)")
        }
        return found
    }

    private static func runProbe(bwrapPath: String?) throws -> SandboxCapabilities {
        var capabilities = SandboxCapabilities(bwrapPath: try locate("bwrap", explicit: bwrapPath), prlimitPath: try locate("prlimit"))
        if geteuid() == 0 {
            let id = SandboxIdentity.hostID
            capabilities.privilegeDrop = .init(setprivPath: try locate("setpriv"), uid: id, gid: id)
        }
        let scratch = NSTemporaryDirectory() + "/forge-bwrap-probe-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        // Without the folder the probe below fails, which reports the capability as missing.
        try? FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        // The probe's log lives outside the sandbox's writable folder.
        let logPath = scratch + ".log"
        defer { unlink(logPath) }
        let policy = SandboxPolicy.bubblewrap(workDirectory: scratch, limits: ResourceLimits(processes: 64))
        let expected = SandboxIdentity.insideID
        let check = Command("/bin/sh", ["-c", "test \"$(id -u)\" = \(expected) && ! grep -q '^CapEff:.*[1-9a-f]' /proc/self/status"],
                            logPath: logPath, environment: ["PATH": defaultSearchPath], workingDirectory: scratch,
                            timeout: 20, killGracePeriod: 1, outputCap: 4096)
        let sandbox = Sandbox(policy: policy, capabilities: capabilities)
        if let result = try? CommandRunner().run(sandbox.wrap(check)), result.succeeded { return capabilities }
        let message = (try? String(contentsOfFile: logPath, encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        throw SandboxError.unavailable("\(capabilities.bwrapPath) cannot create an unprivileged sandbox with its own user, pid and network namespaces"
            + (message.isEmpty ? "" : " (\(message.split(separator: "\n").first ?? ""))"))
    }

    private init(policy: SandboxPolicy, capabilities: SandboxCapabilities) {
        self.policy = policy
        self.capabilities = capabilities
    }
}
