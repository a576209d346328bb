// The lightning indexer inside training: its scores and top-k selection, its KL loss against the
// main attention, and its backward pass. Its input (the layer's normalised hidden state) is
// detached: the indexer learns only from its KL, the model only from the language-model loss.
import Foundation
import Tensor

extension Transformer {
    /// Indexer queries/key/weights, the full causal score matrix per sequence, and the selection
    /// (top-k in sparse mode, causal mask applied first; every earlier position in dense mode).
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
        for b in 0..<a.batch {
            indexerRope.apply(A.iq.pointer + b * T * HI * dI, rows: T, heads: HI, headDim: dI)
            indexerRope.apply(A.ik.pointer + b * T * dI, rows: T, heads: 1, headDim: dI)
            IndexerKernel.scores(q: A.iq.pointer + b * T * HI * dI, k: A.ik.pointer + b * T * dI, w: A.iw.pointer + b * T * HI,
                                 first: 0, rows: T, shape: indexerShape, out: A.scores.pointer + b * T * T, ldI: T)
        }
        let ld = a.selectionStride, k = config.attention == .sparse ? config.topK : Int.max
        let scratchCount = TopK.scratchCount(maxCount: T)
        let scratch = UnsafeMutablePointer<UInt32>.allocate(capacity: Parallel.threads * scratchCount)
        defer { scratch.deallocate() }
        A.selection.withUnsafeMutableBufferPointer { sel in
            A.counts.withUnsafeMutableBufferPointer { counts in
                let sel = sel.baseAddress!, counts = counts.baseAddress!
                Parallel.chunks(N, minimumChunk: 16) { worker, range in
                    for row in range {
                        let t = row % T
                        counts[row] = Int32(TopK.select(A.scores.pointer + row * T, count: t + 1, k: k, into: sel + row * ld,
                                                        scratch: scratch + worker * scratchCount))
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
                let kept = chosen.withUnsafeMutableBufferPointer {
                    TopK.select(layer.scores.pointer + row * T, count: row % T + 1, k: k, into: $0.baseAddress!, scratch: scratch)
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
    /// at the selected key positions into dScores for the backward pass.
    func indexerKL(_ A: LayerActivations, acts a: TrainingActivations) -> Float {
        let N = a.rows, T = a.time, ld = a.selectionStride
        A.dScores.zero()
        var total = 0.0
        var q = [Double](repeating: 0, count: ld)
        for row in 0..<N {
            let count = Int(A.counts[row]), base = row * ld
            let scores = A.scores.pointer + row * T, p = A.pSel.pointer + base, grad = A.dScores.pointer + row * T
            var maximum = -Double.infinity
            for j in 0..<count { maximum = max(maximum, Double(scores[Int(A.selection[base + j])])) }
            var sum = 0.0
            for j in 0..<count { q[j] = exp(Double(scores[Int(A.selection[base + j])]) - maximum); sum += q[j] }
            for j in 0..<count {
                q[j] /= sum
                let pj = Double(p[j])
                if pj > 0 { total += pj * (log(pj) - log(max(q[j], 1e-300))) }
                grad[Int(A.selection[base + j])] = Float((q[j] - pj) / Double(N))
            }
        }
        return Float(total / Double(N))
    }

    /// Gradient of the KL into the indexer's parameters only (its input is detached).
    func indexerBackward(layer l: Int, acts a: TrainingActivations) {
        let P = layout.layers[l], A = a.layers[l]
        let N = a.rows, T = a.time, C = config.dModel, HI = config.indexerHeads, dI = config.indexerDim
        a.diq.zero(); a.dik.zero(); a.dikRaw.zero(); a.diw.zero()
        for b in 0..<a.batch {
            IndexerKernel.backward(dI: A.dScores.pointer + b * T * T, ldG: T, q: A.iq.pointer + b * T * HI * dI,
                                   k: A.ik.pointer + b * T * dI, w: A.iw.pointer + b * T * HI, rows: T, shape: indexerShape,
                                   dq: a.diq.pointer + b * T * HI * dI, dk: a.dik.pointer + b * T * dI, dw: a.diw.pointer + b * T * HI)
            indexerRope.apply(a.diq.pointer + b * T * HI * dI, rows: T, heads: HI, headDim: dI, inverse: true)
            indexerRope.apply(a.dik.pointer + b * T * dI, rows: T, heads: 1, headDim: dI, inverse: true)
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
