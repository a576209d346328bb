// Causal softmax attention, multi-query: H query heads share one key head and one value head
// (as DeepSeek-V3.2's MLA runs in MQA mode), so each selected key's row serves every head.
// Two forms with the same softmax arithmetic:
//  - dense (here): query rows in blocks against the contiguous key prefix, masked causally (sgemm);
//  - sparse (SparseAttention.swift): each query row against its own selected key/value rows
//    (DSA's selected tokens), in fused loops over the selection.
// Only the log-sum-exp per (row, head) is saved; backward recomputes the probabilities block by
// block (flash-attention style), so memory stays O(T·H) at any context length.
import COpenBLAS
import Foundation

public struct AttentionShape: Sendable {
    public let heads: Int
    public let headDim: Int
    public init(heads: Int, headDim: Int) { self.heads = heads; self.headDim = headDim }
    var scale: Float { 1 / Float(headDim).squareRoot() }
}

public enum Attention {
    /// Query rows per dense block: big enough for sgemm efficiency, small enough that the score
    /// block stays in cache and the causal waste inside a block stays small.
    public static let blockRows = 16

    /// Dense causal forward for `rows` query rows at positions first..<first+rows.
    /// q/out: [rows, H, D]; k, v: [first+rows, D] (positions from 0); lse: [rows, H].
    /// `headMeanProbs` (optional, [rows, ldp]) receives Σ_h P[h, s] / H for s ≤ position.
    public static func denseForward(q: ConstFloatPointer, k: ConstFloatPointer, v: ConstFloatPointer,
                                    out: FloatPointer, lse: FloatPointer?, first: Int, rows: Int, shape: AttentionShape,
                                    headMeanProbs: FloatPointer? = nil, ldp: Int = 0) {
        let H = shape.heads, D = shape.headDim, B = blockRows
        let keys = first + rows
        let blocks = (rows + B - 1) / B
        let scratch = FloatBuffer(count: Parallel.threads * B * H * keys)
        Parallel.dynamic(blocks) { worker, blockIndex in
            let r0 = blockIndex * B, r1 = min(rows, r0 + B)
            let m = (r1 - r0) * H, lk = first + r1
            let s = scratch.pointer + worker * B * H * keys
            Matmul.gemm(transA: false, transB: true, m: m, n: lk, k: D, alpha: shape.scale, q + r0 * H * D, lda: D, k, ldb: D, s, ldc: lk)
            for i in 0..<(r1 - r0) {
                let valid = first + r0 + i + 1
                for h in 0..<H {
                    let row = s + (i * H + h) * lk
                    let l = softmaxPrefix(row, valid: valid, total: lk)
                    lse?[(r0 + i) * H + h] = l
                }
                if let headMeanProbs {
                    let target = headMeanProbs + (r0 + i) * ldp
                    for j in 0..<valid { target[j] = 0 }
                    for h in 0..<H { Vector.axpy(1 / Float(H), s + (i * H + h) * lk, target, valid) }
                }
            }
            Matmul.gemm(transA: false, transB: false, m: m, n: D, k: lk, s, lda: lk, v, ldb: D, out + r0 * H * D, ldc: D)
        }
    }

