import ArgumentParser
import Foundation
import Sandbox

/// What the hardened sandbox adds to one test run: the same command in a work tree of a
/// repository's size, run under the sandbox as it was before the hardening (one bubblewrap
/// as the caller, no user namespace, no limits: the argv of `SandboxPolicy` until then, rebuilt
/// here) and under today's `Sandbox` (user namespace, capabilities dropped, limits, hidden
/// paths, and as root the privilege drop with a second bubblewrap plus handing the tree to the
/// sandbox uid). Sides alternate per iteration; each hardened run gets a tree owned by the
/// caller again, as a freshly exported one is.
struct ConfinementBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "confinement",
        abstract: "Time one sandboxed run under the hardened sandbox against the previous one; print medians and the difference.")

    @Option(help: "Runs timed per side.") var runs = 40
    @Option(help: "Files in the work tree (a repository's checkout).") var files = 3000
    @Option(help: "Working folder.") var directory = "Workspace/bench/confinement"

    func run() throws {
        let root = URL(fileURLWithPath: directory).standardizedFileURL.path
        let work = root + "/work"
        let fileManager = FileManager.default
        try? fileManager.removeItem(atPath: root)
        for index in 0..<files {
            let folder = "\(work)/pkg\(index % 40)/sub\(index % 7)"
            try fileManager.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try "x = \(index)\n".write(toFile: "\(folder)/module_\(index).py", atomically: false, encoding: .utf8)
        }
        let logs = root + "/logs"
        try fileManager.createDirectory(atPath: logs, withIntermediateDirectories: true)
        let capabilities = try Sandbox.probe()
        let interpreter = ["/usr/bin/python3", "/usr/local/bin/python3"].first { fileManager.isExecutableFile(atPath: $0) } ?? "/bin/sh"
        let programs: [(String, [String])] = [("/bin/true", []), (interpreter, interpreter.hasSuffix("sh") ? ["-c", "true"] : ["-c", "import os; os.listdir('.')"])]

        print("work tree: \(files) files; \(runs) runs per side; Forge runs as \(geteuid() == 0 ? "root (privilege drop)" : "uid \(geteuid())")")
        var rows: [[String]] = []
        for (program, arguments) in programs {
            var legacy: [Double] = [], hardened: [Double] = []
            for iteration in 0..<runs {
                let command = Command(program, arguments, logPath: "\(logs)/run-\(iteration).log",
                                      environment: ["PATH": "/usr/bin:/bin", "HOME": "/tmp"], workingDirectory: work, timeout: 60)
                // Previous sandbox: its argv as SandboxPolicy built it.
                let old = Command(capabilities.bwrapPath, Self.previousArguments(for: command, work: work),
                                  logPath: command.logPath, timeout: 60)
                let started = monotonic()
                let result = try CommandRunner().run(old)
                legacy.append(monotonic() - started)
                guard result.succeeded else { throw ValidationError("the previous sandbox failed: \(result.logTail())") }

                Self.giveBack(work) // a fresh export is the caller's
                let sandbox = try Sandbox(policy: .bubblewrap(workDirectory: work))
                let begun = monotonic()
                let hardenedResult = try sandbox.run(command)
                hardened.append(monotonic() - begun)
                guard hardenedResult.succeeded else { throw ValidationError("the hardened sandbox failed: \(hardenedResult.logTail())") }
            }
            let (before, after) = (median(legacy), median(hardened))
            rows.append([URL(fileURLWithPath: program).lastPathComponent, ms(before), ms(after), "+" + ms(after - before),
                         "+" + ms(2 * (after - before))])
        }
        printTable(["command", "previous (median)", "hardened (median)", "added per run", "added per task (2 runs)"], rows)
        try? fileManager.removeItem(atPath: root)
    }

    /// The bwrap argv `SandboxPolicy.bubblewrapArguments` produced before the hardening.
    static func previousArguments(for command: Command, work: String) -> [String] {
        var args = ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--bind", work, work,
                    "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent", "--new-session", "--clearenv"]
        for (key, value) in command.environment.sorted(by: { $0.key < $1.key }) { args += ["--setenv", key, value] }
        return args + ["--chdir", command.workingDirectory ?? work, "--", command.executable] + command.arguments
    }

    /// Owns the tree as the caller again (untimed).
    static func giveBack(_ path: String) {
        guard geteuid() == 0 else { return }
        _ = lchown(path, 0, 0)
        let enumerator = FileManager.default.enumerator(atPath: path)
        while let relative = enumerator?.nextObject() as? String { _ = lchown(path + "/" + relative, 0, 0) }
    }
}

private func ms(_ seconds: Double) -> String { String(format: "%.1f ms", seconds * 1000) }
