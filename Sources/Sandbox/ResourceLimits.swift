import Foundation

/// What one sandboxed run may consume. Each limit is enforced by the kernel inside the run's
/// user namespace (`prlimit` after the namespace exists, so the process count is the sandbox's
/// own, not shared with other runs of the same host uid); the tmpfs sizes by the mounts.
/// nil means no limit of that kind. Defaults live in `Recipes/` (`test.limits`, `install.limits`).
public struct ResourceLimits: Sendable, Hashable, Codable {
    /// Processes and threads alive at once (RLIMIT_NPROC): fork bombs stop at this.
    public var processes: Int?
    /// Writable private memory per process, MiB (RLIMIT_DATA: heap and anonymous mappings, not
    /// address space that runtimes merely reserve).
    public var memoryMB: Int?
    /// Largest file a process may write, MiB (RLIMIT_FSIZE).
    public var fileSizeMB: Int?
    /// Size of the sandbox's own /tmp and /dev/shm, MiB (each).
    public var tmpfsMB: Int?
    /// CPU seconds per process (RLIMIT_CPU); the wall-clock timeout is separate.
    public var cpuSeconds: Int?
    /// Open file descriptors per process (RLIMIT_NOFILE).
    public var openFiles: Int?

    public init(processes: Int? = nil, memoryMB: Int? = nil, fileSizeMB: Int? = nil, tmpfsMB: Int? = nil,
                cpuSeconds: Int? = nil, openFiles: Int? = nil) {
        self.processes = processes; self.memoryMB = memoryMB; self.fileSizeMB = fileSizeMB
        self.tmpfsMB = tmpfsMB; self.cpuSeconds = cpuSeconds; self.openFiles = openFiles
    }

    /// What a run gets when its recipe names no limits (the values `Recipes/python.yaml` states).
    public static let standard = ResourceLimits(processes: 512, memoryMB: 4096, fileSizeMB: 1024, tmpfsMB: 512,
                                                cpuSeconds: 3600, openFiles: 4096)

    enum CodingKeys: String, CodingKey {
        case processes, memoryMB = "memory_mb", fileSizeMB = "file_size_mb", tmpfsMB = "tmpfs_mb"
        case cpuSeconds = "cpu_seconds", openFiles = "open_files"
    }

    /// `prlimit` options (soft = hard, so the sandboxed code cannot raise them back).
    var prlimitOptions: [String] {
        var options: [String] = []
        if let processes { options.append("--nproc=\(processes)") }
        if let memoryMB { options.append("--data=\(memoryMB << 20)") }
        if let fileSizeMB { options.append("--fsize=\(fileSizeMB << 20)") }
        if let cpuSeconds { options.append("--cpu=\(cpuSeconds)") }
        if let openFiles { options.append("--nofile=\(openFiles)") }
        return options
    }
}

/// Which limit a run ran into: the run's verdict names it (`resource limit: processes`).
public enum ResourceLimitHit: String, Sendable, Hashable, Codable, CustomStringConvertible {
    case processes, memory
    case fileSize = "file size"
    case disk
    case cpuTime = "cpu time"

    public var description: String { "resource limit: \(rawValue)" }

    /// What a failed sandboxed run's end shows: the signal the kernel sends at a limit (bubblewrap
    /// reports a child's death by signal N as exit 128 + N) or the error a limit makes programs
    /// print. Only consulted for runs that failed, so a passing run is never relabelled; the text
    /// is the sandboxed code's own output, so a run can at most make its failure look like a limit.
    static func detect(termination: Termination, logTail: String) -> ResourceLimitHit? {
        let signal: Int32?
        switch termination {
        case .signaled(let number): signal = number
        case .exited(let code) where code > 128: signal = code - 128
        default: signal = nil
        }
        if signal == SIGXCPU { return .cpuTime }
        if signal == SIGXFSZ { return .fileSize }
        let markers: [(ResourceLimitHit, [String])] = [
            (.processes, ["Resource temporarily unavailable", "Cannot fork", "fork: retry", "can't start new thread",
                          "BlockingIOError: [Errno 11]"]),
            (.memory, ["MemoryError", "Cannot allocate memory", "[Errno 12]", "std::bad_alloc", "out of memory"]),
            (.fileSize, ["File too large", "[Errno 27]", "File size limit exceeded"]),
            (.disk, ["No space left on device", "[Errno 28]"]),
            (.cpuTime, ["CPU time limit exceeded"]),
        ]
        return markers.first { $0.1.contains { logTail.contains($0) } }?.0
    }
}
