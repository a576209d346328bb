import Environments
import Evaluation
import Foundation
import Synchronization
import Git
import Store
import Validation
#if canImport(Glibc)
import Glibc
#endif

/// Why a sandbox could not be opened.
public enum SandboxHostError: Error, CustomStringConvertible, LocalizedError, Sendable {
    case unknownTask(String)
    case noClone(String)
    case duplicate(String)
    /// The task's environment could not be built or found; `underlying` is the builder's error.
    case environment(instanceID: String, underlying: any Error)

    public var description: String {
        switch self {
        case .unknownTask(let id): return "unknown instance_id '\(id)' (not in the task store)"
        case .noClone(let repo): return "no clone of \(repo) given (--clone \(repo)=PATH)"
        case .duplicate(let id): return "a sandbox named '\(id)' is already open"
        case .environment(let id, let underlying): return "task \(id): its environment is not available: \(underlying)"
        }
    }
    public var errorDescription: String? { description }
}

/// Every sandbox on this machine that one server manages: opening them (workspace + cached
/// environment), finding them by id, closing idle ones, and scoring their submissions through
/// the reward service's `ScoringService` (so a submission is evaluated exactly as `forge eval`
/// and `POST /score` would, and stored the same way).
public final class SandboxHost: Sendable {
    public let root: String
    public let store: TaskStore
    public let scoring: ScoringService
    public let options: AgentSandboxOptions
    /// SWE-bench prediction lines (`instance_id`, `model_name_or_path`, `model_patch`), one per submission.
    public let predictionsFile: String
    private let clones: [String: String]
    private let validators: [String: Validator]
    private let sandboxes = Mutex<[String: AgentSandbox]>([:])
    /// Held while a prediction line is appended, so that lines never interleave.
    private let predictionsLock = Mutex(())

    /// `root` holds the sandboxes' folders; leftovers of processes that died are removed now.
    public init(root: String, store: TaskStore, clones: [String: String], environments: EnvironmentBuilder,
                evaluationsDirectory: String, options: AgentSandboxOptions = AgentSandboxOptions(),
                scoring scoringOptions: ScoringOptions = ScoringOptions(workers: 1), predictionsFile: String? = nil) throws {
        self.root = URL(fileURLWithPath: root).standardizedFileURL.path
        self.store = store
        self.clones = clones
        self.options = options
        try FileManager.default.createDirectory(atPath: self.root, withIntermediateDirectories: true)
        Self.removeLeftovers(in: self.root)
        var validators: [String: Validator] = [:]
        for (repo, path) in clones {
            validators[repo] = Validator(repository: try Repository.open(path), environments: environments,
                                         options: ValidationOptions(reruns: 0, jobs: 1, useSandbox: true))
        }
        self.validators = validators
        let evaluator = try Evaluator(clones: clones, environments: environments,
                                      options: EvaluationOptions(runID: ScoringService.runID, evaluationsDirectory: evaluationsDirectory,
                                                                 jobs: scoringOptions.workers, useSandbox: true, timeout: scoringOptions.requestTimeout))
        scoring = ScoringService(evaluator: evaluator, store: store, options: scoringOptions)
        self.predictionsFile = predictionsFile ?? self.root + "/predictions.jsonl"
    }

    /// Opens a sandbox for the task (blocking: the workspace is fetched, the environment looked
    /// up in the cache or built). `id` defaults to the instance id.
    public func open(instanceID: String, id: String? = nil) throws -> AgentSandbox {
        let name = id ?? instanceID
        guard let task = try store.task(id: instanceID) else { throw SandboxHostError.unknownTask(instanceID) }
        guard let clone = clones[task.repo], let validator = validators[task.repo] else { throw SandboxHostError.noClone(task.repo) }
        try sandboxes.withLock { (sandboxes) throws(SandboxHostError) in if sandboxes[name] != nil { throw SandboxHostError.duplicate(name) } }
        let environment: PreparedEnvironment
        do { environment = try validator.environment(for: task) } catch {
            throw SandboxHostError.environment(instanceID: instanceID, underlying: error)
        }
        let sandbox = try AgentSandbox(id: Self.folderSafe(name), task: task, clone: clone, environment: environment, root: root, options: options)
        let clash: Bool = sandboxes.withLock { sandboxes in
            if sandboxes[name] != nil { return true }
            sandboxes[name] = sandbox
            return false
        }
        if clash { sandbox.close(); throw SandboxHostError.duplicate(name) }
        return sandbox
    }

    public func sandbox(_ id: String) -> AgentSandbox? { sandboxes.withLock { $0[id] } }
    public var ids: [String] { sandboxes.withLock { $0.keys.sorted() } }

    /// Closes one sandbox: its processes are killed and its folder removed.
    public func close(_ id: String) {
        // Closed before it is forgotten: once `sandbox(id)` is nil, its files and processes are gone.
        sandboxes.withLock { $0[id] }?.close()
        _ = sandboxes.withLock { $0.removeValue(forKey: id) }
    }

    /// Closes sandboxes idle for `seconds` or more; returns their ids.
    @discardableResult
    public func closeIdle(after seconds: Double) -> [String] {
        let idle = sandboxes.withLock { $0.filter { $0.value.idleSeconds >= seconds }.map(\.key) }
        for id in idle { close(id) }
        return idle
    }

    public func closeAll() { for id in ids { close(id) } }

    /// One line of a SWE-bench predictions file.
    private struct PredictionLine: Encodable {
        var instance_id: String, model_name_or_path: String, model_patch: String
    }

    /// Appends one SWE-bench prediction line (one `write` in append mode: lines never interleave).
    func record(instanceID: String, model: String, patch: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var data = try encoder.encode(PredictionLine(instance_id: instanceID, model_name_or_path: model, model_patch: patch))
        data.append(0x0a)
        try predictionsLock.withLock { _ throws(RexError) in
            let fd = Glibc.open(predictionsFile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw RexError.runtime("cannot open \(predictionsFile): \(String(cString: strerror(errno)))") }
            defer { Glibc.close(fd) }
            let written = data.withUnsafeBytes { Glibc.write(fd, $0.baseAddress!, $0.count) }
            guard written == data.count else { throw RexError.runtime("cannot append to \(predictionsFile): \(String(cString: strerror(errno)))") }
        }
    }

    /// Folders are `<pid>-<id>`: those of processes no longer running are leftovers of a crash.
    static func removeLeftovers(in root: String) {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [] {
            guard let dash = name.firstIndex(of: "-"), let pid = Int32(name[..<dash]) else { continue }
            if pid == getpid() || (kill(pid, 0) == 0 || errno == EPERM) { continue }
            try? FileManager.default.removeItem(atPath: "\(root)/\(name)")
        }
    }

    static func folderSafe(_ id: String) -> String {
        String(id.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." ? $0 : "_" })
    }
}
