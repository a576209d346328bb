// DeepSeek-V3.2's two DSA stages on top of a dense pre-trained model.
import Foundation
import Model
import Store

public struct WarmupSettings: Codable, Sendable, Equatable {
    public var steps = 100
    public var learningRate: Float = 1e-3
    public var batch = 4
    public var sequenceLength = 256
    public var evalEvery = 25
    /// Validation windows the top-k recovery is measured on.
    public var evalWindows = 4
    public var validationEvery = 10
    public var commitsPerRepository = 4
    public var checkpointEvery = 25
    public var seed: UInt64 = 1
    public init() {}
}

public struct SparseSettings: Codable, Sendable, Equatable {
    /// sparse: DSA's sparse stage; dense: the same continuation without DSA (the baseline a
    /// sparse run is compared with, trained on the same tokens).
    public var attention: AttentionMode = .sparse
    public var training = TrainingSettings(batch: 8, sequenceLength: 256, steps: 100)
    public var validationEvery = 10
    public var commitsPerRepository = 4
    public var checkpointEvery = 50
    public init() {}
}

extension LanguageStages {
    static func data(from run: URL, source: CorpusSource, validationEvery: Int, commitsPerRepository: Int, into folder: RunFolder)
        throws -> (Transformer, Tokenizer, LanguageData) {
        let (model, tokenizer) = try start(from: run)
        if !FileManager.default.fileExists(atPath: folder.tokenizerURL.path) { try tokenizer.save(to: folder.tokenizerURL) }
        let corpus = try source.corpus(commitsPerRepository: commitsPerRepository)
        return (model, tokenizer, try LanguageData(corpus: corpus, tokenizer: tokenizer, validationEvery: validationEvery))
    }

    /// Fixed validation windows (evenly spaced) as one batch.
    static func windows(_ stream: [Int], length: Int, count: Int) throws -> [Int] {
        guard stream.count > length else { throw TrainingDataError("validation stream of \(stream.count) tokens is shorter than a window of \(length)") }
        let span = stream.count - length
        return (0..<count).flatMap { index in stream[(count == 1 ? 0 : index * span / (count - 1))...].prefix(length) }
    }

    /// Dense warm-up: dense attention, every parameter but the indexer's frozen, the indexer on
    /// KL(head-summed dense attention ‖ softmax(I)). Reports how much dense attention mass the
    /// indexer's top-k keeps, before and after.
    public static func warmup(settings: WarmupSettings, from run: URL, source: CorpusSource, folder: RunFolder,
                              report: StageReport) throws -> Transformer {
        let (initial, _, data) = try data(from: run, source: source, validationEvery: settings.validationEvery,
                                          commitsPerRepository: settings.commitsPerRepository, into: folder)
        let saved = try folder.savedState()
        let model = try saved != nil ? folder.checkpointModel() : initial
        model.setAttention(.dense)
        var training = TrainingSettings(batch: settings.batch, sequenceLength: settings.sequenceLength, steps: 1, seed: settings.seed)
        training.indexerWarmupLearningRate = settings.learningRate
        let trainer = try LanguageModelTrainer(model: model, settings: training, train: data.train, validation: data.validation)
        let optimizer = AdamW(layout: model.layout, settings: training.optimizer)
        let probe = try windows(data.validation, length: settings.sequenceLength, count: settings.evalWindows)
        let k = model.config.topK
        func recovered() throws -> Double { Double(try model.denseMassRecovered(tokens: probe, batch: settings.evalWindows, k: k)) }
        let started = Date().addingTimeInterval(-(saved?.values["seconds"] ?? 0))
        if let saved {
            try folder.resume(from: saved, optimizer: optimizer, random: &trainer.randomState)
            report("warmup: resuming at step \(saved.step) of \(settings.steps)")
        } else {
            let line: MetricsLine = ["step": 0, "dense_mass_recovered": try recovered(), "seconds": 0]
            try folder.append(line)
            report("warmup: before, the indexer's top-\(k) keeps \(String(format: "%.1f", line["dense_mass_recovered"]! * 100))% of the dense attention mass")
        }
        try StageLoop.run(folder: folder, progress: report.progress, start: saved?.step ?? 0, total: settings.steps, checkpointEvery: settings.checkpointEvery, save: { step in
            try folder.saveCheckpoint(model: model, optimizer: optimizer,
                                      state: CheckpointState(step: step, random: trainer.randomState.stateWords,
                                                             values: ["seconds": Date().timeIntervalSince(started)]))
            try folder.writePlots([("indexer.svg", "indexer KL", ["indexer_kl"]), ("recovery.svg", "dense mass in top-k", ["dense_mass_recovered"])])
        }, step: { step in
            let metrics = try trainer.indexerWarmupStep(step, optimizer: optimizer, started: started)
            var line: MetricsLine = ["step": Double(step + 1), "indexer_kl": Double(metrics.indexerKL ?? 0),
                                     "gradient_norm": Double(metrics.gradientNorm), "seconds": metrics.seconds]
            if (step + 1) % settings.evalEvery == 0 || step + 1 == settings.steps { line["dense_mass_recovered"] = try recovered() }
            return line
        }, report: { line in if line["dense_mass_recovered"] != nil { report(describe(line)) } })
        model.setAttention(.sparse)
        try model.save(to: folder.finalModelURL, extraMetadata: ["stage": "warmup", "tokenizer": "tokenizer.json"])
        return model
    }

    /// The sparse stage (or its dense baseline): LM training continued from `run`'s model.
    public static func sparse(settings: SparseSettings, from run: URL, source: CorpusSource, folder: RunFolder,
                              report: StageReport) throws -> Transformer {
        let (initial, _, data) = try data(from: run, source: source, validationEvery: settings.validationEvery,
                                          commitsPerRepository: settings.commitsPerRepository, into: folder)
        let probe = try windows(data.validation, length: settings.training.sequenceLength, count: 4)
        let model = try languageRun(stage: settings.attention == .sparse ? "sparse" : "dense", initial: {
            initial.setAttention(settings.attention)
            return initial
        }, training: settings.training, data: data, folder: folder, checkpointEvery: settings.checkpointEvery, extra: { model in
            model.config.attention == .sparse
                ? ["dense_mass_recovered": Double(try model.denseMassRecovered(tokens: probe, batch: 4, k: model.config.topK))] : [:]
        }, report: report)
        return model
    }
}
