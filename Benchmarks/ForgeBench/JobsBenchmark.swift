import ArgumentParser
import Foundation
import Store

/// What `--jobs N` buys: `forge validate` and `forge eval` on the sample at several `--jobs`,
/// for two `forge` binaries side by side (before and after a change to the worker pool), with
/// warm environments. Each binary runs as a child process, so any two builds can be compared.
struct JobsBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobs",
        abstract: "Validate and eval throughput on the sample at --jobs 1, 2, 4 for two forge binaries side by side.")

    @Option(help: ArgumentHelp("The baseline forge binary (e.g. a build from before the change).", valueName: "path"))
    var before: String
    @Option(help: ArgumentHelp("The forge binary measured against it (default: the one beside forge-bench).", valueName: "path"))
    var after: String?
    @Option(parsing: .upToNextOption, help: "--jobs values to measure.")
    var jobs: [Int] = [1, 2, 4]
    @Option(help: "Models in the predictions file: each scores every valid sample task (its gold patch).")
    var models = 4
    @Option(help: "Working folder (sample, stores and environments are reused between runs).")
    var directory = "Workspace/bench/jobs"

    func validate() throws {
        guard jobs.allSatisfy({ $0 >= 1 }) else { throw ValidationError("--jobs values must be 1 or more") }
        guard models >= 1 else { throw ValidationError("--models must be 1 or more") }
    }

    func run() throws {
        let root = URL(fileURLWithPath: directory).standardizedFileURL
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let sample = try BenchSample.mined(in: root.appendingPathComponent("sample"), removingStaleFolder: true)
        let binaries = [("before", before), ("after", try after ?? forgeBesideBench())]
        for (name, path) in binaries where !FileManager.default.isExecutableFile(atPath: path) {
            throw ValidationError("--\(name): \(path) is not an executable")
        }
        let taskCount = try TaskStore(path: sample.storePath).tasks().count
        let predictions = root.appendingPathComponent("predictions.jsonl").path
        var valid = 0

        var rows: [[String]] = []
        var rates: [String: Double] = [:]
        for (name, binary) in binaries {
            let workspace = root.appendingPathComponent("ws-\(name)").path
            let store = root.appendingPathComponent("forge-\(name).db").path
            try? FileManager.default.removeItem(atPath: store)
            try FileManager.default.copyItem(atPath: sample.storePath, toPath: store)
            let common = ["--db", store, "--clone", sample.clone, "--workspace", workspace]
            // Untimed: builds this binary's environments and finds the valid tasks to evaluate.
            _ = try ChildRun.measure([binary, "validate", "--reruns", "0", "--force"] + common, in: root.path)
            if valid == 0 {
                let validated = try TaskStore(path: store).tasks().filter { !$0.failToPass.isEmpty && $0.passToFail.isEmpty }
                valid = validated.count
                try writeGoldPredictions(tasks: validated, to: predictions)
            }
            for width in jobs {
                let validated = try ChildRun.measure([binary, "validate", "--reruns", "0", "--force", "--jobs", "\(width)"] + common,
                                                     in: root.path).seconds
                let evaluated = try ChildRun.measure([binary, "eval", "--predictions", predictions, "--run-id", "jobs-\(width)", "--force",
                                                      "--jobs", "\(width)"] + common, in: root.path).seconds
                let validateRate = Double(taskCount) / validated, evalRate = Double(models * valid) / evaluated
                rates["\(name) validate \(width)"] = validateRate
                rates["\(name) eval \(width)"] = evalRate
                rows.append([name, "\(width)", String(format: "%.1f", validated), String(format: "%.2f", validateRate),
                             String(format: "%.1f", evaluated), String(format: "%.2f", evalRate)])
            }
        }
        print("sample: \(taskCount) tasks validated (before and after runs, no reruns); \(models * valid) gold predictions " +
              "evaluated (\(models) models × \(valid) valid tasks); warm environments; \(ProcessInfo.processInfo.activeProcessorCount) CPUs")
        printTable(["binary", "--jobs", "validate s", "tasks/s", "eval s", "predictions/s"], rows)
        print("\nafter / before, throughput:")
        printTable(["--jobs", "validate", "eval"], jobs.map { width in
            ["\(width)"] + ["validate", "eval"].map { kind in
                String(format: "%.2f×", (rates["after \(kind) \(width)"] ?? 0) / max(rates["before \(kind) \(width)"] ?? 1, 1e-9))
            }
        })
    }

    /// One line per model and valid task, the gold patch as the prediction.
    private func writeGoldPredictions(tasks: [TaskRecord], to path: String) throws {
        struct Line: Encodable { var instance_id: String, model_name_or_path: String, model_patch: String }
        let encoder = JSONEncoder()
        var text = Data()
        for model in 1...models {
            for task in tasks {
                text += try encoder.encode(Line(instance_id: task.instanceID, model_name_or_path: "gold-\(model)", model_patch: task.patch))
                text += Data("\n".utf8)
            }
        }
        try text.write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}
