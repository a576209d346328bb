// The language-model stages of `forge train`: pretrain (dense next-token training on the code
// corpus), warmup (DSA's dense warm-up: model frozen, the indexer learns the dense attention)
// and sparse (top-k attention on, every parameter on the LM loss, the indexer on its KL over the
// selected set). Each runs in a run folder through `StageLoop`, so each resumes from its checkpoint.
import Foundation
import Model
import Store

/// The shared loop: steps from the checkpoint's step to `total`, checkpointing every
/// `checkpointEvery` steps, at the end, and when interrupted (then it throws `TrainingInterrupted`).
public enum StageLoop {
    public static func run(folder: RunFolder, progress: (Int, Int) -> Void, start: Int, total: Int, checkpointEvery: Int,
                           save: (Int) throws -> Void, step: (Int) throws -> MetricsLine, report: (MetricsLine) -> Void) throws {
        var current = start
        progress(current, total)
        while current < total {
            if Interruption.requested {
                try save(current)
                throw TrainingInterrupted(step: current, folder: folder.url.path)
            }
            let line = try step(current)
            try folder.append(line)
            report(line)
            current += 1
            progress(current, total)
            if current % max(1, checkpointEvery) == 0 && current < total { try save(current) }
        }
        try save(total)
    }
}

/// Where a stage tells what it does: lines of text, and steps done out of the total (a progress bar).
public struct StageReport {
    public var message: (String) -> Void
    public var progress: (Int, Int) -> Void
    public init(message: @escaping (String) -> Void, progress: @escaping (Int, Int) -> Void = { _, _ in }) {
        self.message = message; self.progress = progress
    }
    public func callAsFunction(_ text: String) { message(text) }
}

/// Token streams of the corpus, split by document (every n-th held out).
public struct LanguageData {
    public var train: [Int] = [], validation: [Int] = []
    public var trainDocuments = 0, validationDocuments = 0

    public init(corpus: CodeCorpus, tokenizer: Tokenizer, validationEvery: Int) throws {
        guard validationEvery >= 2 else { throw TrainingDataError("validationEvery must be at least 2") }
        let end = tokenizer.id(ofSpecialToken: SpecialTokens.endOfText)!
        for (index, bytes) in corpus.contents.enumerated() {
            let tokens = tokenizer.encode(bytes: bytes) + [end]
            if index % validationEvery == validationEvery - 1 { validation += tokens; validationDocuments += 1 } else { train += tokens; trainDocuments += 1 }
        }
    }
}

public struct PretrainSettings: Codable, Sendable, Equatable {
    public var vocabularySize = 2048
    public var model = TransformerConfig(layers: 4, dModel: 128, heads: 4, copyDim: 32, context: 256, vocab: 1, topK: 64)
    public var training = TrainingSettings(batch: 8, sequenceLength: 256, steps: 300)
    public var validationEvery = 10
    public var commitsPerRepository = 4
    public var checkpointEvery = 50
    public init() {}
}

/// What every LM stage needs besides its settings: the tasks (their repositories are the corpus)
/// and clones, or folders of source files (`forge train pretrain --corpus DIR`).
public struct CorpusSource {
    public var tasks: [TaskRecord]
    public var clones: [String: String]
    public var folders: [URL] = []
    public init(tasks: [TaskRecord], clones: [String: String]) { self.tasks = tasks; self.clones = clones }
    public init(folders: [URL]) { self.tasks = []; self.clones = [:]; self.folders = folders }

    func corpus(commitsPerRepository: Int) throws -> CodeCorpus {
        folders.isEmpty ? try CodeCorpus.build(tasks: tasks, clones: clones, commitsPerRepository: commitsPerRepository)
                        : try CodeCorpus.build(folders: folders)
    }
}

public enum LanguageStages {
    static func lineFrom(_ metrics: TrainingMetrics, extra: MetricsLine = [:]) -> MetricsLine {
        var line: MetricsLine = ["step": Double(metrics.step), "train_loss": Double(metrics.trainLoss),
                                 "learning_rate": Double(metrics.learningRate), "gradient_norm": Double(metrics.gradientNorm),
                                 "tokens": Double(metrics.tokensSeen), "seconds": metrics.seconds]
        if let validation = metrics.validationLoss { line["validation_loss"] = Double(validation) }
        if let copy = metrics.copyValidationLoss { line["copy_validation_loss"] = Double(copy) }
        if let kl = metrics.indexerKL { line["indexer_kl"] = Double(kl) }
        return line.merging(extra) { $1 }
    }

    static let plots: [(file: String, yLabel: String, keys: [String])] = [
        ("loss.svg", "cross-entropy (nats/token)", ["train_loss", "validation_loss", "copy_validation_loss"]),
        ("indexer.svg", "indexer KL", ["indexer_kl"]),
    ]

