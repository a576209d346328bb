import Environments
import Evaluation
import Foundation
import Hummingbird
import Sandbox
import ServiceLifecycle
import Store

/// What `forge serve` is told.
public struct ServerConfiguration: Sendable {
    /// Address to listen on; loopback unless an API key is set (`forge serve` refuses otherwise).
    public var host: String
    /// 0 picks a free port (tests); `RewardServer.run` reports the one bound.
    public var port: Int
    /// Repository (`owner/name`) → local clone.
    public var clones: [String: String]
    /// `<evaluations>/serve/` holds every scored (instance, patch) pair's files.
    public var evaluationsDirectory: String
    /// Where base-tree snapshots are exported and archived.
    public var snapshotsDirectory: String
    public var scoring: ScoringOptions
    /// `POST /score` bodies larger than this are answered 413.
    public var maxBodyBytes: Int
    public var useSandbox: Bool
    /// Test time limit per prediction (seconds); nil: the recipe's, capped at the request timeout.
    public var testTimeout: Double?
    /// Required in `X-API-Key` on every route but `/health` when set (nil or empty: no key).
    public var apiKey: String?

    public init(host: String = "127.0.0.1", port: Int = 8080, clones: [String: String], evaluationsDirectory: String,
                snapshotsDirectory: String, scoring: ScoringOptions = ScoringOptions(), maxBodyBytes: Int = 4 << 20,
                useSandbox: Bool = true, testTimeout: Double? = nil) {
        self.host = host; self.port = port; self.clones = clones; self.evaluationsDirectory = evaluationsDirectory
        self.snapshotsDirectory = snapshotsDirectory; self.scoring = scoring; self.maxBodyBytes = maxBodyBytes
        self.useSandbox = useSandbox; self.testTimeout = testTimeout
    }
}

/// The reward service: Hummingbird routes over a `ScoringService`, the task store and snapshots.
public final class RewardServer: Sendable {
    public let configuration: ServerConfiguration
    public let store: TaskStore
    public let scoring: ScoringService
    public let snapshots: Snapshots
    public let httpMetrics = HTTPMetrics()

    public init(configuration: ServerConfiguration, store: TaskStore, environments: EnvironmentBuilder) throws {
        self.configuration = configuration
        self.store = store
        // A run may not outlive the request waiting for it by much: cap the test time limit.
        let testTimeout = min(configuration.testTimeout ?? configuration.scoring.requestTimeout, configuration.scoring.requestTimeout)
        let evaluator = try Evaluator(clones: configuration.clones, environments: environments,
                                      options: EvaluationOptions(runID: ScoringService.runID,
                                                                 evaluationsDirectory: configuration.evaluationsDirectory,
                                                                 jobs: configuration.scoring.workers, useSandbox: configuration.useSandbox,
                                                                 timeout: testTimeout))
        scoring = ScoringService(evaluator: evaluator, store: store, options: configuration.scoring)
        snapshots = Snapshots(root: configuration.snapshotsDirectory, clones: configuration.clones)
    }

