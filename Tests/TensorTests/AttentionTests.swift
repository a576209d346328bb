import Tensor
import XCTest

final class AttentionTests: XCTestCase {
    let shape = AttentionShape(heads: 2, headDim: 4)

    func testDenseAttentionGradient() {
        var random = TestRandom(10)
        let T = 20, H = shape.heads, D = shape.headDim   // 20 rows: more than one block of 16
        let q = random.buffer(T * H * D, scale: 2), k = random.buffer(T * D, scale: 2), v = random.buffer(T * D), r = random.buffer(T * H * D)
        let out = FloatBuffer(count: T * H * D), lse = FloatBuffer(count: T * H)
        func f() -> Double {
            Attention.denseForward(q: q.pointer, k: k.pointer, v: v.pointer, out: out.pointer, lse: lse.pointer, first: 0, rows: T, shape: shape)
            return project(out, r)
        }
        _ = f()
        // Row 0 sees only itself: its output is v[0] for every head.
        XCTAssertEqual(Array(out.array[0..<D]), Array(v.array[0..<D]))
        let dq = FloatBuffer(count: q.count), dk = FloatBuffer(count: k.count), dv = FloatBuffer(count: v.count)
        Attention.denseBackward(dq: dq.pointer, dk: dk.pointer, dv: dv.pointer, dout: r.pointer, q: q.pointer, k: k.pointer, v: v.pointer,
                                out: out.pointer, lse: lse.pointer, rows: T, shape: shape)
        assertGradient("dense attention", gradientError(inputs: [q, k, v], analytic: [dq, dk, dv], eps: 1e-2, f))
    }

    func testSparseAttentionGradientAndFullSelectionMatchesDense() {
        var random = TestRandom(11)
        let T = 12, H = shape.heads, D = shape.headDim, kSel = 5
        let q = random.buffer(T * H * D, scale: 2), k = random.buffer(T * D, scale: 2), v = random.buffer(T * D), r = random.buffer(T * H * D)
        // Random causal subsets of at most kSel keys per row.
        var selection = [Int32](repeating: 0, count: T * kSel), counts = [Int32](repeating: 0, count: T)
        for t in 0..<T {
            var pool = Array(0...t)
            for i in stride(from: pool.count - 1, to: 0, by: -1) { pool.swapAt(i, Int(random.next() % UInt64(i + 1))) }
            let chosen = pool.prefix(kSel)
            counts[t] = Int32(chosen.count)
            for (j, s) in chosen.enumerated() { selection[t * kSel + j] = Int32(s) }
        }
        let out = FloatBuffer(count: T * H * D), lse = FloatBuffer(count: T * H)
        func f() -> Double {
            Attention.sparseForward(q: q.pointer, k: k.pointer, v: v.pointer, out: out.pointer, lse: lse.pointer, rows: T, shape: shape,
                                    selection: selection, ldSel: kSel, counts: counts)
            return project(out, r)
        }
        _ = f()
        let dq = FloatBuffer(count: q.count), dk = FloatBuffer(count: k.count), dv = FloatBuffer(count: v.count)
        Attention.sparseBackward(dq: dq.pointer, dk: dk.pointer, dv: dv.pointer, dout: r.pointer, q: q.pointer, k: k.pointer, v: v.pointer,
                                 out: out.pointer, lse: lse.pointer, rows: T, shape: shape, selection: selection, ldSel: kSel, counts: counts)
        assertGradient("sparse attention", gradientError(inputs: [q, k, v], analytic: [dq, dk, dv], eps: 1e-2, f))

        // Selecting every causal key reproduces dense attention (up to summation order).
        var full = [Int32](repeating: 0, count: T * T), fullCounts = [Int32](repeating: 0, count: T)
        for t in 0..<T { fullCounts[t] = Int32(t + 1); for s in 0...t { full[t * T + s] = Int32(s) } }
        let dense = FloatBuffer(count: out.count), sparse = FloatBuffer(count: out.count)
        Attention.denseForward(q: q.pointer, k: k.pointer, v: v.pointer, out: dense.pointer, lse: nil, first: 0, rows: T, shape: shape)
        Attention.sparseForward(q: q.pointer, k: k.pointer, v: v.pointer, out: sparse.pointer, lse: nil, rows: T, shape: shape,
                                selection: full, ldSel: T, counts: fullCounts)
        for i in 0..<out.count { XCTAssertEqual(dense[i], sparse[i], accuracy: 1e-5) }
    }

    func testDecodeRowMatchesPrefillRow() {
        var random = TestRandom(12)
        let T = 19, H = shape.heads, D = shape.headDim
        let q = random.buffer(T * H * D), k = random.buffer(T * D), v = random.buffer(T * D)
        let all = FloatBuffer(count: T * H * D), last = FloatBuffer(count: H * D)
        Attention.denseForward(q: q.pointer, k: k.pointer, v: v.pointer, out: all.pointer, lse: nil, first: 0, rows: T, shape: shape)
        Attention.denseForward(q: q.pointer + (T - 1) * H * D, k: k.pointer, v: v.pointer, out: last.pointer, lse: nil, first: T - 1, rows: 1, shape: shape)
        for i in 0..<(H * D) { XCTAssertEqual(all[(T - 1) * H * D + i], last[i], accuracy: 1e-5) }
    }

