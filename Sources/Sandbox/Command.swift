import Foundation

/// Where a command's standard output and standard error go. Both are always streamed to files
/// on disk (never collected in memory) and each file is capped at `Command.outputCap` bytes.
public enum OutputStreams: Sendable, Hashable, Codable {
    /// stdout and stderr share one pipe and one log file (`Command.logPath`), interleaved in the
    /// order the child wrote them.
    case merged
    /// stdout goes to `Command.logPath`, stderr to the given path; each has its own cap.
    case separate(stderrLogPath: String)
}

/// One process to run: explicit argv, environment, working directory, time limit and log.
public struct Command: Sendable, Hashable, Codable {
    /// The program: an absolute/relative path, or a bare name looked up in the `PATH` of
    /// `environment` (not of the calling process).
    public var executable: String
    /// Arguments after the program name (argv[1...]).
    public var arguments: [String]
    /// The child's complete environment. Nothing is inherited unless `inheritEnvironment` is set.
    public var environment: [String: String]
    /// Start from the calling process's environment and overlay `environment` on it.
    public var inheritEnvironment: Bool
    /// Directory the child starts in; nil keeps the caller's.
    public var workingDirectory: String?
    /// Wall-clock limit in seconds; nil means none. At the limit the whole process group gets
    /// SIGTERM, and SIGKILL after `killGracePeriod` seconds.
    public var timeout: Double?
    /// Seconds between SIGTERM and SIGKILL when the timeout (or a task cancellation) hits.
    public var killGracePeriod: Double
    /// Log file for stdout (and stderr when `streams == .merged`). Truncated on start.
    public var logPath: String
    /// How stdout and stderr are split between log files.
    public var streams: OutputStreams
    /// At the timeout, send SIGTERM only to the main process's descendants and let the main
    /// process exit when they do. For supervisors such as bwrap, which die at SIGTERM and then
    /// SIGKILL the sandbox, so the command would never see a graceful SIGTERM. SIGKILL after the
    /// grace period still hits everything.
    public var spareMainProcessOnTerminate: Bool = false
    /// Bytes kept per log file; the rest is read and dropped (so the child never blocks on a
    /// full pipe) and a one-line truncation marker is appended.
    public var outputCap: Int

    public init(
        _ executable: String,
        _ arguments: [String] = [],
        logPath: String,
        environment: [String: String] = [:],
        inheritEnvironment: Bool = false,
        workingDirectory: String? = nil,
        timeout: Double? = nil,
        killGracePeriod: Double = 5,
        streams: OutputStreams = .merged,
        outputCap: Int = 16 << 20
    ) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.inheritEnvironment = inheritEnvironment
        self.workingDirectory = workingDirectory
        self.timeout = timeout
        self.killGracePeriod = killGracePeriod
        self.logPath = logPath
        self.streams = streams
        self.outputCap = outputCap
    }

    /// The environment the child actually receives.
    public var effectiveEnvironment: [String: String] {
        guard inheritEnvironment else { return environment }
        return ProcessInfo.processInfo.environment.merging(environment) { _, chosen in chosen }
    }

    /// argv as one shell-quoted line, for logs and records.
    public var commandLine: String {
        ([executable] + arguments).map(shellQuoted).joined(separator: " ")
    }
}

/// How the main process ended.
public enum Termination: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Normal exit with this status.
    case exited(Int32)
    /// Killed by this signal number.
    case signaled(Int32)

    public var description: String {
        switch self {
        case .exited(let code): return "exit \(code)"
        case .signaled(let signal): return "signal \(signal)"
        }
    }
}

/// What happened to one command run.
public struct CommandResult: Sendable, Hashable, Codable {
    /// Exit status or signal of the main process.
    public var termination: Termination
    /// Wall-clock seconds from spawn until the process was reaped and its output drained.
    public var wallSeconds: Double
    /// The timeout hit and the process group was killed.
    public var timedOut: Bool
    /// The surrounding Swift task was cancelled and the process group was killed.
    public var cancelled: Bool
    /// Some output was dropped because a log file reached `outputCap`.
    public var truncated: Bool
    /// Total bytes the child wrote (stdout + stderr), kept or dropped.
    public var outputBytes: Int
    /// The stdout (or merged) log file.
    public var logPath: String
    /// The separate stderr log file, if `OutputStreams.separate` was used.
    public var stderrLogPath: String?
    /// The command line that ran (after sandbox wrapping, if any).
    public var commandLine: String
    /// Pids of the run's processes still alive 2 s after they were killed (normally empty; a
    /// process stuck in uninterruptible I/O can outlive SIGKILL for a while).
    public var survivingProcesses: [Int32]
    /// The sandbox limit a failed run ran into, when its end shows one (set by `Sandbox.run`).
    public var resourceLimit: ResourceLimitHit? = nil

    /// Exited with status 0 within the time limit.
    public var succeeded: Bool { termination == .exited(0) && !timedOut && !cancelled }

    /// The last `maxBytes` of the (stdout or merged) log, for error messages; "" if unreadable
    /// (or no longer a regular file: a sandboxed command may have put a link in its place).
    public func logTail(maxBytes: Int = 4096) -> String {
        guard let fd = try? SafeFile.openRegular(atPath: logPath) else { return "" }
        let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        try? handle.seek(toOffset: size > UInt64(maxBytes) ? size - UInt64(maxBytes) : 0)
        let data = (try? handle.readToEnd()) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    /// The exit status, or nil if a signal ended the process.
    public var exitCode: Int32? {
        if case .exited(let code) = termination { return code }
        return nil
    }
}

/// Failures to start a command (a command that starts and fails is a `CommandResult`, not this).
public enum CommandError: Error, Sendable, Hashable, CustomStringConvertible {
    case executableNotFound(name: String, searchPath: String)
    case workingDirectoryMissing(String)
    case cannotOpenLog(path: String, errno: Int32)
    case pipeFailed(errno: Int32)
    case spawnFailed(executable: String, errno: Int32)

    public var description: String {
        switch self {
        case .executableNotFound(let name, let searchPath):
            return "executable '\(name)' not found in PATH \(searchPath)"
        case .workingDirectoryMissing(let path):
            return "working directory \(path) does not exist"
        case .cannotOpenLog(let path, let code):
            return "cannot open log file \(path): \(String(cString: strerror(code)))"
        case .pipeFailed(let code):
            return "cannot create output pipe: \(String(cString: strerror(code)))"
        case .spawnFailed(let executable, let code):
            return "cannot start \(executable): \(String(cString: strerror(code)))"
        }
    }
}

/// Quotes one argument for display in a POSIX shell line.
func shellQuoted(_ word: String) -> String {
    let safe = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%")
    if !word.isEmpty && word.allSatisfy({ safe.contains($0) }) { return word }
    return "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
}
