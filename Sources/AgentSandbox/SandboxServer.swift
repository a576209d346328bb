import Foundation
import Hummingbird
import ServiceLifecycle
import Evaluation
import Serving
import Synchronization

/// What `forge sandbox serve` is told.
public struct SandboxServerConfiguration: Sendable {
    public var host: String
    /// 0 picks a free port; `SandboxServer.run` reports the one bound.
    public var port: Int
    /// Required in `X-API-Key` when set (as SWE-ReX's `--auth-token`).
    public var apiKey: String?
    /// Sandboxes idle this long (no request) are closed and removed; nil: never.
    public var idleTimeout: Double?
    /// Stop serving once no sandbox is left (after `/close` or the idle timeout).
    public var stopWhenEmpty: Bool
    /// Largest request body (uploads included).
    public var maxBodyBytes: Int
    /// Actions (every endpoint but `is_alive` and `close`) run at once over all sandboxes; more are answered
    /// 429 at once. Each holds a thread and usually processes: the bound keeps a client from
    /// starting without end.
    public var maxConcurrentActions: Int

    public init(host: String = "127.0.0.1", port: Int = 8000, apiKey: String? = nil, idleTimeout: Double? = 3600,
                stopWhenEmpty: Bool = false, maxBodyBytes: Int = 64 << 20, maxConcurrentActions: Int = 32) {
        self.host = host; self.port = port; self.apiKey = apiKey; self.idleTimeout = idleTimeout
        self.stopWhenEmpty = stopWhenEmpty; self.maxBodyBytes = maxBodyBytes; self.maxConcurrentActions = maxConcurrentActions
    }
}

/// SWE-ReX's runtime endpoints over a `SandboxHost`. Each sandbox is served under
/// `/sandboxes/<id>/`; with exactly one sandbox open, also at the root, so SWE-ReX's
/// `RemoteRuntime(host=..., port=...)` drives it unmodified. `POST .../forge/submit` is Forge's own.
public final class SandboxServer: Sendable {
    public let configuration: SandboxServerConfiguration
    public let host: SandboxHost
    /// The last answer per sandbox by `X-Request-ID`: the client retries with the same id.
    private let replies = ReplyCache()
    private let key: APIKey?
    private let actions: ActionSlots

    public init(configuration: SandboxServerConfiguration, host: SandboxHost) {
        self.configuration = configuration
        self.host = host
        key = configuration.apiKey.flatMap(APIKey.init)
        actions = ActionSlots(limit: configuration.maxConcurrentActions)
    }

