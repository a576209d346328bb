import Foundation
import Sandbox
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// What a finished action produced.
struct ActionOutput: Sendable {
    var output: String
    var exitCode: Int
}

/// One persistent bash shell in its own bubblewrap sandbox, driven through pipes.
///
/// The shell is interactive (`-i`) but has no terminal: an interactive bash that gets SIGINT
/// abandons the line it is running, builtin loops included, and reads the next one, as under a
/// terminal's ^C, while `cd`, variables and functions survive. Each action's text is written to
/// a file the sandbox sees read-only, then one line is sent that syntax-checks it (`bash -n`),
/// `eval`s it at top level (so `declare`/`export` stay global) with stdin from /dev/null and
/// stderr into stdout, and prints an end marker carrying `$?`. The marker holds a per-session
/// random nonce and the action's sequence number, so output cannot end an action early by chance.
final class ShellSession: Sendable {
    let name: String
    private let process: InteractiveProcess
    /// bash's pid on the host (bwrap is its ancestor), for SIGINT.
    private let shellPID: pid_t
    private let commandFile: (host: String, sandbox: String)
    private let nonce = (0..<4).map { _ in String(format: "%08x", UInt32.random(in: 0...UInt32.max)) }.joined()
    /// What one action at a time reads and writes: held for the whole action.
    private struct Conversation {
        var sequence = 0
        /// Bytes read after the last marker (a background job's late output).
        var leftover: [UInt8] = []
    }
    private let conversation = Mutex(Conversation())
    /// Set by `close()` from any thread, or when the shell is found gone.
    private let dead = Atomic<Bool>(false)
    var isDead: Bool { dead.load(ordering: .acquiring) }

    /// Seconds to wait for the shell to come back after SIGINT, before killing its children.
    static let interruptGrace = 1.0

