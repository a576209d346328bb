// Incremental decoding with a key/value cache and, for DSA, a cache of the indexer's keys: each
// step runs one token through every layer against the cached prefix, through the same kernels
// as training (dense kernel with first = position, or indexer scores → top-k → sparse kernel).
import Foundation
import Tensor

public final class InferenceSession {
    public let model: Transformer
    public private(set) var position = 0
    let keyCache: [FloatBuffer], valueCache: [FloatBuffer], indexerKeyCache: [FloatBuffer]
    let x, ln, q, att, a, b, h, iq, ikRaw, iw, logits, scores, dots: FloatBuffer
    var selection: [Int32]
    /// The copy head's keys per position, its query, scores, gate logit and vocabulary softmax.
    let copyKeyCache, copyQuery, copyScores, copyGate, generation: FloatBuffer
    /// With `copyNgram` n > 1: the final hidden state per position, and this position's n-gram
    /// input to the copy head (its state and the n − 1 before it).
    let finalCache, copyInput: FloatBuffer
    /// With `copyFollow`: the copy head's α of the last position fed (over its sources), and the
    /// same after the prompt, where every sample of a group starts.
    let previousCopy, promptCopy: FloatBuffer
    /// The token fed at each position (the token shift reads the one before).
    var fed: [Int]
    let selectScratch: UnsafeMutablePointer<UInt32>

    public init(model: Transformer) {
        self.model = model
        let c = model.config
        keyCache = (0..<c.layers).map { _ in FloatBuffer(count: c.context * c.headDim) }
        valueCache = (0..<c.layers).map { _ in FloatBuffer(count: c.context * c.headDim) }
        indexerKeyCache = (0..<c.layers).map { _ in FloatBuffer(count: c.attention == .sparse ? c.context * c.indexerDim : 0) }
        x = FloatBuffer(count: c.dModel); ln = FloatBuffer(count: c.dModel)
        q = FloatBuffer(count: c.heads * c.headDim); att = FloatBuffer(count: c.heads * c.headDim)
        a = FloatBuffer(count: c.ffnHidden); b = FloatBuffer(count: c.ffnHidden); h = FloatBuffer(count: c.ffnHidden)
        iq = FloatBuffer(count: c.indexerHeads * c.indexerDim); ikRaw = FloatBuffer(count: c.indexerDim); iw = FloatBuffer(count: c.indexerHeads)
        logits = FloatBuffer(count: c.vocab); scores = FloatBuffer(count: c.context)
        dots = FloatBuffer(count: c.attention == .sparse ? c.indexerHeads * c.context : 0)
        selection = [Int32](repeating: 0, count: c.topK)
        copyKeyCache = FloatBuffer(count: c.context * c.copyDim); copyQuery = FloatBuffer(count: c.copyDim)
        let copying = c.copyDim > 0
        copyScores = FloatBuffer(count: copying ? c.context : 0); copyGate = FloatBuffer(count: copying ? 1 : 0)
        generation = FloatBuffer(count: copying ? c.vocab : 0)
        let ngram = copying && c.copyNgram > 1
        finalCache = FloatBuffer(count: ngram ? c.context * c.dModel : 0); copyInput = FloatBuffer(count: ngram ? c.copyNgram * c.dModel : 0)
        let following = copying && c.copyFollow
        previousCopy = FloatBuffer(count: following ? c.context : 0); promptCopy = FloatBuffer(count: following ? c.context : 0)
        fed = [Int](repeating: 0, count: c.context)
        selectScratch = .allocate(capacity: TopK.scratchCount(maxCount: c.context))
    }

    deinit { selectScratch.deallocate() }

    /// Forgets the cached prefix.
    public func reset() { position = 0 }