    /// Serves until the surrounding task is cancelled (or, with `handleSignals`, SIGINT/SIGTERM).
    /// Shutting down is graceful: queued scores are answered 503, running ones finish and are
    /// stored, then the HTTP server answers what is in flight and stops. `onRunning` gets the port.
    public func run(handleSignals: Bool = false, onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let app = Application(
            router: makeRouter(),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "forge-serve"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? 0) }
        )
        // Services shut down last to first: the scoring queue before the HTTP server.
        let group = ServiceGroup(services: [app, ScoringLifecycle(scoring: scoring)],
                                 gracefulShutdownSignals: handleSignals ? [.sigterm, .sigint] : [], logger: app.logger)
        // Cancellation would reach the services as cancellation, dropping connections; a task of
        // its own turns it into a graceful shutdown instead.
        let running = Task { try await group.run() }
        try await withTaskCancellationHandler {
            try await running.value
        } onCancel: {
            Task { await group.triggerGracefulShutdown() }
        }
    }

    /// Every route; see `openapi.yaml` beside this file.
    func makeRouter() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.middlewares.add(RouteMetricsMiddleware(metrics: httpMetrics))
        if let key = configuration.apiKey.flatMap(APIKey.init) { router.middlewares.add(APIKeyMiddleware(key: key)) }
        router.get("/health") { _, _ in self.health() }
        router.get("/metrics") { _, _ in self.metricsText() }
        router.get("/openapi.yaml") { _, _ in self.openAPI() }
        router.get("/tasks") { request, _ in self.listTasks(request) }
        router.get("/tasks/:id") { _, context in await self.taskDetail(context.parameters.get("id") ?? "") }
        router.get("/tasks/:id/snapshot.tar") { _, context in
            await self.snapshotArchive(context.parameters.get("id") ?? "", context: context)
        }
        router.post("/score") { request, _ in await self.score(request) }
        router.get("/logs/:folder/:instance/:file") { _, context in
            await self.log(folder: context.parameters.get("folder") ?? "", instance: context.parameters.get("instance") ?? "",
                           file: context.parameters.get("file") ?? "")
        }
        return router
    }

    // MARK: - Handlers

    func health() -> Response {
        let load = scoring.load
        do {
            let tasks = try store.taskCount()
            return json(Health(status: "ok", tasks: tasks, workers: configuration.scoring.workers,
                               queueCapacity: configuration.scoring.queueCapacity, queued: load.queued, running: load.running))
        } catch {
            return failure(.storage("\(error)"))
        }
    }

    func metricsText() -> Response {
        var text = PrometheusText()
        let load = scoring.load
        text.family("forge_serve_queue_depth", type: "gauge", help: "Predictions waiting for a worker.")
        text.sample("forge_serve_queue_depth", [:], Double(load.queued))
        text.family("forge_serve_in_flight", type: "gauge", help: "Predictions being evaluated now.")
        text.sample("forge_serve_in_flight", [:], Double(load.running))
        text.family("forge_serve_workers", type: "gauge", help: "Worker threads (predictions scored at once).")
        text.sample("forge_serve_workers", [:], Double(configuration.scoring.workers))
        text.family("forge_serve_queue_capacity", type: "gauge", help: "Predictions that may wait before requests are refused (429).")
        text.sample("forge_serve_queue_capacity", [:], Double(configuration.scoring.queueCapacity))
        scoring.metrics.render(into: &text)
        httpMetrics.render(into: &text)
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                        body: .init(byteBuffer: ByteBuffer(string: text.text)))
    }

    func openAPI() -> Response {
        guard let text = EmbeddedFiles.contents["openapi.yaml"] else { return failure(.notFound("openapi.yaml")) }
        return Response(status: .ok, headers: [.contentType: "application/yaml"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    func listTasks(_ request: Request) -> Response {
        let query = request.uri.queryParameters
        func integer(_ name: String, default value: Int, range: ClosedRange<Int>) throws -> Int {
            guard let text = query[Substring(name)] else { return value }
            guard let number = Int(text), range.contains(number) else {
                throw ServingError.badQuery("\(name) must be an integer in \(range.lowerBound)...\(range.upperBound), got '\(text)'")
            }
            return number
        }
        do {
            let limit = try integer("limit", default: 100, range: 1...1000)
            let offset = try integer("offset", default: 0, range: 0...Int(Int32.max))
            var validated: Bool?
            if let text = query["validated"] {
                guard let value = Bool(String(text)) else { throw ServingError.badQuery("validated must be true or false, got '\(text)'") }
                validated = value
            }
            let repo = query["repo"].map(String.init)
            var tasks: [TaskRecord]
            do { tasks = try store.tasks(matching: TaskFilter(repo: repo)) } catch { throw ServingError.storage("\(error)") }
            if let validated { tasks = tasks.filter { $0.isEvaluable == validated } }
            let page = tasks.dropFirst(offset).prefix(limit).map(TaskSummary.init)
            let next = offset + page.count < tasks.count ? offset + page.count : nil
            return json(TaskPage(tasks: Array(page), total: tasks.count, offset: offset, limit: limit, nextOffset: next))
        } catch let error as ServingError {
            return failure(error)
        } catch {
            return failure(.storage("\(error)"))
        }
    }

    func taskDetail(_ id: String) async -> Response {
        do {
            let task = try lookUp(id)
            let path = try await offload { try self.snapshots.tree(for: task) }
            return json(TaskDetail(task, snapshotPath: path))
        } catch let error as ServingError {
            return failure(error)
        } catch {
            return failure(.storage("\(error)"))
        }
    }

    func snapshotArchive(_ id: String, context: BasicRequestContext) async -> Response {
        do {
            let task = try lookUp(id)
            let path = try await offload { try self.snapshots.archive(for: task) }
            let body = try await FileIO().loadFile(path: path, context: context)
            return Response(status: .ok, headers: [.contentType: "application/x-tar",
                                                   .contentDisposition: "attachment; filename=\"\(task.instanceID).tar\""], body: body)
        } catch let error as ServingError {
            return failure(error)
        } catch {
            return failure(.storage("\(error)"))
        }
    }

    func score(_ request: Request) async -> Response {
        let limit = configuration.maxBodyBytes
        // A client that sends its whole body before reading the answer (and one that asks for
        // `Connection: close`, whose unread body Hummingbird does not drain) would block on a
        // full socket: read and drop the rest, up to a bound, before answering 413.
        let drainBound = limit + Self.drainBytes
        if let declared = request.headers[.contentLength].flatMap({ Int($0) }), declared > drainBound {
            return failure(.bodyTooLarge(limit: limit), closing: true)
        }
        var bytes: [UInt8] = []
        var seen = 0
        do {
            for try await buffer in request.body {
                seen += buffer.readableBytes
                if seen > drainBound { return failure(.bodyTooLarge(limit: limit), closing: true) }
                if seen <= limit { bytes += buffer.readableBytesView }
            }
        } catch {
            return failure(.malformedBody("could not read the body: \(error)"))
        }
        if seen > limit { return failure(.bodyTooLarge(limit: limit)) }
        do {
            let scoreRequest = try ScoreRequest.decode(Data(bytes))
            let scored: Scored
            do { scored = try await scoring.score(instanceID: scoreRequest.instanceID, patch: scoreRequest.patch) } catch { throw ServingError.scoring(error) }
            let response = ScoreResponse(result: scored.result, task: scored.task, model: scoreRequest.model, key: scored.key, cached: scored.cached)
            // An infrastructure error is the server's failure, not a zero reward: answered 500, reward null.
            return json(response, status: scored.result.status == .error ? .internalServerError : .ok)
        } catch let error as ServingError {
            return failure(error)
        } catch {
            return failure(.storage("\(error)"))
        }
    }

    /// Bytes past the body limit read and dropped so that the 413 reaches the client.
    static let drainBytes = 64 << 20

    /// Only the files an evaluation writes, in a served pair's folder.
    static let logFiles: [String: String] = [
        "test.log": "text/plain; charset=utf-8", "apply.log": "text/plain; charset=utf-8", "patch.diff": "text/x-diff; charset=utf-8",
        "model_patch.applied.diff": "text/x-diff; charset=utf-8", "junit.xml": "application/xml", "report.json": "application/json",
    ]

    func log(folder: String, instance: String, file: String) async -> Response {
        let isKeyFolder = folder.hasPrefix("patch-") && folder.dropFirst(6).allSatisfy { $0.isHexDigit } && folder.count == 38
        guard isKeyFolder, let type = Self.logFiles[file], !instance.isEmpty, !instance.contains("/"), !instance.hasPrefix(".") else {
            return failure(.notFound("/logs/\(folder)/\(instance)/\(file)"))
        }
        // The tested code wrote these files in its run folder and could have left links to any
        // host file instead: only a regular file in the pair's folder itself is served.
        let directory = scoring.evaluator.instanceDirectory(model: folder, instanceID: instance)
        do {
            let data = try await offload { try SafeFile.read(file, beneath: directory) }
            return Response(status: .ok, headers: [.contentType: type], body: .init(byteBuffer: ByteBuffer(bytes: data)))
        } catch {
            return failure(.notFound("/logs/\(folder)/\(instance)/\(file)"))
        }
    }

    // MARK: - Helpers

    private func lookUp(_ id: String) throws -> TaskRecord {
        do { try Identifier.checkInstanceID(id) } catch { throw ServingError.badQuery(error.description) }
        let found: TaskRecord?
        do { found = try store.task(id: id) } catch { throw ServingError.storage("\(error)") }
        guard let found else { throw ServingError.unknownInstance(id) }
        return found
    }

    /// Runs blocking work (libgit2, file writes) off Swift's cooperative threads.
    private func offload<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Result { try work() }) }
        }
    }
}

