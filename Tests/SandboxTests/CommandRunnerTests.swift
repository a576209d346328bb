import Foundation
import XCTest
@testable import Sandbox

/// A fresh temp directory per test, removed afterwards.
func makeTempDirectory(_ label: String) throws -> String {
    let path = NSTemporaryDirectory() + "/forge-\(label)-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return URL(fileURLWithPath: path).standardizedFileURL.path
}

/// Pids of live (non-zombie) processes whose command line contains `token`.
func livingProcesses(containing token: String) -> [Int32] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap { entry -> Int32? in
        guard let pid = Int32(entry),
              let cmdline = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline"),
              String(decoding: cmdline, as: UTF8.self).contains(token),
              let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
              let state = stat.split(separator: ")").last?.split(separator: " ").first,
              state != "Z" else { return nil }
        return pid
    }
}

/// True if `pid` exists and is not a zombie (a killed orphan may wait a moment for init to reap it).
func isRunning(_ pid: Int32) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let state = stat.split(separator: ")").last?.split(separator: " ").first else { return false }
    return state != "Z"
}

/// A `sleep` duration unique to one test, so /proc scans find only that test's processes.
func uniqueSleepSeconds() -> String {
    "100.\(Int.random(in: 100_000...999_999))"
}

let basicEnvironment = ["PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"]

final class CommandRunnerTests: XCTestCase {
    var directory = ""