    /// Feeds one token at the next position; returns the logits for the token after it.
    @discardableResult
    public func step(_ token: Int) throws -> [Float] {
        let m = model, c = m.config, layout = m.layout
        guard token >= 0, token < c.vocab else { throw ModelError("token id \(token) outside the vocabulary of \(c.vocab)") }
        guard position < c.context else { throw ModelError("the cache is full: context is \(c.context) tokens") }
        let C = c.dModel, H = c.heads, D = c.headDim, HD = H * D, F = c.ffnHidden, pos = position
        let HI = c.indexerHeads, dI = c.indexerDim
        x.pointer.update(from: m.w(layout.embedding) + token * C, count: C)
        fed[pos] = token
        if let shift = layout.tokenShift, pos > 0 {
            Matmul.forward(x.pointer, m.w(layout.embedding) + fed[pos - 1] * C, m.w(shift), rows: 1, inDim: C, outDim: C, accumulate: true)
        }
        for l in 0..<c.layers {
            let P = layout.layers[l]
            let kSlot = keyCache[l].pointer + pos * D, vSlot = valueCache[l].pointer + pos * D
            RMSNorm.forward(ln.pointer, rstd: nil, x.pointer, m.w(P.attnNorm), rows: 1, dim: C, eps: c.normEps)
            Matmul.forward(q.pointer, ln.pointer, m.w(P.wq), rows: 1, inDim: C, outDim: HD)
            Matmul.forward(kSlot, ln.pointer, m.w(P.wk), rows: 1, inDim: C, outDim: D)
            Matmul.forward(vSlot, ln.pointer, m.w(P.wv), rows: 1, inDim: C, outDim: D)
            m.rope.apply(q.pointer, rows: 1, heads: H, headDim: D, startPosition: pos)
            m.rope.apply(kSlot, rows: 1, heads: 1, headDim: D, startPosition: pos)
            if c.attention == .sparse {
                // The indexer key is cached at every position; scoring is needed only once the
                // prefix holds more than k keys.
                let ikSlot = indexerKeyCache[l].pointer + pos * dI
                Matmul.forward(ikRaw.pointer, ln.pointer, m.w(P.iwk), rows: 1, inDim: C, outDim: dI)
                LayerNorm.forward(ikSlot, mean: nil, rstd: nil, ikRaw.pointer, m.w(P.ilnWeight), m.w(P.ilnBias), rows: 1, dim: dI, eps: c.normEps)
                m.indexerRope.apply(ikSlot, rows: 1, heads: 1, headDim: dI, startPosition: pos)
            }
            if c.attention == .sparse && pos + 1 > c.topK {
                Matmul.forward(iq.pointer, ln.pointer, m.w(P.iwq), rows: 1, inDim: C, outDim: HI * dI)
                Matmul.forward(iw.pointer, ln.pointer, m.w(P.iww), rows: 1, inDim: C, outDim: HI)
                let weightScale = 1 / Float(HI).squareRoot()
                for j in 0..<HI { iw[j] *= weightScale }
                m.indexerRope.apply(iq.pointer, rows: 1, heads: HI, headDim: dI, startPosition: pos)
                selection.withUnsafeMutableBufferPointer { selection in
                    DSA.decode(q: q.pointer, k: keyCache[l].pointer, v: valueCache[l].pointer, indexerQ: iq.pointer,
                               indexerK: indexerKeyCache[l].pointer, indexerW: iw.pointer, position: pos, shape: m.attentionShape,
                               indexer: m.indexerShape, topK: c.topK, out: att.pointer, scores: scores.pointer, dots: dots.pointer,
                               selection: selection.baseAddress!, selectScratch: selectScratch)
                }
            } else {
                Attention.denseForward(q: q.pointer, k: keyCache[l].pointer, v: valueCache[l].pointer, out: att.pointer, lse: nil,
                                       first: pos, rows: 1, shape: m.attentionShape)
            }
            Matmul.forward(x.pointer, att.pointer, m.w(P.wo), rows: 1, inDim: HD, outDim: C, accumulate: true)
            RMSNorm.forward(ln.pointer, rstd: nil, x.pointer, m.w(P.mlpNorm), rows: 1, dim: C, eps: c.normEps)
            Matmul.forward(a.pointer, ln.pointer, m.w(P.w1), rows: 1, inDim: C, outDim: F)
            Matmul.forward(b.pointer, ln.pointer, m.w(P.w3), rows: 1, inDim: C, outDim: F)
            SwiGLU.forward(h.pointer, a.pointer, b.pointer, count: F)
            Matmul.forward(x.pointer, h.pointer, m.w(P.w2), rows: 1, inDim: F, outDim: C, accumulate: true)
        }
        RMSNorm.forward(ln.pointer, rstd: nil, x.pointer, m.w(layout.finalNorm), rows: 1, dim: C, eps: c.normEps)
        Matmul.forward(logits.pointer, ln.pointer, m.w(layout.embedding), rows: 1, inDim: C, outDim: c.vocab)
        if let head = layout.copyHead {
            let dc = c.copyDim, n = c.copyNgram
            var input = ln.pointer
            if n > 1 {
                (finalCache.pointer + pos * C).update(from: ln.pointer, count: C)
                m.copyNgramRow(into: copyInput.pointer, current: finalCache.pointer + pos * C, position: pos)
                input = copyInput.pointer
            }
            Matmul.forward(copyKeyCache.pointer + pos * dc, input, m.w(head.wk), rows: 1, inDim: n * C, outDim: dc)
            Matmul.forward(copyQuery.pointer, input, m.w(head.wq), rows: 1, inDim: n * C, outDim: dc)
            Matmul.forward(copyGate.pointer, ln.pointer, m.w(head.gate), rows: 1, inDim: C, outDim: 1)
            Matmul.gemm(transA: false, transB: true, m: 1, n: pos, k: dc, alpha: m.copyScale, copyQuery.pointer, lda: dc,
                        copyKeyCache.pointer, ldb: dc, copyScores.pointer, ldc: max(pos, 1))
            fed.withUnsafeBufferPointer { fed in
                if let follow = head.follow {
                    m.copyFollowBonus(scores: copyScores.pointer, previous: previousCopy.pointer, t: pos, tokens: fed.baseAddress!, beta: m.w(follow)[0])
                }
                PointerMixture.forwardRow(logits: logits.pointer, generation: generation.pointer, scores: copyScores.pointer, sources: pos,
                                          total: pos, copied: fed.baseAddress! + 1, gateLogit: copyGate[0] + m.w(head.gateBias)[0], vocab: c.vocab)
            }
            if head.follow != nil { previousCopy.pointer.update(from: copyScores.pointer, count: pos) }
        }
        position += 1
        return logits.array
    }