    /// Starts the shell in `workingDirectory` (a sandbox path) and sources `startupSource`.
    /// Returns the session and the startup output.
    static func start(name: String, sandbox: Sandbox, environment: [String: String], workingDirectory: String,
                      commandFile: (host: String, sandbox: String), startupSource: [String], startupTimeout: Double) throws -> (ShellSession, String) {
        let command = Command("/bin/bash", ["--noprofile", "--norc", "--noediting", "-i"], logPath: "/dev/null",
                              environment: environment, workingDirectory: workingDirectory)
        let process = try InteractiveProcess(command, sandbox: sandbox)
        let deadline = monotonicNow() + max(startupTimeout, 10)
        var shell: pid_t?
        while shell == nil && monotonicNow() < deadline && process.isRunning {
            shell = process.descendant(named: "bash")
            if shell == nil { usleep(1_000) }
        }
        guard let shell else {
            var said: [UInt8] = []
            while let bytes = process.read(timeout: 0.05), !bytes.isEmpty, said.count < 4096 { said += bytes }
            process.terminate()
            let message = String(decoding: said, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw RexError.runtime("the sandboxed shell for session '\(name)' did not start" + (message.isEmpty ? "" : ": \(message)"))
        }
        let session = ShellSession(name: name, process: process, shellPID: shell, commandFile: commandFile)
        // No prompts, no history, no job control messages; HOME in the sandbox's own /tmp.
        var setup = "PS1=; PS2=; PS0=; PROMPT_COMMAND=; unset HISTFILE; set +m +H +o history; mkdir -p \"$HOME\" 2>/dev/null"
        for path in startupSource { setup += "; source \(shellQuote(path))" }
        let output = try session.send(line: setup + "\n", deadline: deadline, display: "startup")
        return (session, output)
    }

    private init(name: String, process: InteractiveProcess, shellPID: pid_t, commandFile: (host: String, sandbox: String)) {
        self.name = name; self.process = process; self.shellPID = shellPID; self.commandFile = commandFile
    }

    /// Runs one command. Throws `RexError.incorrectSyntax` (nothing ran), `.commandTimeout` (the
    /// command was interrupted; the session goes on) or `.sessionNotInitialized` (the shell died).
    func run(_ command: String, timeout: Double?, outputCap: Int) throws -> ActionOutput {
        try conversation.withLock { (conversation) throws(RexError) in
            guard !isDead else { throw RexError.sessionNotInitialized("session '\(name)': its shell has exited") }
            conversation.sequence += 1
            let (ran, syntax) = (marker("R", conversation), marker("S", conversation))
            do { try Data(command.utf8).write(to: URL(fileURLWithPath: commandFile.host)) } catch {
                throw RexError.runtime("cannot write the command file \(commandFile.host): \(error)")
            }
            let file = commandFile.sandbox
            let line = "if /bin/bash -n \(file) 2>&1; then eval \"$(< \(file))\" < /dev/null 2>&1; "
                + "printf '%s%d:\\n' '\(ran)' \"$?\"; else printf '%s%d:\\n' '\(syntax)' \"$?\"; fi\n"
            try write(line)
            let deadline = timeout.map { monotonicNow() + $0 }
            switch try read(until: [ran, syntax], deadline: deadline, cap: outputCap, conversation: &conversation) {
            case .ended(let kind, let code, let output):
                if kind == syntax {
                    throw RexError.incorrectSyntax(
                        message: "Error (exit code \(code)) while checking bash command \n\(pythonRepr(command))\n---- Stderr ----\n\(output)\n---- Stdout ----\n",
                        stdout: "", stderr: output)
                }
                return ActionOutput(output: output, exitCode: code)
            case .timedOut(let partial):
                let recovered = interrupt(&conversation)
                let note = recovered ? "" : " (the shell did not recover and the session was closed)"
                throw RexError.commandTimeout("timeout after \(pythonFloat(timeout ?? 0)) seconds while running command \(pythonRepr(command))\(note)"
                    + (partial.isEmpty ? "" : "\nOutput so far:\n\(partial)"))
            }
        }
    }

    /// SWE-ReX's `BashInterruptAction`: ^C whatever runs now; true when the shell answers again.
    func interruptNow() -> Bool {
        conversation.withLock { conversation in
            guard !isDead else { return false }
            conversation.sequence += 1
            return interrupt(&conversation)
        }
    }

    /// Closes the shell and kills everything it started.
    func close() {
        dead.store(true, ordering: .releasing)
        process.terminate(grace: 0.2)
    }

    // MARK: - Internals

    private func marker(_ kind: String, _ conversation: Conversation) -> String { "__FORGE_\(nonce)_\(conversation.sequence)_\(kind)" }

    private func write(_ text: String) throws(RexError) {
        do { try process.write(text) } catch {
            dead.store(true, ordering: .releasing)
            throw RexError.sessionNotInitialized("session '\(name)': its shell has exited")
        }
    }

    /// Sends a setup line and waits for its marker (used for startup).
    private func send(line: String, deadline: Double, display: String) throws -> String {
        try conversation.withLock { (conversation) throws(RexError) in
        conversation.sequence += 1
        let ran = marker("R", conversation)
        try write(String(line.dropLast()) + "; printf '%s%d:\\n' '\(ran)' \"$?\"\n")
        switch try read(until: [ran], deadline: deadline, cap: 1 << 20, conversation: &conversation) {
        case .ended(_, _, let output): return output
        case .timedOut:
            close()
            throw RexError.runtime("session '\(name)': the shell did not finish its \(display) in time")
        }
        }
    }

    /// SIGINT to the shell and its children, then a line that prints a marker once the shell
    /// reads input again. A second SIGINT and the line again after `interruptGrace`; then SIGKILL
    /// to the children; a shell still silent after that is killed. Called within an action.
    private func interrupt(_ conversation: inout Conversation) -> Bool {
        let recovery = marker("I", conversation)
        let line = "printf '%s0:\\n' '\(recovery)'\n"
        for attempt in 0..<3 {
            InteractiveProcess.signalTree(rootedAt: shellPID, attempt < 2 ? SIGINT : SIGKILL, includingRoot: attempt < 2)
            guard (try? process.write(line)) != nil else { break }
            if case .ended? = try? read(until: [recovery], deadline: monotonicNow() + Self.interruptGrace, cap: 1 << 20, conversation: &conversation) {
                return true
            }
        }
        close()
        return false
    }

    private enum ReadResult {
        case ended(kind: String, code: Int, output: String)
        case timedOut(partial: String)
    }

    /// Reads output until one of `markers` followed by `<code>:\n`. Keeps the first `cap` bytes of
    /// output (the rest is read and dropped, so the shell never blocks on a full pipe).
    private func read(until markers: [String], deadline: Double?, cap: Int, conversation: inout Conversation) throws(RexError) -> ReadResult {
        var kept: [UInt8] = []
        var scan = conversation.leftover   // unsearched bytes; only the last marker-length of them are retained
        conversation.leftover = []
        var dropped = 0
        let patterns = markers.map { Array($0.utf8) }
        let longest = patterns.map(\.count).max() ?? 0
        func render(_ bytes: [UInt8]) -> String {
            String(decoding: bytes, as: UTF8.self)
                + (dropped > 0 ? "\n[forge: output truncated at \(cap) bytes; \(dropped) more bytes dropped]\n" : "")
        }
        while true {
            if let (index, pattern) = Self.firstMatch(of: patterns, in: scan),
               let end = scan[(index + pattern.count)...].firstIndex(of: UInt8(ascii: "\n")) {
                let codeText = String(decoding: scan[(index + pattern.count)..<end], as: UTF8.self).trimmingCharacters(in: CharacterSet(charactersIn: ":"))
                keep(scan[..<index], into: &kept, cap: cap, dropped: &dropped)
                conversation.leftover = Array(scan[(end + 1)...])
                return .ended(kind: String(decoding: pattern, as: UTF8.self), code: Int(codeText) ?? -1, output: render(kept))
            }
            // Everything but a possible marker's beginning (plus its code) is output.
            let hold = min(scan.count, longest + 24)
            keep(scan[..<(scan.count - hold)], into: &kept, cap: cap, dropped: &dropped)
            scan = Array(scan[(scan.count - hold)...])
            let now = monotonicNow()
            if let deadline, now >= deadline {
                conversation.leftover = []
                return .timedOut(partial: render(kept + scan))
            }
            let wait = deadline.map { min(0.25, max(0.001, $0 - now)) } ?? 0.25
            guard let bytes = process.read(timeout: wait) else {
                dead.store(true, ordering: .releasing)
                throw RexError.sessionNotInitialized("session '\(name)': the shell exited" + (kept.isEmpty ? "" : "; its last output:\n\(render(kept + scan))"))
            }
            scan += bytes
        }
    }

    private func keep(_ bytes: ArraySlice<UInt8>, into kept: inout [UInt8], cap: Int, dropped: inout Int) {
        let room = max(0, cap - kept.count)
        kept += bytes.prefix(room)
        dropped += max(0, bytes.count - room)
    }

    private static func firstMatch(of patterns: [[UInt8]], in bytes: [UInt8]) -> (Int, [UInt8])? {
        guard let first = patterns.first?.first else { return nil }
        var index = 0
        while let start = bytes[index...].firstIndex(of: first) {
            for pattern in patterns where bytes.count - start >= pattern.count && bytes[start..<(start + pattern.count)].elementsEqual(pattern) {
                return (start, pattern)
            }
            index = start + 1
        }
        return nil
    }
}

func monotonicNow() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

/// Single-quotes a word for bash.
func shellQuote(_ word: String) -> String { "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'" }
