import Foundation
import Workers
#if canImport(Glibc)
import Glibc
#endif

/// Runs commands in their own process group, streaming output to capped log files.
///
/// Built on `posix_spawn` rather than swift-subprocess: we need (a) the child in a fresh process
/// group so a timeout can signal the whole tree, (b) to notice the main process exiting while a
/// straggling grandchild still holds the output pipe (then the group is killed instead of waiting
/// for EOF forever), (c) bytes streamed to a file with a hard cap and no in-memory buffering, and
/// (d) a blocking variant usable from plain threads. Doing this directly is ~250 lines; with
/// swift-subprocess the exit-vs-EOF and post-exit group kill were not expressible.
///
/// Lifecycle: spawn → read pipes and poll for exit → at timeout/cancel SIGTERM the group and every
/// descendant (descendants cover trees in other sessions, such as bwrap's sandbox), SIGKILL them
/// after the grace period → when the main process exits, SIGKILL whatever is left in its group
/// (stragglers would otherwise keep the log pipe open) and wait (≤ 2 s) until they are gone →
/// drain the pipes (≤ 2 s) → reap. A process that left the group with setsid before a normal exit
/// is not tracked.
public struct CommandRunner: Sendable {
    public init() {}

    /// Runs `command` to completion on the calling thread.
    public func run(_ command: Command) throws -> CommandResult {
        try ProcessRun(command: command, cancellation: StopFlag()).execute()
    }

    /// Runs `command` on a dedicated thread (never blocking the cooperative pool). Cancelling the
    /// task kills the process group like a timeout does; the result then has `cancelled == true`.
    public func run(_ command: Command) async throws -> CommandResult {
        let flag = StopFlag()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<CommandResult, Error>) in
                let thread = Thread {
                    do {
                        continuation.resume(returning: try ProcessRun(command: command, cancellation: flag).execute())
                    } catch {
                        continuation.resume(throwing: error)
                    }
                }
                thread.name = "forge-command-runner"
                thread.start()
            }
        } onCancel: {
            flag.stop()
        }
    }
}

/// Seconds on the monotonic clock.
func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

/// Appends bytes to a log file up to a cap; counts the rest and notes the truncation at the end.
final class CappedLog {
    let path: String
    private let fd: Int32
    private let cap: Int
    private(set) var kept = 0
    private(set) var dropped = 0

    /// Logs often live in folders an earlier sandboxed command could write (a helper's scratch
    /// folder is reused): a link it left in the log's place is never followed (ELOOP), and only a
    /// regular file or a device (/dev/null) is written; a FIFO fails instead of blocking.
    init(path: String, cap: Int) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw CommandError.cannotOpenLog(path: path, errno: errno) }
        var info = stat()
        guard fstat(fd, &info) == 0, [S_IFREG, S_IFCHR].contains(info.st_mode & S_IFMT) else {
            close(fd)
            throw CommandError.cannotOpenLog(path: path, errno: EINVAL)
        }
        self.path = path
        self.fd = fd
        self.cap = max(0, cap)
    }

    func append(_ bytes: UnsafeRawBufferPointer) {
        let keep = min(cap - kept, bytes.count)
        if keep > 0 { writeAll(UnsafeRawBufferPointer(rebasing: bytes[0..<keep])) }
        kept += keep
        dropped += bytes.count - keep
    }

    /// Writes the truncation marker (if any) and closes the file.
    func finish() {
        if dropped > 0 {
            let marker = "\n[forge: output truncated at \(cap) bytes; \(dropped) more bytes dropped]\n"
            Array(marker.utf8).withUnsafeBytes { writeAll($0) }
        }
        close(fd)
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) {
        var offset = 0
        while offset < bytes.count {
            let n = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }  // disk full or similar: the log is best effort past this point
            offset += n
        }
    }
}

/// One spawned process and its run loop.
final class ProcessRun {
    private let command: Command
    private let cancellation: StopFlag
    /// How long to keep reading pipes after the main process exited and its group was killed
    /// (processes that escaped the group with setsid may still hold them).
    private let drainLimit = 2.0

    init(command: Command, cancellation: StopFlag) {
        self.command = command
        self.cancellation = cancellation
    }

