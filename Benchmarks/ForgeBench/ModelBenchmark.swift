import ArgumentParser
import Foundation
import Model
import Basics
import Tensor

/// The policy model on OpenBLAS, every ratio against a baseline measured in the same run:
/// (1) a training step's model-FLOPs utilisation against OpenBLAS's own sgemm rate;
/// (2) dense attention vs DeepSeek Sparse Attention at long context — prefill, a decode step
///     with cache, and the core attention's forward + backward;
/// (3) decoding tokens/s with the KV cache vs recomputing the whole prefix for every token.
struct ModelBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Training-step MFU vs OpenBLAS sgemm, dense vs DSA attention at long context, decode with vs without KV cache.")

    @Option(help: "Contexts for the attention comparison (comma-separated).") var contexts = "4096,16384,65536"
    @Option(help: "DSA top-k values (comma-separated).") var topks = "512,2048"
    @Option(help: "Contexts at which to time attention forward + backward (comma-separated; empty skips).") var trainContexts = "4096,16384"
    @Option(help: "Attention query heads (sharing one key/value head) and head size.") var heads = 8
    @Option(help: "Attention head size.") var headDim = 64
    @Option(help: "Lightning-indexer heads.") var indexerHeads = 4
    @Option(help: "Lightning-indexer head size.") var indexerDim = 32
    @Option(help: "Training-step model: layers.") var layers = 4
    @Option(help: "Training-step model: width.") var dModel = 512
    @Option(help: "Training-step model: vocabulary.") var vocab = 8192
    @Option(help: "Training-step model: sequence length.") var seqLen = 256
    @Option(help: "Training-step model: sequences per step.") var batch = 8
    @Option(help: "Tokens generated in the KV-cache comparison.") var decodeTokens = 128
    @Flag(help: "Skip the training-step MFU section.") var skipMfu = false
    @Flag(help: "Skip the decode-with/without-cache section.") var skipDecode = false

    func run() throws {
        let contextList = try Self.integers(contexts, "contexts"), topkList = try Self.integers(topks, "topks")
        let trainList = trainContexts.isEmpty ? [] : try Self.integers(trainContexts, "train-contexts")
        print("OpenBLAS threads: \(Parallel.blasThreads), worker threads: \(Parallel.threads)")
        if !skipMfu { try trainingStepMFU() }
        let attention = AttentionComparison(heads: heads, headDim: headDim, indexerHeads: indexerHeads, indexerDim: indexerDim)
        attention.run(contexts: contextList, topks: topkList, trainContexts: trainList)
        if !skipDecode { try decodeWithAndWithoutCache() }
    }

    static func integers(_ text: String, _ name: String) throws -> [Int] {
        try text.split(separator: ",").map {
            guard let value = Int($0.trimmingCharacters(in: .whitespaces)), value > 0 else {
                throw ValidationError("--\(name): \($0) is not a positive integer")
            }
            return value
        }
    }

    /// Best sgemm rate over the training step's own matmul shapes and a square 1024³.
    func sgemmGFLOPS(rows: Int, config: TransformerConfig) -> [(String, Double)] {
        let shapes = [("1024×1024×1024", 1024, 1024, 1024),
                      ("rows×d×ffn (\(rows)×\(config.dModel)→\(config.ffnHidden))", rows, config.ffnHidden, config.dModel),
                      ("rows×d×vocab (\(rows)×\(config.dModel)→\(config.vocab))", rows, config.vocab, config.dModel)]
        return shapes.map { name, m, n, k in
            let a = FloatBuffer(count: m * k), b = FloatBuffer(count: n * k), c = FloatBuffer(count: m * n)
            for i in 0..<a.count { a[i] = Float(i % 7) * 0.1 }
            for i in 0..<b.count { b[i] = Float(i % 5) * 0.1 }
            let seconds = bestOf(5) { Matmul.forward(c.pointer, a.pointer, b.pointer, rows: m, inDim: k, outDim: n) }
            return (name, 2 * Double(m * n * k) / seconds / 1e9)
        }
    }

    func trainingStepMFU() throws {
        let config = TransformerConfig(layers: layers, dModel: dModel, heads: heads, headDim: headDim, context: seqLen, vocab: vocab,
                                       indexerHeads: indexerHeads, indexerDim: indexerDim, attention: .dense)
        let model = try Transformer(config: config, seed: 1)
        let rows = batch * seqLen
        var random = SamplerRandom(seed: 2)
        let tokens = (0..<rows).map { _ in Int(random.next() % UInt64(vocab)) }, targets = (0..<rows).map { _ in Int(random.next() % UInt64(vocab)) }
        let optimizer = AdamW(layout: model.layout)
        func step() throws {
            model.zeroGradients()
            try model.forward(tokens: tokens, targets: targets, batch: batch)
            try model.backward()
            optimizer.update(params: model.params, grads: model.grads, learningRate: 1e-4)
        }
        try step()   // warm-up: allocations, page faults
        // Rounds alternate the sgemm probes and the training step, so that load from other
        // processes on a shared machine hits both sides of each round's ratio alike.
        var rounds: [(rates: [(String, Double)], seconds: Double)] = []
        for _ in 0..<3 { rounds.append((sgemmGFLOPS(rows: rows, config: config), try timed(step))) }
        // Model FLOPs: 6 per matmul weight per token (forward 2, backward 4), the tied output head
        // included, plus causal attention 6·T²·H·D per sequence and layer (QKᵀ and PV, half the square).
        let C = config.dModel, HD = config.heads * config.headDim, D = config.headDim, F = config.ffnHidden
        let matmulWeights = config.layers * (HD * C + 2 * D * C + C * HD + 3 * F * C) + config.vocab * C
        let flops = 6 * Double(rows) * Double(matmulWeights)
            + 6 * Double(config.layers * batch) * Double(seqLen * seqLen) * Double(HD)
        // Report the round with the best ratio; the spread shows how steady the machine was.
        let ratios = rounds.map { flops / $0.seconds / 1e9 / $0.rates.map(\.1).max()! }
        let best = ratios.indices.max { ratios[$0] < ratios[$1] }!
        let (rates, seconds) = rounds[best]
        let achieved = flops / seconds / 1e9
        let peak = rates.map(\.1).max()!
        print("\n(1) training step: \(model.parameterCount) parameters (\(matmulWeights) in matmuls), \(batch)×\(seqLen) tokens, dense attention, AdamW")
        var table = rates.map { [$0.0 + " sgemm", String(format: "%.1f", $0.1), String(format: "%.1f%%", 100 * $0.1 / peak)] }
        table.append(["training step (\(String(format: "%.3f", seconds)) s, \(String(format: "%.1f", flops / 1e9)) GFLOP)",
                      String(format: "%.1f", achieved), String(format: "%.1f%% MFU", 100 * achieved / peak)])
        printTable(["what", "GFLOP/s", "÷ best sgemm"], table)
        print("MFU by round: " + ratios.map { String(format: "%.1f%%", 100 * $0) }.joined(separator: ", ") + " (best round shown)")
    }

    func decodeWithAndWithoutCache() throws {
        let context = 16 + decodeTokens
        let config = TransformerConfig(layers: layers, dModel: dModel / 2, heads: heads, headDim: headDim / 2, context: context, vocab: vocab,
                                       indexerHeads: indexerHeads, indexerDim: indexerDim, attention: .dense)
        let model = try Transformer(config: config, seed: 3)
        let prompt = Array(0..<16)
        let settings = SamplingSettings(temperature: 0)   // greedy: both paths must produce the same tokens
        let session = InferenceSession(model: model)
        var cached: [Int] = []
        let cachedSeconds = try timed { cached = try session.generate(prompt: prompt, maxNewTokens: decodeTokens, settings: settings, seed: 0).map(\.token) }
        var uncached: [Int] = []
        let uncachedSeconds = try timed {
            var tokens = prompt
            var sampler = try Sampler(settings: settings, seed: 0)
            while uncached.count < decodeTokens {
                try model.forward(tokens: tokens, targets: nil)
                let next = try sampler.sample(logits: model.logits(row: tokens.count - 1)).token
                uncached.append(next)
                tokens.append(next)
            }
        }
        print("\n(3) decoding \(decodeTokens) tokens after a 16-token prompt, \(model.parameterCount)-parameter model, greedy")
        printTable(["decoder", "seconds", "tokens/s", "× no-cache rate"], [
            ["recompute the whole prefix per token", String(format: "%.3f", uncachedSeconds), String(format: "%.1f", Double(decodeTokens) / uncachedSeconds), "1.00"],
            ["KV cache", String(format: "%.3f", cachedSeconds), String(format: "%.1f", Double(decodeTokens) / cachedSeconds),
             String(format: "%.2f", uncachedSeconds / cachedSeconds)],
        ])
        print(cached == uncached ? "both decoders produced the same \(decodeTokens) tokens" : "WARNING: the two decoders produced different tokens")
    }
}

func timed(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

func bestOf(_ repeats: Int, _ body: () -> Void) -> Double {
    (0..<repeats).map { _ in timed(body) }.min()!
}
