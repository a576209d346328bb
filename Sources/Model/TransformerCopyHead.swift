// The pointer (copy) head on the output: queries and keys from the final hidden states, the
// scores of each row over the earlier positions, and a gate; `PointerMixture` turns them and the
// vocabulary logits into log p. Dense over the whole prefix: one head of `copyDim` dims costs
// about what the lightning indexer does, and a copy must be able to reach any line of the prompt.
// Options: queries and keys over the last `copyNgram` final states, and a pointer that follows
// itself (`copyFollow`: a held copy's next source gains β·α of the row before).
import Foundation
import Tensor

/// The pointer head's saved activations and backward scratch.
final class CopyHeadActivations {
    /// Queries, keys ([rows, copyDim]), gate logits then gates ([rows]), the vocabulary softmax
    /// ([rows, vocab]) and, per sequence, scores then α then dL/dscores ([time, time]).
    let q, k, gate, generation, attention, dq, dk, dgate: FloatBuffer
    /// With `copyNgram` n > 1: each row's final hidden state and the n − 1 before it in its
    /// sequence (zeros before the start), [rows, n·dModel], and its gradient; empty for n = 1.
    let ngram, dngram: FloatBuffer

    init(_ c: TransformerConfig, batch: Int, time T: Int) {
        let N = batch * T
        q = FloatBuffer(count: N * c.copyDim); k = FloatBuffer(count: N * c.copyDim)
        gate = FloatBuffer(count: N); generation = FloatBuffer(count: N * c.vocab)
        attention = FloatBuffer(count: batch * T * T)
        dq = FloatBuffer(count: N * c.copyDim); dk = FloatBuffer(count: N * c.copyDim); dgate = FloatBuffer(count: N)
        let width = c.copyNgram > 1 ? N * c.copyNgram * c.dModel : 0
        ngram = FloatBuffer(count: width); dngram = FloatBuffer(count: width)
    }
}

extension Transformer {
    var copyScale: Float { 1 / Float(max(config.copyDim, 1)).squareRoot() }

    /// The queries' and keys' input: the final hidden states, or their n-gram rows.
    func copyHeadInput(_ a: TrainingActivations, saved s: CopyHeadActivations) -> (pointer: FloatPointer, width: Int) {
        let C = config.dModel, n = config.copyNgram
        guard n > 1 else { return (a.lnf.pointer, C) }
        for r in 0..<a.rows { copyNgramRow(into: s.ngram.pointer + r * n * C, current: a.lnf.pointer + r * C, position: r % a.time) }
        return (s.ngram.pointer, n * C)
    }

    /// One n-gram row: the final state at `current` (position `position` of its sequence, rows
    /// of dModel laid out in order) and the n − 1 before it, zeros before the sequence starts.
    func copyNgramRow(into row: FloatPointer, current: ConstFloatPointer, position: Int) {
        let C = config.dModel
        for back in 0..<config.copyNgram {
            let slot = row + back * C
            if back <= position { slot.update(from: current - back * C, count: C) } else { slot.update(repeating: 0, count: C) }
        }
    }

    /// a.logits (raw) → log of the mixture, row by row.
    func copyHeadForward(_ a: TrainingActivations, head: ParameterLayout.CopyHead, saved s: CopyHeadActivations) {
        let N = a.rows, T = a.time, C = config.dModel, V = config.vocab, dc = config.copyDim
        let input = copyHeadInput(a, saved: s)
        Matmul.forward(s.q.pointer, input.pointer, w(head.wq), rows: N, inDim: input.width, outDim: dc)
        Matmul.forward(s.k.pointer, input.pointer, w(head.wk), rows: N, inDim: input.width, outDim: dc)
        Matmul.forward(s.gate.pointer, a.lnf.pointer, w(head.gate), rows: N, inDim: C, outDim: 1)
        for b in 0..<a.batch {
            Matmul.gemm(transA: false, transB: true, m: T, n: T, k: dc, alpha: copyScale, s.q.pointer + b * T * dc, lda: dc,
                        s.k.pointer + b * T * dc, ldb: dc, s.attention.pointer + b * T * T, ldc: T)
        }
        let bias = w(head.gateBias)[0]
        let follow = head.follow.map { w($0)[0] }
        a.tokens.withUnsafeBufferPointer { tokens in
            func row(_ r: Int) {
                let b = r / T, t = r % T
                if let follow { copyFollowBonus(scores: s.attention.pointer + r * T, previous: s.attention.pointer + (r - 1) * T, t: t,
                                                tokens: tokens.baseAddress! + b * T, beta: follow) }
                s.gate[r] = PointerMixture.forwardRow(logits: a.logits.pointer + r * V, generation: s.generation.pointer + r * V,
                                                      scores: s.attention.pointer + r * T, sources: t, total: T,
                                                      copied: tokens.baseAddress! + b * T + 1, gateLogit: s.gate[r] + bias, vocab: V)
            }
            if follow != nil {
                // Each row reads the α of the row before it: rows in order, sequences in parallel.
                Parallel.chunks(a.batch) { _, sequences in for b in sequences { for t in 0..<T { row(b * T + t) } } }
            } else {
                Parallel.chunks(N, minimumChunk: 16) { _, rows in for r in rows { row(r) } }
            }
        }
    }