    /// Serves until cancelled (or, with `stopWhenEmpty`, until the last sandbox closed); then
    /// closes every sandbox and waits for running scores. `onRunning` gets the bound port.
    public func run(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let app = Application(router: makeRouter(),
                              configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "forge-sandbox"),
                              onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? 0) })
        // Cancellation would drop connections mid-answer; a graceful shutdown answers them first.
        let group = ServiceGroup(services: [app], gracefulShutdownSignals: [], logger: app.logger)
        let serving = Task { try await group.run() }
        let (host, configuration) = (host, configuration)
        let reaper = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(250))
                if let idle = configuration.idleTimeout { host.closeIdle(after: idle) }
                if configuration.stopWhenEmpty && host.ids.isEmpty { await group.triggerGracefulShutdown(); return }
            }
        }
        defer { reaper.cancel() }
        let outcome = await withTaskCancellationHandler { await serving.result } onCancel: {
            Task { await group.triggerGracefulShutdown() }
        }
        host.closeAll()
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            Thread { host.scoring.shutdown(); done.resume() }.start()
        }
        if case .failure(let error) = outcome, !(error is CancellationError) { throw error }
    }

    enum Endpoint: String, CaseIterable {
        case isAlive = "is_alive", createSession = "create_session", runInSession = "run_in_session"
        case closeSession = "close_session", execute, readFile = "read_file", writeFile = "write_file"
        case upload, close, submit = "forge/submit"
    }

    func makeRouter() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.get("/") { request, _ in self.authorized(request) ?? reply(GreetingResponse()) }
        for endpoint in Endpoint.allCases {
            let handler: @Sendable (Request, BasicRequestContext) async throws -> Response = { request, context in
                await self.handle(endpoint, request, sandboxID: context.parameters.get("sandbox"))
            }
            for prefix in ["", "/sandboxes/:sandbox"] {
                let path = RouterPath("\(prefix)/\(endpoint.rawValue)")
                if endpoint == .isAlive { router.get(path, use: handler) } else { router.post(path, use: handler) }
            }
        }
        return router
    }

    private func authorized(_ request: Request) -> Response? {
        guard let key else { return nil }
        guard let given = header("X-API-Key", of: request) else { return reply(httpError: .missingKey) }
        return key.accepts(given) ? nil : reply(httpError: .wrongKey)
    }

    private func handle(_ endpoint: Endpoint, _ request: Request, sandboxID: String?) async -> Response {
        if let refusal = authorized(request) { return refusal }
        let id = sandboxID ?? { let ids = host.ids; return ids.count == 1 ? ids[0] : nil }()
        guard let id, let sandbox = host.sandbox(id) else {
            let open = host.ids
            let message = sandboxID.map { "no sandbox '\($0)' is open" }
                ?? "\(open.count) sandboxes are open here: use /sandboxes/<id>/\(endpoint.rawValue)"
            return reply(httpError: RexHTTPError(status: 404, detail: .message(message + (open.isEmpty ? "" : " (open: \(open.joined(separator: ", ")))"))))
        }
        sandbox.touch()
        defer { sandbox.touch() }
        let requestID = header("X-Request-ID", of: request)
        if let requestID, let cached = replies.get(sandbox: id, requestID: requestID) { return cached.response }
        // Liveness and closing are cheap, and closing frees what the bound protects.
        let bounded = endpoint != .isAlive && endpoint != .close
        if bounded {
            guard actions.acquire() else {
                var refused = reply(httpError: RexHTTPError(status: 429, detail: .message(
                    "too many actions at once: this server runs at most \(actions.limit) action\(actions.limit == 1 ? "" : "s") at a time (--max-concurrent-actions); retry later")))
                refused.headers[.retryAfter] = "1"
                return refused
            }
        }
        defer { if bounded { actions.release() } }
        let body: Data
        do {
            let buffer = try await request.body.collect(upTo: configuration.maxBodyBytes)
            body = Data(buffer.readableBytesView)
        } catch {
            return reply(httpError: RexHTTPError(status: 413, detail: .message("request body is larger than \(configuration.maxBodyBytes) bytes")))
        }
        let stored = await answer(endpoint, sandbox: sandbox, id: id, body: body, contentType: request.headers[.contentType])
        if let requestID { replies.set(sandbox: id, requestID: requestID, stored) }
        return stored.response
    }

    private func answer(_ endpoint: Endpoint, sandbox: AgentSandbox, id: String, body: Data, contentType: String?) async -> StoredReply {
        do {
            switch endpoint {
            case .isAlive:
                return StoredReply(body: IsAliveResponse(isAlive: !sandbox.isClosed))
            case .upload:
                let form = try MultipartForm(contentType: contentType, body: body)
                return StoredReply(body: try await blocking { try sandbox.upload(form) })
            case .close:
                host.close(id)
                return StoredReply(body: EmptyResponse())
            case .submit:
                return StoredReply(body: try await submit(sandbox, fields: try RequestFields(body)))
            default:
                let fields = try RequestFields(body)
                let work: @Sendable () throws -> StoredReply = {
                    switch endpoint {
                    case .createSession: return StoredReply(body: try sandbox.createSession(fields))
                    case .runInSession: return StoredReply(body: try sandbox.runInSession(fields))
                    case .closeSession: return StoredReply(body: try sandbox.closeSession(fields))
                    case .execute: return StoredReply(body: try sandbox.execute(fields))
                    case .readFile: return StoredReply(body: try sandbox.readFile(fields))
                    default: return StoredReply(body: try sandbox.writeFile(fields))
                    }
                }
                return try await blocking(work)
            }
        } catch let error as RexHTTPError {
            return StoredReply(status: error.status, body: error.body)
        } catch let error as RexError {
            return StoredReply(status: 511, body: error.transferBody)
        } catch {
            return StoredReply(status: 511, body: RexError.runtime("\(error)").transferBody)
        }
    }

    /// `POST /forge/submit {model_name_or_path?}`: the workspace's diff, scored like `forge eval`.
    private func submit(_ sandbox: AgentSandbox, fields: RequestFields) async throws -> SubmitResponse {
        let model = try fields.string("model_name_or_path", default: "forge-sandbox")
        let patch = try await blocking { try sandbox.diff() }
        let scored: Scored
        do { scored = try await host.scoring.score(instanceID: sandbox.task.instanceID, patch: patch) } catch {
            throw RexError.runtime("scoring the submission failed: \(error)")
        }
        try host.record(instanceID: sandbox.task.instanceID, model: model, patch: patch)
        let response = ScoreResponse(result: scored.result, task: scored.task, model: model, key: scored.key, cached: scored.cached)
        return SubmitResponse(score: response, modelPatch: patch)
    }
}

/// An answer kept as bytes, so that a retried request gets the same one.
struct StoredReply: Sendable {
    var status: Int
    var data: Data

    /// `body` as compact JSON with sorted keys (one byte-stable answer per request id).
    init(status: Int = 200, body: some Encodable) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            self.status = status
            data = try encoder.encode(body)
        } catch {
            // Only a non-finite number can fail here; the client still needs an answer, and a
            // 500 naming the cause is one it reports.
            self.status = 500
            data = Data(#"{"detail":"response could not be encoded as JSON"}"#.utf8)
        }
    }

    var response: Response {
        Response(status: .init(code: status), headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// A counting bound on the actions running at once.
final class ActionSlots: Sendable {
    let limit: Int
    private let running = Mutex(0)

    init(limit: Int) { self.limit = limit }

    /// Takes a slot if one is free.
    func acquire() -> Bool {
        running.withLock { running in
            guard running < limit else { return false }
            running += 1
            return true
        }
    }
    func release() { running.withLock { $0 -= 1 } }
}

/// Each sandbox's last answer with its request id, so that a retried request gets the same one.
final class ReplyCache: Sendable {
    private let last = Mutex<[String: (requestID: String, reply: StoredReply)]>([:])
    func get(sandbox: String, requestID: String) -> StoredReply? {
        last.withLock { $0[sandbox].flatMap { $0.requestID == requestID ? $0.reply : nil } }
    }
    func set(sandbox: String, requestID: String, _ reply: StoredReply) { last.withLock { $0[sandbox] = (requestID, reply) } }
}

/// A request header by case-insensitive name.
func header(_ name: String, of request: Request) -> String? {
    request.headers.first { $0.name.canonicalName == name.lowercased() }?.value
}

func reply(_ body: some Encodable, status: Int = 200) -> Response { StoredReply(status: status, body: body).response }
func reply(httpError: RexHTTPError) -> Response { reply(httpError.body, status: httpError.status) }

/// Blocking work (pipes, processes, files) on a thread of its own, awaited.
func blocking<T>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
        let thread = Thread { continuation.resume(with: Result { try work() }) }
        thread.name = "forge-sandbox-action"
        thread.start()
    }
}
