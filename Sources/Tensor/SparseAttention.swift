// Sparse multi-query attention: each query row attends to its own subset of keys (DSA's top-k
// selection) of the shared key/value head.
// Scores are kept transposed, Sᵀ = K_sel·Qᵀ ([count, H], the heads side by side), and every
// product is a fused loop over the selected keys that reads each key's and value's row where it
// lies: one row of 256 keys × 4 heads × 32 dims was five sgemm calls of that size per row, plus
// gathers and a scatter, which ran at about 8 GFLOP/s; the loops do the same arithmetic from L1/L2
// without packing. The softmax runs down the columns with softmaxPrefix's arithmetic, so a full
// selection gives the dense probabilities.
import Foundation

extension Attention {
    /// Sparse forward: row r attends to keys selection[r·ldSel ..< +counts[r]] (counts[r] ≥ 1).
    /// q/out: [rows, H, D]; k, v: [keys, D]; lse: [rows, H]. `headMeanProbs` (optional, [rows, ldp])
    /// receives Σ_h P[h, j] / H for the j-th selected key.
    public static func sparseForward(q: ConstFloatPointer, k: ConstFloatPointer, v: ConstFloatPointer, out: FloatPointer,
                                     lse: FloatPointer?, rows: Int, shape: AttentionShape,
                                     selection: UnsafePointer<Int32>, ldSel: Int, counts: UnsafePointer<Int32>,
                                     headMeanProbs: FloatPointer? = nil, ldp: Int = 0) {
        let H = shape.heads, D = shape.headDim
        let perWorker = ldSel * H + 3 * H
        let scratch = FloatBuffer(count: Parallel.threads * perWorker)
        let group = 8   // rows per work item: amortises the shared counter
        Parallel.dynamic((rows + group - 1) / group) { worker, item in
            let base = scratch.pointer + worker * perWorker
            let st = base, columnScratch = st + ldSel * H, rowLSE = columnScratch + 2 * H
            for r in (item * group)..<min(rows, item * group + group) {
                let count = Int(counts[r]), sel = selection + r * ldSel
                let qRow = q + r * H * D, outRow = out + r * H * D
                selectedDots(qRow, k, sel, count, shape, scale: shape.scale, into: st)
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
                outRow.update(repeating: 0, count: H * D)
                for j in 0..<count {
                    prefetchAhead(sel, j, count, v, D)
                    let vRow = v + Int(sel[j]) * D
                    for h in 0..<H { Vector.axpy(st[j * H + h], vRow, outRow + h * D, D) }
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
        let perWorker = 2 * keys * D + 2 * H * ldSel + H
        let scratch = FloatBuffer(count: Parallel.threads * perWorker)
        Parallel.dynamic(rows) { worker, r in
            let base = scratch.pointer + worker * perWorker
            let dkw = base, dvw = base + keys * D, p = dvw + keys * D, dp = p + H * ldSel, delta = dp + H * ldSel
            let count = Int(counts[r]), sel = selection + r * ldSel
            let qRow = q + r * H * D, doutRow = dout + r * H * D, dqRow = dq + r * H * D
            // Pᵀ (scores, until probsAndScoreGradColumns) and dPᵀ, [count, H].
            selectedDots(qRow, k, sel, count, shape, scale: shape.scale, into: p)
            selectedDots(doutRow, v, sel, count, shape, scale: 1, into: dp)
            for h in 0..<H { delta[h] = Vector.dot(doutRow + h * D, out + (r * H + h) * D, D) }
            probsAndScoreGradColumns(p, dp, lse: lse + r * H, delta: delta, rows: count, columns: H)
            // dp now holds dSᵀ; p holds Pᵀ. dq_h += scale·Σ_j dS·k_j; dk_j += scale·Σ_h dS·q_h; dv_j += Σ_h P·dout_h.
            for j in 0..<count {
                let key = Int(sel[j])
                let kRow = k + key * D, dkRow = dkw + key * D, dvRow = dvw + key * D
                for h in 0..<H {
                    let dS = shape.scale * dp[j * H + h]
                    Vector.axpy(dS, kRow, dqRow + h * D, D)
                    Vector.axpy(dS, qRow + h * D, dkRow, D)
                    Vector.axpy(p[j * H + h], doutRow + h * D, dvRow, D)
                }
            }
        }
        reduceWorkers(scratch, perWorker: perWorker, offset: 0, dk: dk, dv: dv, count: keys * D)
    }

    /// out[j, h] = scale · a_h · b_{sel[j]} for the `count` selected rows of `b`, [count, H]:
    /// Sᵀ from the query row and K (scale = the attention scale), dPᵀ from dout's row and V (1).
    @inline(__always)
    static func selectedDots(_ aRow: ConstFloatPointer, _ b: ConstFloatPointer, _ sel: UnsafePointer<Int32>, _ count: Int,
                             _ shape: AttentionShape, scale: Float, into out: FloatPointer) {
        let H = shape.heads, D = shape.headDim
        for j in 0..<count {
            prefetchAhead(sel, j, count, b, D)
            let bRow = b + Int(sel[j]) * D
            for h in 0..<H { out[j * H + h] = scale * Vector.dot(aRow + h * D, bRow, D) }
        }
    }

    // MARK: column-layout pieces

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
