import Foundation
import XCTest
@testable import Sandbox
#if canImport(Glibc)
import Glibc
#endif

/// A TCP listener on 127.0.0.1 with an ephemeral port; counts completed connections.
final class LoopbackListener {
    let fd: Int32
    let port: UInt16

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Bool in
                bind(fd, pointer, length) == 0 && listen(fd, 8) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else { close(fd); throw CommandError.pipeFailed(errno: errno) }
        self.fd = fd
        port = UInt16(bigEndian: address.sin_port)
    }

    deinit { close(fd) }

    /// Accepts every connection already queued (the kernel completes handshakes before accept).
    func acceptQueued() -> Int {
        var count = 0
        while true {
            var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&entry, 1, 200) == 1 else { return count }
            let client = accept(fd, nil, nil)
            guard client >= 0 else { return count }
            close(client)
            count += 1
        }
    }
}

final class SandboxTests: XCTestCase {
    var work = ""
    var outside = ""
    var logs = ""

    override func setUpWithError() throws {
        work = try makeTempDirectory("sandbox-work")
        outside = try makeTempDirectory("sandbox-outside")
        logs = try makeTempDirectory("sandbox-logs")
    }

    override func tearDownWithError() throws {
        for path in [work, outside, logs] { try? FileManager.default.removeItem(atPath: path) }
    }

    private func shell(_ script: String, log: String = "run.log", timeout: Double? = 30) -> Command {
        Command("sh", ["-c", script], logPath: logs + "/" + log, environment: basicEnvironment,
                workingDirectory: work, timeout: timeout, killGracePeriod: 1)
    }

    private func logText(_ name: String = "run.log") throws -> String {
        try String(contentsOfFile: logs + "/" + name, encoding: .utf8)
    }

    func testSandboxedCommandReportsOutputExitCodeAndWorkingDirectory() throws {
        let sandbox = try Sandbox(policy: .bubblewrap(workDirectory: work))
        let result = try sandbox.run(shell("echo inside; pwd; exit 7"))
        XCTAssertEqual(result.termination, .exited(7))
        XCTAssertEqual(try logText(), "inside\n\(work)\n")
        XCTAssertTrue(result.commandLine.hasPrefix(sandbox.capabilities!.bwrapPath + " --ro-bind / /"))
    }

    func testEnvironmentInsideTheSandboxIsExactlyTheChosenOne() throws {
        setenv("FORGE_PARENT_ONLY", "leak", 1)
        defer { unsetenv("FORGE_PARENT_ONLY") }
        let sandbox = try Sandbox(policy: .bubblewrap(workDirectory: work))
        _ = try sandbox.run(Command("/usr/bin/env", logPath: logs + "/env.log", environment: ["A": "1", "B": "two words"]))
        // bwrap's --chdir adds PWD; nothing else gets in.
        XCTAssertEqual(try logText("env.log").split(separator: "\n").sorted(), ["A=1", "B=two words", "PWD=\(work)"])
    }

    func testWritesSucceedInsideTheWorkDirectoryAndFailOutside() throws {
        try "host secret".write(toFile: outside + "/host.txt", atomically: true, encoding: .utf8)
        let sandbox = try Sandbox(policy: .bubblewrap(workDirectory: work))
        let inside = try sandbox.run(shell("echo ok > \(work)/inside.txt && mkdir \(work)/sub && echo ok > sub/nested.txt"))
        XCTAssertTrue(inside.succeeded)
        XCTAssertEqual(try String(contentsOfFile: work + "/sub/nested.txt", encoding: .utf8), "ok\n")

        // The sibling temp dir is hidden by the sandbox's own /tmp; /etc and /var are read-only.
        for target in ["\(outside)/escape.txt", "/etc/forge-escape.txt", "/var/forge-escape.txt"] {
            let result = try sandbox.run(shell("echo bad > \(target)", log: "outside.log"))
            XCTAssertNotEqual(result.exitCode, 0, target)
            XCTAssertFalse(FileManager.default.fileExists(atPath: target), target)
        }
        let read = try sandbox.run(shell("cat \(outside)/host.txt", log: "read.log"))
        XCTAssertNotEqual(read.exitCode, 0)
        XCTAssertTrue(try logText("outside.log").contains("Read-only file system"))
    }

