// A stage's run folder:
//   config.json        what the stage was started with (a resumed run must match it)
//   metrics.jsonl      one JSON object per step ("step" plus the stage's numbers)
//   checkpoint/        model.safetensors, optimizer.safetensors, state.json — the last step saved
//   model.safetensors  the final model (what the next stage's --from reads), tokenizer.json
//   *.svg              plots of the metrics
// Checkpoints are written to a temporary folder and renamed into place, so an interrupted write
// never leaves half a checkpoint; metrics past the checkpoint's step are dropped on resume, so a
// resumed run continues the same trajectory.
import Foundation
import Model
import Basics
import Reports
import Synchronization

/// Set by the caller's Ctrl-C path (the `forge` commands' `InterruptWatch`); stages finish the
/// current step, checkpoint and stop.
public enum Interruption {
    private static let flag = Atomic<Bool>(false)

    public static var requested: Bool { flag.load(ordering: .acquiring) }

    public static func request() { flag.store(true, ordering: .releasing) }
}

/// The stage stopped on request after saving a checkpoint at `step`.
public struct TrainingInterrupted: Error, CustomStringConvertible {
    public var step: Int
    public var folder: String
    public var description: String { "interrupted after step \(step); checkpoint saved in \(folder) — run the same command again to resume" }
}

public typealias MetricsLine = [String: Double]

/// The saved position of a run: step, the window/sampling generator, and stage-specific values.
public struct CheckpointState: Codable, Sendable {
    public var step: Int
    public var random: [UInt64]
    public var values: [String: Double] = [:]
}

/// config.json: the stage's name and settings.
struct StageConfig<Settings: Encodable>: Encodable {
    let stage: String
    let settings: Settings
}

public final class RunFolder {
    public let url: URL
    var checkpointURL: URL { url.appendingPathComponent("checkpoint") }
    public var metricsURL: URL { url.appendingPathComponent("metrics.jsonl") }
    public var finalModelURL: URL { url.appendingPathComponent("model.safetensors") }
    public var tokenizerURL: URL { url.appendingPathComponent("tokenizer.json") }
    public var optimizerStateURL: URL { checkpointURL.appendingPathComponent("optimizer.safetensors") }

    /// Opens (or starts) the folder for a stage whose settings encode to `config`. A folder
    /// started with different settings is refused, naming the first differing key.
    public init<Config: Encodable>(url: URL, stage: String, config: Config) throws {
        self.url = url
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(StageConfig(stage: stage, settings: config))
        let configURL = url.appendingPathComponent("config.json")
        if let existing = try? Data(contentsOf: configURL) {
            guard existing == data else {
                throw TrainingDataError("run folder \(url.path) was started with other settings (\(RunFolder.firstDifference(existing, data))); " +
                                        "use a new --out folder or the same settings")
            }
        } else {
            try data.write(to: configURL, options: .atomic)
        }
    }

    static func firstDifference(_ a: Data, _ b: Data) -> String {
        let left = String(decoding: a, as: UTF8.self).split(separator: "\n"), right = String(decoding: b, as: UTF8.self).split(separator: "\n")
        for (x, y) in zip(left, right) where x != y { return "was \(x.trimmingCharacters(in: .whitespaces)), now \(y.trimmingCharacters(in: .whitespaces))" }
        return "different length"
    }

    // MARK: Checkpoints

    /// The saved state, if a checkpoint exists.
    public func savedState() throws -> CheckpointState? {
        let stateURL = checkpointURL.appendingPathComponent("state.json")
        guard FileManager.default.fileExists(atPath: stateURL.path) else { return nil }
        do { return try JSONDecoder().decode(CheckpointState.self, from: Data(contentsOf: stateURL)) } catch {
            throw TrainingDataError("checkpoint state \(stateURL.path) does not decode: \(error)")
        }
    }

