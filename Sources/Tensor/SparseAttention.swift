// Sparse multi-query attention: each query row attends to its own subset of keys (DSA's top-k
// selection), gathered from the shared key/value head.
// Scores are computed transposed, Sᵀ = K_sel·Qᵀ ([count, H], the heads side by side): sgemm runs
// this tall-skinny product about twice as fast as Q·K_selᵀ, whose m is only H; P·V and the
// gradients then read Pᵀ through transA. The forward gathers the selected rows a chunk at a time
// into a small buffer that stays in L1/L2 while sgemm packs it, instead of copying the whole
// selection first (2048 selected rows of K and V are 1 MiB, most of L2).
// The softmax runs down the columns with softmaxPrefix's arithmetic, so a full selection gives
// the dense probabilities.
import Foundation

extension Attention {
    /// Selected keys gathered per chunk in the forward: 256 rows of 64 floats are 64 KiB.
    static let gatherChunk = 256

    /// Sparse forward: row r attends to keys selection[r·ldSel ..< +counts[r]] (counts[r] ≥ 1).
    /// q/out: [rows, H, D]; k, v: [keys, D]; lse: [rows, H]. `headMeanProbs` (optional, [rows, ldp])
    /// receives Σ_h P[h, j] / H for the j-th selected key.
    public static func sparseForward(q: ConstFloatPointer, k: ConstFloatPointer, v: ConstFloatPointer, out: FloatPointer,
                                     lse: FloatPointer?, rows: Int, shape: AttentionShape,
                                     selection: UnsafePointer<Int32>, ldSel: Int, counts: UnsafePointer<Int32>,
                                     headMeanProbs: FloatPointer? = nil, ldp: Int = 0) {
        let H = shape.heads, D = shape.headDim, C = gatherChunk
        let perWorker = C * D + ldSel * H + 3 * H
        let scratch = FloatBuffer(count: Parallel.threads * perWorker)
        let group = 8   // rows per work item: amortises the shared counter
        Parallel.dynamic((rows + group - 1) / group) { worker, item in
            let base = scratch.pointer + worker * perWorker
            let gathered = base, st = base + C * D, columnScratch = st + ldSel * H, rowLSE = columnScratch + 2 * H
            for r in (item * group)..<min(rows, item * group + group) {
                let count = Int(counts[r]), sel = selection + r * ldSel
                let qRow = q + r * H * D, outRow = out + r * H * D
                forEachChunk(count, C) { c0, n in
                    gather(sel + c0, n, k, gathered, D)
                    Matmul.gemm(transA: false, transB: true, m: n, n: H, k: D, alpha: shape.scale, gathered, lda: D, qRow, ldb: D,
                                st + c0 * H, ldc: H)
                }
                softmaxColumns(st, rows: count, columns: H, lse: rowLSE, scratch: columnScratch)
                if let lse { (lse + r * H).update(from: rowLSE, count: H) }
                if let headMeanProbs {
                    // Same order of additions as the dense kernel's per-head axpy.
                    let target = headMeanProbs + r * ldp, weight = 1 / Float(H)
                    for j in 0..<count {
                        var mean: Float = 0
                        for h in 0..<H { mean += weight * st[j * H + h] }
                        target[j] = mean
                    }
                }
                forEachChunk(count, C) { c0, n in
                    gather(sel + c0, n, v, gathered, D)
                    Matmul.gemm(transA: true, transB: false, m: H, n: D, k: n, st + c0 * H, lda: H, gathered, ldb: D,
                                beta: c0 == 0 ? 0 : 1, outRow, ldc: D)
                }
            }
        }
    }