    /// Dense next-token training from scratch; trains (or, resuming, reloads) the tokenizer.
    public static func pretrain(settings: PretrainSettings, source: CorpusSource, folder: RunFolder,
                                report: StageReport) throws -> Transformer {
        let corpus = try source.corpus(commitsPerRepository: settings.commitsPerRepository)
        guard !corpus.contents.isEmpty else {
            throw TrainingDataError(source.folders.isEmpty ? "the corpus is empty: no source files at the tasks' base commits"
                                                           : "the corpus is empty: no source files under \(source.folders.map(\.path).joined(separator: ", "))")
        }
        let tokenizer: Tokenizer
        if FileManager.default.fileExists(atPath: folder.tokenizerURL.path) {
            tokenizer = try Tokenizer.load(from: folder.tokenizerURL)
        } else {
            tokenizer = try TokenizerTrainer(vocabularySize: settings.vocabularySize).train(documents: corpus.contents)
            try tokenizer.save(to: folder.tokenizerURL)
            try writeManifest(corpus, to: folder.url.appendingPathComponent("corpus.jsonl"))
        }
        let data = try LanguageData(corpus: corpus, tokenizer: tokenizer, validationEvery: settings.validationEvery)
        report("corpus: \(corpus.documents.count) documents (\(Set(corpus.documents.map(\.license)).sorted().joined(separator: ", "))), " +
               "\(data.train.count) + \(data.validation.count) tokens, tokenizer of \(tokenizer.vocabularySize) ids")
        var config = settings.model
        config.vocab = tokenizer.vocabularySize
        config.attention = .dense
        return try languageRun(stage: "pretrain", initial: { try Transformer(config: config, seed: settings.training.seed) },
                               training: settings.training, data: data, folder: folder, checkpointEvery: settings.checkpointEvery,
                               report: report)
    }

    /// Shared by pretrain and sparse: LM steps with checkpoints, resumable.
    static func languageRun(stage: String, initial: () throws -> Transformer, training: TrainingSettings, data: LanguageData,
                            folder: RunFolder, checkpointEvery: Int, extra: ((Transformer) throws -> MetricsLine)? = nil,
                            report: StageReport) throws -> Transformer {
        let saved = try folder.savedState()
        let model = try saved != nil ? folder.checkpointModel() : initial()
        let trainer = try LanguageModelTrainer(model: model, settings: training, train: data.train, validation: data.validation)
        let started = Date().addingTimeInterval(-(saved?.values["seconds"] ?? 0))
        if let saved {
            try folder.resume(from: saved, optimizer: trainer.optimizer, random: &trainer.randomState)
            report("\(stage): resuming at step \(saved.step) of \(training.steps)")
        } else {
            let first = try trainer.initialMetrics(started: started)
            let line = lineFrom(first, extra: try extra?(model) ?? [:])
            try folder.append(line)
            report(describe(line))
        }
        try StageLoop.run(folder: folder, progress: report.progress, start: saved?.step ?? 0, total: training.steps, checkpointEvery: checkpointEvery, save: { step in
            try folder.saveCheckpoint(model: model, optimizer: trainer.optimizer,
                                      state: CheckpointState(step: step, random: trainer.randomState.stateWords,
                                                             values: ["seconds": Date().timeIntervalSince(started)]))
            try folder.writePlots(plots)
        }, step: { step in
            let evaluate = (step + 1) % training.evalEvery == 0 || step + 1 == training.steps
            let metrics = try trainer.languageStep(step, evaluate: evaluate, started: started)
            return lineFrom(metrics, extra: evaluate ? try extra?(model) ?? [:] : [:])
        }, report: { line in if line["validation_loss"] != nil { report(describe(line)) } })
        try model.save(to: folder.finalModelURL, extraMetadata: ["stage": stage, "tokenizer": "tokenizer.json"])
        return model
    }

    static func describe(_ line: MetricsLine) -> String {
        var text = String(format: "step %5.0f", line["step"] ?? 0)
        if let train = line["train_loss"] { text += String(format: "  train %.4f", train) }
        if let validation = line["validation_loss"] { text += String(format: "  val %.4f", validation) }
        if let copy = line["copy_validation_loss"] { text += String(format: "  copy %.4f", copy) }
        if let drill = line["drill_validation_loss"] { text += String(format: "  drill %.4f", drill) }
        if let kl = line["indexer_kl"] { text += String(format: "  indexer KL %.4f", kl) }
        if let recovered = line["dense_mass_recovered"] { text += String(format: "  top-k keeps %.1f%% of dense attention", recovered * 100) }
        return text + String(format: "  %.0f s", line["seconds"] ?? 0)
    }

    static func writeManifest(_ corpus: CodeCorpus, to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var data = Data()
        for document in corpus.documents { data += try encoder.encode(document) + Data("\n".utf8) }
        try data.write(to: url, options: .atomic)
    }

    /// The model and tokenizer a stage starts from: an earlier run folder's final model, or a
    /// checkpoint file (`.safetensors`) with the run's tokenizer.json beside it or one folder up.
    public static func start(from run: URL) throws -> (model: Transformer, tokenizer: Tokenizer) {
        if run.pathExtension == "safetensors" {
            let folder = run.deletingLastPathComponent()
            let tokenizer = [folder, folder.deletingLastPathComponent()].map { $0.appendingPathComponent("tokenizer.json") }
                .first { FileManager.default.fileExists(atPath: $0.path) }
            guard let tokenizer else { throw TrainingDataError("no tokenizer.json beside \(run.path) or in its run folder") }
            return (try Transformer.load(from: run), try Tokenizer.load(from: tokenizer))
        }
        let model = run.appendingPathComponent("model.safetensors"), tokenizer = run.appendingPathComponent("tokenizer.json")
        guard FileManager.default.fileExists(atPath: model.path) else {
            throw TrainingDataError("\(run.path) has no model.safetensors: is it a finished run folder of an earlier stage?")
        }
        return (try Transformer.load(from: model), try Tokenizer.load(from: tokenizer))
    }
}
