// The indexer kernels of DSA's sparse training stage, which never build the T×T score matrix:
// the fused select that also returns the selected keys' scores, and the backward over the
// selected set only. Each is checked against the full-matrix kernels it replaces, and the
// backward against central finite differences.
import Tensor
import XCTest

final class IndexerSelectedSetTests: XCTestCase {
    let shape = IndexerShape(heads: 3, dim: 8)

    /// select(selectedScores:) returns, for every row (those with fewer than k candidates too), the
    /// keys scores-then-top-k picks and those keys' entries of the full score matrix.
    func testSelectSavesTheSelectedScores() {
        var random = TestRandom(41)
        let T = 45, topK = 7, HI = shape.heads, dI = shape.dim
        let q = random.buffer(T * HI * dI), k = random.buffer(T * dI), w = random.buffer(T * HI)
        var selection = [Int32](repeating: -1, count: T * topK), counts = [Int32](repeating: 0, count: T)
        let selected = FloatBuffer(count: T * topK)
        IndexerKernel.select(q: q.pointer, k: k.pointer, w: w.pointer, first: 0, rows: T, shape: shape, topK: topK,
                             selection: &selection, counts: &counts, selectedScores: selected.pointer)
        let (scores, expected) = referenceSelection(q: q, k: k, w: w, rows: T, shape: shape, topK: topK)
        for t in 0..<T {
            let count = expected[t].count
            XCTAssertEqual(Int(counts[t]), count, "row \(t)")
            XCTAssertEqual(Array(selection[(t * topK)..<(t * topK + count)]), expected[t], "row \(t)")
            for j in 0..<count {
                XCTAssertEqual(selected[t * topK + j], scores[t * T + Int(expected[t][j])], accuracy: 1e-6, "row \(t) slot \(j)")
            }
        }
    }

    /// A random causal selection per row (keys repeat across rows, as top-k's do), counts below k
    /// in some rows, and gradient values per slot.
    func randomSelection(_ random: inout TestRandom, rows T: Int, topK: Int) -> (selection: [Int32], counts: [Int32], dSel: FloatBuffer) {
        var selection = [Int32](repeating: 0, count: T * topK), counts = [Int32](repeating: 0, count: T)
        let dSel = FloatBuffer(count: T * topK)
        for t in 0..<T {
            var keys = Array(0...t)
            for i in stride(from: keys.count - 1, to: 0, by: -1) { keys.swapAt(i, Int(random.next() % UInt64(i + 1))) }
            let count = min(topK, t + 1)
            for (j, key) in keys.prefix(count).sorted().enumerated() {
                selection[t * topK + j] = Int32(key)
                dSel[t * topK + j] = random.uniform()
            }
            counts[t] = Int32(count)
        }
        return (selection, counts, dSel)
    }

    /// sparseBackward equals the full backward given the same gradient scattered into a T×T matrix.
    func testSparseBackwardMatchesFullBackward() {
        var random = TestRandom(42)
        let T = 70, topK = 9, HI = shape.heads, dI = shape.dim
        let q = random.buffer(T * HI * dI), k = random.buffer(T * dI), w = random.buffer(T * HI)
        let (selection, counts, dSel) = randomSelection(&random, rows: T, topK: topK)
        let dense = FloatBuffer(count: T * T)
        for t in 0..<T { for j in 0..<Int(counts[t]) { dense[t * T + Int(selection[t * topK + j])] = dSel[t * topK + j] } }
        let reference = (FloatBuffer(count: q.count), FloatBuffer(count: k.count), FloatBuffer(count: w.count))
        IndexerKernel.backward(dI: dense.pointer, ldG: T, q: q.pointer, k: k.pointer, w: w.pointer, rows: T, shape: shape,
                               dq: reference.0.pointer, dk: reference.1.pointer, dw: reference.2.pointer)
        let sparse = (FloatBuffer(count: q.count), FloatBuffer(count: k.count), FloatBuffer(count: w.count))
        IndexerKernel.sparseBackward(dSel: dSel.pointer, selection: selection, ldSel: topK, counts: counts, q: q.pointer, k: k.pointer,
                                     w: w.pointer, rows: T, keys: T, shape: shape, dq: sparse.0.pointer, dk: sparse.1.pointer, dw: sparse.2.pointer)
        for (name, a, b) in [("dq", reference.0, sparse.0), ("dk", reference.1, sparse.1), ("dw", reference.2, sparse.2)] {
            for i in 0..<a.count { XCTAssertEqual(a[i], b[i], accuracy: 1e-5, "\(name)[\(i)]") }
        }
    }

    /// sparseBackward against central differences of Σ dSel·I over the selected slots.
    func testSparseBackwardGradient() {
        var random = TestRandom(43)
        let T = 20, topK = 6, HI = shape.heads, dI = shape.dim
        let q = random.buffer(T * HI * dI), k = random.buffer(T * dI), w = random.buffer(T * HI)
        let (selection, counts, dSel) = randomSelection(&random, rows: T, topK: topK)
        let scores = FloatBuffer(count: T * T)
        func objective() -> Double {
            IndexerKernel.scores(q: q.pointer, k: k.pointer, w: w.pointer, first: 0, rows: T, shape: shape, out: scores.pointer, ldI: T)
            var s = 0.0
            for t in 0..<T {
                for j in 0..<Int(counts[t]) { s += Double(dSel[t * topK + j]) * Double(scores[t * T + Int(selection[t * topK + j])]) }
            }
            return s
        }
        let dq = FloatBuffer(count: q.count), dk = FloatBuffer(count: k.count), dw = FloatBuffer(count: w.count)
        IndexerKernel.sparseBackward(dSel: dSel.pointer, selection: selection, ldSel: topK, counts: counts, q: q.pointer, k: k.pointer,
                                     w: w.pointer, rows: T, keys: T, shape: shape, dq: dq.pointer, dk: dk.pointer, dw: dw.pointer)
        // Leave out elements whose ±eps nudge moves a selected dot product across ReLU's kink.
        let eps: Float = 1e-3
        func z(_ t: Int, _ j: Int, _ s: Int) -> Float {
            var dot: Float = 0
            for d in 0..<dI { dot += q[(t * HI + j) * dI + d] * k[s * dI + d] }
            return dot * shape.dotScale
        }
        func selected(_ t: Int) -> [Int] { (0..<Int(counts[t])).map { Int(selection[t * topK + $0]) } }
        var skipped = 0
        func nearKink(_ input: Int, _ element: Int) -> Bool {
            var near = false
            if input == 0 {
                let t = element / (HI * dI), j = element / dI % HI, d = element % dI
                near = selected(t).contains { abs(z(t, j, $0)) <= 2 * abs(k[$0 * dI + d] * shape.dotScale * eps) }
            } else if input == 1 {
                let s = element / dI, d = element % dI
                near = (0..<T).contains { t in
                    selected(t).contains(s) && (0..<HI).contains { abs(z(t, $0, s)) <= 2 * abs(q[(t * HI + $0) * dI + d] * shape.dotScale * eps) }
                }
            }
            if near { skipped += 1 }
            return near
        }
        assertGradient("indexer scores, selected set", gradientError(inputs: [q, k, w], analytic: [dq, dk, dw], eps: eps, skip: nearKink, objective))
        XCTAssertLessThan(skipped, (q.count + k.count) / 10, "too few elements checked")
    }
}