    func testExtraBindsAreReadOnlyOrWritableAsAsked() throws {
        let readOnly = try makeTempDirectory("sandbox-ro")
        let readWrite = try makeTempDirectory("sandbox-rw")
        defer { for path in [readOnly, readWrite] { try? FileManager.default.removeItem(atPath: path) } }
        try "shared venv".write(toFile: readOnly + "/marker", atomically: true, encoding: .utf8)
        let sandbox = try Sandbox(policy: .bubblewrap(workDirectory: work, readOnly: [BindMount(readOnly)],
                                                      readWrite: [BindMount(readWrite, at: "/tmp/cache")]))
        let result = try sandbox.run(shell("cat \(readOnly)/marker; echo cached > /tmp/cache/entry; echo x > \(readOnly)/new || echo denied"))
        XCTAssertTrue(result.succeeded)
        XCTAssertTrue(try logText().hasPrefix("shared venv"))
        XCTAssertTrue(try logText().hasSuffix("denied\n"))
        XCTAssertEqual(try String(contentsOfFile: readWrite + "/entry", encoding: .utf8), "cached\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: readOnly + "/new"))
    }

    func testTimeoutKillsTheSandboxedProcessTreeAndLaterRunsWork() throws {
        let sandbox = try Sandbox(policy: .bubblewrap(workDirectory: work))
        let seconds = uniqueSleepSeconds()
        let result = try sandbox.run(shell("sleep \(seconds) & sleep \(seconds)", timeout: 1))
        XCTAssertTrue(result.timedOut)
        XCTAssertNotEqual(result.exitCode, 0)
        XCTAssertLessThan(result.wallSeconds, 5)
        XCTAssertEqual(livingProcesses(containing: seconds), [])
        XCTAssertEqual(result.survivingProcesses, [])

        let after = try sandbox.run(shell("echo next", log: "next.log"))
        XCTAssertTrue(after.succeeded)
        XCTAssertEqual(try logText("next.log"), "next\n")
    }

    func testSandboxedCommandGetsAGracefulSIGTERMAtTheTimeout() throws {
        let sandbox = try Sandbox(policy: .bubblewrap(workDirectory: work))
        let seconds = uniqueSleepSeconds()
        let script = "trap 'echo got-term; exit 3' TERM; sleep \(seconds) & sleep \(seconds) & wait"
        // 3 s, not 1: on a loaded machine bubblewrap's set-up alone can take a second, and a
        // SIGTERM that arrives before the trap is set tests nothing.
        let result = try sandbox.run(shell(script, timeout: 3))
        XCTAssertTrue(result.timedOut)
        XCTAssertEqual(result.termination, .exited(3), "bwrap passes on the trap's exit status")
        XCTAssertEqual(try logText(), "got-term\n")
        XCTAssertEqual(livingProcesses(containing: seconds), [])
    }

    func testSandboxedProcessesIgnoringSIGTERMAreKilledAfterTheGracePeriod() throws {
        let sandbox = try Sandbox(policy: .bubblewrap(workDirectory: work))
        let seconds = uniqueSleepSeconds()
        let result = try sandbox.run(shell("trap '' TERM; sleep \(seconds) & sleep \(seconds)", timeout: 0.5))
        XCTAssertTrue(result.timedOut)
        XCTAssertEqual(result.termination, .signaled(SIGKILL))
        XCTAssertGreaterThanOrEqual(result.wallSeconds, 1.5, "timeout 0.5 s + grace 1 s")
        XCTAssertEqual(livingProcesses(containing: seconds), [])
        XCTAssertEqual(result.survivingProcesses, [])
    }

    func testOutputCapAppliesToSandboxedRuns() throws {
        let sandbox = try Sandbox(policy: .bubblewrap(workDirectory: work))
        var command = shell("yes forge | head -n 100000")
        command.outputCap = 600
        let result = try sandbox.run(command)
        XCTAssertTrue(result.succeeded)
        XCTAssertTrue(result.truncated)
        XCTAssertEqual(result.outputBytes, 600_000)
        XCTAssertTrue(try logText().hasPrefix(String(repeating: "forge\n", count: 100)))
    }

    func testLoopbackServerIsReachableOnTheHostButNotInsideTheSandbox() throws {
        let listener = try LoopbackListener()
        let dial = "exec 3<>/dev/tcp/127.0.0.1/\(listener.port) && echo connected"
        func client(_ log: String) -> Command {
            Command("/bin/bash", ["-c", dial], logPath: logs + "/" + log, environment: basicEnvironment,
                    workingDirectory: work, timeout: 10)
        }

        let host = try Sandbox(policy: .none).run(client("host.log"))
        XCTAssertTrue(host.succeeded)
        XCTAssertEqual(try logText("host.log"), "connected\n")
        XCTAssertEqual(listener.acceptQueued(), 1)

        let sandboxed = try Sandbox(policy: .bubblewrap(workDirectory: work)).run(client("sandboxed.log"))
        XCTAssertNotEqual(sandboxed.exitCode, 0)
        XCTAssertFalse(try logText("sandboxed.log").contains("connected\n"))
        XCTAssertEqual(listener.acceptQueued(), 0)
    }

    func testMissingBubblewrapIsReportedAsUnavailable() throws {
        XCTAssertThrowsError(try Sandbox(policy: .bubblewrap(workDirectory: work, bwrapPath: "/nonexistent/bwrap"))) { error in
            guard case SandboxError.unavailable = error else { return XCTFail("unexpected \(error)") }
            XCTAssertTrue("\(error)".contains("/nonexistent/bwrap"))
            XCTAssertTrue("\(error)".contains("--no-sandbox"))
        }
        XCTAssertThrowsError(try Sandbox(policy: .bubblewrap(workDirectory: work + "/missing"))) { error in
            XCTAssertEqual(error as? SandboxError, .missingPath(work + "/missing", role: "work directory"))
        }
    }

    func testBubblewrapArgumentsFollowThePolicy() {
        let policy = SandboxPolicy.bubblewrap(workDirectory: "/w", readOnly: [BindMount("/venv")],
                                              readWrite: [BindMount("/cache", at: "/tmp/uv")],
                                              limits: ResourceLimits(processes: 7, memoryMB: 1, tmpfsMB: 2))
        let command = Command("/usr/bin/python3", ["-m", "pytest"], logPath: "/l", environment: ["K": "v"], workingDirectory: "/w/pkg")
        let plain = SandboxCapabilities(bwrapPath: "/usr/bin/bwrap", prlimitPath: "/usr/bin/prlimit")
        let args = policy.bubblewrapArguments(for: command, capabilities: plain)
        XCTAssertEqual(Array(args.prefix(21)), [
            "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
            "--perms", "1777", "--size", "2097152", "--tmpfs", "/tmp",
            "--perms", "1777", "--size", "2097152", "--tmpfs", "/dev/shm", "--size", "1048576",
        ])
        XCTAssertTrue(args.contains(sequence: ["--tmpfs", "/root"]), "root's home is hidden")
        XCTAssertTrue(args.contains(sequence: ["--remount-ro", "/root"]))
        XCTAssertTrue(args.contains(sequence: ["--ro-bind", "/venv", "/venv", "--bind", "/w", "/w", "--bind", "/cache", "/tmp/uv"]))
        XCTAssertTrue(args.contains(sequence: ["--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
                                               "--die-with-parent", "--new-session", "--clearenv", "--setenv", "K", "v", "--chdir", "/w/pkg"]))
        XCTAssertEqual(Array(args.suffix(16)), [
            "--unshare-user", "--uid", "65534", "--gid", "65534", "--disable-userns", "--cap-drop", "ALL",
            "--", "/usr/bin/prlimit", "--nproc=7", "--data=1048576", "--", "/usr/bin/python3", "-m", "pytest",
        ])
        XCTAssertFalse(args.contains("setpriv"))

        // As root: bwrap lays out the mounts, setpriv drops to the unprivileged uid, a second
        // bwrap makes the user namespace, prlimit sets the limits inside it.
        var root = plain
        root.privilegeDrop = .init(setprivPath: "/usr/bin/setpriv", uid: 4242, gid: 4343)
        let dropped = policy.bubblewrapArguments(for: command, capabilities: root)
        XCTAssertTrue(dropped.contains(sequence: [
            "--chdir", "/w/pkg", "--", "/usr/bin/setpriv", "--reuid=4242", "--regid=4343", "--clear-groups", "--inh-caps=-all",
            "--", "/usr/bin/bwrap", "--bind", "/", "/", "--dev-bind", "/dev", "/dev",
            "--unshare-user", "--uid", "65534", "--gid", "65534", "--disable-userns", "--cap-drop", "ALL", "--die-with-parent",
            "--chdir", "/w/pkg", "--", "/usr/bin/prlimit", "--nproc=7", "--data=1048576", "--", "/usr/bin/python3", "-m", "pytest",
        ]))

        var online = policy
        online.allowNetwork = true
        XCTAssertFalse(online.bubblewrapArguments(for: command, capabilities: plain).contains("--unshare-net"))
    }
}

extension Array where Element: Equatable {
    /// Whether `sequence` occurs here as consecutive elements.
    func contains(sequence: [Element]) -> Bool {
        guard sequence.count <= count else { return false }
        return (0...(count - sequence.count)).contains { Array(self[$0..<($0 + sequence.count)]) == sequence }
    }
}