    public func saveCheckpoint(model: Transformer, optimizer: AdamW?, state: CheckpointState) throws {
        let fileManager = FileManager.default
        let temporary = url.appendingPathComponent("checkpoint.partial")
        // An interrupted save's files (an optimizer state this save may not write) must not
        // end up in this checkpoint.
        if fileManager.fileExists(atPath: temporary.path) { try fileManager.removeItem(at: temporary) }
        try fileManager.createDirectory(at: temporary, withIntermediateDirectories: true)
        try model.save(to: temporary.appendingPathComponent("model.safetensors"), extraMetadata: ["step": "\(state.step)"])
        try optimizer?.saveState(to: temporary.appendingPathComponent("optimizer.safetensors"))
        try JSONEncoder().encode(state).write(to: temporary.appendingPathComponent("state.json"))
        let old = url.appendingPathComponent("checkpoint.old")
        try? fileManager.removeItem(at: old) // if it stays, the move below fails and says so
        if fileManager.fileExists(atPath: checkpointURL.path) { try fileManager.moveItem(at: checkpointURL, to: old) }
        try fileManager.moveItem(at: temporary, to: checkpointURL)
        try? fileManager.removeItem(at: old) // the new checkpoint is in place; a leftover is removed by the next save
    }

    /// Continues from `saved`: the optimizer's moments and the generator as they were, metrics
    /// past the checkpoint dropped (the resumed steps write them again).
    public func resume(from saved: CheckpointState, optimizer: AdamW, random: inout SamplerRandom) throws {
        try optimizer.loadState(from: optimizerStateURL)
        guard let state = SamplerRandom(stateWords: saved.random) else {
            throw TrainingDataError("checkpoint state in \(checkpointURL.path) has no valid generator state")
        }
        random = state
        try truncateMetrics(after: saved.step)
    }

    /// The checkpoint's model (its optimizer state is loaded by `resume`).
    public func checkpointModel() throws -> Transformer {
        try Transformer.load(from: checkpointURL.appendingPathComponent("model.safetensors"))
    }

    // MARK: Metrics

    public func metrics() throws -> [MetricsLine] {
        guard let data = FileManager.default.contents(atPath: metricsURL.path) else { return [] }
        return try String(decoding: data, as: UTF8.self).split(separator: "\n").enumerated().map { index, line in
            do { return try JSONDecoder().decode(MetricsLine.self, from: Data(line.utf8)) } catch {
                throw TrainingDataError("\(metricsURL.path) line \(index + 1) is not a metrics object: \(error)")
            }
        }
    }

    /// Keeps only lines up to `step` (a resumed run rewrites what came after its checkpoint).
    public func truncateMetrics(after step: Int) throws {
        let kept = try metrics().filter { ($0["step"] ?? 0) <= Double(step) }
        try write(kept)
    }

    func write(_ lines: [MetricsLine]) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var data = Data()
        for line in lines { data += try encoder.encode(line) + Data("\n".utf8) }
        try data.write(to: metricsURL, options: .atomic)
    }

    public func append(_ line: MetricsLine) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        if !FileManager.default.fileExists(atPath: metricsURL.path) { try Data().write(to: metricsURL) }
        let handle = try FileHandle(forWritingTo: metricsURL)
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: try encoder.encode(line) + Data("\n".utf8))
    }

    // MARK: Plots

    /// One SVG per plot: each named metric against "step", skipping lines without it.
    public func writePlots(_ plots: [(file: String, yLabel: String, keys: [String])]) throws {
        let lines = try metrics()
        let palette = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c"]
        for plot in plots {
            // Keys a run never measured (the copy loss without copy windows) get no line.
            let series = plot.keys.enumerated().map { index, key in
                LineSeries(name: key, color: palette[index % palette.count],
                           points: lines.compactMap { line in line[key].map { (line["step"] ?? 0, $0) } })
            }.filter { !$0.points.isEmpty }
            guard !series.isEmpty else { continue }
            let svg = SVGPlot.lines(series, xLabel: "step", yLabel: plot.yLabel)
            try Data(svg.utf8).write(to: url.appendingPathComponent(plot.file), options: .atomic)
        }
    }
}
