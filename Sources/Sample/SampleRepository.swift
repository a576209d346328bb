import Foundation
import Synchronization
import Subprocess
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// Creates Forge's embedded sample: a git repository of the `textkit` Python project whose history
/// holds merged pull requests of every kind Forge mines, plus a GitHub-API metadata file.
///
/// The history is deterministic (fixed authors, dates and config), so the same commit ids come out
/// on every machine. What a miner and validator should find in it is `SampleRepository.expected`.
public enum SampleRepository {
    public static let repoName = "forge-sample/textkit"

    /// What a correct pipeline finds in the sample.
    public struct Expectation: Sendable {
        /// PRs that must become tasks, by number, with their merge style.
        public let minedPullRequests: [Int: String]
        /// PRs whose gold patch is confirmed by the tests.
        public let validPullRequests: Set<Int>
        /// PRs mined but rejected by validation, with the reason.
        public let invalidPullRequests: [Int: String]
        /// PRs that must not become tasks: never merged (#4) and docs-only (#5).
        public let skippedPullRequests: Set<Int>
    }

    public static let expected = Expectation(
        minedPullRequests: [1: "merge", 2: "squash", 3: "rebase", 6: "merge", 7: "squash"],
        validPullRequests: [1, 2, 3],
        invalidPullRequests: [6: "no FAIL_TO_PASS", 7: "PASS_TO_FAIL"],
        skippedPullRequests: [4, 5])

    /// Paths of a created sample.
    public struct Created: Sendable {
        public let repository: String
        public let metadata: String
    }

    public enum SampleError: Error, CustomStringConvertible {
        case destinationNotEmpty(String)
        case gitFailed(arguments: [String], status: String, output: String)

        public var description: String {
            switch self {
            case .destinationNotEmpty(let path):
                return "sample destination already exists and is not empty: \(path)"
            case .gitFailed(let arguments, let status, let output):
                return "git \(arguments.joined(separator: " ")) failed (\(status)): \(output)"
            }
        }
    }

    /// `create(in:)` for synchronous callers (commands and benchmarks that are not async):
    /// swift-subprocess, which writes the sample's history, is async only.
    @discardableResult
    public static func createSynchronously(in directory: String) throws -> Created {
        let finished = DispatchSemaphore(value: 0)
        let result = Mutex<Result<Created, Error>?>(nil)
        Task.detached {
            let outcome: Result<Created, Error>
            do { outcome = .success(try await create(in: directory)) } catch { outcome = .failure(error) }
            result.withLock { $0 = outcome }
            finished.signal()
        }
        finished.wait()
        return try result.withLock { $0! }.get()
    }

    /// Writes the repository to `<directory>/textkit` and the metadata to `<directory>/metadata.jsonl`.
    @discardableResult
    public static func create(in directory: String) async throws -> Created {
        let fileManager = FileManager.default
        let repository = (directory as NSString).appendingPathComponent("textkit")
        if let contents = try? fileManager.contentsOfDirectory(atPath: repository), !contents.isEmpty {
            throw SampleError.destinationNotEmpty(repository)
        }
        try fileManager.createDirectory(atPath: repository, withIntermediateDirectories: true)
        let git = SampleGit(directory: repository)
        try await SampleHistory(git: git).write()
        let metadata = (directory as NSString).appendingPathComponent("metadata.jsonl")
        let lines = try await SampleMetadata.lines(git: git)
        try (lines.joined(separator: "\n") + "\n").write(toFile: metadata, atomically: true, encoding: .utf8)
        return Created(repository: repository, metadata: metadata)
    }
}

/// Runs `git` in the sample repository with a sealed, deterministic environment.
final class SampleGit {
    let directory: String
    /// Seconds since the epoch of the next commit; each commit advances it by an hour.
    private var clock: Int = 1_709_287_200 // 2024-03-01T10:00:00Z
    private var author = ("Forge Sample", "sample@forge.invalid")

    init(directory: String) { self.directory = directory }

    func setAuthor(_ name: String) { author = (name, "\(name.lowercased())@forge.invalid") }

    /// The ISO-8601 time of the next commit, shifted by `hours`.
    func timestamp(hoursFromNow hours: Double) -> String {
        let date = Date(timeIntervalSince1970: TimeInterval(clock) + hours * 3600)
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: date)
    }

    @discardableResult
    func run(_ arguments: [String], advancesClock: Bool = false) async throws -> String {
        if advancesClock { clock += 3600 }
        let date = "\(clock) +0000"
        let environment: Environment = .inherit.updating([
            "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": author.0, "GIT_AUTHOR_EMAIL": author.1, "GIT_AUTHOR_DATE": date,
            "GIT_COMMITTER_NAME": "Forge Sample", "GIT_COMMITTER_EMAIL": "sample@forge.invalid",
            "GIT_COMMITTER_DATE": date, "LC_ALL": "C",
        ])
        let result = try await Subprocess.run(
            .name("git"), arguments: Arguments(arguments), environment: environment,
            workingDirectory: FilePath(directory),
            output: .string(limit: 1 << 20), error: .string(limit: 1 << 20))
        let output = result.standardOutput + result.standardError
        guard result.terminationStatus.isSuccess else {
            throw SampleRepository.SampleError.gitFailed(
                arguments: arguments, status: "\(result.terminationStatus)", output: output)
        }
        return result.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func write(_ files: [String: String]) throws {
        for (path, text) in files {
            let full = (directory as NSString).appendingPathComponent(path)
            try FileManager.default.createDirectory(
                atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: full, atomically: true, encoding: .utf8)
        }
    }

    /// Writes files, stages everything and commits; returns the new commit id.
    @discardableResult
    func commit(_ message: String, files: [String: String]) async throws -> String {
        try write(files)
        try await run(["add", "-A"])
        try await run(["commit", "-q", "-m", message], advancesClock: true)
        return try await run(["rev-parse", "HEAD"])
    }
}
