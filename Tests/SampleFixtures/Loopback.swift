import AgentSandbox
import Foundation
import Serving
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A server (`RewardServer` or `SandboxServer`) running in this process on an ephemeral loopback
/// port until `stop()`.
public final class LoopbackServer: Sendable {
    public let port: Int
    private let task: Task<Void, any Error>

    /// Starts `run`, which calls the closure it is given with the port once it listens.
    public static func start(_ run: @escaping @Sendable (@escaping @Sendable (Int) async -> Void) async throws -> Void) async throws -> LoopbackServer {
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let task = Task { try await run { port in continuation.yield(port); continuation.finish() } }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next(), port > 0 else { task.cancel(); throw NSError(domain: "server", code: 1) }
        return LoopbackServer(port: port, task: task)
    }

    public static func start(_ server: RewardServer) async throws -> LoopbackServer {
        try await start { onRunning in try await server.run(onRunning: onRunning) }
    }

    public static func start(_ server: SandboxServer) async throws -> LoopbackServer {
        try await start { onRunning in try await server.run(onRunning: onRunning) }
    }

    private init(port: Int, task: Task<Void, any Error>) { self.port = port; self.task = task }

    /// Cancels the server and waits until it has stopped (running evaluations included).
    public func stop() async { task.cancel(); _ = await task.result }

    public var base: String { "http://127.0.0.1:\(port)" }
}

/// A loopback HTTP client (URLSession) for the reward and sandbox servers: JSON bodies, an
/// optional `X-API-Key`, answers as status, headers and body.
public struct LoopbackClient: Sendable {
    public let base: String
    public var apiKey: String?
    /// `model_name_or_path` of `score`'s predictions.
    public var model: String
    public var timeout: Double
    private let session: URLSession

    public init(base: String, apiKey: String? = nil, model: String = "test-model", timeout: Double = 60) {
        self.base = base
        self.apiKey = apiKey
        self.model = model
        self.timeout = timeout
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpMaximumConnectionsPerHost = 16
        configuration.timeoutIntervalForRequest = timeout
        session = URLSession(configuration: configuration)
    }

    public struct Answer: @unchecked Sendable {
        public var status: Int
        public var headers: [AnyHashable: Any]
        public var body: Data
        public var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
        public var text: String { String(decoding: body, as: UTF8.self) }
        /// The reward server's `error.code`.
        public var errorCode: String? { (json["error"] as? [String: Any])?["code"] as? String }
        /// The sandbox server's `swerexception.class_path`.
        public var classPath: String? { (json["swerexception"] as? [String: Any])?["class_path"] as? String }
        /// The sandbox server's error message.
        public var message: String { ((json["swerexception"] as? [String: Any])?["message"] as? String) ?? "\(json["detail"] ?? "")" }
    }

    /// `key` replaces the client's API key for this request (`.some(nil)`: none sent).
    public func get(_ path: String, key: String?? = .none) async throws -> Answer {
        try await send(URLRequest(url: URL(string: base + path)!), key: key)
    }

    public func post(_ path: String, body: Data, headers: [String: String] = [:], key: String?? = .none) async throws -> Answer {
        var request = URLRequest(url: URL(string: base + path)!)
        request.httpMethod = "POST"
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        request.httpBody = body
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        return try await send(request, key: key)
    }

    public func post(_ path: String, _ object: [String: Any], key: String?? = .none) async throws -> Answer {
        try await post(path, body: try JSONSerialization.data(withJSONObject: object), key: key)
    }

    /// `POST /score` of one prediction.
    public func score(_ instanceID: String, _ patch: String?, model: String? = nil, key: String?? = .none) async throws -> Answer {
        let object: [String: Any] = ["instance_id": instanceID, "model_patch": patch ?? NSNull(), "model_name_or_path": model ?? self.model]
        return try await post("/score", object, key: key)
    }

    /// Runs a command in a sandbox session (`POST /run_in_session`).
    public func run(_ command: String, session: String = "default", timeout: Double? = 30, check: String = "silent") async throws -> Answer {
        var body: [String: Any] = ["command": command, "session": session, "check": check]
        if let timeout { body["timeout"] = timeout }
        return try await post("/run_in_session", body)
    }

    private func send(_ original: URLRequest, key: String??) async throws -> Answer {
        var request = original
        request.timeoutInterval = timeout
        if let value = key ?? apiKey { request.setValue(value, forHTTPHeaderField: "X-API-Key") }
        let (data, response) = try await session.data(for: request)
        let http = response as! HTTPURLResponse
        return Answer(status: http.statusCode, headers: http.allHeaderFields, body: data)
    }
}