    func execute() throws -> CommandResult {
        let environment = command.effectiveEnvironment
        let executablePath = try resolveExecutable(command.executable, environment: environment)
        if let directory = command.workingDirectory {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue
            else { throw CommandError.workingDirectoryMissing(directory) }
        }

        var logs: [CappedLog] = []
        defer { logs.forEach { $0.finish() } }
        logs.append(try CappedLog(path: command.logPath, cap: command.outputCap))
        if case .separate(let stderrPath) = command.streams {
            logs.append(try CappedLog(path: stderrPath, cap: command.outputCap))
        }

        // pipes[i] = (readEnd, writeEnd), both close-on-exec; the child gets dup2'd copies.
        var pipes: [(Int32, Int32)] = []
        defer { for (r, w) in pipes { if r >= 0 { close(r) }; if w >= 0 { close(w) } } }
        for _ in logs {
            var ends: [Int32] = [-1, -1]
            guard GNUExtensions.pipe2(&ends, O_CLOEXEC) == 0 else { throw CommandError.pipeFailed(errno: errno) }
            pipes.append((ends[0], ends[1]))
        }

        let start = monotonicSeconds()
        let pid = try spawn(executablePath, environment: environment,
                            stdoutFD: pipes[0].1, stderrFD: pipes.count > 1 ? pipes[1].1 : pipes[0].1)
        // Our copies of the write ends must go, or we would never see EOF.
        for i in pipes.indices { close(pipes[i].1); pipes[i].1 = -1 }

        var readers: [(fd: Int32, log: CappedLog)] = pipes.indices.map { (pipes[$0].0, logs[$0]) }
        var status: Int32? = nil
        var family = ProcessFamily(group: pid)
        var survivors: [pid_t] = []
        var exitedAt = 0.0
        var termSentAt: Double? = nil
        var killSent = false
        var timedOut = false
        var cancelled = false
        var idleWait = 0.001
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 8)
        defer { buffer.deallocate() }

        while true {
            let now = monotonicSeconds()
            if status == nil, mainProcessExited(pid) {
                // Still a zombie, so the group id cannot be reused: clear out stragglers, wait for
                // them to be gone, then reap.
                if termSentAt != nil { family.signal(SIGKILL) } else { kill(-pid, SIGKILL) }
                survivors = family.waitUntilGone(limit: drainLimit)
                var raw: Int32 = 0
                while waitpid(pid, &raw, 0) < 0 && errno == EINTR {}
                status = raw
                exitedAt = monotonicSeconds()
            }
            if status != nil && (readers.isEmpty || now - exitedAt > drainLimit) { break }

            if status == nil {
                if termSentAt == nil {
                    if let limit = command.timeout, now - start >= limit { timedOut = true }
                    if cancellation.isStopped { cancelled = true }
                    if timedOut || cancelled {
                        family.rememberDescendants()
                        family.signal(SIGTERM, descendantsOnly: command.spareMainProcessOnTerminate)
                        termSentAt = now
                    }
                } else if !killSent, now - termSentAt! >= command.killGracePeriod {
                    family.rememberDescendants()
                    family.signal(SIGKILL)
                    killSent = true
                }
            }

            // Sleep in poll until output arrives or the next check is due.
            var waitSeconds = idleWait
            if status == nil, termSentAt == nil, let limit = command.timeout {
                waitSeconds = min(waitSeconds, max(0, start + limit - now))
            }
            var pollSet = readers.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
            let ready = poll(&pollSet, nfds_t(pollSet.count), Int32((waitSeconds * 1000).rounded(.up)))
            if ready <= 0 {
                idleWait = min(idleWait * 2, 0.05)
                continue
            }
            idleWait = 0.001
            var closed: Set<Int32> = []
            for entry in pollSet where entry.revents != 0 {
                let reader = readers.first { $0.fd == entry.fd }!
                let n = read(entry.fd, buffer.baseAddress!, buffer.count)
                if n > 0 {
                    reader.log.append(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
                    closed.insert(entry.fd)
                }
            }
            readers.removeAll { closed.contains($0.fd) }
        }

        let wall = monotonicSeconds() - start
        let raw = status!
        let termination: Termination = (raw & 0x7f) == 0
            ? .exited((raw >> 8) & 0xff)
            : .signaled(raw & 0x7f)
        return CommandResult(
            termination: termination,
            wallSeconds: wall,
            timedOut: timedOut,
            cancelled: cancelled,
            truncated: logs.contains { $0.dropped > 0 },
            outputBytes: logs.reduce(0) { $0 + $1.kept + $1.dropped },
            logPath: command.logPath,
            stderrLogPath: logs.count > 1 ? logs[1].path : nil,
            commandLine: command.commandLine,
            survivingProcesses: survivors)
    }