    override func setUpWithError() throws { directory = try makeTempDirectory("runner") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: directory) }

    private func log(_ name: String = "run.log") -> String { directory + "/" + name }

    func testOutputAndExitCodeAreRecorded() throws {
        let result = try CommandRunner().run(Command("sh", ["-c", "echo out; echo err >&2; exit 3"],
                                                     logPath: log(), environment: basicEnvironment))
        XCTAssertEqual(result.termination, .exited(3))
        XCTAssertEqual(result.exitCode, 3)
        XCTAssertFalse(result.succeeded)
        XCTAssertFalse(result.timedOut)
        XCTAssertFalse(result.truncated)
        XCTAssertEqual(try String(contentsOfFile: log(), encoding: .utf8), "out\nerr\n")
        XCTAssertEqual(result.outputBytes, 8)
        XCTAssertLessThan(result.wallSeconds, 5)
        // Results are stored with run records: they survive a JSON round trip.
        let decoded = try JSONDecoder().decode(CommandResult.self, from: try JSONEncoder().encode(result))
        XCTAssertEqual(decoded, result)
    }

    func testSeparateStreamsGoToSeparateLogs() throws {
        let result = try CommandRunner().run(Command("sh", ["-c", "echo out; echo err >&2"], logPath: log(),
                                                     environment: basicEnvironment,
                                                     streams: .separate(stderrLogPath: log("err.log"))))
        XCTAssertTrue(result.succeeded)
        XCTAssertEqual(result.stderrLogPath, log("err.log"))
        XCTAssertEqual(try String(contentsOfFile: log(), encoding: .utf8), "out\n")
        XCTAssertEqual(try String(contentsOfFile: log("err.log"), encoding: .utf8), "err\n")
    }

    func testEnvironmentIsExplicitAndWorkingDirectoryApplies() throws {
        setenv("FORGE_PARENT_ONLY", "leak", 1)
        defer { unsetenv("FORGE_PARENT_ONLY") }
        let command = Command("/usr/bin/env", [], logPath: log(), environment: ["CHOSEN": "yes"], workingDirectory: directory)
        _ = try CommandRunner().run(command)
        let lines = try String(contentsOfFile: log(), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines, ["CHOSEN=yes"])

        var inheriting = command
        inheriting.inheritEnvironment = true
        _ = try CommandRunner().run(inheriting)
        let inherited = try String(contentsOfFile: log(), encoding: .utf8)
        XCTAssertTrue(inherited.contains("FORGE_PARENT_ONLY=leak"))
        XCTAssertTrue(inherited.contains("CHOSEN=yes"))

        _ = try CommandRunner().run(Command("pwd", logPath: log(), environment: basicEnvironment, workingDirectory: directory))
        XCTAssertEqual(try String(contentsOfFile: log(), encoding: .utf8), directory + "\n")
    }

    func testTimeoutKillsTheWholeProcessGroupAndLaterRunsWork() throws {
        let seconds = uniqueSleepSeconds()
        let pidFile = log("pids")
        let script = "echo $$ > \(pidFile); sleep \(seconds) & echo $! >> \(pidFile); sleep \(seconds)"
        let result = try CommandRunner().run(Command("sh", ["-c", script], logPath: log(), environment: basicEnvironment,
                                                     timeout: 1, killGracePeriod: 2))
        XCTAssertTrue(result.timedOut)
        XCTAssertEqual(result.termination, .signaled(SIGTERM))
        XCTAssertGreaterThanOrEqual(result.wallSeconds, 1)
        XCTAssertLessThan(result.wallSeconds, 4)
        let pids = try String(contentsOfFile: pidFile, encoding: .utf8).split(separator: "\n").compactMap { Int32($0) }
        XCTAssertEqual(pids.count, 2)
        for pid in pids { XCTAssertFalse(isRunning(pid), "pid \(pid) survived") }
        XCTAssertEqual(livingProcesses(containing: seconds), [])
        XCTAssertEqual(result.survivingProcesses, [])

        let after = try CommandRunner().run(Command("echo", ["still running"], logPath: log("after.log"), environment: basicEnvironment))
        XCTAssertTrue(after.succeeded)
        XCTAssertEqual(try String(contentsOfFile: log("after.log"), encoding: .utf8), "still running\n")
    }

    func testProcessesIgnoringSIGTERMGetSIGKILLAfterTheGracePeriod() throws {
        let seconds = uniqueSleepSeconds()
        let result = try CommandRunner().run(Command("sh", ["-c", "trap '' TERM; sleep \(seconds) & sleep \(seconds)"],
                                                     logPath: log(), environment: basicEnvironment,
                                                     timeout: 0.5, killGracePeriod: 0.5))
        XCTAssertTrue(result.timedOut)
        XCTAssertEqual(result.termination, .signaled(SIGKILL))
        XCTAssertGreaterThanOrEqual(result.wallSeconds, 1.0)
        XCTAssertLessThan(result.wallSeconds, 4)
        XCTAssertEqual(livingProcesses(containing: seconds), [])
    }

    func testStragglersHoldingThePipeAreKilledWhenTheMainProcessExits() throws {
        let seconds = uniqueSleepSeconds()
        let result = try CommandRunner().run(Command("sh", ["-c", "sleep \(seconds) & echo started"], logPath: log(),
                                                     environment: basicEnvironment, timeout: 30))
        XCTAssertEqual(result.termination, .exited(0))
        XCTAssertFalse(result.timedOut)
        XCTAssertLessThan(result.wallSeconds, 3)
        XCTAssertEqual(try String(contentsOfFile: log(), encoding: .utf8), "started\n")
        XCTAssertEqual(livingProcesses(containing: seconds), [])
    }

    func testOutputCapTruncatesTheLogWithAMarker() throws {
        let result = try CommandRunner().run(Command("sh", ["-c", "head -c 300000 /dev/zero | tr '\\0' x; echo; echo tail"],
                                                     logPath: log(), environment: basicEnvironment, outputCap: 1000))
        XCTAssertTrue(result.succeeded)
        XCTAssertTrue(result.truncated)
        XCTAssertEqual(result.outputBytes, 300_006)
        let text = try String(contentsOfFile: log(), encoding: .utf8)
        XCTAssertTrue(text.hasPrefix(String(repeating: "x", count: 1000) + "\n[forge: output truncated at 1000 bytes; 299006 more bytes dropped]"))
        XCTAssertLessThan(text.utf8.count, 1100)
        XCTAssertEqual(result.logTail(maxBytes: 5), String(text.suffix(5)))
        XCTAssertTrue(result.logTail(maxBytes: 60).hasSuffix("299006 more bytes dropped]\n"))
    }

    func testCancellingTheTaskKillsTheProcessGroup() async throws {
        let seconds = uniqueSleepSeconds()
        let command = Command("sh", ["-c", "sleep \(seconds) & sleep \(seconds)"], logPath: log(),
                              environment: basicEnvironment, killGracePeriod: 1)
        let task = Task { try await CommandRunner().run(command) }
        try await Task.sleep(nanoseconds: 300_000_000)
        task.cancel()
        let result = try await task.value
        XCTAssertTrue(result.cancelled)
        XCTAssertFalse(result.timedOut)
        XCTAssertEqual(result.termination, .signaled(SIGTERM))
        XCTAssertEqual(livingProcesses(containing: seconds), [])
    }

    func testStartFailuresAreTypedErrors() throws {
        XCTAssertThrowsError(try CommandRunner().run(Command("no-such-program-forge", logPath: log(), environment: basicEnvironment))) {
            XCTAssertEqual($0 as? CommandError, .executableNotFound(name: "no-such-program-forge", searchPath: basicEnvironment["PATH"]!))
        }
        XCTAssertThrowsError(try CommandRunner().run(Command("true", logPath: log(), environment: basicEnvironment,
                                                             workingDirectory: directory + "/missing"))) {
            XCTAssertEqual($0 as? CommandError, .workingDirectoryMissing(directory + "/missing"))
        }
        XCTAssertThrowsError(try CommandRunner().run(Command("true", logPath: directory + "/no/dir/run.log", environment: basicEnvironment))) {
            XCTAssertTrue("\($0)".contains(directory + "/no/dir/run.log"))
        }
    }
}
