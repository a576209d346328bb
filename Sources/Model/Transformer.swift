// A decoder-only transformer in llm.c's style: one flat parameter buffer, one flat gradient
// buffer, explicit forward and backward passes over [batch·time, channels] rows. Pre-norm
// (RMSNorm) blocks of multi-query attention with DeepSeek Sparse Attention and a SwiGLU MLP;
// the output head is tied to the embedding.
import Foundation
import Basics
import Tensor

public final class Transformer {
    public private(set) var config: TransformerConfig
    public let layout: ParameterLayout
    public let params: FloatBuffer
    public let grads: FloatBuffer
    let rope: Rope
    let indexerRope: Rope
    /// Activations of the last training forward, reused while the batch shape stays the same.
    var acts: TrainingActivations?

    public var parameterCount: Int { layout.count }
    var attentionShape: AttentionShape { AttentionShape(heads: config.heads, headDim: config.headDim) }
    var indexerShape: IndexerShape { IndexerShape(heads: config.indexerHeads, dim: config.indexerDim) }

    /// Random initialisation (normal, σ 0.02; output projections scaled by 1/√(2·layers)).
    public init(config: TransformerConfig, seed: UInt64) throws {
        try config.validate()
        self.config = config
        layout = ParameterLayout(config)
        params = FloatBuffer(count: layout.count)
        grads = FloatBuffer(count: layout.count)
        rope = Rope(ropeDims: config.ropeDims, maxPositions: config.context, base: config.ropeBase)
        indexerRope = Rope(ropeDims: config.indexerRopeDims, maxPositions: config.context, base: config.ropeBase)
        var random = SamplerRandom(seed: seed)
        let residualScale = 1 / Float(2 * config.layers).squareRoot()
        for entry in layout.entries {
            let base = params.pointer + entry.offset
            if entry.shape.count == 1 {
                // β of the copy head's pointer-following starts where a held copy outweighs a
                // fresh match of a few nats (α ≤ 1 scales it).
                let value: Float = entry.offset == layout.copyHead?.follow ? 4 : entry.name.hasSuffix(".bias") ? 0 : 1
                for i in 0..<entry.count { base[i] = value }
                continue
            }
            // The token shift starts off: the untrained model reads each token alone.
            if entry.offset == layout.tokenShift { continue }
            let std: Float = entry.name.hasSuffix("attn.wo") || entry.name.hasSuffix("mlp.w2") ? 0.02 * residualScale : 0.02
            var i = 0
            while i < entry.count {
                // Box–Muller: two normals per pair of uniforms.
                let u1 = max(random.nextUnit(), 1e-300), u2 = random.nextUnit()
                let radius = (-2 * log(u1)).squareRoot()
                base[i] = Float(radius * cos(2 * .pi * u2)) * std
                if i + 1 < entry.count { base[i + 1] = Float(radius * sin(2 * .pi * u2)) * std }
                i += 2
            }
        }
    }

    @inline(__always) func w(_ offset: Int) -> FloatPointer { params.pointer + offset }
    @inline(__always) func g(_ offset: Int) -> FloatPointer { grads.pointer + offset }

    public func zeroGradients() { grads.zero() }

    /// Switches between dense and sparse attention (DSA's dense warm-up, then sparse training);
    /// the parameters are the same in both modes.
    public func setAttention(_ mode: AttentionMode) {
        guard mode != config.attention else { return }
        config.attention = mode
        acts = nil   // selection buffers are laid out per mode
    }

    /// Losses of one training forward.
    public struct Losses: Sendable, Equatable {
        /// Mean next-token cross-entropy over rows with a target.
        public var language: Float
        /// Σ over layers of the mean over rows of KL(p ‖ softmax(I)) on each row's selected set.
        public var indexerKL: Float
    }

