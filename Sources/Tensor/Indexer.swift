// DeepSeek-V3.2's lightning indexer score, I[t,s] = Σ_j w[t,j] · ReLU(c · q[t,j]·k[s]), c = d_I^-1/2,
// with one key per token shared by the H_I indexer heads. Dots come from sgemm over blocks of
// query rows; the weighting is a vectorised pass. Causal positions only (s ≤ t).
import Foundation

public struct IndexerShape: Sendable {
    public let heads: Int
    public let dim: Int
    public init(heads: Int, dim: Int) { self.heads = heads; self.dim = dim }
    public var dotScale: Float { 1 / Float(dim).squareRoot() }
}

public enum IndexerKernel {
    public static let blockRows = 16

    /// Scores of a block of rows: rows r0..<r1 of q ([rows, H_I, d_I]) at positions first + r,
    /// against keys k[0..<first+r1]. Writes I into `scores` (row stride ldI, entries s ≤ position)
    /// using `dots` scratch of (r1−r0)·H_I·(first+r1) floats.
    public static func blockScores(q: ConstFloatPointer, k: ConstFloatPointer, w: ConstFloatPointer, first: Int, r0: Int, r1: Int,
                                   shape: IndexerShape, scores: FloatPointer, ldI: Int, dots: FloatPointer) {
        let HI = shape.heads, dI = shape.dim, lk = first + r1
        Matmul.gemm(transA: false, transB: true, m: (r1 - r0) * HI, n: lk, k: dI, alpha: shape.dotScale,
                    q + r0 * HI * dI, lda: dI, k, ldb: dI, dots, ldc: lk)
        for i in 0..<(r1 - r0) {
            let valid = first + r0 + i + 1
            let out = scores + (r0 + i) * ldI
            let weights = w + (r0 + i) * HI
            for s in 0..<valid { out[s] = 0 }
            for j in 0..<HI {
                let wj = weights[j], z = dots + (i * HI + j) * lk
                for s in 0..<valid { out[s] += wj * max(z[s], 0) }
            }
        }
    }

    /// All scores for rows 0..<rows at positions first + r: [rows, ldI] (ldI ≥ first + rows).
    public static func scores(q: ConstFloatPointer, k: ConstFloatPointer, w: ConstFloatPointer, first: Int, rows: Int,
                              shape: IndexerShape, out: FloatPointer, ldI: Int) {
        let B = blockRows, lkMax = first + rows
        let scratch = FloatBuffer(count: Parallel.threads * B * shape.heads * lkMax)
        Parallel.dynamic((rows + B - 1) / B) { worker, block in
            let r0 = block * B, r1 = min(rows, r0 + B)
            blockScores(q: q, k: k, w: w, first: first, r0: r0, r1: r1, shape: shape, scores: out, ldI: ldI,
                        dots: scratch.pointer + worker * B * shape.heads * lkMax)
        }
    }

    /// Fused scoring and top-k, one block of rows at a time, so no [rows, first + rows] score
    /// matrix exists. selection: [rows, topK] Int32, counts: [rows]. Rows with at most topK
    /// candidates keep all of them and need no scores, unless `selectedScores` ([rows, topK]) is
    /// given: it receives each selected key's score in selection order (training keeps them for
    /// the indexer's KL on the selected set).
    public static func select(q: ConstFloatPointer, k: ConstFloatPointer, w: ConstFloatPointer, first: Int, rows: Int,
                              shape: IndexerShape, topK: Int, selection: UnsafeMutablePointer<Int32>, counts: UnsafeMutablePointer<Int32>,
                              selectedScores: FloatPointer? = nil) {
        let B = blockRows, lkMax = first + rows
        let dotsCount = B * shape.heads * lkMax, scoreCount = B * lkMax, selectCount = TopK.scratchCount(maxCount: lkMax)
        let scratch = FloatBuffer(count: Parallel.threads * (dotsCount + scoreCount))
        let selectScratch = UnsafeMutablePointer<UInt32>.allocate(capacity: Parallel.threads * selectCount)
        defer { selectScratch.deallocate() }
        Parallel.dynamic((rows + B - 1) / B) { worker, block in
            let r0 = block * B, r1 = min(rows, r0 + B)
            let dots = scratch.pointer + worker * (dotsCount + scoreCount), blockOut = dots + dotsCount
            let full = first + r1 <= topK
            if !full || selectedScores != nil {
                // Score rows into a block-local buffer (row i at blockOut + i·lkMax).
                blockScores(q: q, k: k, w: w, first: first, r0: r0, r1: r1, shape: shape,
                            scores: blockOut - r0 * lkMax, ldI: lkMax, dots: dots)
            }
            for r in r0..<r1 {
                let candidates = first + r + 1, row = blockOut + (r - r0) * lkMax, chosen = selection + r * topK
                let count = TopK.select(row, count: candidates, k: topK, into: chosen, scratch: selectScratch + worker * selectCount)
                counts[r] = Int32(count)
                if let selectedScores {
                    let target = selectedScores + r * topK
                    for j in 0..<count { target[j] = row[Int(chosen[j])] }
                }
            }
        }
    }