    func testIndexerScoresAndGradient() {
        var random = TestRandom(13)
        let T = 18, shape = IndexerShape(heads: 3, dim: 4)
        let q = random.buffer(T * shape.heads * shape.dim), k = random.buffer(T * shape.dim), w = random.buffer(T * shape.heads)
        let r = random.buffer(T * T), scores = FloatBuffer(count: T * T)
        func f() -> Double {
            IndexerKernel.scores(q: q.pointer, k: k.pointer, w: w.pointer, first: 0, rows: T, shape: shape, out: scores.pointer, ldI: T)
            var s = 0.0
            for t in 0..<T { for j in 0...t { s += Double(scores[t * T + j]) * Double(r[t * T + j]) } }
            return s
        }
        _ = f()
        // Against the formula written out directly.
        for (t, s) in [(0, 0), (7, 3), (17, 17)] {
            var expected: Float = 0
            for j in 0..<shape.heads {
                var dot: Float = 0
                for d in 0..<shape.dim { dot += q[(t * shape.heads + j) * shape.dim + d] * k[s * shape.dim + d] }
                expected += w[t * shape.heads + j] * max(0, dot / 2)
            }
            XCTAssertEqual(scores[t * T + s], expected, accuracy: 1e-5)
        }
        let masked = FloatBuffer(count: T * T)
        for t in 0..<T { for j in 0...t { masked[t * T + j] = r[t * T + j] } }
        let dq = FloatBuffer(count: q.count), dk = FloatBuffer(count: k.count), dw = FloatBuffer(count: w.count)
        IndexerKernel.backward(dI: masked.pointer, ldG: T, q: q.pointer, k: k.pointer, w: w.pointer, rows: T, shape: shape,
                               dq: dq.pointer, dk: dk.pointer, dw: dw.pointer)
        // Skip elements whose ±eps nudge moves some dot product across ReLU's kink.
        let eps: Float = 1e-3, H = shape.heads, dim = shape.dim
        func z(_ t: Int, _ j: Int, _ s: Int) -> Float {
            var dot: Float = 0
            for d in 0..<dim { dot += q[(t * H + j) * dim + d] * k[s * dim + d] }
            return dot * shape.dotScale
        }
        var skipped = 0
        func nearKink(_ input: Int, _ element: Int) -> Bool {
            var near = false
            if input == 0 {
                let t = element / (H * dim), j = element / dim % H, d = element % dim
                near = (0...t).contains { abs(z(t, j, $0)) <= 2 * abs(k[$0 * dim + d] * shape.dotScale * eps) }
            } else if input == 1 {
                let s = element / dim, d = element % dim
                near = (s..<T).contains { t in (0..<H).contains { abs(z(t, $0, s)) <= 2 * abs(q[(t * H + $0) * dim + d] * shape.dotScale * eps) } }
            }
            if near { skipped += 1 }
            return near
        }
        assertGradient("indexer scores", gradientError(inputs: [q, k, w], analytic: [dq, dk, dw], eps: eps, skip: nearKink, f))
        XCTAssertLessThan(skipped, (q.count + k.count) / 10, "too few elements checked")
    }

    func testTopKMatchesSortIncludingTies() {
        var random = TestRandom(14)
        let n = 300
        let scratch = UnsafeMutablePointer<UInt32>.allocate(capacity: TopK.scratchCount(maxCount: n))
        defer { scratch.deallocate() }
        for trial in 0..<20 {
            // Coarse values force ties; negatives and zeros included.
            let values: [Float] = (0..<n).map { _ in trial % 2 == 0 ? Float(Int(random.uniform(5))) : random.uniform(100) }
            for k in [1, 7, 64, 299, 300, 400] {
                var out = [Int32](repeating: -1, count: max(k, n))
                let count = values.withUnsafeBufferPointer { TopK.select($0.baseAddress!, count: n, k: k, into: &out, scratch: scratch) }
                XCTAssertEqual(count, min(k, n))
                let expected = (0..<n).sorted { values[$0] != values[$1] ? values[$0] > values[$1] : $0 < $1 }.prefix(min(k, n)).sorted()
                XCTAssertEqual(out.prefix(count).map(Int.init), expected, "trial \(trial) k \(k)")
            }
        }
    }
}

final class DSAKernelTests: XCTestCase {
    /// The fused indexer select used for prefill picks the same keys as scoring every row and
    /// running top-k on it, and DSA.forward equals sparse attention over that selection.
    func testFusedSelectMatchesScoresThenTopK() {
        var random = TestRandom(15)
        let T = 40, topK = 6, shape = AttentionShape(heads: 2, headDim: 4), indexer = IndexerShape(heads: 2, dim: 4)
        let iq = random.buffer(T * 8), ik = random.buffer(T * 4), iw = random.buffer(T * 2)
        let q = random.buffer(T * 8), k = random.buffer(T * 4), v = random.buffer(T * 4)
        var selection = [Int32](repeating: -1, count: T * topK), counts = [Int32](repeating: 0, count: T)
        let out = FloatBuffer(count: T * 8)
        DSA.forward(q: q.pointer, k: k.pointer, v: v.pointer, indexerQ: iq.pointer, indexerK: ik.pointer, indexerW: iw.pointer,
                    rows: T, shape: shape, indexer: indexer, topK: topK, out: out.pointer, lse: nil, selection: &selection, counts: &counts)
        let expected = referenceSelection(q: iq, k: ik, w: iw, rows: T, shape: indexer, topK: topK).keys
        for t in 0..<T {
            XCTAssertEqual(Int(counts[t]), expected[t].count)
            XCTAssertEqual(Array(selection[(t * topK)..<(t * topK + expected[t].count)]), expected[t], "row \(t)")
        }
        let reference = FloatBuffer(count: T * 8)
        Attention.sparseForward(q: q.pointer, k: k.pointer, v: v.pointer, out: reference.pointer, lse: nil, rows: T, shape: shape,
                                selection: selection, ldSel: topK, counts: counts)
        for i in 0..<out.count { XCTAssertEqual(out[i], reference[i], accuracy: 1e-5) }
    }
}
