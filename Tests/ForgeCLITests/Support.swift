import Foundation
import SampleFixtures
import XCTest

/// A test case that runs the built `forge` (`forgeExecutablePath`) in a fresh folder of its own,
/// `directory`, unique to the test process.
class ForgeCommandTestCase: XCTestCase {
    var directory: String!

    override func setUp() {
        directory = NSTemporaryDirectory() + "forge-\(type(of: self))-\(getpid())-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

    /// Starts forge in `directory`; standard output and error go to files there (no pipe to fill
    /// up), both to `stdout` unless `stderr` is given.
    func start(_ arguments: [String], stdout: String, stderr: String? = nil) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: forgeExecutablePath)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        for file in [stdout, stderr ?? stdout] { try Data().write(to: URL(fileURLWithPath: directory + "/" + file)) }
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: directory + "/" + stdout))
        process.standardOutput = output
        process.standardError = try stderr.map { try FileHandle(forWritingTo: URL(fileURLWithPath: directory + "/" + $0)) } ?? output
        try process.run()
        return process
    }

    /// Ctrl-C for `process` once `folder` (under `directory`) holds something, that is once its
    /// first piece of work has started (at most 300 s); waits until it has exited.
    func interrupt(_ process: Process, onceFilesAppearIn folder: String) {
        let path = directory + "/" + folder
        let deadline = Date().addingTimeInterval(300)
        while Date() < deadline, ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).isEmpty, process.isRunning {
            usleep(20_000)
        }
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
    }

    /// A file in `directory`, empty when it cannot be read.
    func read(_ file: String) -> String {
        (try? String(contentsOfFile: directory + "/" + file, encoding: .utf8)) ?? ""
    }
}
