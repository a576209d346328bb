// DeepSeek Sparse Attention over a whole prompt (prefill) for one sequence: lightning-indexer
// scores and top-k for the rows that have more than k candidates, then the core attention —
// the dense kernel for the first k rows (they keep every earlier key), the sparse kernel after.
public enum DSA {
    /// q [T, H, D], k/v [T, D]; indexer q [T, H_I, d_I], key [T, d_I], weights [T, H_I] (already
    /// scaled by H_I^-1/2). Writes out [T, H, D] and, if given, lse [T, H]. `selection` receives
    /// [T, topK] indices and `counts` [T] (rows below topK list 0...t).
    public static func forward(q: ConstFloatPointer, k: ConstFloatPointer, v: ConstFloatPointer,
                               indexerQ: ConstFloatPointer, indexerK: ConstFloatPointer, indexerW: ConstFloatPointer,
                               rows T: Int, shape: AttentionShape, indexer: IndexerShape, topK: Int,
                               out: FloatPointer, lse: FloatPointer?,
                               selection: UnsafeMutablePointer<Int32>, counts: UnsafeMutablePointer<Int32>) {
        let denseRows = min(T, topK), HD = shape.heads * shape.headDim
        Attention.denseForward(q: q, k: k, v: v, out: out, lse: lse, first: 0, rows: denseRows, shape: shape)
        guard denseRows < T else { return }
        IndexerKernel.select(q: indexerQ, k: indexerK, w: indexerW, first: 0, rows: T, shape: indexer, topK: topK,
                             selection: selection, counts: counts)
        Attention.sparseForward(q: q + denseRows * HD, k: k, v: v, out: out + denseRows * HD, lse: lse.map { $0 + denseRows * shape.heads },
                                rows: T - denseRows, shape: shape, selection: selection + denseRows * topK, ldSel: topK,
                                counts: counts + denseRows)
    }

    /// Backward of the core attention given the selection `forward` made (the indexer learns from
    /// its own KL, not from this gradient): accumulates dq, dk, dv.
    public static func backward(dq: FloatPointer, dk: FloatPointer, dv: FloatPointer, dout: ConstFloatPointer,
                                q: ConstFloatPointer, k: ConstFloatPointer, v: ConstFloatPointer, out: ConstFloatPointer,
                                lse: ConstFloatPointer, rows T: Int, shape: AttentionShape, topK: Int,
                                selection: UnsafePointer<Int32>, counts: UnsafePointer<Int32>) {
        let denseRows = min(T, topK), HD = shape.heads * shape.headDim
        Attention.denseBackward(dq: dq, dk: dk, dv: dv, dout: dout, q: q, k: k, v: v, out: out, lse: lse, rows: denseRows, shape: shape)
        guard denseRows < T else { return }
        Attention.sparseBackward(dq: dq + denseRows * HD, dk: dk, dv: dv, dout: dout + denseRows * HD, q: q + denseRows * HD, k: k, v: v,
                                 out: out + denseRows * HD, lse: lse + denseRows * shape.heads, rows: T - denseRows, keys: T, shape: shape,
                                 selection: selection + denseRows * topK, ldSel: topK, counts: counts + denseRows)
    }
}

extension DSA {
    /// One decode step's attention for the query at `position` against cached keys/values
    /// 0...position: dense when the prefix holds at most topK keys, else indexer scores → top-k →
    /// sparse kernel. indexerQ [H_I, d_I] and indexerW [H_I] are this token's; indexerK the key cache.
    /// Scratch: scores ≥ position+1 floats, dots ≥ H_I·(position+1), selection ≥ topK,
    /// selectScratch ≥ TopK.scratchCount(maxCount: position+1).
    public static func decode(q: ConstFloatPointer, k: ConstFloatPointer, v: ConstFloatPointer,
                              indexerQ: ConstFloatPointer, indexerK: ConstFloatPointer, indexerW: ConstFloatPointer,
                              position: Int, shape: AttentionShape, indexer: IndexerShape, topK: Int, out: FloatPointer,
                              scores: FloatPointer, dots: FloatPointer, selection: UnsafeMutablePointer<Int32>,
                              selectScratch: UnsafeMutablePointer<UInt32>) {
        guard position + 1 > topK else {
            Attention.denseForward(q: q, k: k, v: v, out: out, lse: nil, first: position, rows: 1, shape: shape)
            return
        }
        IndexerKernel.blockScores(q: indexerQ, k: indexerK, w: indexerW, first: position, r0: 0, r1: 1, shape: indexer,
                                  scores: scores, ldI: position + 1, dots: dots)
        var count = Int32(TopK.select(scores, count: position + 1, k: topK, into: selection, scratch: selectScratch))
        Attention.sparseForward(q: q, k: k, v: v, out: out, lse: nil, rows: 1, shape: shape, selection: selection, ldSel: topK, counts: &count)
    }
}