    /// Forward over `batch` sequences of equal length laid out back to back in `tokens`.
    /// targets: one per token (−1 = no loss), or nil to only compute logits.
    /// indexerLoss: also compute the indexer's KL against the main attention (needed to train it).
    @discardableResult
    public func forward(tokens: [Int], targets: [Int]?, batch: Int = 1, indexerLoss: Bool = false) throws -> Losses {
        guard batch > 0, !tokens.isEmpty, tokens.count % batch == 0 else {
            throw ModelError("\(tokens.count) tokens do not split into \(batch) equal sequences")
        }
        let T = tokens.count / batch
        guard T <= config.context else { throw ModelError("sequence length \(T) exceeds the context \(config.context)") }
        if let bad = tokens.first(where: { $0 < 0 || $0 >= config.vocab }) {
            throw ModelError("token id \(bad) outside the vocabulary of \(config.vocab)")
        }
        if let targets {
            guard targets.count == tokens.count else { throw ModelError("\(targets.count) targets for \(tokens.count) tokens") }
            if let bad = targets.first(where: { $0 >= config.vocab || $0 < -1 }) { throw ModelError("target id \(bad) outside the vocabulary") }
        }
        if acts?.batch != batch || acts?.time != T { acts = TrainingActivations(config: config, batch: batch, time: T) }
        let a = acts!
        a.tokens = tokens
        a.targets = targets
        a.indexerLossComputed = indexerLoss
        let N = a.rows, C = config.dModel, H = config.heads, D = config.headDim, HD = H * D, F = config.ffnHidden
        Embedding.forward(a.residual[0].pointer, tokens: tokens, table: w(layout.embedding), dim: C)
        if let shift = layout.tokenShift {
            TokenShift.gatherPrevious(a.previous.pointer, tokens: tokens, sequenceLength: T, table: w(layout.embedding), dim: C)
            Matmul.forward(a.residual[0].pointer, a.previous.pointer, w(shift), rows: N, inDim: C, outDim: C, accumulate: true)
        }
        var kl: Float = 0
        for l in 0..<config.layers {
            let P = layout.layers[l], A = a.layers[l]
            let x = a.residual[l].pointer
            RMSNorm.forward(A.ln1.pointer, rstd: A.rstd1.pointer, x, w(P.attnNorm), rows: N, dim: C, eps: config.normEps)
            Matmul.forward(A.q.pointer, A.ln1.pointer, w(P.wq), rows: N, inDim: C, outDim: HD)
            Matmul.forward(A.k.pointer, A.ln1.pointer, w(P.wk), rows: N, inDim: C, outDim: D)
            Matmul.forward(A.v.pointer, A.ln1.pointer, w(P.wv), rows: N, inDim: C, outDim: D)
            for b in 0..<batch {
                rope.apply(A.q.pointer + b * T * HD, rows: T, heads: H, headDim: D)
                rope.apply(A.k.pointer + b * T * D, rows: T, heads: 1, headDim: D)
            }
            if config.attention == .sparse || indexerLoss { indexerForward(layer: l, acts: a) }
            attentionForward(A, acts: a, wantProbs: indexerLoss)
            if indexerLoss { kl += indexerKL(A, acts: a) }
            let mid = A.xMid.pointer
            mid.update(from: x, count: N * C)
            Matmul.forward(mid, A.att.pointer, w(P.wo), rows: N, inDim: HD, outDim: C, accumulate: true)
            RMSNorm.forward(A.ln2.pointer, rstd: A.rstd2.pointer, mid, w(P.mlpNorm), rows: N, dim: C, eps: config.normEps)
            Matmul.forward(A.a.pointer, A.ln2.pointer, w(P.w1), rows: N, inDim: C, outDim: F)
            Matmul.forward(A.b.pointer, A.ln2.pointer, w(P.w3), rows: N, inDim: C, outDim: F)
            SwiGLU.forward(A.h.pointer, A.a.pointer, A.b.pointer, count: N * F)
            let next = a.residual[l + 1].pointer
            next.update(from: mid, count: N * C)
            Matmul.forward(next, A.h.pointer, w(P.w2), rows: N, inDim: F, outDim: C, accumulate: true)
        }
        RMSNorm.forward(a.lnf.pointer, rstd: a.rstdf.pointer, a.residual[config.layers].pointer, w(layout.finalNorm),
                        rows: N, dim: C, eps: config.normEps)
        Matmul.forward(a.logits.pointer, a.lnf.pointer, w(layout.embedding), rows: N, inDim: C, outDim: config.vocab)
        if let head = layout.copyHead, let saved = a.copyHead { copyHeadForward(a, head: head, saved: saved) }
        var language: Float = 0
        if let targets {
            language = CrossEntropy.forward(probs: a.probs.pointer, logits: a.logits.pointer, targets: targets, vocab: config.vocab)
        }
        return Losses(language: language, indexerKL: kl)
    }

    /// Logits of row `row` (0..<batch·time) from the last forward (with a copy head: the log of
    /// the mixture, which softmax maps to the same probabilities).
    public func logits(row: Int) -> [Float] {
        guard let a = acts else { return [] }
        let V = config.vocab
        return Array(UnsafeBufferPointer(start: a.logits.pointer + row * V, count: V))
    }

    /// Attention of every sequence in the batch: dense, or DSA (rows before position topK keep
    /// every earlier key and go through the dense kernel in the same blocks as the dense path,
    /// which is why sparse equals dense exactly when the sequence fits in k).
    func attentionForward(_ A: LayerActivations, acts a: TrainingActivations, wantProbs: Bool) {
        let T = a.time, H = config.heads, D = config.headDim, HD = H * D, ld = a.selectionStride
        let denseRows = config.attention == .sparse ? min(T, config.topK) : T
        for b in 0..<a.batch {
            let q = A.q.pointer + b * T * HD, k = A.k.pointer + b * T * D, v = A.v.pointer + b * T * D
            let out = A.att.pointer + b * T * HD, lse = A.lse.pointer + b * T * H
            let probs = wantProbs ? A.pSel.pointer + b * T * ld : nil
            Attention.denseForward(q: q, k: k, v: v, out: out, lse: lse, first: 0, rows: denseRows, shape: attentionShape,
                                   headMeanProbs: probs, ldp: ld)
            if denseRows < T {
                A.selection.withUnsafeBufferPointer { sel in
                    A.counts.withUnsafeBufferPointer { counts in
                        Attention.sparseForward(q: q + denseRows * HD, k: k, v: v, out: out + denseRows * HD, lse: lse + denseRows * H,
                                                rows: T - denseRows, shape: attentionShape,
                                                selection: sel.baseAddress! + (b * T + denseRows) * ld, ldSel: ld,
                                                counts: counts.baseAddress! + b * T + denseRows,
                                                headMeanProbs: probs.map { $0 + denseRows * ld }, ldp: ld)
                    }
                }
            }
        }
    }
}

