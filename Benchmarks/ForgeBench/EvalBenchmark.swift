import ArgumentParser
import Environments
import Evaluation
import Foundation
import Git
import Sample
import Store
import Validation

/// Scoring throughput on the sample's valid tasks with warm environments: `forge eval`'s
/// machinery (fresh export, patch chain, bubblewrap, JUnit parsing, store and report writes)
/// against the same tests run by hand — `git archive`, `git apply` twice and the bare pytest
/// command, no sandbox — and against the bare pytest command alone in already prepared work dirs.
struct EvalBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Score gold-patch predictions on the sample with Forge and by hand; print patches per minute and the ratio.")

    @Option(help: "Predictions per valid task (each round is one more model).") var rounds = 5
    @Option(help: "Predictions Forge scores in parallel (the baselines run one at a time).") var jobs = 1
    @Option(help: "Working folder (sample, store and environments are reused between runs).") var directory = "Workspace/bench/eval"

    func run() throws {
        let root = URL(fileURLWithPath: directory).standardizedFileURL
        let (clone, storePath) = try BenchSample.mined(in: root, removingStaleFolder: true)
        let store = try TaskStore(path: storePath)
        let fileManager = FileManager.default
        let builder = EnvironmentBuilder(root: root.appendingPathComponent("envs"), recipes: try RecipeBook.bundled())
        let validator = Validator(repository: try Repository.open(clone), environments: builder,
                                  options: ValidationOptions(reruns: 0, jobs: 2, runsDirectory: root.appendingPathComponent("runs").path))
        let validation = try BatchValidation.run(tasks: try store.tasks(), validator: validator, store: store)
        let tasks = try store.tasks().filter(\.isEvaluable)
        print("sample: \(tasks.count) valid tasks (validation: \(String(format: "%.1f", validation.seconds)) s, \(validation.alreadyFinished) reused)")

        let predictions = (1...rounds).flatMap { round in
            tasks.map { Prediction(instanceID: $0.instanceID, model: "bench-\(round)", patch: $0.patch) }
        }
        let runID = "bench-\(Int(Date().timeIntervalSince1970))"
        let evaluator = try Evaluator(clones: [SampleRepository.repoName: clone], environments: builder,
                                      options: EvaluationOptions(runID: runID, evaluationsDirectory: root.appendingPathComponent("evals").path,
                                                                 jobs: jobs))
        // Warm-up: environments come from the cache, page cache holds the venv.
        _ = try BatchEvaluation.run(predictions: Array(predictions.prefix(tasks.count)), tasks: tasks, evaluator: try Evaluator(
            clones: [SampleRepository.repoName: clone], environments: builder,
            options: EvaluationOptions(runID: runID + "-warmup", evaluationsDirectory: root.appendingPathComponent("evals").path)), store: store)

        // Rounds alternate Forge and the by-hand baseline, so load from elsewhere on the machine
        // (other builds on shared cores) falls on both alike.
        var forgeSeconds = 0.0, forgeResolved = 0
        var handSeconds = 0.0, pytestSeconds = 0.0, handResolved = 0
        for round in 1...rounds {
            let batch = predictions.filter { $0.model == "bench-\(round)" }
            let forgeStart = Date()
            let summary = try BatchEvaluation.run(predictions: batch, tasks: tasks, evaluator: evaluator, store: store, force: true)
            forgeSeconds += Date().timeIntervalSince(forgeStart)
            forgeResolved += summary.models.reduce(0) { $0 + $1.report.resolvedInstances }

            // By hand, one prediction at a time, in work dirs laid out like Forge's.
            for (index, prediction) in batch.enumerated() {
                let task = tasks.first { $0.instanceID == prediction.instanceID }!
                let python = try validator.environment(for: task).venvPath! + "/bin/python"
                let files = Self.testFiles(task.failToPass + task.passToPass)
                let work = root.appendingPathComponent("hand/\(prediction.model)/\(prediction.instanceID)/work").path
                try? fileManager.removeItem(atPath: work)
                try fileManager.createDirectory(atPath: work, withIntermediateDirectories: true)
                let patches = root.appendingPathComponent("hand/\(round)-\(index)")
                try fileManager.createDirectory(at: patches, withIntermediateDirectories: true)
                try task.testPatch.write(to: patches.appendingPathComponent("test.diff"), atomically: true, encoding: .utf8)
                try (prediction.patch ?? "").write(to: patches.appendingPathComponent("model.diff"), atomically: true, encoding: .utf8)

                let started = Date()
                try Self.shell("git -C \(clone) archive \(task.baseCommit) | tar -x -C \(work)", in: work)
                try Self.shell("git apply \(patches.path)/test.diff && git apply \(patches.path)/model.diff", in: work)
                let testStart = Date()
                let status = try Self.shell(([python, "-m", "pytest", "-p", "no:cacheprovider", "-q"] + files).joined(separator: " "),
                                            in: work, check: false)
                let now = Date()
                handSeconds += now.timeIntervalSince(started)
                pytestSeconds += now.timeIntervalSince(testStart)
                if status == 0 { handResolved += 1 }
            }
        }
        try? fileManager.removeItem(at: root.appendingPathComponent("hand"))

        let count = Double(predictions.count)
        func perMinute(_ seconds: Double) -> String { String(format: "%.1f", count / seconds * 60) }
        print("predictions: \(predictions.count) gold patches (\(rounds) per task); Forge jobs: \(jobs)")
        printTable(["scorer", "resolved", "seconds", "patches/min", "Forge rate ÷ this rate"], [
            ["bare pytest in prepared work dirs", "\(handResolved)", String(format: "%.2f", pytestSeconds), perMinute(pytestSeconds),
             String(format: "%.2f", pytestSeconds / forgeSeconds)],
            ["by hand: git archive + git apply ×2 + pytest", "\(handResolved)", String(format: "%.2f", handSeconds), perMinute(handSeconds),
             String(format: "%.2f", handSeconds / forgeSeconds)],
            ["Forge eval (sandbox, JUnit, store, reports)", "\(forgeResolved)", String(format: "%.2f", forgeSeconds), perMinute(forgeSeconds), "1.00"],
        ])
    }

    static func testFiles(_ ids: [String]) -> [String] {
        var seen = Set<String>()
        return ids.map { String($0.prefix { $0 != ":" }) }.filter { seen.insert($0).inserted }
    }

    /// Runs a shell line; returns its exit status (throws on failure when `check`).
    @discardableResult
    static func shell(_ line: String, in directory: String, check: Bool = true) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", line]
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        if check, process.terminationStatus != 0 {
            throw ShellFailure(line: line, status: process.terminationStatus)
        }
        return process.terminationStatus
    }
}

struct ShellFailure: Error, CustomStringConvertible {
    let line: String
    let status: Int32
    var description: String { "'\(line)' failed with status \(status)" }
}