/// Shuts the scoring service down when the group shuts down.
struct ScoringLifecycle: Service {
    let scoring: ScoringService

    func run() async throws {
        try? await gracefulShutdown()
        let scoring = scoring
        // Waits for running evaluations, which block worker threads, not the task pool.
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async { scoring.shutdown(); done.resume() }
        }
    }
}

/// `{"error": {"code", "message"}}` with the error's status; 429 says when to come back.
func failure(_ error: ServingError, closing: Bool = false) -> Response {
    var headers: HTTPFields = [:]
    if closing { headers[.connection] = "close" } // the rest of the body is not read
    if case .scoring(.queueFull(_, let retryAfter)) = error { headers[.retryAfter] = "\(retryAfter)" }
    return json(["error": ["code": error.code, "message": error.description]], status: .init(code: error.httpStatus), headers: headers)
}

func json(_ value: some Encodable, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    let data = (try? encoder.encode(value)) ?? Data(#"{"error":{"code":"encoding","message":"response could not be encoded"}}"#.utf8)
    var fields = headers
    fields[.contentType] = "application/json; charset=utf-8"
    return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: data)))
}

/// `GET /health`'s answer.
struct Health: Codable, Hashable, Sendable {
    var status: String
    var tasks: Int
    var workers: Int
    var queueCapacity: Int
    var queued: Int
    var running: Int
    enum CodingKeys: String, CodingKey { case status, tasks, workers, queueCapacity = "queue_capacity", queued, running }
}

