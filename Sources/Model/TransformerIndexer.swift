// The lightning indexer inside training: its scores and top-k selection, its KL loss against the
// main attention, and its backward pass. Its input (the layer's normalised hidden state) is
// detached: the indexer learns only from its KL, the model only from the language-model loss.
import Foundation
import Tensor

extension Transformer {
    /// Indexer queries/key/weights, then per row the selection and the scores of the selected keys
    /// (A.scores, [rows, selectionStride], slot-aligned with A.selection). Sparse mode scores a
    /// block of rows at a time and keeps only the top-k (no T×T matrix); dense mode (the warm-up)
    /// selects every earlier position, so slot s is position s and the scores are the full causal matrix.
    func indexerForward(layer l: Int, acts a: TrainingActivations) {
        let P = layout.layers[l], A = a.layers[l]
        let N = a.rows, T = a.time, C = config.dModel, HI = config.indexerHeads, dI = config.indexerDim
        Matmul.forward(A.iq.pointer, A.ln1.pointer, w(P.iwq), rows: N, inDim: C, outDim: HI * dI)
        Matmul.forward(A.ikRaw.pointer, A.ln1.pointer, w(P.iwk), rows: N, inDim: C, outDim: dI)
        LayerNorm.forward(A.ik.pointer, mean: A.ikMean.pointer, rstd: A.ikRstd.pointer, A.ikRaw.pointer,
                          w(P.ilnWeight), w(P.ilnBias), rows: N, dim: dI, eps: config.normEps)
        Matmul.forward(A.iw.pointer, A.ln1.pointer, w(P.iww), rows: N, inDim: C, outDim: HI)
        let weightScale = 1 / Float(HI).squareRoot()
        for i in 0..<(N * HI) { A.iw[i] *= weightScale }
        let ld = a.selectionStride, sparse = config.attention == .sparse
        A.selection.withUnsafeMutableBufferPointer { sel in
            A.counts.withUnsafeMutableBufferPointer { counts in
                let sel = sel.baseAddress!, counts = counts.baseAddress!
                for b in 0..<a.batch {
                    let iq = A.iq.pointer + b * T * HI * dI, ik = A.ik.pointer + b * T * dI, iw = A.iw.pointer + b * T * HI
                    indexerRope.apply(iq, rows: T, heads: HI, headDim: dI)
                    indexerRope.apply(ik, rows: T, heads: 1, headDim: dI)
                    if sparse {
                        IndexerKernel.select(q: iq, k: ik, w: iw, first: 0, rows: T, shape: indexerShape, topK: ld,
                                             selection: sel + b * T * ld, counts: counts + b * T, selectedScores: A.scores.pointer + b * T * ld)
                    } else {
                        IndexerKernel.scores(q: iq, k: ik, w: iw, first: 0, rows: T, shape: indexerShape, out: A.scores.pointer + b * T * ld, ldI: ld)
                        for row in (b * T)..<(b * T + T) {
                            let t = row % T
                            for s in 0...t { sel[row * ld + s] = Int32(s) }
                            counts[row] = Int32(t + 1)
                        }
                    }
                }
            }
        }
    }

    /// How much of the dense attention the indexer's top-k keeps: over rows with more than `k`
    /// earlier positions, the mean (over rows and layers) of the head-mean dense attention
    /// probability that falls on the k positions with the highest indexer scores. 1 means the
    /// sparse model would attend exactly where the dense one does.
    public func denseMassRecovered(tokens: [Int], batch: Int, k: Int) throws -> Float {
        let mode = config.attention
        setAttention(.dense)
        defer { setAttention(mode) }
        try forward(tokens: tokens, targets: nil, batch: batch, indexerLoss: true)
        let a = acts!, T = a.time, ld = a.selectionStride
        guard T > k else { return 1 }
        var total = 0.0, rowsCounted = 0
        var chosen = [Int32](repeating: 0, count: k)
        let scratch = UnsafeMutablePointer<UInt32>.allocate(capacity: TopK.scratchCount(maxCount: T))
        defer { scratch.deallocate() }
        var probabilityAt = [Float](repeating: 0, count: T)
        for layer in a.layers {
            for row in 0..<a.rows where row % T >= k {
                let count = Int(layer.counts[row]), base = row * ld
                for j in 0..<count { probabilityAt[Int(layer.selection[base + j])] = layer.pSel[base + j] }
                // Dense mode: slot s is position s, so the scores row is the full causal row.
                let kept = chosen.withUnsafeMutableBufferPointer {
                    TopK.select(layer.scores.pointer + base, count: row % T + 1, k: k, into: $0.baseAddress!, scratch: scratch)
                }
                var mass = 0.0
                for j in 0..<kept { mass += Double(probabilityAt[Int(chosen[j])]) }
                total += mass
                rowsCounted += 1
            }
        }
        return rowsCounted == 0 ? 1 : Float(total / Double(rowsCounted))
    }

