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
    ///
    /// A marker counts only where an error is reported: at the start of a line (after pytest's
    /// `E` prefix and indentation) or after an error's `Name:` or a program's `name:` prefix. A
    /// failing test run prints test names, reprs and docs too, and ipython's `test_memoryerror` or
    /// a repr of `builtins` must not turn the expected failures of a before run into a limit.
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
        let starts = logTail.split(whereSeparator: \.isNewline).flatMap(Self.errorStarts)
        return markers.first { _, texts in
            starts.contains { start in texts.contains { Self.begins(start, with: $0) } }
        }?.0
    }

    /// Where an error report may start in a log line: after leading indentation and pytest's `E`
    /// column, then after each `name: ` prefix that names who reports (`OSError: `, `bash: fork: `,
    /// `/bin/sh: 1: `, `fatal error: runtime: `) or a C++ runtime's `terminate called after
    /// throwing an instance of '`.
    private static func errorStarts(_ line: Substring) -> [Substring] {
        var rest = line.drop { $0 == " " || $0 == "\t" }
        if rest.hasPrefix("E ") { rest = rest.dropFirst(2).drop { $0 == " " } }
        let thrown = "terminate called after throwing an instance of '"
        if rest.hasPrefix(thrown) { rest = rest.dropFirst(thrown.count) }
        var starts = [rest]
        while let colon = rest.firstIndex(of: ":"), rest[rest.index(after: colon)...].hasPrefix(" ") {
            let name = rest[..<colon]
            guard !name.isEmpty, name.allSatisfy({ !$0.isWhitespace }) || name.hasSuffix(" error") else { break }
            rest = rest[rest.index(colon, offsetBy: 2)...]
            starts.append(rest)
        }
        return starts
    }

    /// `text` starts with `marker` as a whole word (`MemoryError`, not `MemoryErrorTest`).
    private static func begins(_ text: Substring, with marker: String) -> Bool {
        guard text.hasPrefix(marker) else { return false }
        guard let next = text.dropFirst(marker.count).first else { return true }
        return !(next.isLetter || next.isNumber || next == "_")
    }
}
