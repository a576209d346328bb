import Foundation
import XCTest

/// A scratch git repository built with the git CLI, isolated from the user's configuration.
/// Shared by the Git and Mining tests (a test-support target, not a copy in each).
public final class Fixture {
    public let root: URL
    public var path: String { root.path }
    private var clock = 1_600_000_000

    public init(_ name: String = "repo") throws {
        root = FileManager.default.temporaryDirectory
            .appendingPathComponent("forge-git-\(UUID().uuidString)")
            .appendingPathComponent(name)
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        try git("init", "-q", "-b", "main")
    }

    deinit { try? FileManager.default.removeItem(at: root.deletingLastPathComponent()) }

    public static let environment: [String: String] = {
        var env = ProcessInfo.processInfo.environment
        for key in env.keys where key.hasPrefix("GIT_") { env[key] = nil }
        env["GIT_CONFIG_NOSYSTEM"] = "1"
        env["GIT_CONFIG_GLOBAL"] = "/dev/null"
        env["GIT_AUTHOR_NAME"] = "Ada"; env["GIT_AUTHOR_EMAIL"] = "ada@example.com"
        env["GIT_COMMITTER_NAME"] = "Ada"; env["GIT_COMMITTER_EMAIL"] = "ada@example.com"
        env["LC_ALL"] = "C"
        return env
    }()

    /// Runs a command; returns stdout bytes; fails the test (throws) on a non-zero exit.
    @discardableResult
    public static func run(_ arguments: [String], in directory: String, input: [UInt8]? = nil,
                    environment extra: [String: String] = [:]) throws -> [UInt8] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.environment = environment.merging(extra) { $1 }
        let out = Pipe(), err = Pipe(), inPipe = Pipe()
        process.standardOutput = out; process.standardError = err; process.standardInput = inPipe
        try process.run()
        if let input { inPipe.fileHandleForWriting.write(Data(input)) }
        try inPipe.fileHandleForWriting.close()
        // stdout is drained on another thread while stderr is read here, so neither pipe fills.
        let output = Drained()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async { output.data = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        let errors = err.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw FixtureError(message: "\(arguments.joined(separator: " ")) failed: \(String(decoding: errors, as: UTF8.self))")
        }
        return Array(output.data)
    }

    /// What the reading thread drained; read only after `group.wait()`, which orders the write
    /// before the read.
    private final class Drained: @unchecked Sendable { var data = Data() }

    @discardableResult
    public func git(_ arguments: String..., input: [UInt8]? = nil) throws -> String {
        try git(arguments, input: input)
    }

    @discardableResult
    public func git(_ arguments: [String], input: [UInt8]? = nil) throws -> String {
        String(decoding: try gitBytes(arguments, input: input), as: UTF8.self)
    }

    public func gitBytes(_ arguments: [String], input: [UInt8]? = nil) throws -> [UInt8] {
        try Fixture.run(["git"] + arguments, in: path, input: input, environment: dates())
    }

    /// Runs a bash script in the repository (for names with raw bytes: $'caf\xe9').
    @discardableResult
    public func sh(_ script: String) throws -> String {
        String(decoding: try Fixture.run(["bash", "-c", script], in: path, environment: dates()), as: UTF8.self)
    }

    public func write(_ relativePath: String, _ content: String, executable: Bool = false) throws {
        try write(relativePath, Array(content.utf8), executable: executable)
    }

    public func write(_ relativePath: String, _ bytes: [UInt8], executable: Bool = false) throws {
        let url = root.appendingPathComponent(relativePath)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(bytes).write(to: url)
        try FileManager.default.setAttributes([.posixPermissions: executable ? 0o755 : 0o644], ofItemAtPath: url.path)
    }

    /// Stages everything and commits; returns the new commit id.
    @discardableResult
    public func commit(_ message: String) throws -> String {
        try git("add", "-A")
        try git("commit", "-q", "--allow-empty", "-m", message)
        return try head()
    }

    public func head() throws -> String { try git("rev-parse", "HEAD").trimmingCharacters(in: .whitespacesAndNewlines) }

    public func revParse(_ revision: String) throws -> String {
        try git("rev-parse", revision).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Each commit one minute after the previous, so time order is deterministic.
    private func dates() -> [String: String] {
        clock += 60
        let date = "@\(clock) +0000"
        return ["GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date]
    }
}

public struct FixtureError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}
