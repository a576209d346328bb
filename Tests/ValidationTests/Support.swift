import Environments
import Foundation
import Git
import Sample
import Store
import Validation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// A scratch git repository built with the git CLI: no user configuration, fixed author and
/// dates (each commit one hour after the previous), so commit ids and task dates are stable.
final class FixtureRepo {
    let path: String
    private var clock: Int

    /// `start` is the first commit's time (ISO-8601); it becomes the tasks' `created_at`, which
    /// is also the date their environments are resolved at.
    init(_ name: String, start: String = "2024-05-01T10:00:00Z") throws {
        path = Harness.scratch("repo-\(name)").path
        clock = Int(ISODates.parse(start)!.timeIntervalSince1970)
        try git("init", "-q", "-b", "main")
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// ISO-8601 time of the last commit.
    var lastCommitTime: String { ISODates.format(Date(timeIntervalSince1970: TimeInterval(clock))) }

    @discardableResult
    func git(_ arguments: String...) throws -> String { try git(arguments) }

    @discardableResult
    func git(_ arguments: [String]) throws -> String {
        let date = "\(clock) +0000"
        return try Harness.run(["git"] + arguments, in: path, environment: [
            "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null", "LC_ALL": "C",
            "GIT_AUTHOR_NAME": "Ada", "GIT_AUTHOR_EMAIL": "ada@example.com", "GIT_AUTHOR_DATE": date,
            "GIT_COMMITTER_NAME": "Ada", "GIT_COMMITTER_EMAIL": "ada@example.com", "GIT_COMMITTER_DATE": date,
        ]).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Writes `files` (path → text), stages everything and commits; returns the commit id.
    @discardableResult
    func commit(_ message: String, _ files: [String: String]) throws -> String {
        for (relative, text) in files {
            let url = URL(fileURLWithPath: path).appendingPathComponent(relative)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: url, atomically: true, encoding: .utf8)
        }
        clock += 3600
        try git("add", "-A")
        try git("commit", "-q", "--allow-empty", "-m", message)
        return try git("rev-parse", "HEAD")
    }

    /// A pull request landed GitHub's "merge commit" way: a branch off main with `commits`,
    /// merged with `--no-ff` and the "Merge pull request #N" subject the miner looks for.
    @discardableResult
    func mergePullRequest(_ number: Int, branch: String, _ commits: [(String, [String: String])]) throws -> String {
        try git("checkout", "-q", "-b", branch, "main")
        for (message, files) in commits { try commit(message, files) }
        try git("update-ref", "refs/pull/\(number)/head", "HEAD")
        try git("checkout", "-q", "main")
        clock += 3600
        try git("merge", "-q", "--no-ff", branch, "-m", "Merge pull request #\(number) from ada/\(branch)\n\n\(commits[0].0)")
        try git("branch", "-q", "-D", branch)
        return try git("rev-parse", "HEAD")
    }

    /// `git diff from to -- paths` with a trailing newline, as a patch file has it.
    func diff(_ from: String, _ to: String, _ paths: String...) throws -> String {
        let text = try Harness.run(["git", "diff", "--no-color", "--no-ext-diff", from, to, "--"] + paths, in: path,
                                   environment: ["GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null"])
        return text
    }

    /// A task built directly from commits: `patch` and `test_patch` are `git diff base head` over
    /// the given paths, `created_at` is the head's time unless given.
    func task(_ id: String, repo: String, base: String, head: String, code: [String], tests: [String],
              createdAt: String? = nil) throws -> TaskRecord {
        let patch = try Harness.run(["git", "diff", "--no-color", base, head, "--"] + code, in: path, environment: [:])
        let testPatch = try Harness.run(["git", "diff", "--no-color", base, head, "--"] + tests, in: path, environment: [:])
        let time = try git("show", "-s", "--format=%ct", head)
        return TaskRecord(instanceID: id, repo: repo, baseCommit: base, patch: patch, testPatch: testPatch,
                          problemStatement: "fixture task \(id)",
                          createdAt: createdAt ?? ISODates.format(Date(timeIntervalSince1970: TimeInterval(Int(time)!))),
                          version: "0.1", environmentSetupCommit: base, statementSource: .commit)
    }
}

/// What every Validation test shares: one folder under /tmp holding a persistent uv cache and,
/// per test process, one environments root (so fixture projects with identical manifests share
/// one environment across test classes), the recipes copy and the run folders.
enum Harness {
    /// `/tmp/forge-validation-tests`; the uv cache in it survives between test runs.
    static let base: URL = {
        let url = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("forge-validation-tests")
        let processes = url.appendingPathComponent("processes")
        try? FileManager.default.createDirectory(at: processes, withIntermediateDirectories: true)
        // Folders of earlier test processes that are gone (named by pid) are removed.
        for name in (try? FileManager.default.contentsOfDirectory(atPath: processes.path)) ?? [] {
            if let pid = Int32(name.split(separator: "-").first ?? ""), pid != getpid(), kill(pid, 0) != 0, errno == ESRCH {
                try? FileManager.default.removeItem(at: processes.appendingPathComponent(name))
            }
        }
        return url
    }()

    /// This process's folder: environments, recipes copy, fixture repos and runs.
    static let processDirectory: URL = {
        let url = base.appendingPathComponent("processes").appendingPathComponent("\(getpid())-\(UUID().uuidString.prefix(6))")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }()

