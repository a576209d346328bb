import AgentSandbox
import ArgumentParser
import Environments
import Foundation
import Git
import Sample
import Store
import Validation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The agent sandbox's overheads on the sample: a trivial `run_in_session` action over HTTP
/// (persistent sandboxed bash) against the same action in a persistent bash driven through a
/// pipe by hand (no sandbox, no HTTP); and readying a sandbox for a task whose environment is
/// cached (workspace fetched, policy built, first session started) against doing the same by
/// hand in bash (git clone + checkout of the base, then a bash started).
struct SandboxBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sandbox",
        abstract: "Time agent-sandbox actions and sandbox start-up against plain bash; print medians and ratios.")

    @Option(help: "Trivial actions timed per side.") var actions = 300
    @Option(help: "Sandboxes readied per side.") var sandboxes = 10
    @Option(help: "Working folder (sample, store and environments are reused between runs).") var directory = "Workspace/bench/sandbox"

    func run() async throws {
        let root = URL(fileURLWithPath: directory).standardizedFileURL
        let (clone, storePath) = try BenchSample.mined(in: root, removingStaleFolder: true)
        let store = try TaskStore(path: storePath)
        let fileManager = FileManager.default
        let builder = EnvironmentBuilder(root: root.appendingPathComponent("envs"), recipes: try RecipeBook.bundled())
        let id = TaskRecord.instanceID(repo: SampleRepository.repoName, pullNumber: 1)
        if try store.task(id: id)?.isEvaluable != true {
            let validator = Validator(repository: try Repository.open(clone), environments: builder,
                                      options: ValidationOptions(reruns: 0, jobs: 1, runsDirectory: root.appendingPathComponent("runs").path))
            _ = try BatchValidation.run(tasks: try store.tasks().filter { $0.instanceID == id }, validator: validator, store: store)
        }
        guard let task = try store.task(id: id), task.isEvaluable else { throw ValidationError("the sample's task 1 did not validate") }

        let host = try SandboxHost(root: root.appendingPathComponent("sandboxes").path, store: store, clones: [SampleRepository.repoName: clone],
                                   environments: builder, evaluationsDirectory: root.appendingPathComponent("evals").path)
        let server = SandboxServer(configuration: SandboxServerConfiguration(port: 0, idleTimeout: nil), host: host)
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let serving = Task { try await server.run { continuation.yield($0); continuation.finish() } }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw ValidationError("the server did not start") }
        let session = URLSession(configuration: .ephemeral)
        func post(_ path: String, _ body: [String: Any]) async throws {
            var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/sandboxes/\(id)\(path)")!)
            request.httpMethod = "POST"
            request.httpBody = try JSONSerialization.data(withJSONObject: body)
            let (_, response) = try await session.data(for: request)
            guard (response as? HTTPURLResponse)?.statusCode == 200 else { throw ValidationError("\(path) failed") }
        }

        // Readying: open + first session, alternating with the by-hand baseline.
        var readyForge: [Double] = [], readyHand: [Double] = []
        _ = try host.open(instanceID: id) // warm-up: the environment lookup and the page cache
        host.close(id)
        for round in 0..<sandboxes {
            var started = monotonic()
            _ = try host.open(instanceID: id)
            try await post("/create_session", ["session": "main"])
            try await post("/run_in_session", ["session": "main", "command": "true", "check": "raise"])
            readyForge.append(monotonic() - started)
            if round < sandboxes - 1 { host.close(id) }

            let work = root.appendingPathComponent("hand-\(round)").path
            try? fileManager.removeItem(atPath: work)
            started = monotonic()
            try EvalBenchmark.shell("git clone -q --no-checkout \(clone) \(work) && git -C \(work) checkout -q \(task.baseCommit) && bash -c true",
                                    in: root.path)
            readyHand.append(monotonic() - started)
            try? fileManager.removeItem(atPath: work)
        }

        // Trivial actions, alternating blocks so load elsewhere falls on both sides alike.
        let bash = try PipedBash()
        var actionForge: [Double] = [], actionHand: [Double] = []
        for _ in 0..<10 { try await post("/run_in_session", ["session": "main", "command": "true", "check": "raise"]); try bash.run("true") }
        for block in 0..<10 {
            for _ in 0..<(actions / 10) {
                let started = monotonic()
                try await post("/run_in_session", ["session": "main", "command": "true", "check": "raise"])
                actionForge.append(monotonic() - started)
            }
            for _ in 0..<(actions / 10) {
                let started = monotonic()
                try bash.run("true")
                actionHand.append(monotonic() - started)
            }
            _ = block
        }
        host.close(id)
        serving.cancel()
        _ = await serving.result

        func ms(_ seconds: Double) -> String { String(format: "%.2f", seconds * 1000) }
        print("task \(id); \(actionForge.count) actions and \(readyForge.count) sandboxes per side")
        printTable(["measure", "Forge median ms", "Forge p95 ms", "bash median ms", "bash p95 ms", "Forge ÷ bash (median)", "target"], [
            ["trivial action (run_in_session 'true')", ms(median(actionForge)), ms(percentile(actionForge, 0.95)),
             ms(median(actionHand)), ms(percentile(actionHand, 0.95)), String(format: "%.1f", median(actionForge) / median(actionHand)), "< 20 ms"],
            ["ready a sandbox, env cached (+1st action)", ms(median(readyForge)), ms(percentile(readyForge, 0.95)),
             ms(median(readyHand)), ms(percentile(readyHand, 0.95)), String(format: "%.1f", median(readyForge) / median(readyHand)), "< 1000 ms"],
        ])
    }
}

/// The baseline shell: one plain bash (no sandbox) driven through pipes with an end marker.
private final class PipedBash {
    private let process = Process()
    private let input = Pipe(), output = Pipe()
    private var sequence = 0

    init() throws {
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["--noprofile", "--norc"]
        process.standardInput = input
        process.standardOutput = output
        process.standardError = output
        try process.run()
    }

    deinit { try? input.fileHandleForWriting.close(); process.waitUntilExit() }

    func run(_ command: String) throws {
        sequence += 1
        let marker = "__BENCH_\(sequence)_"
        try input.fileHandleForWriting.write(contentsOf: Data("\(command); printf '%s%d\\n' '\(marker)' $?\n".utf8))
        var seen = Data()
        while !seen.contains(Data(marker.utf8)) || seen.last != 0x0a {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { throw ValidationError("bash exited") }
            seen += chunk
        }
    }
}

