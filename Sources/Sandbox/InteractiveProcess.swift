import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A long-lived process (under a sandbox's policy) driven through pipes: its stdin is written,
/// its stdout and stderr come back merged through one pipe. For persistent shells, which
/// `CommandRunner` (run to completion, stdin /dev/null) cannot be.
///
/// Owns the pid and both pipe ends. `terminate()` (and deinit) SIGKILLs the whole tree: its
/// group and every descendant, which covers bwrap's sandboxed processes in their own session.
public final class InteractiveProcess: Sendable {
    /// The spawned process (bwrap when sandboxed).
    public let pid: pid_t
    private struct Pipes {
        var stdinFD: Int32
        var outputFD: Int32
        var reaped = false
    }
    private let pipes: Mutex<Pipes>

    /// Spawns `command` wrapped by `sandbox` (its log path is not used: output comes back here).
    public init(_ command: Command, sandbox: Sandbox) throws {
        // Writing to a shell that died must be an error, not a process-killing signal.
        signal(SIGPIPE, SIG_IGN)
        let wrapped = sandbox.wrap(command)
        let environment = wrapped.effectiveEnvironment
        let path = try resolveExecutable(wrapped.executable, environment: environment)
        var input: [Int32] = [-1, -1], output: [Int32] = [-1, -1]
        guard GNUExtensions.pipe2(&input, O_CLOEXEC) == 0 else { throw CommandError.pipeFailed(errno: errno) }
        guard GNUExtensions.pipe2(&output, O_CLOEXEC) == 0 else {
            close(input[0]); close(input[1])
            throw CommandError.pipeFailed(errno: errno)
        }
        defer { close(input[0]); close(output[1]) } // the child's ends
        do {
            let (stdin, stdout) = (input[0], output[1])
            pid = try SpawnerThread.shared.perform {
                try spawnInOwnGroup(path, argv: [wrapped.executable] + wrapped.arguments, environment: environment,
                                    workingDirectory: wrapped.workingDirectory, stdinFD: stdin, stdoutFD: stdout, stderrFD: stdout)
            }
        } catch {
            close(input[1]); close(output[0])
            throw error
        }
        pipes = Mutex(Pipes(stdinFD: input[1], outputFD: output[0]))
    }

    deinit { terminate() }

    /// Writes all of `text` to the process's stdin. Throws when it has closed its end.
    public func write(_ text: String) throws {
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let fd = pipes.withLock { $0.stdinFD }
            guard fd >= 0 else { throw CommandError.pipeFailed(errno: EPIPE) }
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, bytes.count - offset) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw CommandError.pipeFailed(errno: errno) }
            offset += n
        }
    }

    /// Output available within `timeout` seconds: some bytes, [] when none came, nil at end of file.
    public func read(timeout: Double) -> [UInt8]? {
        let fd = pipes.withLock { $0.outputFD }
        guard fd >= 0 else { return nil }
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ready = poll(&entry, 1, Int32(max(0, timeout * 1000).rounded(.up)))
        if ready <= 0 { return [] }
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, $0.count) }
        if n > 0 { return Array(buffer[0..<n]) }
        if n < 0 && (errno == EINTR || errno == EAGAIN) { return [] }
        return nil
    }

    /// Whether the main process is still running.
    public var isRunning: Bool {
        pipes.withLock { pipes in
            guard !pipes.reaped else { return false }
            var info = siginfo_t()
            let rc = waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT)
            return rc == 0 && info._sifields._sigchld.si_pid == 0
        }
    }

    /// The first process below the main one whose name (`/proc/PID/comm`) is `name`: the program
    /// bwrap started, in the host's pid numbering.
    public func descendant(named name: String) -> pid_t? {
        for entry in ProcessTable.descendants(of: pid).sorted(by: { $0.startTime < $1.startTime }) {
            let comm = (try? String(contentsOfFile: "/proc/\(entry.pid)/comm", encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines)
            if comm == name { return entry.pid }
        }
        return nil
    }

    /// Sends `signal` to every live process below `root` and, when `includingRoot`, to `root`:
    /// what a terminal's ^C does to a shell's foreground job when there is no terminal.
    public static func signalTree(rootedAt root: pid_t, _ signal: Int32, includingRoot: Bool) {
        if includingRoot { kill(root, signal) }
        for entry in ProcessTable.descendants(of: root) where entry.isLive { kill(entry.pid, signal) }
    }

    /// Closes stdin (a shell then exits by itself), waits up to `grace` seconds, then kills the
    /// whole tree and reaps it. Idempotent.
    public func terminate(grace: Double = 0) {
        pipes.withLock { pipes in
        guard !pipes.reaped else { return }
        if pipes.stdinFD >= 0 { close(pipes.stdinFD); pipes.stdinFD = -1 }
        let deadline = monotonicSeconds() + grace
        var info = siginfo_t()
        while monotonicSeconds() < deadline {
            if waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0, info._sifields._sigchld.si_pid == pid { break }
            usleep(5_000)
        }
        var family = ProcessFamily(group: pid)
        family.rememberDescendants()
        family.signal(SIGKILL)
        family.waitUntilGone(limit: 2)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        pipes.reaped = true
        if pipes.outputFD >= 0 { close(pipes.outputFD); pipes.outputFD = -1 }
        }
    }
}

/// One thread that lives as long as the process and spawns every long-lived child. bwrap's
/// --die-with-parent is PR_SET_PDEATHSIG, which fires when the *thread* that forked it exits:
/// a child spawned from a request's short-lived thread would be killed with that thread.
final class SpawnerThread: Sendable {
    static let shared = SpawnerThread()
    private let jobs = Mutex<[@Sendable () -> Void]>([])
    /// One signal per job queued.
    private let queued = DispatchSemaphore(value: 0)

    private init() {
        let thread = Thread { [self] in
            while true {
                queued.wait()
                let job = jobs.withLock { $0.removeFirst() }
                job()
            }
        }
        thread.name = "forge-spawner"
        thread.start()
    }

    /// Runs `work` on the spawner thread and waits for it.
    func perform<T: Sendable>(_ work: @escaping @Sendable () throws -> T) throws -> T {
        let result = Mutex<Result<T, Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        jobs.withLock { $0.append { result.withLock { $0 = Result { try work() } }; done.signal() } }
        queued.signal()
        done.wait()
        return try result.withLock { $0! }.get()
    }
}