    /// Backward of the scores given dI ([rows, ldG], entries s ≤ position, zero elsewhere):
    /// accumulates dq ([rows, H_I, d_I]), dk ([rows, d_I]), dw ([rows, H_I]). first = 0.
    public static func backward(dI: ConstFloatPointer, ldG: Int, q: ConstFloatPointer, k: ConstFloatPointer, w: ConstFloatPointer,
                                rows: Int, shape: IndexerShape, dq: FloatPointer, dk: FloatPointer, dw: FloatPointer) {
        let HI = shape.heads, dI_ = shape.dim, B = blockRows
        let perWorker = 2 * B * HI * rows + rows * dI_
        let scratch = FloatBuffer(count: Parallel.threads * perWorker)
        Parallel.dynamic((rows + B - 1) / B) { worker, block in
            let base = scratch.pointer + worker * perWorker
            let z = base, dz = base + B * HI * rows, dkw = dz + B * HI * rows
            let r0 = block * B, r1 = min(rows, r0 + B), lk = r1, m = (r1 - r0) * HI
            Matmul.gemm(transA: false, transB: true, m: m, n: lk, k: dI_, alpha: shape.dotScale, q + r0 * HI * dI_, lda: dI_, k, ldb: dI_, z, ldc: lk)
            for i in 0..<(r1 - r0) {
                let r = r0 + i, valid = r + 1, g = dI + r * ldG
                for j in 0..<HI {
                    let zr = z + (i * HI + j) * lk, dzr = dz + (i * HI + j) * lk, wj = w[r * HI + j]
                    var dwj: Float = 0
                    for s in 0..<valid {
                        let positive = zr[s] > 0
                        dwj += positive ? g[s] * zr[s] : 0
                        dzr[s] = positive ? g[s] * wj : 0
                    }
                    for s in valid..<lk { dzr[s] = 0 }
                    dw[r * HI + j] += dwj
                }
            }
            Matmul.gemm(transA: false, transB: false, m: m, n: dI_, k: lk, alpha: shape.dotScale, dz, lda: lk, k, ldb: dI_, beta: 1, dq + r0 * HI * dI_, ldc: dI_)
            Matmul.gemm(transA: true, transB: false, m: lk, n: dI_, k: m, alpha: shape.dotScale, dz, lda: lk, q + r0 * HI * dI_, ldb: dI_, beta: 1, dkw, ldc: dI_)
        }
        for worker in 0..<Parallel.threads { Vector.add(scratch.pointer + worker * perWorker + 2 * B * HI * rows, into: dk, rows * dI_) }
    }

    /// Backward of the scores at selected keys only, given dI per selected slot: row r's slot j
    /// is key selection[r·ldSel + j] with gradient dSel[r·ldSel + j], for j < counts[r].
    /// Accumulates dq ([rows, H_I, d_I]), dk ([keys, d_I]), dw ([rows, H_I]). Equal to `backward`
    /// with dI zero off the selection, in O(rows·k·H_I·d_I) instead of O(rows²·H_I·d_I).
    public static func sparseBackward(dSel: ConstFloatPointer, selection: UnsafePointer<Int32>, ldSel: Int, counts: UnsafePointer<Int32>,
                                      q: ConstFloatPointer, k: ConstFloatPointer, w: ConstFloatPointer, rows: Int, keys: Int,
                                      shape: IndexerShape, dq: FloatPointer, dk: FloatPointer, dw: FloatPointer) {
        let HI = shape.heads, dI_ = shape.dim, c = shape.dotScale
        // Each worker scatters into its own dk (selected keys repeat across rows).
        let scratch = FloatBuffer(count: Parallel.threads * keys * dI_)
        let group = 16
        Parallel.dynamic((rows + group - 1) / group) { worker, item in
            let dkw = scratch.pointer + worker * keys * dI_
            for r in (item * group)..<min(rows, item * group + group) {
                let count = Int(counts[r]), sel = selection + r * ldSel, g = dSel + r * ldSel
                for j in 0..<HI {
                    let qj = q + (r * HI + j) * dI_, dqj = dq + (r * HI + j) * dI_, wj = w[r * HI + j]
                    var dwj: Float = 0
                    for slot in 0..<count where g[slot] != 0 {
                        let keyRow = k + Int(sel[slot]) * dI_
                        let z = c * Vector.dot(qj, keyRow, dI_)
                        guard z > 0 else { continue }
                        dwj += g[slot] * z
                        let dz = c * g[slot] * wj
                        Vector.axpy(dz, keyRow, dqj, dI_)
                        Vector.axpy(dz, qj, dkw + Int(sel[slot]) * dI_, dI_)
                    }
                    dw[r * HI + j] += dwj
                }
            }
        }
        for worker in 0..<Parallel.threads { Vector.add(scratch.pointer + worker * keys * dI_, into: dk, keys * dI_) }
    }
}