    /// True once the main process has exited; leaves it unreaped (WNOWAIT).
    private func mainProcessExited(_ pid: pid_t) -> Bool {
        var info = siginfo_t()
        while true {
            let rc = waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT)
            if rc == 0 { return info._sifields._sigchld.si_pid == pid }
            if errno != EINTR { return true }  // ECHILD: already gone
        }
    }

    private func spawn(_ path: String, environment: [String: String], stdoutFD: Int32, stderrFD: Int32) throws -> pid_t {
        try spawnInOwnGroup(path, argv: [command.executable] + command.arguments, environment: environment,
                            workingDirectory: command.workingDirectory, stdinFD: nil, stdoutFD: stdoutFD, stderrFD: stderrFD)
    }
}

/// posix_spawn in a fresh process group (pgid = child pid) so timeouts can signal the whole tree,
/// with default signal dispositions and an empty mask (the child must not inherit our SIGPIPE
/// ignore), descriptors 0/1/2 from the given ones (stdin /dev/null when nil) and nothing else.
func spawnInOwnGroup(_ path: String, argv arguments: [String], environment: [String: String], workingDirectory: String?,
                     stdinFD: Int32?, stdoutFD: Int32, stderrFD: Int32) throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    if let stdinFD {
        posix_spawn_file_actions_adddup2(&actions, stdinFD, 0)
    } else {
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    }
    posix_spawn_file_actions_adddup2(&actions, stdoutFD, 1)
    posix_spawn_file_actions_adddup2(&actions, stderrFD, 2)
    // Descriptors other threads opened without O_CLOEXEC must not leak into the child.
    _ = GNUExtensions.addCloseFrom(&actions, 3)
    if let workingDirectory {
        _ = GNUExtensions.addChdir(&actions, workingDirectory)
    }

    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    posix_spawnattr_setpgroup(&attributes, 0)
    var noSignals = sigset_t()
    sigemptyset(&noSignals)
    posix_spawnattr_setsigmask(&attributes, &noSignals)
    var allSignals = sigset_t()
    sigfillset(&allSignals)
    posix_spawnattr_setsigdefault(&attributes, &allSignals)

    let argv = arguments.map { strdup($0) }
    let envp = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") }
    defer { (argv + envp).forEach { free($0) } }
    var pid: pid_t = 0
    let rc = (argv + [nil]).withUnsafeBufferPointer { argvBuffer in
        (envp + [nil]).withUnsafeBufferPointer { envBuffer in
            posix_spawn(&pid, path, &actions, &attributes,
                        UnsafeMutablePointer(mutating: argvBuffer.baseAddress!),
                        UnsafeMutablePointer(mutating: envBuffer.baseAddress!))
        }
    }
    guard rc == 0 else { throw CommandError.spawnFailed(executable: path, errno: rc) }
    return pid
}

/// The default search path execvp uses when PATH is unset.
let defaultSearchPath = "/usr/local/bin:/usr/bin:/bin"

/// Resolves a bare program name against the PATH the child will see.
func resolveExecutable(_ name: String, environment: [String: String]) throws -> String {
    if name.contains("/") { return name }
    let searchPath = environment["PATH"] ?? defaultSearchPath
    for directory in searchPath.split(separator: ":", omittingEmptySubsequences: true) {
        let candidate = "\(directory)/\(name)"
        if access(candidate, X_OK) == 0 { return candidate }
    }
    throw CommandError.executableNotFound(name: name, searchPath: searchPath)
}

/// glibc functions that Swift's Glibc module hides (they need _GNU_SOURCE), looked up once by
/// name. All exist since glibc 2.34; Linux-only like the rest of this module.
enum GNUExtensions {
    typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32
    typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    typealias AddChdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32

    static let pipe2: Pipe2 = symbol("pipe2")
    static let addCloseFrom: AddCloseFrom = symbol("posix_spawn_file_actions_addclosefrom_np")
    static let addChdir: AddChdir = symbol("posix_spawn_file_actions_addchdir_np")

    private static func symbol<F>(_ name: String) -> F {
        guard let address = dlsym(nil, name) else {
            fatalError("glibc lacks \(name) (need glibc >= 2.34)")
        }
        return unsafeBitCast(address, to: F.self)
    }
}
