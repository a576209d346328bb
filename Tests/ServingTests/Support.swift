import Environments
import Evaluation
import Foundation
import Git
import Mining
import Sample
import Serving
import Store
import Validation
import XCTest
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The embedded sample, mined and validated once per test process (as in EvaluationTests'
/// support): a clone, a store whose valid tasks carry FAIL_TO_PASS/PASS_TO_PASS, and the warm
/// environments validation built.
final class ServedSample: @unchecked Sendable {
    /// Everything the builders write lives under one folder, bound as one mount in the install
    /// sandbox so uv can hard-link from its cache; the uv cache is kept between test runs.
    static let base: URL = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("forge-serve-tests")
        try? FileManager.default.removeItem(at: url.appendingPathComponent("roots"))
        try? FileManager.default.createDirectory(at: url.appendingPathComponent("roots"), withIntermediateDirectories: true)
        return url
    }()

    private static let setUp = Task { try await ServedSample() }
    static func shared() async throws -> ServedSample { try await setUp.value }

    let root: URL
    let clone: String
    let databasePath: String
    let store: TaskStore
    let builder: EnvironmentBuilder
    /// Valid tasks, by instance id.
    let tasks: [String: TaskRecord]

    private init() async throws {
        root = Self.base.appendingPathComponent("roots").appendingPathComponent(String(UUID().uuidString.prefix(8)))
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
        // Mining and validation block for a while: off the cooperative threads.
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

    func configuration(workers: Int, queue: Int, timeout: Double = 120, maxBody: Int = 256 << 10) -> ServerConfiguration {
        ServerConfiguration(host: "127.0.0.1", port: 0, clones: [SampleRepository.repoName: clone],
                            evaluationsDirectory: root.appendingPathComponent("evals").path,
                            snapshotsDirectory: root.appendingPathComponent("snapshots").path,
                            scoring: ScoringOptions(workers: workers, queueCapacity: queue, requestTimeout: timeout),
                            maxBodyBytes: maxBody)
    }

    /// A diff of the edits `edit` makes to a checkout of the task's base (after the gold patch
    /// when `afterGold`), made with the git CLI as a model's tool would.
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
        }
        try edit(work)
        try git(["add", "-A"], in: work)
        return try git(["diff", "--cached", "--binary", task.baseCommit], in: work)
    }

    @discardableResult
    func git(_ arguments: [String], in directory: URL) throws -> String {
        try runProgram("/usr/bin/git", arguments, in: directory, environment: ["PATH": "/usr/bin:/bin", "HOME": root.path, "GIT_CONFIG_NOSYSTEM": "1", "LC_ALL": "C"])
    }
}

/// Runs a program, failing with its output when it exits non-zero.
@discardableResult
func runProgram(_ program: String, _ arguments: [String], in directory: URL, environment: [String: String]? = nil) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: program)
    process.arguments = arguments
    process.currentDirectoryURL = directory
    if let environment { process.environment = environment }
    let output = Pipe()
    process.standardOutput = output
    process.standardError = output
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let text = String(decoding: data, as: UTF8.self)
    if process.terminationStatus != 0 {
        throw NSError(domain: program, code: Int(process.terminationStatus),
                      userInfo: [NSLocalizedDescriptionKey: "\(program) \(arguments.joined(separator: " ")): \(text)"])
    }
    return text
}

/// Appends `text` to a file of a checkout.
func append(_ text: String, to file: String, under root: URL) throws {
    let url = root.appendingPathComponent(file)
    try (try String(contentsOf: url, encoding: .utf8) + text).write(to: url, atomically: true, encoding: .utf8)
}

/// Replaces `old` with `new` in a file of a checkout; fails when `old` is absent.
func replace(_ old: String, with new: String, in file: String, under root: URL) throws {
    let url = root.appendingPathComponent(file)
    let text = try String(contentsOf: url, encoding: .utf8)
    guard text.contains(old) else { throw NSError(domain: "fixture", code: 1, userInfo: [NSLocalizedDescriptionKey: "\(file) lacks \(old)"]) }
    try text.replacingOccurrences(of: old, with: new).write(to: url, atomically: true, encoding: .utf8)
}

/// Blocking work on a Dispatch thread, awaited.
func onThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try work() }) }
    }
}

/// A `RewardServer` running in this process on an ephemeral loopback port.
final class RunningServer: @unchecked Sendable {
    let server: RewardServer
    let port: Int
    private let task: Task<Void, Error>

    static func start(_ configuration: ServerConfiguration, sample: ServedSample, store: TaskStore? = nil,
                      environments: EnvironmentBuilder? = nil) async throws -> RunningServer {
        let server = try RewardServer(configuration: configuration, store: store ?? sample.store, environments: environments ?? sample.builder)
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let task = Task { try await server.run { port in continuation.yield(port); continuation.finish() } }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next(), port > 0 else { task.cancel(); throw NSError(domain: "server", code: 1) }
        return RunningServer(server: server, port: port, task: task)
    }

    private init(server: RewardServer, port: Int, task: Task<Void, Error>) { self.server = server; self.port = port; self.task = task }

    /// Cancels the server and waits until it has stopped (running evaluations included).
    func stop() async { task.cancel(); _ = await task.result }

    var base: String { "http://127.0.0.1:\(port)" }
}

/// A loopback HTTP client (URLSession), answers as status, headers and JSON.
struct Client: Sendable {
    let base: String
    let session: URLSession

    init(base: String, timeout: Double = 60) {
        self.base = base
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpMaximumConnectionsPerHost = 16
        configuration.timeoutIntervalForRequest = timeout
        session = URLSession(configuration: configuration)
    }

    struct Answer: @unchecked Sendable {
        var status: Int
        var headers: [AnyHashable: Any]
        var body: Data
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
        var text: String { String(decoding: body, as: UTF8.self) }
        var errorCode: String? { (json["error"] as? [String: Any])?["code"] as? String }
    }

    func get(_ path: String) async throws -> Answer { try await send(URLRequest(url: URL(string: base + path)!)) }

    func post(_ path: String, body: Data, headers: [String: String] = [:]) async throws -> Answer {
        var request = URLRequest(url: URL(string: base + path)!)
        request.httpMethod = "POST"
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        request.httpBody = body
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        return try await send(request)
    }

    func score(_ instanceID: String, _ patch: String?, model: String = "test-model") async throws -> Answer {
        let object: [String: Any] = ["instance_id": instanceID, "model_patch": patch ?? NSNull(), "model_name_or_path": model]
        return try await post("/score", body: try JSONSerialization.data(withJSONObject: object))
    }

    private func send(_ request: URLRequest) async throws -> Answer {
        let (data, response) = try await session.data(for: request)
        let http = response as! HTTPURLResponse
        return Answer(status: http.statusCode, headers: http.allHeaderFields, body: data)
    }
}
