import ArgumentParser
import Basics
import Foundation
import Model
import Tensor

/// Dense vs DeepSeek Sparse Attention for the whole model, on the same tokens: a training step
/// of the sparse stage (language loss + the indexer's KL on its selected set, AdamW) against the
/// dense step (language loss only), and sampling (prefill token by token with the KV cache, then
/// greedy decode). Dense and DSA alternate within every round, the order flipping each round, so
/// that load from other processes on a shared machine falls on both alike; medians are reported.
struct DSATrainBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dsa-train",
        abstract: "Training step and sampling of the whole model, dense vs DSA, alternating on the same tokens.")

    @Option(help: "Sequence lengths of the training-step comparison (comma-separated).") var contexts = "1024,2048,4096"
    @Option(help: "Timed rounds per length (each round: one dense and one DSA step).") var repeats = 5
    @Option(help: "Model layers.") var layers = 2
    @Option(help: "Model width.") var dModel = 128
    @Option(help: "Attention query heads (sharing one key/value head).") var heads = 4
    @Option(help: "Vocabulary size.") var vocab = 2048
    @Option(help: "DSA keys kept per query.") var topK = 256
    @Option(help: "Lightning-indexer heads.") var indexerHeads = 1
    @Option(help: "Lightning-indexer head size.") var indexerDim = 32
    @Option(help: "Context of the sampling comparison (prompt + generated tokens; 0 skips it).") var samplingContext = 4096
    @Option(help: "Tokens generated after the prompt in the sampling comparison.") var decodeTokens = 128
    @Option(help: "Rounds of the sampling comparison.") var samplingRepeats = 3
    @Option(help: "Query/key width of the copy (pointer) head, 0 for none; above 0 the copy head's cost is also timed against the same model without it.")
    var copyDim = 0
    @Flag(help: "Skip the per-kernel breakdown of one layer's attention work.") var skipBreakdown = false

    func validate() throws {
        guard repeats > 0, samplingRepeats > 0 else { throw ValidationError("--repeats and --sampling-repeats must be positive") }
        guard samplingContext == 0 || decodeTokens < samplingContext else {
            throw ValidationError("--decode-tokens \(decodeTokens) must be below --sampling-context \(samplingContext)")
        }
    }

    func config(context: Int, attention: AttentionMode, copyDim: Int? = nil) -> TransformerConfig {
        TransformerConfig(layers: layers, dModel: dModel, heads: heads, copyDim: copyDim ?? self.copyDim, context: context, vocab: vocab,
                          indexerHeads: indexerHeads, indexerDim: indexerDim, topK: topK, attention: attention)
    }

    func run() throws {
        let lengths = try ModelBenchmark.integers(contexts, "contexts")
        print("OpenBLAS threads: \(Parallel.blasThreads), worker threads: \(Parallel.threads); \(layers) layers, d \(dModel), \(heads) heads, "
              + "vocab \(vocab); DSA top-k \(topK), indexer \(indexerHeads) × \(indexerDim)")
        var rows: [[String]] = []
        for T in lengths {
            let (dense, sparse, ratios) = try trainingSteps(length: T)
            rows.append(["\(T)", String(format: "%.3f", median(dense)), String(format: "%.3f", median(sparse)),
                         String(format: "%.2f×", median(dense) / median(sparse)), String(format: "%.2f×", median(ratios)),
                         String(format: "%.2f–%.2f×", ratios.min()!, ratios.max()!)])
            print("  measured training steps at \(T)")
        }
        print("\ntraining step (1 sequence, forward + backward + AdamW), \(repeats) alternating rounds, medians")
        printTable(["T", "dense s", "DSA s", "dense ÷ DSA", "median of round ratios", "round ratios"], rows)
        if copyDim > 0 {
            var costRows: [[String]] = []
            for T in lengths {
                let (with, without, ratios) = try trainingSteps(length: T, configs: (config(context: T, attention: .sparse),
                                                                                      config(context: T, attention: .sparse, copyDim: 0)))
                costRows.append(["\(T)", String(format: "%.3f", median(with)), String(format: "%.3f", median(without)),
                                 String(format: "%.2f×", median(ratios))])
            }
            print("\nthe copy head's cost: DSA training step with a \(copyDim)-dim copy head and without, \(repeats) alternating rounds, medians")
            printTable(["T", "with s", "without s", "with ÷ without (median of rounds)"], costRows)
        }
        if !skipBreakdown { for T in lengths { kernelBreakdown(length: T) } }
        if samplingContext > 0 { try sampling() }
    }

    /// Seconds per step of each side and each round's first ÷ second ratio (by default dense and DSA).
    func trainingSteps(length T: Int, configs: (TransformerConfig, TransformerConfig)? = nil) throws
        -> (first: [Double], second: [Double], ratios: [Double]) {
        // The same initial weights and tokens for both sides.
        let sides = configs ?? (config(context: T, attention: .dense), config(context: T, attention: .sparse))
        let first = try Transformer(config: sides.0, seed: 1)
        let second = try Transformer(config: sides.1, seed: 1)
        var random = SamplerRandom(seed: 5)
        let tokens = (0..<T).map { _ in Int(random.next() % UInt64(vocab)) }
        let targets = Array(tokens.dropFirst()) + [0]
        let firstOptimizer = AdamW(layout: first.layout), secondOptimizer = AdamW(layout: second.layout)
        func step(_ model: Transformer, _ optimizer: AdamW) throws {
            let isSparse = model.config.attention == .sparse
            model.zeroGradients()
            try model.forward(tokens: tokens, targets: targets, batch: 1, indexerLoss: isSparse)
            try model.backward(language: true, indexer: isSparse)
            optimizer.update(params: model.params, grads: model.grads, learningRate: 1e-4)
        }
        try step(first, firstOptimizer)     // warm-up: activation buffers, page faults
        try step(second, secondOptimizer)
        var firstSeconds: [Double] = [], secondSeconds: [Double] = [], ratios: [Double] = []
        for round in 0..<repeats {
            var d = 0.0, s = 0.0
            if round % 2 == 0 {
                d = try timed { try step(first, firstOptimizer) }
                s = try timed { try step(second, secondOptimizer) }
            } else {
                s = try timed { try step(second, secondOptimizer) }
                d = try timed { try step(first, firstOptimizer) }
            }
            firstSeconds.append(d); secondSeconds.append(s); ratios.append(d / s)
        }
        return (firstSeconds, secondSeconds, ratios)
    }

    /// Prefill of a (context − decodeTokens)-token prompt through the KV cache, then greedy decode.
    func sampling() throws {
        let L = samplingContext, promptLength = L - decodeTokens
        let models = try [AttentionMode.dense, .sparse].map { try Transformer(config: config(context: L, attention: $0), seed: 1) }
        var random = SamplerRandom(seed: 9)
        let prompt = (0..<promptLength).map { _ in Int(random.next() % UInt64(vocab)) }
        func sample(_ model: Transformer) throws -> (prefill: Double, decode: Double) {
            let session = InferenceSession(model: model)
            var logits: [Float] = []
            let prefill = try timed { for token in prompt { logits = try session.step(token) } }
            let decode = try timed {
                for _ in 0..<decodeTokens {
                    let next = logits.indices.max { logits[$0] < logits[$1] }!
                    logits = try session.step(next)
                }
            }
            return (prefill, decode)
        }
        var results: [[(prefill: Double, decode: Double)]] = [[], []]
        for round in 0..<samplingRepeats {
            for side in (round % 2 == 0 ? [0, 1] : [1, 0]) { results[side].append(try sample(models[side])) }
        }
        print("\nsampling: \(promptLength)-token prompt fed through the KV cache, then \(decodeTokens) greedy tokens; "
              + "\(samplingRepeats) alternating rounds, medians")
        let cells = results.map { r in (median(r.map(\.prefill)), median(r.map(\.decode))) }
        func row(_ name: String, _ value: ((Double, Double)) -> Double) -> [String] {
            let d = value(cells[0]), s = value(cells[1])
            return [name, String(format: "%.2f", d), String(format: "%.2f", s), String(format: "%.2f×", d / s)]
        }
        printTable(["phase", "dense s", "DSA s", "dense ÷ DSA"], [
            row("prefill", { $0.0 }), row("decode", { $0.1 }), row("prefill + decode", { $0.0 + $0.1 }),
        ])
    }

    /// Where one layer's attention time goes in a training step, kernel by kernel at the model's
    /// shapes (median of 3). The full-matrix indexer kernels (the dense warm-up's, and the sparse
    /// stage's before it kept only the selected set) are timed beside the selected-set ones.
    func kernelBreakdown(length T: Int) {
        let headDim = dModel / heads, shape = AttentionShape(heads: heads, headDim: headDim)
        let indexer = IndexerShape(heads: indexerHeads, dim: indexerDim), HD = heads * headDim, k = min(topK, T)
        let filled = AttentionComparison.filled
        let q = filled(T * HD, 1, 1), key = filled(T * headDim, 2, 1), v = filled(T * headDim, 3, 1), dout = filled(T * HD, 7, 1)
        let iq = filled(T * indexerHeads * indexerDim, 4, 1), ik = filled(T * indexerDim, 5, 1)
        let iw = filled(T * indexerHeads, 6, 1 / Float(indexerHeads).squareRoot())
        let out = FloatBuffer(count: T * HD), lse = FloatBuffer(count: T * heads)
        let dq = FloatBuffer(count: T * HD), dk = FloatBuffer(count: T * headDim), dv = FloatBuffer(count: T * headDim)
        let probs = FloatBuffer(count: T * k), fullScores = FloatBuffer(count: T * T), fullGradient = FloatBuffer(count: T * T)
        let selectedScores = FloatBuffer(count: T * k), selectedGradient = filled(T * k, 8, 1e-3)
        let diq = FloatBuffer(count: iq.count), dik = FloatBuffer(count: ik.count), diw = FloatBuffer(count: iw.count)
        var selection = [Int32](repeating: 0, count: T * k), counts = [Int32](repeating: 0, count: T)
        let scratchCount = TopK.scratchCount(maxCount: T)
        let selectScratch = UnsafeMutablePointer<UInt32>.allocate(capacity: Parallel.threads * scratchCount)
        defer { selectScratch.deallocate() }
        func median3(_ body: () -> Void) -> Double { median((0..<3).map { _ in timed(body) }) }
        let dense = median3 {
            Attention.denseForward(q: q.pointer, k: key.pointer, v: v.pointer, out: out.pointer, lse: lse.pointer, first: 0, rows: T, shape: shape)
            Attention.denseBackward(dq: dq.pointer, dk: dk.pointer, dv: dv.pointer, dout: dout.pointer, q: q.pointer, k: key.pointer,
                                    v: v.pointer, out: out.pointer, lse: lse.pointer, rows: T, shape: shape)
        }
        let fullSelect = median3 {
            IndexerKernel.scores(q: iq.pointer, k: ik.pointer, w: iw.pointer, first: 0, rows: T, shape: indexer, out: fullScores.pointer, ldI: T)
            selection.withUnsafeMutableBufferPointer { sel in
                counts.withUnsafeMutableBufferPointer { counts in
                    let sel = sel.baseAddress!, counts = counts.baseAddress!
                    Parallel.chunks(T, minimumChunk: 16) { worker, range in
                        for t in range {
                            counts[t] = Int32(TopK.select(fullScores.pointer + t * T, count: t + 1, k: k, into: sel + t * k,
                                                          scratch: selectScratch + worker * scratchCount))
                        }
                    }
                }
            }
        }
        let fusedSelect = median3 {
            IndexerKernel.select(q: iq.pointer, k: ik.pointer, w: iw.pointer, first: 0, rows: T, shape: indexer, topK: k,
                                 selection: &selection, counts: &counts, selectedScores: selectedScores.pointer)
        }
        let core = median3 {
            Attention.denseForward(q: q.pointer, k: key.pointer, v: v.pointer, out: out.pointer, lse: lse.pointer, first: 0, rows: k,
                                   shape: shape, headMeanProbs: probs.pointer, ldp: k)
            if k < T {
                selection.withUnsafeBufferPointer { sel in
                    counts.withUnsafeBufferPointer { counts in
                        Attention.sparseForward(q: q.pointer + k * HD, k: key.pointer, v: v.pointer, out: out.pointer + k * HD,
                                                lse: lse.pointer + k * heads, rows: T - k, shape: shape, selection: sel.baseAddress! + k * k,
                                                ldSel: k, counts: counts.baseAddress! + k, headMeanProbs: probs.pointer + k * k, ldp: k)
                    }
                }
            }
            DSA.backward(dq: dq.pointer, dk: dk.pointer, dv: dv.pointer, dout: dout.pointer, q: q.pointer, k: key.pointer, v: v.pointer,
                         out: out.pointer, lse: lse.pointer, rows: T, shape: shape, topK: k, selection: selection, counts: counts)
        }
        for t in 0..<T { for j in 0..<Int(counts[t]) { fullGradient[t * T + Int(selection[t * k + j])] = selectedGradient[t * k + j] } }
        let fullBackward = median3 {
            IndexerKernel.backward(dI: fullGradient.pointer, ldG: T, q: iq.pointer, k: ik.pointer, w: iw.pointer, rows: T, shape: indexer,
                                   dq: diq.pointer, dk: dik.pointer, dw: diw.pointer)
        }
        let selectedBackward = median3 {
            IndexerKernel.sparseBackward(dSel: selectedGradient.pointer, selection: selection, ldSel: k, counts: counts, q: iq.pointer,
                                         k: ik.pointer, w: iw.pointer, rows: T, keys: T, shape: indexer, dq: diq.pointer, dk: dik.pointer, dw: diw.pointer)
        }
        print("\none layer's attention work at T = \(T) (one sequence, median of 3 runs each)")
        func row(_ name: String, _ seconds: Double) -> [String] { [name, String(format: "%.1f", seconds * 1000)] }
        printTable(["kernel", "ms"], [
            row("dense: attention forward + backward", dense),
            row("DSA: indexer scores, full T×T matrix, then top-k per row", fullSelect),
            row("DSA: indexer scores + top-k fused per block, selected scores kept", fusedSelect),
            row("DSA: core attention forward (with head-mean probabilities) + backward", core),
            row("DSA: indexer KL backward over the T×T gradient", fullBackward),
            row("DSA: indexer KL backward over the selected set", selectedBackward),
        ])
    }
}