    /// Sparse backward over per-row selections; accumulates dq, dk, dv ([keys, D]; keys defaults to
    /// rows, i.e. the query rows start at position 0).
    public static func sparseBackward(dq: FloatPointer, dk: FloatPointer, dv: FloatPointer, dout: ConstFloatPointer,
                                      q: ConstFloatPointer, k: ConstFloatPointer, v: ConstFloatPointer, out: ConstFloatPointer,
                                      lse: ConstFloatPointer, rows: Int, keys: Int? = nil, shape: AttentionShape,
                                      selection: UnsafePointer<Int32>, ldSel: Int, counts: UnsafePointer<Int32>) {
        let H = shape.heads, D = shape.headDim, keys = keys ?? rows
        let perWorker = 2 * keys * D + 4 * ldSel * D + 2 * H * ldSel + H
        let scratch = FloatBuffer(count: Parallel.threads * perWorker)
        Parallel.dynamic(rows) { worker, r in
            let base = scratch.pointer + worker * perWorker
            let dkw = base, dvw = base + keys * D, kg = dvw + keys * D, vg = kg + ldSel * D
            let dkg = vg + ldSel * D, dvg = dkg + ldSel * D, p = dvg + ldSel * D, dp = p + H * ldSel, delta = dp + H * ldSel
            let count = Int(counts[r]), sel = selection + r * ldSel
            let qRow = q + r * H * D, doutRow = dout + r * H * D
            gather(sel, count, k, kg, D)
            gather(sel, count, v, vg, D)
            // Pᵀ and dPᵀ, [count, H].
            Matmul.gemm(transA: false, transB: true, m: count, n: H, k: D, alpha: shape.scale, kg, lda: D, qRow, ldb: D, p, ldc: H)
            Matmul.gemm(transA: false, transB: true, m: count, n: H, k: D, vg, lda: D, doutRow, ldb: D, dp, ldc: H)
            for h in 0..<H { delta[h] = Vector.dot(doutRow + h * D, out + (r * H + h) * D, D) }
            probsAndScoreGradColumns(p, dp, lse: lse + r * H, delta: delta, rows: count, columns: H)
            // dp now holds dSᵀ; p holds Pᵀ.
            Matmul.gemm(transA: true, transB: false, m: H, n: D, k: count, alpha: shape.scale, dp, lda: H, kg, ldb: D, beta: 1, dq + r * H * D, ldc: D)
            Matmul.gemm(transA: false, transB: false, m: count, n: D, k: H, alpha: shape.scale, dp, lda: H, qRow, ldb: D, dkg, ldc: D)
            Matmul.gemm(transA: false, transB: false, m: count, n: D, k: H, p, lda: H, doutRow, ldb: D, dvg, ldc: D)
            for j in 0..<count {
                let key = Int(sel[j])
                Vector.add(dkg + j * D, into: dkw + key * D, D)
                Vector.add(dvg + j * D, into: dvw + key * D, D)
            }
        }
        reduceWorkers(scratch, perWorker: perWorker, offset: 0, dk: dk, dv: dv, count: keys * D)
    }

    // MARK: column-layout pieces

    /// Calls body(start, length) for consecutive chunks of at most `chunk` of 0..<count.
    @inline(__always)
    static func forEachChunk(_ count: Int, _ chunk: Int, _ body: (Int, Int) -> Void) {
        var start = 0
        while start < count { body(start, min(chunk, count - start)); start += chunk }
    }

    /// In-place softmax down each column of a row-major [rows, columns] block; lse[c] receives
    /// column c's log-sum-exp. Per column the arithmetic of softmaxPrefix, in the same order.
    /// scratch: 2·columns floats.
    @inline(__always)
    static func softmaxColumns(_ s: FloatPointer, rows: Int, columns H: Int, lse: FloatPointer, scratch: FloatPointer) {
        let maximum = scratch, sum = scratch + H
        for h in 0..<H { maximum[h] = -.infinity; sum[h] = 0 }
        for j in 0..<rows {
            let row = s + j * H
            for h in 0..<H { maximum[h] = max(maximum[h], row[h]) }
        }
        for j in 0..<rows {
            let row = s + j * H
            for h in 0..<H { let e = exp(row[h] - maximum[h]); row[h] = e; sum[h] += e }
        }
        for h in 0..<H { lse[h] = maximum[h] + log(sum[h]); sum[h] = 1 / sum[h] }
        for j in 0..<rows {
            let row = s + j * H
            for h in 0..<H { row[h] *= sum[h] }
        }
    }

    /// probsAndScoreGrad down the columns of [rows, columns] blocks: P = exp(S − lse[c]) and
    /// dS = P·(dP − delta[c]).
    @inline(__always)
    static func probsAndScoreGradColumns(_ p: FloatPointer, _ dp: FloatPointer, lse: ConstFloatPointer, delta: ConstFloatPointer,
                                         rows: Int, columns H: Int) {
        for j in 0..<rows {
            let pRow = p + j * H, dpRow = dp + j * H
            for h in 0..<H {
                let pj = exp(pRow[h] - lse[h])
                pRow[h] = pj
                dpRow[h] = pj * (dpRow[h] - delta[h])
            }
        }
    }
}
