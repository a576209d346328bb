import Environments
import Foundation
import Git
import Mining
import Sample
import Store
import Validation
import XCTest
@testable import Evaluation

/// The embedded sample, mined and validated once per test process: a clone, a store whose valid
/// tasks carry FAIL_TO_PASS/PASS_TO_PASS, and the environment root validation built (so every
/// evaluation afterwards runs in warm environments).
final class ValidatedSample: @unchecked Sendable {
    /// Everything the builders write lives under one folder, bound as one mount in the install
    /// sandbox so uv can hard-link from its cache; the uv cache is kept between test runs.
    static let base: URL = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("forge-eval-tests")
        try? FileManager.default.removeItem(at: url.appendingPathComponent("roots"))
        try? FileManager.default.createDirectory(at: url.appendingPathComponent("roots"), withIntermediateDirectories: true)
        return url
    }()

    static let shared: Result<ValidatedSample, Error> = Result { try ValidatedSample() }

    let root: URL
    let clone: String
    let store: TaskStore
    let builder: EnvironmentBuilder
    let validation: ValidationSummary
    /// Valid tasks by instance id.
    let tasks: [String: TaskRecord]
    /// Every mined task (valid or not).
    let allTasks: [TaskRecord]

    private init() throws {
        root = Self.base.appendingPathComponent("roots").appendingPathComponent(String(UUID().uuidString.prefix(8)))
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let created = try blockingAwait { [root] in try await SampleRepository.create(in: root.path) }
        clone = created.repository
        store = try TaskStore(path: root.appendingPathComponent("forge.db").path)
        let mined = try Miner(repository: try Repository.open(clone), repo: SampleRepository.repoName)
            .mine(metadata: try Metadata.load(contentsOf: created.metadata))
        try store.save(tasks: mined.tasks)
        builder = Self.builder(root: root.appendingPathComponent("envs"), recipes: try RecipeBook(directory: RecipeBook.bundledDirectory()))
        let validator = Validator(repository: try Repository.open(clone), environments: builder,
                                  options: ValidationOptions(reruns: 0, jobs: 2, useSandbox: true,
                                                             runsDirectory: root.appendingPathComponent("runs").path))
        validation = try BatchValidation.run(tasks: try store.tasks(), validator: validator, store: store)
        allTasks = try store.tasks()
        tasks = Dictionary(uniqueKeysWithValues: allTasks.filter(\.isEvaluable).map { ($0.instanceID, $0) })
    }

    static func builder(root: URL, recipes: RecipeBook) -> EnvironmentBuilder {
        EnvironmentBuilder(root: root, recipes: recipes,
                           options: .init(uvCacheDirectory: base.appendingPathComponent("uv-cache")))
    }

    /// An evaluator over the shared environments, writing under a fresh `evals` folder.
    func evaluator(runID: String, jobs: Int = 2, timeout: Double? = nil, environments: EnvironmentBuilder? = nil) throws -> Evaluator {
        try Evaluator(clones: [SampleRepository.repoName: clone], environments: environments ?? builder,
                      options: EvaluationOptions(runID: runID, evaluationsDirectory: root.appendingPathComponent("evals").path,
                                                 jobs: jobs, useSandbox: true, timeout: timeout))
    }

    func task(_ number: Int) -> TaskRecord {
        tasks[TaskRecord.instanceID(repo: SampleRepository.repoName, pullNumber: number)]!
    }

    /// A diff of the edits `edit` makes to a checkout of the task's base (after the gold patch
    /// when `afterGold`), binary files included. Built with the git CLI, as a model's tool would.
    func makePatch(_ task: TaskRecord, afterGold: Bool = false, edit: (URL) throws -> Void) throws -> String {
        let work = root.appendingPathComponent("patches").appendingPathComponent(UUID().uuidString)
        defer { try? FileManager.default.removeItem(at: work) }
        try git(["clone", "-q", "--no-checkout", clone, work.path], in: root)
        try git(["checkout", "-q", task.baseCommit], in: work)
        if afterGold {
            let gold = work.appendingPathComponent(".gold.diff")
            try task.patch.write(to: gold, atomically: true, encoding: .utf8)
            try git(["apply", gold.path], in: work)
            try FileManager.default.removeItem(at: gold)
            try git(["add", "-A"], in: work)
            try git(["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "gold"], in: work)
        }
        try edit(work)
        try git(["add", "-A"], in: work)
        // One diff from base, gold included: the model writes one patch.
        return try git(["diff", "--cached", "--binary", task.baseCommit], in: work)
    }

    @discardableResult
    func git(_ arguments: [String], in directory: URL) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/git")
        process.arguments = arguments
        process.currentDirectoryURL = directory
        process.environment = ["PATH": "/usr/bin:/bin", "HOME": root.path, "GIT_CONFIG_NOSYSTEM": "1", "LC_ALL": "C"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        if process.terminationStatus != 0 {
            throw NSError(domain: "git", code: Int(process.terminationStatus),
                          userInfo: [NSLocalizedDescriptionKey: "git \(arguments.joined(separator: " ")): \(text)"])
        }
        return text
    }
}

/// Replaces `old` with `new` in a file of a checkout; fails the test when `old` is absent.
func replace(_ old: String, with new: String, in file: String, under root: URL) throws {
    let url = root.appendingPathComponent(file)
    let text = try String(contentsOf: url, encoding: .utf8)
    guard text.contains(old) else { throw NSError(domain: "fixture", code: 1, userInfo: [NSLocalizedDescriptionKey: "\(file) lacks \(old)"]) }
    try text.replacingOccurrences(of: old, with: new).write(to: url, atomically: true, encoding: .utf8)
}

/// Runs async work from synchronous test code.
func blockingAwait<T: Sendable>(_ work: @escaping @Sendable () async throws -> T) throws -> T {
    let semaphore = DispatchSemaphore(value: 0)
    nonisolated(unsafe) var result: Result<T, Error>!
    Task.detached {
        do { result = .success(try await work()) } catch { result = .failure(error) }
        semaphore.signal()
    }
    semaphore.wait()
    return try result.get()
}