    /// Adds β·α_{t−1, j−1} to the score of each source j whose previous source voted for the
    /// token at t (the copy held), where `previous` is row t − 1's α over its t − 1 sources.
    func copyFollowBonus(scores: FloatPointer, previous: ConstFloatPointer, t: Int, tokens: UnsafePointer<Int>, beta: Float) {
        guard t >= 2 else { return }
        for j in 1..<t where tokens[j] == tokens[t] { scores[j] += beta * previous[j - 1] }
    }

    /// a.probs: dL/d(log p) → dL/d(raw logits); the scores' and gates' gradients are kept for
    /// `copyHeadProjectionBackward`.
    func copyHeadMixtureBackward(_ a: TrainingActivations, head: ParameterLayout.CopyHead, saved s: CopyHeadActivations) {
        let N = a.rows, T = a.time, V = config.vocab
        a.tokens.withUnsafeBufferPointer { tokens in
            func row(_ r: Int, further: ConstFloatPointer?) {
                let b = r / T, t = r % T
                s.dgate[r] = PointerMixture.backwardRow(gradient: a.probs.pointer + r * V, logProbs: a.logits.pointer + r * V,
                                                        generation: s.generation.pointer + r * V, attention: s.attention.pointer + r * T,
                                                        sources: t, copied: tokens.baseAddress! + b * T + 1, gate: s.gate[r], vocab: V,
                                                        attentionGradient: further)
            }
            guard let follow = head.follow else {
                Parallel.chunks(N, minimumChunk: 16) { _, rows in for r in rows { row(r, further: nil) } }
                return
            }
            // Backward through the rows' chain, last row first: row t + 1's dL/dscores (already in
            // place of its α) gives row t's α a further gradient and β its share.
            let beta = w(follow)[0]
            let betaGradients = FloatBuffer(count: a.batch)
            Parallel.chunks(a.batch) { _, sequences in
                let further = FloatBuffer(count: T)
                for b in sequences {
                    let sequenceTokens = tokens.baseAddress! + b * T
                    for t in stride(from: T - 1, through: 0, by: -1) {
                        let r = b * T + t
                        guard t + 1 < T, t >= 1 else { row(r, further: nil); continue }
                        let next = s.attention.pointer + (r + 1) * T, alpha = s.attention.pointer + r * T
                        for j in 0..<t { further[j] = 0 }
                        for j in 1..<(t + 1) where sequenceTokens[j] == sequenceTokens[t + 1] {
                            further[j - 1] = beta * next[j]
                            betaGradients[b] += next[j] * alpha[j - 1]
                        }
                        row(r, further: further.pointer)
                    }
                }
            }
            var total: Float = 0
            for b in 0..<a.batch { total += betaGradients[b] }
            g(follow)[0] += total
        }
    }

    /// Gradients of the head's projections; their input gradient accumulates into a.dln (the
    /// final norm's output, shared with the vocabulary logits).
    func copyHeadProjectionBackward(_ a: TrainingActivations, head: ParameterLayout.CopyHead, saved s: CopyHeadActivations) {
        let N = a.rows, T = a.time, C = config.dModel, dc = config.copyDim
        s.dq.zero(); s.dk.zero()
        for b in 0..<a.batch {
            let dScores = s.attention.pointer + b * T * T
            Matmul.gemm(transA: false, transB: false, m: T, n: dc, k: T, alpha: copyScale, dScores, lda: T,
                        s.k.pointer + b * T * dc, ldb: dc, beta: 1, s.dq.pointer + b * T * dc, ldc: dc)
            Matmul.gemm(transA: true, transB: false, m: T, n: dc, k: T, alpha: copyScale, dScores, lda: T,
                        s.q.pointer + b * T * dc, ldb: dc, beta: 1, s.dk.pointer + b * T * dc, ldc: dc)
        }
        let n = config.copyNgram
        let input = n > 1 ? s.ngram.pointer : a.lnf.pointer, dinput = n > 1 ? s.dngram.pointer : a.dln.pointer
        if n > 1 { s.dngram.zero() }
        Matmul.backward(dinp: dinput, dweight: g(head.wq), dout: s.dq.pointer, inp: input, weight: w(head.wq), rows: N, inDim: n * C, outDim: dc)
        Matmul.backward(dinp: dinput, dweight: g(head.wk), dout: s.dk.pointer, inp: input, weight: w(head.wk), rows: N, inDim: n * C, outDim: dc)
        if n > 1 {
            // Each n-gram slot's gradient goes back to the row it was copied from.
            for r in 0..<N {
                let t = r % T
                for back in 0...min(n - 1, t) {
                    let from = s.dngram.pointer + (r * n + back) * C, to = a.dln.pointer + (r - back) * C
                    for i in 0..<C { to[i] += from[i] }
                }
            }
        }
        Matmul.backward(dinp: a.dln.pointer, dweight: g(head.gate), dout: s.dgate.pointer, inp: a.lnf.pointer, weight: w(head.gate),
                        rows: N, inDim: C, outDim: 1)
        var biasGradient: Float = 0
        for r in 0..<N { biasGradient += s.dgate[r] }
        g(head.gateBias)[0] += biasGradient
    }
}