    /// Mean over rows of KL(p ‖ softmax(I)) on each row's selected set, p being the main heads'
    /// attention probabilities averaged over heads (L1-normalised). Writes ∂/∂I = (softmax(I) − p)/rows
    /// per selected slot into dScores ([rows, selectionStride], like scores) for the backward pass.
    func indexerKL(_ A: LayerActivations, acts a: TrainingActivations) -> Float {
        let N = a.rows, ld = a.selectionStride
        A.dScores.zero()
        var total = 0.0
        var q = [Double](repeating: 0, count: ld)
        for row in 0..<N {
            let count = Int(A.counts[row]), base = row * ld
            let scores = A.scores.pointer + base, p = A.pSel.pointer + base, grad = A.dScores.pointer + base
            var maximum = -Double.infinity
            for j in 0..<count { maximum = max(maximum, Double(scores[j])) }
            var sum = 0.0
            for j in 0..<count { q[j] = exp(Double(scores[j]) - maximum); sum += q[j] }
            for j in 0..<count {
                q[j] /= sum
                let pj = Double(p[j])
                if pj > 0 { total += pj * (log(pj) - log(max(q[j], 1e-300))) }
                grad[j] = Float((q[j] - pj) / Double(N))
            }
        }
        return Float(total / Double(N))
    }

    /// Gradient of the KL into the indexer's parameters only (its input is detached).
    func indexerBackward(layer l: Int, acts a: TrainingActivations) {
        let P = layout.layers[l], A = a.layers[l]
        let N = a.rows, T = a.time, C = config.dModel, HI = config.indexerHeads, dI = config.indexerDim
        a.diq.zero(); a.dik.zero(); a.dikRaw.zero(); a.diw.zero()
        let ld = a.selectionStride
        for b in 0..<a.batch {
            let iq = A.iq.pointer + b * T * HI * dI, ik = A.ik.pointer + b * T * dI, iw = A.iw.pointer + b * T * HI
            let dq = a.diq.pointer + b * T * HI * dI, dk = a.dik.pointer + b * T * dI, dw = a.diw.pointer + b * T * HI
            if config.attention == .sparse {
                // The KL lives on the selected set only: O(T·k) instead of the T×T backward.
                A.selection.withUnsafeBufferPointer { sel in
                    A.counts.withUnsafeBufferPointer { counts in
                        IndexerKernel.sparseBackward(dSel: A.dScores.pointer + b * T * ld, selection: sel.baseAddress! + b * T * ld, ldSel: ld,
                                                     counts: counts.baseAddress! + b * T, q: iq, k: ik, w: iw, rows: T, keys: T,
                                                     shape: indexerShape, dq: dq, dk: dk, dw: dw)
                    }
                }
            } else {
                IndexerKernel.backward(dI: A.dScores.pointer + b * T * ld, ldG: ld, q: iq, k: ik, w: iw, rows: T, shape: indexerShape,
                                       dq: dq, dk: dk, dw: dw)
            }
            indexerRope.apply(dq, rows: T, heads: HI, headDim: dI, inverse: true)
            indexerRope.apply(dk, rows: T, heads: 1, headDim: dI, inverse: true)
        }
        LayerNorm.backward(dx: a.dikRaw.pointer, dweight: g(P.ilnWeight), dbias: g(P.ilnBias), dout: a.dik.pointer, x: A.ikRaw.pointer,
                           weight: w(P.ilnWeight), mean: A.ikMean.pointer, rstd: A.ikRstd.pointer, rows: N, dim: dI)
        let weightScale = 1 / Float(HI).squareRoot()
        for i in 0..<(N * HI) { a.diw[i] *= weightScale }
        Matmul.backward(dinp: nil, dweight: g(P.iwq), dout: a.diq.pointer, inp: A.ln1.pointer, weight: w(P.iwq), rows: N, inDim: C, outDim: HI * dI)
        Matmul.backward(dinp: nil, dweight: g(P.iwk), dout: a.dikRaw.pointer, inp: A.ln1.pointer, weight: w(P.iwk), rows: N, inDim: C, outDim: dI)
        Matmul.backward(dinp: nil, dweight: g(P.iww), dout: a.diw.pointer, inp: A.ln1.pointer, weight: w(P.iww), rows: N, inDim: C, outDim: HI)
    }
}