    /// Dense backward (first = 0, training over whole sequences): accumulates dq, dk, dv.
    public static func denseBackward(dq: FloatPointer, dk: FloatPointer, dv: FloatPointer, dout: ConstFloatPointer,
                                     q: ConstFloatPointer, k: ConstFloatPointer, v: ConstFloatPointer, out: ConstFloatPointer,
                                     lse: ConstFloatPointer, rows: Int, shape: AttentionShape) {
        let H = shape.heads, D = shape.headDim, B = blockRows
        let blocks = (rows + B - 1) / B
        let perWorker = 2 * B * H * rows + 2 * rows * D + B * H
        let scratch = FloatBuffer(count: Parallel.threads * perWorker)
        Parallel.dynamic(blocks) { worker, blockIndex in
            let base = scratch.pointer + worker * perWorker
            let p = base, dp = base + B * H * rows, dkw = dp + B * H * rows, dvw = dkw + rows * D, delta = dvw + rows * D
            let r0 = blockIndex * B, r1 = min(rows, r0 + B)
            let m = (r1 - r0) * H, lk = r1
            Matmul.gemm(transA: false, transB: true, m: m, n: lk, k: D, alpha: shape.scale, q + r0 * H * D, lda: D, k, ldb: D, p, ldc: lk)
            Matmul.gemm(transA: false, transB: true, m: m, n: lk, k: D, dout + r0 * H * D, lda: D, v, ldb: D, dp, ldc: lk)
            for i in 0..<(r1 - r0) {
                let valid = r0 + i + 1
                for h in 0..<H {
                    let row = (i * H + h), g = (r0 + i) * H + h
                    delta[row] = Vector.dot(dout + g * D, out + g * D, D)
                    probsAndScoreGrad(p + row * lk, dp + row * lk, lse: lse[g], delta: delta[row], valid: valid, total: lk)
                }
            }
            // dp now holds dS (already masked); p holds P.
            Matmul.gemm(transA: false, transB: false, m: m, n: D, k: lk, alpha: shape.scale, dp, lda: lk, k, ldb: D, beta: 1, dq + r0 * H * D, ldc: D)
            Matmul.gemm(transA: true, transB: false, m: lk, n: D, k: m, alpha: shape.scale, dp, lda: lk, q + r0 * H * D, ldb: D, beta: 1, dkw, ldc: D)
            Matmul.gemm(transA: true, transB: false, m: lk, n: D, k: m, p, lda: lk, dout + r0 * H * D, ldb: D, beta: 1, dvw, ldc: D)
        }
        reduceWorkers(scratch, perWorker: perWorker, offset: 2 * B * H * rows, dk: dk, dv: dv, count: rows * D)
    }

    // MARK: pieces

    /// In-place softmax over row[0..<valid]; row[valid..<total] set to 0. Returns log-sum-exp.
    @inline(__always)
    static func softmaxPrefix(_ row: FloatPointer, valid: Int, total: Int) -> Float {
        var maximum = -Float.infinity
        for j in 0..<valid { maximum = max(maximum, row[j]) }
        var sum: Float = 0
        for j in 0..<valid { let e = exp(row[j] - maximum); row[j] = e; sum += e }
        let inv = 1 / sum
        for j in 0..<valid { row[j] *= inv }
        for j in valid..<total { row[j] = 0 }
        return maximum + log(sum)
    }

    /// Turns scaled scores into P = exp(s − lse) and dP into dS = P·(dP − Δ), both masked beyond `valid`.
    @inline(__always)
    static func probsAndScoreGrad(_ p: FloatPointer, _ dp: FloatPointer, lse: Float, delta: Float, valid: Int, total: Int) {
        for j in 0..<valid {
            let pj = exp(p[j] - lse)
            p[j] = pj
            dp[j] = pj * (dp[j] - delta)
        }
        for j in valid..<total { p[j] = 0; dp[j] = 0 }
    }

    /// Selected rows prefetched ahead of the one in use: they are scattered over the whole key
    /// cache, so each would otherwise wait on memory.
    static let prefetchDistance = 8

    /// Prefetches row indices[j + prefetchDistance] of `source` (dim floats each), if any.
    @inline(__always)
    static func prefetchAhead(_ indices: UnsafePointer<Int32>, _ j: Int, _ count: Int, _ source: ConstFloatPointer, _ dim: Int) {
        guard j + prefetchDistance < count else { return }
        let ahead = UnsafeRawPointer(source + Int(indices[j + prefetchDistance]) * dim)
        for line in stride(from: 0, to: dim * MemoryLayout<Float>.stride, by: 64) { forge_prefetch(ahead + line) }
    }

    /// Adds every worker's private dk/dv accumulator into the outputs.
    static func reduceWorkers(_ scratch: FloatBuffer, perWorker: Int, offset: Int, dk: FloatPointer, dv: FloatPointer, count: Int) {
        for worker in 0..<Parallel.threads {
            let base = scratch.pointer + worker * perWorker + offset
            Vector.add(base, into: dk, count)
            Vector.add(base + count, into: dv, count)
        }
    }
}