/// One layer's saved activations and backward scratch.
final class LayerActivations {
    let ln1, rstd1, q, k, v, att, lse, xMid, ln2, rstd2, a, b, h: FloatBuffer
    // Indexer: rotated queries, raw and normalised/rotated key, mean/rstd, scaled weights, and
    // per selected slot ([rows, selectionStride]): the indexer's score, the head-mean attention
    // probability and the KL gradient. In dense mode (stride T) slot s is position s.
    let iq, ikRaw, ik, ikMean, ikRstd, iw, scores, pSel, dScores: FloatBuffer
    var selection: [Int32]
    var counts: [Int32]

    init(_ c: TransformerConfig, rows N: Int, time T: Int, selectionStride ld: Int) {
        let C = c.dModel, HD = c.heads * c.headDim, D = c.headDim, F = c.ffnHidden
        ln1 = FloatBuffer(count: N * C); rstd1 = FloatBuffer(count: N)
        q = FloatBuffer(count: N * HD); k = FloatBuffer(count: N * D); v = FloatBuffer(count: N * D)
        att = FloatBuffer(count: N * HD); lse = FloatBuffer(count: N * c.heads)
        xMid = FloatBuffer(count: N * C); ln2 = FloatBuffer(count: N * C); rstd2 = FloatBuffer(count: N)
        a = FloatBuffer(count: N * F); b = FloatBuffer(count: N * F); h = FloatBuffer(count: N * F)
        iq = FloatBuffer(count: N * c.indexerHeads * c.indexerDim)
        ikRaw = FloatBuffer(count: N * c.indexerDim); ik = FloatBuffer(count: N * c.indexerDim)
        ikMean = FloatBuffer(count: N); ikRstd = FloatBuffer(count: N); iw = FloatBuffer(count: N * c.indexerHeads)
        scores = FloatBuffer(count: N * ld); pSel = FloatBuffer(count: N * ld); dScores = FloatBuffer(count: N * ld)
        selection = [Int32](repeating: 0, count: N * ld)
        counts = [Int32](repeating: 0, count: N)
    }
}

/// Everything one training forward saves for its backward pass.
final class TrainingActivations {
    let batch: Int, time: Int
    var rows: Int { batch * time }
    /// Row stride of selections and selected-slot buffers: k in sparse mode, T in dense.
    let selectionStride: Int
    var tokens: [Int] = []
    var targets: [Int]?
    var indexerLossComputed = false
    let residual: [FloatBuffer]
    let layers: [LayerActivations]
    let lnf, rstdf, logits, probs: FloatBuffer
    /// The previous token's embedding per row (the token shift's input; empty without a shift).
    let previous: FloatBuffer
    let copyHead: CopyHeadActivations?
    // Backward scratch shared by the layers.
    let dres, dln, dh, da, db, datt, dq, dk, dv, diq, dik, dikRaw, diw: FloatBuffer

    init(config c: TransformerConfig, batch: Int, time T: Int) {
        self.batch = batch
        self.time = T
        let N = batch * T, C = c.dModel, HD = c.heads * c.headDim, F = c.ffnHidden
        selectionStride = c.attention == .sparse ? max(c.topK, 1) : T
        residual = (0...c.layers).map { _ in FloatBuffer(count: N * C) }
        layers = (0..<c.layers).map { _ in LayerActivations(c, rows: N, time: T, selectionStride: c.attention == .sparse ? max(c.topK, 1) : T) }
        lnf = FloatBuffer(count: N * C); rstdf = FloatBuffer(count: N)
        logits = FloatBuffer(count: N * c.vocab); probs = FloatBuffer(count: N * c.vocab)
        previous = FloatBuffer(count: c.tokenShift ? N * C : 0)
        copyHead = c.copyDim > 0 ? CopyHeadActivations(c, batch: batch, time: T) : nil
        dres = FloatBuffer(count: N * C); dln = FloatBuffer(count: N * C)
        dh = FloatBuffer(count: N * F); da = FloatBuffer(count: N * F); db = FloatBuffer(count: N * F)
        datt = FloatBuffer(count: N * HD); dq = FloatBuffer(count: N * HD)
        dk = FloatBuffer(count: N * c.headDim); dv = FloatBuffer(count: N * c.headDim)
        diq = FloatBuffer(count: N * c.indexerHeads * c.indexerDim)
        dik = FloatBuffer(count: N * c.indexerDim); dikRaw = FloatBuffer(count: N * c.indexerDim)
        diw = FloatBuffer(count: N * c.indexerHeads)
    }
}
