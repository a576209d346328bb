import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One row of /proc: enough to find a command's descendants and to tell a live process from a
/// zombie or from a later process that reused its pid.
struct ProcessEntry: Hashable {
    var pid: pid_t
    var parent: pid_t
    var group: pid_t
    var state: Character
    /// Clock ticks after boot; with the pid it identifies one process across pid reuse.
    var startTime: UInt64
    /// The executable's name as the kernel keeps it (`comm`, at most 15 bytes).
    var name: String = ""

    /// Running or sleeping, i.e. not a zombie waiting to be reaped.
    var isLive: Bool { state != "Z" && state != "X" }
}

/// Reads Linux's /proc. Used only when a run ends, so a full scan (a few ms) is affordable.
enum ProcessTable {
    /// Every process we can see.
    static func snapshot() -> [ProcessEntry] {
        guard let directory = opendir("/proc") else { return [] }
        defer { closedir(directory) }
        var entries: [ProcessEntry] = []
        while let item = readdir(directory) {
            let name = withUnsafeBytes(of: item.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if let pid = pid_t(name), let entry = entry(pid) { entries.append(entry) }
        }
        return entries
    }

    /// The process `pid`, if it exists.
    static func entry(_ pid: pid_t) -> ProcessEntry? {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/stat") else { return nil }
        let text = String(decoding: data, as: UTF8.self)
        // "pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime
        //  stime cutime cstime priority nice threads itrealvalue starttime …"; comm may hold ") ".
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 19, let state = fields[0].first, let parent = pid_t(fields[1]),
              let group = pid_t(fields[2]), let start = UInt64(fields[19]) else { return nil }
        let name = text.firstIndex(of: "(").map { String(text[text.index(after: $0)..<close]) } ?? ""
        return ProcessEntry(pid: pid, parent: parent, group: group, state: state, startTime: start, name: name)
    }

    /// All processes below `root` in the parent chain (not `root` itself). This follows children
    /// into other sessions and pid namespaces (bwrap's sandboxed tree), which a group kill misses.
    static func descendants(of root: pid_t) -> [ProcessEntry] {
        let table = snapshot()
        var children: [pid_t: [ProcessEntry]] = [:]
        for entry in table { children[entry.parent, default: []].append(entry) }
        var result: [ProcessEntry] = []
        var queue = children[root] ?? []
        while let next = queue.popLast() {
            result.append(next)
            queue += children[next.pid] ?? []
        }
        return result
    }
}

/// The processes one run is responsible for: its process group, plus descendants seen while the
/// main process was alive (remembered by pid and start time, so a reused pid is never signalled).
struct ProcessFamily {
    let group: pid_t
    private(set) var known: [pid_t: UInt64] = [:]

    init(group: pid_t) { self.group = group }

    /// Remembers the current descendants of the main process.
    mutating func rememberDescendants() {
        for entry in ProcessTable.descendants(of: group) { known[entry.pid] = entry.startTime }
    }

    /// Sends `signal` to every remembered process that is still the same process, and to the
    /// whole group unless `descendantsOnly`. `descendantsOnly` also spares nested bubblewrap
    /// supervisors (the sandbox of a root Forge has two): they would die of the signal and take
    /// the sandboxed command with them before it could handle it.
    func signal(_ signal: Int32, descendantsOnly: Bool = false) {
        // The group first and in one call, so its members see the signal together (a shell then
        // dies of it rather than of its child's death); then the ones outside the group.
        if !descendantsOnly { kill(-group, signal) }
        for (pid, start) in known {
            guard let entry = ProcessTable.entry(pid), entry.startTime == start else { continue }
            if !descendantsOnly, entry.group == group { continue }
            if descendantsOnly, entry.name == "bwrap" { continue }
            kill(pid, signal)
        }
    }

    /// Waits (up to `limit` seconds) until no live process is left in the group or among the
    /// remembered ones; SIGKILL is asynchronous, so without this a caller could still see them.
    /// Returns the pids still alive at the limit.
    @discardableResult
    func waitUntilGone(limit: Double) -> [pid_t] {
        let deadline = monotonicSeconds() + limit
        while true {
            let alive = ProcessTable.snapshot().filter { entry in
                entry.isLive && (entry.group == group || known[entry.pid] == entry.startTime)
            }.map(\.pid)
            if alive.isEmpty || monotonicSeconds() >= deadline { return alive }
            usleep(2_000)
        }
    }
}