    /// Samples up to `maxNewTokens` after `prompt` (stopping after `stopToken` if given), each
    /// with its log-probability and kept-token set. The same seed gives the same tokens.
    public func generate(prompt: [Int], maxNewTokens: Int, settings: SamplingSettings, seed: UInt64,
                         stopToken: Int? = nil, constraint: (any GenerationConstraint)? = nil) throws -> [SampledToken] {
        try generateSamples(prompt: prompt, seeds: [seed], maxNewTokens: maxNewTokens, settings: settings, stopToken: stopToken,
                            constraint: constraint)[0]
    }

    /// One sample per seed after the same prompt, the prompt run through the model once: the
    /// cache slots past the prompt are simply overwritten by the next sample. Each sample equals
    /// the one its seed gives alone (GRPO's G samples of one task, at the cost of one prefill).
    public func generateSamples(prompt: [Int], seeds: [UInt64], maxNewTokens: Int, settings: SamplingSettings,
                                stopToken: Int? = nil, constraint: (any GenerationConstraint)? = nil) throws -> [[SampledToken]] {
        guard !prompt.isEmpty else { throw ModelError("generation needs a non-empty prompt") }
        guard prompt.count + maxNewTokens <= model.config.context + 1 else {
            throw ModelError("prompt of \(prompt.count) plus \(maxNewTokens) new tokens exceeds the context \(model.config.context)")
        }
        reset()
        var promptLogits: [Float] = []
        for token in prompt { promptLogits = try step(token) }
        if model.config.copyFollow { promptCopy.pointer.update(from: previousCopy.pointer, count: prompt.count - 1) }
        var samples: [[SampledToken]] = []
        for seed in seeds {
            position = prompt.count
            if model.config.copyFollow { previousCopy.pointer.update(from: promptCopy.pointer, count: prompt.count - 1) }
            var sampler = try Sampler(settings: settings, seed: seed)
            var logits = promptLogits
            var rules = constraint   // each sample starts from the constraint's initial state
            var out: [SampledToken] = []
            while out.count < maxNewTokens {
                rules?.mask(&logits)
                let sampled = try sampler.sample(logits: logits)
                rules?.advance(with: sampled.token)
                out.append(sampled)
                if sampled.token == stopToken || out.count == maxNewTokens { break }
                logits = try step(sampled.token)
            }
            samples.append(out)
        }
        return samples
    }
}
