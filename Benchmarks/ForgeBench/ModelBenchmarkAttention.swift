import Foundation
import Tensor

/// Dense vs DSA attention for one sequence of multi-query attention (H heads sharing one K/V
/// head), both built from the same kernels: the dense path is the blocked causal kernel over
/// every earlier key; DSA is the lightning indexer (fused sgemm scores + radix top-k) and the
/// sparse kernel over the selected keys (rows before k use the dense kernel, as in the model).
struct AttentionComparison {
    let heads: Int, headDim: Int, indexerHeads: Int, indexerDim: Int
    var shape: AttentionShape { AttentionShape(heads: heads, headDim: headDim) }
    var indexer: IndexerShape { IndexerShape(heads: indexerHeads, dim: indexerDim) }

    /// Deterministic pseudo-random fill (a cheap hash: the values only need to be generic).
    static func filled(_ count: Int, seed: UInt32, scale: Float = 1) -> FloatBuffer {
        let buffer = FloatBuffer(count: count)
        var state = seed &* 2654435761 | 1
        for i in 0..<count {
            state ^= state << 13; state ^= state >> 17; state ^= state << 5
            buffer[i] = (Float(state >> 8) / Float(1 << 24) * 2 - 1) * scale
        }
        return buffer
    }

    func run(contexts: [Int], topks: [Int], trainContexts: [Int]) {
        print("\n(2) attention, one sequence: \(heads) query heads × \(headDim) sharing one K/V head; indexer \(indexerHeads) heads × \(indexerDim)")
        var rows: [[String]] = []
        for L in contexts {
            let HD = heads * headDim
            let q = Self.filled(L * HD, seed: 1), k = Self.filled(L * headDim, seed: 2), v = Self.filled(L * headDim, seed: 3)
            let iq = Self.filled(L * indexerHeads * indexerDim, seed: 4), ik = Self.filled(L * indexerDim, seed: 5)
            let iw = Self.filled(L * indexerHeads, seed: 6, scale: 1 / Float(indexerHeads).squareRoot())
            let out = FloatBuffer(count: L * HD), lse = FloatBuffer(count: L * heads)
            let repeats = L <= 8192 ? 3 : (L <= 32768 ? 2 : 1)
            let densePrefill = bestOf(repeats) {
                Attention.denseForward(q: q.pointer, k: k.pointer, v: v.pointer, out: out.pointer, lse: lse.pointer, first: 0, rows: L, shape: shape)
            }
            let last = q.pointer + (L - 1) * HD, lastOut = FloatBuffer(count: HD)
            let denseDecode = bestOf(10) {
                Attention.denseForward(q: last, k: k.pointer, v: v.pointer, out: lastOut.pointer, lse: nil, first: L - 1, rows: 1, shape: shape)
            }
            let train = trainContexts.contains(L)
            var denseTrain = 0.0
            let dout = train ? Self.filled(L * HD, seed: 7) : FloatBuffer(count: 0)
            let dq = FloatBuffer(count: train ? L * HD : 0), dk = FloatBuffer(count: train ? L * headDim : 0), dv = FloatBuffer(count: train ? L * headDim : 0)
            if train {
                denseTrain = timed {
                    Attention.denseForward(q: q.pointer, k: k.pointer, v: v.pointer, out: out.pointer, lse: lse.pointer, first: 0, rows: L, shape: shape)
                    Attention.denseBackward(dq: dq.pointer, dk: dk.pointer, dv: dv.pointer, dout: dout.pointer, q: q.pointer, k: k.pointer,
                                            v: v.pointer, out: out.pointer, lse: lse.pointer, rows: L, shape: shape)
                }
            }
            for topK in topks {
                var selection = [Int32](repeating: 0, count: L * topK), counts = [Int32](repeating: 0, count: L)
                let sparsePrefill = bestOf(repeats) {
                    DSA.forward(q: q.pointer, k: k.pointer, v: v.pointer, indexerQ: iq.pointer, indexerK: ik.pointer, indexerW: iw.pointer,
                                rows: L, shape: shape, indexer: indexer, topK: topK, out: out.pointer, lse: lse.pointer,
                                selection: &selection, counts: &counts)
                }
                let scores = FloatBuffer(count: L), dots = FloatBuffer(count: indexerHeads * L)
                var decodeSelection = [Int32](repeating: 0, count: topK)
                let selectScratch = UnsafeMutablePointer<UInt32>.allocate(capacity: TopK.scratchCount(maxCount: L))
                defer { selectScratch.deallocate() }
                let sparseDecode = bestOf(10) {
                    DSA.decode(q: last, k: k.pointer, v: v.pointer, indexerQ: iq.pointer + (L - 1) * indexerHeads * indexerDim, indexerK: ik.pointer,
                               indexerW: iw.pointer + (L - 1) * indexerHeads, position: L - 1, shape: shape, indexer: indexer, topK: topK,
                               out: lastOut.pointer, scores: scores.pointer, dots: dots.pointer, selection: &decodeSelection, selectScratch: selectScratch)
                }
                var trainCells = ["–", "–", "–"]
                if train {
                    let sparseTrain = timed {
                        DSA.forward(q: q.pointer, k: k.pointer, v: v.pointer, indexerQ: iq.pointer, indexerK: ik.pointer, indexerW: iw.pointer,
                                    rows: L, shape: shape, indexer: indexer, topK: topK, out: out.pointer, lse: lse.pointer,
                                    selection: &selection, counts: &counts)
                        DSA.backward(dq: dq.pointer, dk: dk.pointer, dv: dv.pointer, dout: dout.pointer, q: q.pointer, k: k.pointer, v: v.pointer,
                                     out: out.pointer, lse: lse.pointer, rows: L, shape: shape, topK: topK, selection: selection, counts: counts)
                    }
                    trainCells = [String(format: "%.2f", denseTrain), String(format: "%.2f", sparseTrain), String(format: "%.2f×", denseTrain / sparseTrain)]
                }
                rows.append(["\(L)", "\(topK)", String(format: "%.3f", densePrefill), String(format: "%.3f", sparsePrefill),
                             String(format: "%.2f×", densePrefill / sparsePrefill),
                             String(format: "%.2f", denseDecode * 1000), String(format: "%.2f", sparseDecode * 1000),
                             String(format: "%.2f×", denseDecode / sparseDecode)] + trainCells)
                print("  measured context \(L), k \(topK)")
            }
        }
        printTable(["context", "k", "dense prefill s", "DSA prefill s", "prefill speed-up", "dense decode ms", "DSA decode ms", "decode speed-up",
                    "dense fwd+bwd s", "DSA fwd+bwd s", "fwd+bwd speed-up"], rows)
        print("fwd+bwd: the core attention's forward and backward plus the indexer's selection; the indexer's own KL backward is not included.")
    }
}
