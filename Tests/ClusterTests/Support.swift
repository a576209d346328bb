import Foundation
import SampleFixtures
import Store
import XCTest

/// What the cluster tests share: the built `forge`, processes, and the embedded sample mined once
/// and validated once without shards (the baseline every sharded run must reproduce).
enum ClusterSupport {
    /// One folder per test process (other test processes run on this machine at the same time).
    static let base: String = {
        let path = NSTemporaryDirectory() + "forge-cluster-\(getpid())-\(UUID().uuidString.prefix(8))"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }()

    /// `.build/<config>/forge`, beside the test bundle.
    static let forge = forgeExecutablePath

    struct Failure: Error, CustomStringConvertible { let description: String }

    @discardableResult
    static func run(_ executable: String, _ arguments: [String], in directory: String? = nil,
                    environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("forge-cluster-out-\(UUID().uuidString)")
        try Data().write(to: URL(fileURLWithPath: output.path))
        defer { try? FileManager.default.removeItem(at: output) }
        let handle = try FileHandle(forWritingTo: output)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        process.waitUntilExit()
        try handle.close()
        return (process.terminationStatus, (try? String(contentsOf: output, encoding: .utf8)) ?? "")
    }

    /// Runs forge and throws unless it exits 0.
    @discardableResult
    static func forge(_ arguments: [String], in directory: String) throws -> String {
        let result = try run(forge, arguments, in: directory)
        guard result.status == 0 else {
            throw Failure(description: "forge \(arguments.joined(separator: " ")) exited \(result.status): \(result.output.suffix(2000))")
        }
        return result.output
    }

    /// The sample's clone and its mined store (`sample/textkit`, `mined.db` under `base`).
    static let sample: Result<(clone: String, mined: String), Error> = Result {
        try forge(["sample", "create", "sample"], in: base)
        try forge(["mine", "sample/textkit", "--repo", "forge-sample/textkit", "--db", "mined.db"], in: base)
        return (base + "/sample/textkit", base + "/mined.db")
    }

    /// The step every sharded run uses; `--reruns 0` keeps the tests short (flakiness is not what they check).
    static var validateStep: String { get throws { "validate --clone \(try sample.get().clone) --reruns 0" } }

    /// One unsharded `forge validate` of the sample, in its own workspace.
    static let baseline: Result<String, Error> = Result {
        let mined = try sample.get().mined
        let path = base + "/baseline.db"
        try FileManager.default.copyItem(atPath: mined, toPath: path)
        try forge(["validate", "--clone", try sample.get().clone, "--reruns", "0", "--db", path,
                   "--workspace", base + "/baseline-ws"], in: base)
        return path
    }

    /// Per task: the verdict (status, reason, FAIL_TO_PASS, PASS_TO_PASS, PASS_TO_FAIL, FLAKY),
    /// the task's own lists, and how many test runs the store holds for it (a task validated
    /// twice would hold twice as many).
    static func outcomes(_ storePath: String) throws -> [String: String] {
        let store = try TaskStore(path: storePath)
        var outcomes: [String: String] = [:]
        for task in try store.tasks() {
            let verdict = try store.verdict(instanceID: task.instanceID, kind: .validation)
            outcomes[task.instanceID] = [
                "verdict \(verdict?.status ?? "none") \(verdict?.reason ?? "-")",
                "F2P \(verdict?.failToPass.sorted() ?? [])", "P2P \(verdict?.passToPass.sorted() ?? [])",
                "P2F \(verdict?.passToFail.sorted() ?? [])", "flaky \(verdict?.flaky.sorted() ?? [])",
                "task F2P \(task.failToPass.sorted()) P2P \(task.passToPass.sorted())",
                "runs \(try store.runs(instanceID: task.instanceID).count)",
            ].joined(separator: "; ")
        }
        return outcomes
    }

    /// Python 3 with the official Kubernetes client (its API models) and PyYAML, in a uv venv
    /// cached under the temp dir between test runs.
    static let kubernetesPython: Result<String, Error> = Result {
        let venv = NSTemporaryDirectory() + "forge-cluster-kubernetes-venv"
        let python = venv + "/bin/python"
        if FileManager.default.isExecutableFile(atPath: python),
           (try? run(python, ["-c", "import kubernetes, yaml"]).status) == 0 { return python }
        try? FileManager.default.removeItem(atPath: venv)
        let uv = "/usr/bin/env"
        guard try run(uv, ["uv", "venv", "-q", venv]).status == 0 else { throw Failure(description: "uv venv failed") }
        let install = try run(uv, ["uv", "pip", "install", "-q", "--python", python, "kubernetes==31.0.0", "pyyaml"])
        guard install.status == 0 else {
            try? FileManager.default.removeItem(atPath: venv)
            throw XCTSkip("PyPI unreachable, cannot install the kubernetes client: \(install.output.suffix(300))")
        }
        return python
    }
}
