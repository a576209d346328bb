import AgentSandbox
import Environments
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

/// The embedded sample, mined once per test process with tasks 1 and 2 validated (as in
/// ServingTests' `ServedSample`, narrowed to what these tests use), and a `SandboxHost` over it.
final class SandboxSample: @unchecked Sendable {
    /// uv's cache and the swe-rex venv are kept between test runs; the roots are not.
    static let base: URL = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("forge-agent-sandbox-tests")
        try? FileManager.default.removeItem(at: url.appendingPathComponent("roots"))
        try? FileManager.default.createDirectory(at: url.appendingPathComponent("roots"), withIntermediateDirectories: true)
        return url
    }()

    private static let setUp = Task { try await SandboxSample() }
    static func shared() async throws -> SandboxSample { try await setUp.value }

    let root: URL
    let clone: String
    let store: TaskStore
    let builder: EnvironmentBuilder
    let tasks: [Int: TaskRecord]

    private init() async throws {
        root = Self.base.appendingPathComponent("roots").appendingPathComponent(String(UUID().uuidString.prefix(8)))
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let created = try await SampleRepository.create(in: root.path)
        clone = created.repository
        let store = try TaskStore(path: root.appendingPathComponent("forge.db").path)
        self.store = store
        let builder = EnvironmentBuilder(root: root.appendingPathComponent("envs"), recipes: try RecipeBook(directory: RecipeBook.bundledDirectory()),
                                         options: .init(uvCacheDirectory: Self.base.appendingPathComponent("uv-cache")))
        self.builder = builder
        let (clone, root) = (clone, root)
        tasks = try await onThread {
            let mined = try Miner(repository: try Repository.open(clone), repo: SampleRepository.repoName)
                .mine(metadata: try Metadata.load(contentsOf: created.metadata))
            try store.save(tasks: mined.tasks)
            let wanted = [1, 2].map { TaskRecord.instanceID(repo: SampleRepository.repoName, pullNumber: $0) }
            let validator = Validator(repository: try Repository.open(clone), environments: builder,
                                      options: ValidationOptions(reruns: 0, jobs: 2, useSandbox: true,
                                                                 runsDirectory: root.appendingPathComponent("runs").path))
            _ = try BatchValidation.run(tasks: try store.tasks().filter { wanted.contains($0.instanceID) }, validator: validator, store: store)
            var valid: [Int: TaskRecord] = [:]
            for (number, id) in zip([1, 2], wanted) {
                guard let task = try store.task(id: id), task.isEvaluable else { throw NSError(domain: "sample", code: number) }
                valid[number] = task
            }
            return valid
        }
    }

    func makeHost(options: AgentSandboxOptions = AgentSandboxOptions(outputCap: 64 << 10, maxActionTimeout: 60)) throws -> SandboxHost {
        let name = String(UUID().uuidString.prefix(6))
        return try SandboxHost(root: root.appendingPathComponent("sandboxes-\(name)").path, store: store,
                               clones: [SampleRepository.repoName: clone], environments: builder,
                               evaluationsDirectory: root.appendingPathComponent("evals-\(name)").path, options: options)
    }

    @discardableResult
    func git(_ arguments: [String]) throws -> String {
        try runProgram("/usr/bin/git", ["-C", clone] + arguments, environment: ["PATH": "/usr/bin:/bin", "HOME": root.path, "GIT_CONFIG_NOSYSTEM": "1"])
    }
}

/// A `SandboxServer` on an ephemeral loopback port.
final class RunningSandboxServer: @unchecked Sendable {
    let server: SandboxServer
    let port: Int
    private let task: Task<Void, Error>

    static func start(_ host: SandboxHost, apiKey: String? = "test-key", idleTimeout: Double? = nil) async throws -> RunningSandboxServer {
        let server = SandboxServer(configuration: SandboxServerConfiguration(host: "127.0.0.1", port: 0, apiKey: apiKey, idleTimeout: idleTimeout), host: host)
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let task = Task { try await server.run { port in continuation.yield(port); continuation.finish() } }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next(), port > 0 else { task.cancel(); throw NSError(domain: "server", code: 1) }
        return RunningSandboxServer(server: server, port: port, task: task)
    }

    private init(server: SandboxServer, port: Int, task: Task<Void, Error>) { self.server = server; self.port = port; self.task = task }

    func stop() async { task.cancel(); _ = await task.result }
}

/// A loopback JSON client.
struct RexClient: Sendable {
    let base: String
    var apiKey: String? = "test-key"

    struct Answer: @unchecked Sendable {
        var status: Int
        var json: [String: Any]
        var classPath: String? { (json["swerexception"] as? [String: Any])?["class_path"] as? String }
        var message: String { ((json["swerexception"] as? [String: Any])?["message"] as? String) ?? "\(json["detail"] ?? "")" }
    }

    func post(_ path: String, _ object: [String: Any]) async throws -> Answer {
        try await post(path, body: try JSONSerialization.data(withJSONObject: object))
    }

    func post(_ path: String, body: Data, key: String?? = .none) async throws -> Answer {
        var request = URLRequest(url: URL(string: base + path)!)
        request.httpMethod = "POST"
        request.httpBody = body
        request.timeoutInterval = 120
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        if let value = key ?? apiKey { request.setValue(value, forHTTPHeaderField: "X-API-Key") }
        let (data, response) = try await URLSession.shared.data(for: request)
        return Answer(status: (response as! HTTPURLResponse).statusCode,
                      json: (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:])
    }

    func get(_ path: String) async throws -> Answer {
        var request = URLRequest(url: URL(string: base + path)!)
        if let apiKey { request.setValue(apiKey, forHTTPHeaderField: "X-API-Key") }
        let (data, response) = try await URLSession.shared.data(for: request)
        return Answer(status: (response as! HTTPURLResponse).statusCode,
                      json: (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:])
    }

    /// Runs a command in a session; returns the answer.
    func run(_ command: String, session: String = "default", timeout: Double? = 30, check: String = "silent") async throws -> Answer {
        var body: [String: Any] = ["command": command, "session": session, "check": check]
        if let timeout { body["timeout"] = timeout }
        return try await post("/run_in_session", body)
    }
}

@discardableResult
func runProgram(_ program: String, _ arguments: [String], environment: [String: String]? = nil) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: program)
    process.arguments = arguments
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

func onThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try work() }) }
    }
}
