// The backward pass: gradients accumulate into `grads` (call zeroGradients() first).
import Foundation
import Tensor

extension Transformer {
    /// language: backpropagate the language-model loss into every non-indexer parameter.
    /// indexer: backpropagate each layer's indexer KL into the indexer's parameters.
    /// The dense warm-up uses (language: false, indexer: true); sparse training uses both.
    public func backward(language: Bool = true, indexer: Bool = false) throws {
        guard let a = acts else { throw ModelError("backward called before forward") }
        if language && a.targets == nil { throw ModelError("backward of the language loss needs a forward with targets") }
        if indexer && !a.indexerLossComputed { throw ModelError("backward of the indexer KL needs a forward with indexerLoss: true") }
        if language { languageBackward(a) }
        if indexer { for l in 0..<config.layers { indexerBackward(layer: l, acts: a) } }
    }

    /// Backpropagates a gradient given directly on the logits of the last forward (which may
    /// have had no targets): `fill(row, gradient)` writes d(loss)/d(logits) of one row into a
    /// zeroed buffer of `vocab` floats. Policy-gradient losses (GRPO) enter the model here.
    public func backward(logitGradient fill: (_ row: Int, _ gradient: UnsafeMutableBufferPointer<Float>) throws -> Void) throws {
        guard let a = acts else { throw ModelError("backward called before forward") }
        let V = config.vocab
        a.probs.zero()
        for row in 0..<a.rows { try fill(row, UnsafeMutableBufferPointer(start: a.probs.pointer + row * V, count: V)) }
        languageBackward(a, logitGradientReady: true)
    }