/// Answers 401 unless the request carries the key in `X-API-Key`; `/health` stays open for
/// liveness probes (it tells load and task counts, nothing of the tasks).
struct APIKeyMiddleware<Context: RequestContext>: RouterMiddleware {
    let key: APIKey

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if request.uri.path == "/health" { return try await next(request, context) }
        guard let given = request.headers.first(where: { $0.name.canonicalName == "x-api-key" })?.value, key.accepts(given) else {
            return failure(.unauthorized)
        }
        return try await next(request, context)
    }
}

/// Counts every answered request by route and status code, and its latency.
struct RouteMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: HTTPMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        func seconds() -> Double { let elapsed = ContinuousClock.now - started; return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18 }
        do {
            var response = try await next(request, context)
            // Hummingbird closes after a `Connection: close` request without saying so; a client
            // that is not told may send its next request on the dying connection and wait forever.
            if request.headers[.connection]?.lowercased() == "close" { response.headers[.connection] = "close" }
            metrics.record(route: "\(request.method) \(context.endpointPath ?? "unmatched")", code: response.status.code, seconds: seconds())
            return response
        } catch let error as HTTPResponseError {
            metrics.record(route: "\(request.method) \(context.endpointPath ?? "unmatched")", code: error.status.code, seconds: seconds())
            throw error
        }
    }
}
