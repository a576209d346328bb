import Environments
import Evaluation
import Foundation
import Git
import Mining
import Sample
import Store
import Validation
import XCTest

// The adversarial suite: each test drives one attack through Forge's own entry points (agent
// shell, `/score`, `forge eval`, `forge import`, validation runs) and checks that the escape
// fails, the hack scores 0 or is refused, and the host files it aims at are untouched. It runs
// as whoever runs `swift test` (root in CI); `UnprivilegedRunTests` runs it again as an
// unprivileged user when the suite itself runs as root.

/// The embedded sample, mined and validated once per test process: a clone, a store whose valid
/// tasks carry FAIL_TO_PASS/PASS_TO_PASS, and the environments validation built.
final class AttackSample: @unchecked Sendable {
    /// uv's cache is kept between test runs; roots are per process (`roots/<pid>-…`), and those
    /// of processes that are gone are removed, so concurrent test processes never clear each other's.
    static let base: URL = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("forge-attacks-\(getuid())")
        let roots = url.appendingPathComponent("roots")
        try? FileManager.default.createDirectory(at: roots, withIntermediateDirectories: true)
        for name in (try? FileManager.default.contentsOfDirectory(atPath: roots.path)) ?? [] {
            if let pid = Int32(name.split(separator: "-").first ?? ""), kill(pid, 0) == 0 || errno == EPERM { continue }
            try? FileManager.default.removeItem(at: roots.appendingPathComponent(name))
        }
        return url
    }()

    private static let setUp = Task { try await AttackSample() }
    static func shared() async throws -> AttackSample { try await setUp.value }

    let root: URL
    let clone: String
    let databasePath: String
    let store: TaskStore
    let builder: EnvironmentBuilder
    /// Valid tasks, by instance id.
    let tasks: [String: TaskRecord]

    private init() async throws {
        root = Self.base.appendingPathComponent("roots").appendingPathComponent("\(getpid())-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let created = try await SampleRepository.create(in: root.path)
        clone = created.repository
        databasePath = root.appendingPathComponent("forge.db").path
        let store = try TaskStore(path: databasePath)
        self.store = store
        let builder = EnvironmentBuilder(root: root.appendingPathComponent("envs"), recipes: try RecipeBook(directory: RecipeBook.bundledDirectory()),
                                         options: .init(uvCacheDirectory: Self.base.appendingPathComponent("uv-cache")))
        self.builder = builder
        let (clone, root) = (clone, root)
        tasks = try await onThread {
            let mined = try Miner(repository: try Repository.open(clone), repo: SampleRepository.repoName)
                .mine(metadata: try Metadata.load(contentsOf: created.metadata))
            try store.save(tasks: mined.tasks)
            let validator = Validator(repository: try Repository.open(clone), environments: builder,
                                      options: ValidationOptions(reruns: 0, jobs: 2, useSandbox: true,
                                                                 runsDirectory: root.appendingPathComponent("runs").path))
            _ = try BatchValidation.run(tasks: try store.tasks(), validator: validator, store: store)
            return Dictionary(uniqueKeysWithValues: try store.tasks().filter(\.isEvaluable).map { ($0.instanceID, $0) })
        }
    }

    func task(_ number: Int) -> TaskRecord { tasks[TaskRecord.instanceID(repo: SampleRepository.repoName, pullNumber: number)]! }
}

/// Blocking work on a Dispatch thread, awaited.
func onThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try work() }) }
    }
}

/// A host file an attack aims at: created with known content, checked unchanged afterwards.
struct Bait {
    let path: String
    let content: String

    /// A fresh file under `directory` holding a random secret.
    init(in directory: String, name: String = "bait-\(UUID().uuidString.prefix(8))") throws {
        path = directory + "/" + name
        content = "secret-\(UUID().uuidString)\n"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try content.write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// Fails unless the file still holds exactly its content.
    func assertUntouched(file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(try? String(contentsOfFile: path, encoding: .utf8), content, "\(path) was changed", file: file, line: line)
    }
}

/// `.build/<config>/forge`, beside the test bundle.
var forgeExecutablePath: String {
    var url = Bundle(for: AttackSample.self).bundleURL
    while url.pathExtension == "xctest" || url.lastPathComponent.hasSuffix(".xctest") { url.deleteLastPathComponent() }
    return url.appendingPathComponent("forge").path
}

/// Runs a program to completion: its exit status and its stdout and stderr, merged.
@discardableResult
func runProcess(_ program: String, _ arguments: [String], in directory: String? = nil,
                environment: [String: String]? = nil) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: program)
    process.arguments = arguments
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    if let environment { process.environment = environment }
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// Runs the built `forge` as a user would.
func runForge(_ arguments: [String], in directory: String? = nil) throws -> (status: Int32, output: String) {
    try runProcess(forgeExecutablePath, arguments, in: directory)
}

/// Runs a program, failing with its output when it exits non-zero.
@discardableResult
func runTool(_ program: String, _ arguments: [String], in directory: URL, environment: [String: String]) throws -> String {
    let (status, output) = try runProcess(program, arguments, in: directory.path, environment: environment)
    guard status == 0 else {
        throw NSError(domain: program, code: Int(status), userInfo: [NSLocalizedDescriptionKey: "\(program) \(arguments.joined(separator: " ")): \(output)"])
    }
    return output
}

/// git with no user or system configuration, failing with its output.
@discardableResult
func git(_ arguments: [String], in directory: URL) throws -> String {
    try runTool("/usr/bin/git", arguments, in: directory,
                environment: ["PATH": "/usr/bin:/bin", "HOME": directory.path, "GIT_CONFIG_NOSYSTEM": "1", "LC_ALL": "C"])
}

extension AttackSample {
    /// An evaluator over the shared environments, writing under a fresh `evals` folder.
    func evaluator(runID: String) throws -> Evaluator {
        try Evaluator(clones: [SampleRepository.repoName: clone], environments: builder,
                      options: EvaluationOptions(runID: runID, evaluationsDirectory: root.appendingPathComponent("evals").path,
                                                 jobs: 1, useSandbox: true))
    }

    /// A diff of the edits `edit` makes to a checkout of the task's base, made with the git CLI as
    /// a model's tool would. `first` is applied before the edits: part of the diff when
    /// `firstInDiff`, else committed, so the diff starts from it (the tree the evaluator before
    /// the hardening applied model patches to, for `test_patch`).
    func makePatch(_ task: TaskRecord, first: String? = nil, firstInDiff: Bool = true, edit: (URL) throws -> Void) throws -> String {
        let work = root.appendingPathComponent("patches").appendingPathComponent(UUID().uuidString)
        defer { try? FileManager.default.removeItem(at: work) }
        try git(["clone", "-q", "--no-checkout", clone, work.path], in: root)
        try git(["checkout", "-q", task.baseCommit], in: work)
        if let first {
            let file = work.appendingPathComponent(".first.diff")
            try first.write(to: file, atomically: true, encoding: .utf8)
            try git(["apply", file.path], in: work)
            try FileManager.default.removeItem(at: file)
            if !firstInDiff {
                try git(["add", "-A"], in: work)
                try git(["-c", "user.name=a", "-c", "user.email=a@b", "commit", "-qm", "first"], in: work)
            }
        }
        try edit(work)
        try git(["add", "-A"], in: work)
        return try git(["diff", "--cached", "--binary", "HEAD"], in: work)
    }
}