    func languageBackward(_ a: TrainingActivations, logitGradientReady: Bool = false) {
        let N = a.rows, T = a.time, C = config.dModel, H = config.heads, D = config.headDim, HD = H * D, F = config.ffnHidden
        let V = config.vocab
        if !logitGradientReady { CrossEntropy.backward(probs: a.probs.pointer, targets: a.targets!, vocab: V) }
        if let head = layout.copyHead, let saved = a.copyHead { copyHeadMixtureBackward(a, head: head, saved: saved) }
        a.dln.zero()
        Matmul.backward(dinp: a.dln.pointer, dweight: g(layout.embedding), dout: a.probs.pointer, inp: a.lnf.pointer,
                        weight: w(layout.embedding), rows: N, inDim: C, outDim: V)
        if let head = layout.copyHead, let saved = a.copyHead { copyHeadProjectionBackward(a, head: head, saved: saved) }
        a.dres.zero()
        RMSNorm.backward(dx: a.dres.pointer, dweight: g(layout.finalNorm), dout: a.dln.pointer, x: a.residual[config.layers].pointer,
                         weight: w(layout.finalNorm), rstd: a.rstdf.pointer, rows: N, dim: C)
        for l in stride(from: config.layers - 1, through: 0, by: -1) {
            let P = layout.layers[l], A = a.layers[l]
            // MLP: residual[l+1] = xMid + (silu(ln2·W1ᵀ) ⊙ ln2·W3ᵀ)·W2ᵀ
            a.dh.zero()
            Matmul.backward(dinp: a.dh.pointer, dweight: g(P.w2), dout: a.dres.pointer, inp: A.h.pointer, weight: w(P.w2), rows: N, inDim: F, outDim: C)
            SwiGLU.backward(da: a.da.pointer, db: a.db.pointer, dh: a.dh.pointer, A.a.pointer, A.b.pointer, count: N * F)
            a.dln.zero()
            Matmul.backward(dinp: a.dln.pointer, dweight: g(P.w1), dout: a.da.pointer, inp: A.ln2.pointer, weight: w(P.w1), rows: N, inDim: C, outDim: F)
            Matmul.backward(dinp: a.dln.pointer, dweight: g(P.w3), dout: a.db.pointer, inp: A.ln2.pointer, weight: w(P.w3), rows: N, inDim: C, outDim: F)
            RMSNorm.backward(dx: a.dres.pointer, dweight: g(P.mlpNorm), dout: a.dln.pointer, x: A.xMid.pointer, weight: w(P.mlpNorm),
                             rstd: A.rstd2.pointer, rows: N, dim: C)
            // Attention: xMid = residual[l] + att·Woᵀ
            a.datt.zero()
            Matmul.backward(dinp: a.datt.pointer, dweight: g(P.wo), dout: a.dres.pointer, inp: A.att.pointer, weight: w(P.wo), rows: N, inDim: HD, outDim: C)
            a.dq.zero(); a.dk.zero(); a.dv.zero()
            attentionBackward(A, acts: a)
            for b in 0..<a.batch {
                rope.apply(a.dq.pointer + b * T * HD, rows: T, heads: H, headDim: D, inverse: true)
                rope.apply(a.dk.pointer + b * T * D, rows: T, heads: 1, headDim: D, inverse: true)
            }
            a.dln.zero()
            Matmul.backward(dinp: a.dln.pointer, dweight: g(P.wq), dout: a.dq.pointer, inp: A.ln1.pointer, weight: w(P.wq), rows: N, inDim: C, outDim: HD)
            Matmul.backward(dinp: a.dln.pointer, dweight: g(P.wk), dout: a.dk.pointer, inp: A.ln1.pointer, weight: w(P.wk), rows: N, inDim: C, outDim: D)
            Matmul.backward(dinp: a.dln.pointer, dweight: g(P.wv), dout: a.dv.pointer, inp: A.ln1.pointer, weight: w(P.wv), rows: N, inDim: C, outDim: D)
            RMSNorm.backward(dx: a.dres.pointer, dweight: g(P.attnNorm), dout: a.dln.pointer, x: a.residual[l].pointer, weight: w(P.attnNorm),
                             rstd: A.rstd1.pointer, rows: N, dim: C)
        }
        Embedding.backward(dtable: g(layout.embedding), dout: a.dres.pointer, tokens: a.tokens, dim: C)
        if let shift = layout.tokenShift {
            a.dln.zero()
            Matmul.backward(dinp: a.dln.pointer, dweight: g(shift), dout: a.dres.pointer, inp: a.previous.pointer, weight: w(shift),
                            rows: N, inDim: C, outDim: C)
            TokenShift.scatterPrevious(dtable: g(layout.embedding), dout: a.dln.pointer, tokens: a.tokens, sequenceLength: T, dim: C)
        }
    }

    func attentionBackward(_ A: LayerActivations, acts a: TrainingActivations) {
        let T = a.time, H = config.heads, D = config.headDim, HD = H * D, ld = a.selectionStride
        let denseRows = config.attention == .sparse ? min(T, config.topK) : T
        for b in 0..<a.batch {
            let q = A.q.pointer + b * T * HD, k = A.k.pointer + b * T * D, v = A.v.pointer + b * T * D
            let out = A.att.pointer + b * T * HD, lse = A.lse.pointer + b * T * H
            let dq = a.dq.pointer + b * T * HD, dk = a.dk.pointer + b * T * D, dv = a.dv.pointer + b * T * D
            let dout = a.datt.pointer + b * T * HD
            Attention.denseBackward(dq: dq, dk: dk, dv: dv, dout: dout, q: q, k: k, v: v, out: out, lse: lse, rows: denseRows, shape: attentionShape)
            if denseRows < T {
                A.selection.withUnsafeBufferPointer { sel in
                    A.counts.withUnsafeBufferPointer { counts in
                        Attention.sparseBackward(dq: dq + denseRows * HD, dk: dk, dv: dv, dout: dout + denseRows * HD, q: q + denseRows * HD,
                                                 k: k, v: v, out: out + denseRows * HD, lse: lse + denseRows * H, rows: T - denseRows, keys: T,
                                                 shape: attentionShape, selection: sel.baseAddress! + (b * T + denseRows) * ld, ldSel: ld,
                                                 counts: counts.baseAddress! + b * T + denseRows)
                    }
                }
            }
        }
    }
}