    /// A fresh folder inside this process's folder.
    static func scratch(_ name: String) -> URL {
        let url = processDirectory.appendingPathComponent("scratch").appendingPathComponent("\(name)-\(UUID().uuidString.prefix(8))")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Repositories whose recipe overrides the tests add to a copy of `Recipes/`.
    static let hangRepo = "forge-tests/hang"
    static let typoRepo = "forge-tests/typo"
    /// The hang fixture's test timeout (seconds), from its recipe override.
    static let shortTimeout = 5.0

    /// A copy of the shipped `Recipes/` plus two repository overrides: a short test timeout for
    /// the hang fixture, and a typo in a value (`runner: pytset`) for the bad-recipe fixture.
    static let recipesDirectory: URL = {
        let url = processDirectory.appendingPathComponent("Recipes")
        try! FileManager.default.copyItem(at: RecipeBook.bundledDirectory(), to: url)
        try! """
        # The hang fixture's tests get killed quickly.
        repo: \(hangRepo)
        test:
          timeout: \(Int(shortTimeout))

        """.write(to: url.appendingPathComponent("repos/forge-tests__hang.yaml"), atomically: true, encoding: .utf8)
        try! """
        # A typo in a value: no runner is called 'pytset'.
        repo: \(typoRepo)
        test:
          runner: pytset

        """.write(to: url.appendingPathComponent("repos/forge-tests__typo.yaml"), atomically: true, encoding: .utf8)
        return url
    }()

    /// One builder for the whole test process: environments are keyed by recipe, interpreter and
    /// manifests, so every fixture with the same pyproject.toml reuses one venv.
    static let environments: EnvironmentBuilder = {
        let book = try! RecipeBook(directory: recipesDirectory)
        return EnvironmentBuilder(root: processDirectory.appendingPathComponent("envs"), recipes: book,
                                  options: .init(uvCacheDirectory: base.appendingPathComponent("uv-cache")))
    }()

    /// A validator for one fixture repository, writing its runs to a fresh folder.
    static func validator(_ repo: FixtureRepo, reruns: Int = 1, jobs: Int = 1, sandbox: Bool = true) throws -> Validator {
        Validator(repository: try Repository.open(repo.path), environments: environments,
                  options: ValidationOptions(reruns: reruns, jobs: jobs, useSandbox: sandbox,
                                             runsDirectory: scratch("runs").path))
    }

    /// An empty task store in a fresh folder.
    static func store() throws -> TaskStore {
        try TaskStore(path: scratch("store").appendingPathComponent("forge.db").path)
    }

    /// Runs a command, returning stdout; throws with stderr when it exits non-zero.
    @discardableResult
    static func run(_ arguments: [String], in directory: String, environment: [String: String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        var inherited = ProcessInfo.processInfo.environment
        for key in inherited.keys where key.hasPrefix("GIT_") { inherited[key] = nil }
        process.environment = inherited.merging(environment) { $1 }
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = FileHandle.nullDevice
        try process.run()
        nonisolated(unsafe) var stdout = Data()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async { stdout = output.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        let stderr = errors.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw FixtureFailure("\(arguments.joined(separator: " ")) exited \(process.terminationStatus): "
                                 + String(decoding: stderr, as: UTF8.self))
        }
        return String(decoding: stdout, as: UTF8.self)
    }
}

struct FixtureFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The pyproject.toml every Python fixture shares, so they share one environment.
enum PythonFixture {
    static let pyproject = SampleFiles.pythonProject(name: "calc")

    static let initModule = "\"\"\"calc: Forge's validation fixture.\"\"\"\n"
}

/// A TCP server on 127.0.0.1 that greets and counts every connection, run by the test process
/// itself (outside any sandbox). `stop()` ends it; the socket is closed at the latest in deinit.
final class GreetingServer: @unchecked Sendable {
    let port: UInt16
    private let socketDescriptor: Int32
    private let lock = NSLock()
    private var accepted = 0
    private var stopped = false

    init() throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw FixtureFailure("socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let listening = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Bool in
                bind(descriptor, pointer, length) == 0 && listen(descriptor, 16) == 0
                    && getsockname(descriptor, pointer, &length) == 0
            }
        }
        guard listening else {
            let reason = String(cString: strerror(errno))
            close(descriptor)
            throw FixtureFailure("cannot listen on 127.0.0.1: \(reason)")
        }
        socketDescriptor = descriptor
        port = UInt16(bigEndian: address.sin_port)
        Thread.detachNewThread { [self] in serve() }
    }

    /// Connections accepted so far.
    var connections: Int { lock.withLock { accepted } }

    /// Stops accepting: the accept loop ends and the socket is closed.
    func stop() {
        let first: Bool = lock.withLock { defer { stopped = true }; return !stopped }
        if first { shutdown(socketDescriptor, Int32(SHUT_RDWR)) }
    }

    private func serve() {
        let greeting = Array("hello from the host\n".utf8)
        while true {
            let client = accept(socketDescriptor, nil, nil)
            if client < 0 {
                if lock.withLock({ stopped }) { return }
                continue
            }
            lock.withLock { accepted += 1 }
            _ = greeting.withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            close(client)
        }
    }

    deinit {
        close(socketDescriptor)
    }
}

extension XCTestCase {
    /// The log of a run, for assertion messages and content checks.
    func log(of run: TestRunRecord?) -> String {
        guard let path = run?.logPath else { return "" }
        return (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    }
}
