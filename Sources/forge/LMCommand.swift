import ArgumentParser
import Foundation
import Model

struct LMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lm",
        abstract: "Train the policy model's language model on source files.",
        subcommands: [Train.self])

    struct Train: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Train a tokenizer and a DSA transformer on a corpus; write config, metrics and checkpoint.",
            discussion: """
            Files are split into training and validation sets by file (every --val-every-th file in \
            path order is held out). RUNDIR receives tokenizer.json, config.json, metrics.jsonl (one \
            line per step; validation loss every --eval-every steps) and model.safetensors.
            """)

        @Option(name: .long, parsing: .upToNextOption, help: "Files or directories to learn from.") var corpus: [String]
        @Option(name: .long, help: "Run directory to write into.") var out: String
        @Option(name: .long, help: "Only files with this extension (e.g. py); empty takes every text file.") var ext = "py"
        @Option(name: .long, help: "Hold out every n-th file for validation.") var valEvery = 10
        @Option(name: .long, help: "Tokenizer vocabulary size.") var vocabSize = 4096
        @Option(name: .long) var layers = 6
        @Option(name: .long) var dModel = 256
        @Option(name: .long) var heads = 4
        @Option(name: .long, help: "Training window (and model context).") var context = 256
        @Option(name: .long, help: "dense or sparse (DSA; the indexer trains on its KL at the same time).") var attention = "dense"
        @Option(name: .long, help: "DSA keys per query.") var topK = 64
        @Option(name: .long, help: "Sparse only: dense warm-up steps that train just the indexer first (DSA stage 1).") var indexerWarmupSteps = 0
        @Option(name: .long, help: "Learning rate of the indexer warm-up.") var indexerWarmupLr: Float = 1e-3
        @Option(name: .long) var batch = 8
        @Option(name: .long) var steps = 300
        @Option(name: .long, help: "Stop after this many minutes even if steps remain (0: no limit).") var minutes: Double = 0
        @Option(name: .long) var lr: Float = 3e-3
        @Option(name: .long) var warmup = 30
        @Option(name: .long) var evalEvery = 25
        @Option(name: .long) var seed: UInt64 = 1

        func run() throws {
            guard let mode = AttentionMode(rawValue: attention) else { throw ValidationError("--attention must be dense or sparse") }
            guard valEvery >= 2 else { throw ValidationError("--val-every must be at least 2") }
            let runDirectory = URL(fileURLWithPath: out)
            try FileManager.default.createDirectory(at: runDirectory, withIntermediateDirectories: true)
            let files = try TokenizerCorpus.files(in: corpus.map { URL(fileURLWithPath: $0) })
                .filter { ext.isEmpty || $0.pathExtension == ext }.sorted { $0.path < $1.path }
            guard files.count >= valEvery else { throw ValidationError("only \(files.count) files under \(corpus); need at least \(valEvery)") }
            var trainDocuments: [[UInt8]] = [], validationDocuments: [[UInt8]] = []
            for (index, file) in files.enumerated() {
                let bytes = try TokenizerCorpus.contents(of: file)
                if index % valEvery == valEvery - 1 { validationDocuments.append(bytes) } else { trainDocuments.append(bytes) }
            }
            let started = Date()
            let tokenizer = try TokenizerTrainer(vocabularySize: vocabSize).train(documents: trainDocuments)
            try tokenizer.save(to: runDirectory.appendingPathComponent("tokenizer.json"))
            let endOfText = tokenizer.id(ofSpecialToken: SpecialTokens.endOfText)!
            func stream(_ documents: [[UInt8]]) -> [Int] { documents.flatMap { tokenizer.encode(bytes: $0) + [endOfText] } }
            let trainTokens = stream(trainDocuments), validationTokens = stream(validationDocuments)
            print("corpus:    \(files.count) files (\(trainDocuments.count) train, \(validationDocuments.count) validation), " +
                  "\(trainTokens.count) + \(validationTokens.count) tokens; tokenizer \(tokenizer.vocabularySize) ids in " +
                  String(format: "%.1f s", Date().timeIntervalSince(started)))

            let config = TransformerConfig(layers: layers, dModel: dModel, heads: heads, context: context, vocab: tokenizer.vocabularySize,
                                           topK: topK, attention: mode)
            var settings = TrainingSettings(batch: batch, sequenceLength: context, steps: steps, maxLearningRate: lr, minLearningRate: lr / 10,
                                            warmupSteps: warmup, evalEvery: evalEvery, maxSeconds: minutes * 60, seed: seed)
            settings.indexerWarmupSteps = indexerWarmupSteps
            settings.indexerWarmupLearningRate = indexerWarmupLr
            let model = try Transformer(config: config, seed: seed)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            struct RunConfig: Encodable { let model: TransformerConfig; let training: TrainingSettings; let parameters: Int; let corpus: [String]
                let trainTokens: Int; let validationTokens: Int }
            try encoder.encode(RunConfig(model: config, training: settings, parameters: model.parameterCount, corpus: corpus,
                                         trainTokens: trainTokens.count, validationTokens: validationTokens.count))
                .write(to: runDirectory.appendingPathComponent("config.json"))
            print("model:     \(model.parameterCount) parameters, \(layers) layers × \(dModel), \(heads) heads, \(mode.rawValue) attention, context \(context)")

            let metricsURL = runDirectory.appendingPathComponent("metrics.jsonl")
            FileManager.default.createFile(atPath: metricsURL.path, contents: nil)
            let metricsFile = try FileHandle(forWritingTo: metricsURL)
            defer { try? metricsFile.close() }
            let lineEncoder = JSONEncoder()
            lineEncoder.outputFormatting = [.sortedKeys]
            let trainer = try LanguageModelTrainer(model: model, settings: settings, train: trainTokens, validation: validationTokens)
            let log = try trainer.run { metrics in
                try metricsFile.write(contentsOf: try lineEncoder.encode(metrics) + Data("\n".utf8))
                if let warmupStep = metrics.indexerWarmupStep, warmupStep % 10 == 0 || warmupStep == indexerWarmupSteps {
                    print(String(format: "indexer warm-up %4d  KL %.4f  %.0f s", warmupStep, metrics.indexerKL ?? 0, metrics.seconds))
                }
                if let validation = metrics.validationLoss {
                    print(String(format: "step %4d  train %.4f  val %.4f  lr %.2e  |g| %.2f  %.0f s", metrics.step, metrics.trainLoss, validation,
                                 metrics.learningRate, metrics.gradientNorm, metrics.seconds))
                }
            }
            let checkpoint = runDirectory.appendingPathComponent("model.safetensors")
            try model.save(to: checkpoint, extraMetadata: ["step": "\(log.last!.step)", "tokenizer": "tokenizer.json"])
            let evaluated = log.filter { $0.validationLoss != nil }
            let main = log.filter { $0.indexerWarmupStep == nil }
            print(String(format: "done:      %d steps, %d tokens, train %.3f → %.3f, val %.3f → %.3f, %.0f s; checkpoint %@",
                         log.last!.step, log.last!.tokensSeen, main.first!.trainLoss, log.last!.trainLoss,
                         evaluated.first!.validationLoss!, evaluated.last!.validationLoss!, log.last!.seconds, checkpoint.path))
        }
    }
}
