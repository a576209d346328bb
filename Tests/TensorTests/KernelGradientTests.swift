import Tensor
import XCTest

/// Every kernel's backward pass against finite differences on small shapes.
final class KernelGradientTests: XCTestCase {
    func testMatmul() {
        var random = TestRandom(1)
        let rows = 5, inDim = 7, outDim = 4
        let x = random.buffer(rows * inDim), w = random.buffer(outDim * inDim), r = random.buffer(rows * outDim)
        let out = FloatBuffer(count: rows * outDim)
        func f() -> Double { Matmul.forward(out.pointer, x.pointer, w.pointer, rows: rows, inDim: inDim, outDim: outDim); return project(out, r) }
        let dx = FloatBuffer(count: x.count), dw = FloatBuffer(count: w.count)
        Matmul.backward(dinp: dx.pointer, dweight: dw.pointer, dout: r.pointer, inp: x.pointer, weight: w.pointer, rows: rows, inDim: inDim, outDim: outDim)
        assertGradient("matmul", gradientError(inputs: [x, w], analytic: [dx, dw], f))
    }

    func testRMSNorm() {
        var random = TestRandom(2)
        let rows = 3, dim = 8
        let x = random.buffer(rows * dim), w = random.buffer(dim), r = random.buffer(rows * dim)
        let out = FloatBuffer(count: rows * dim), rstd = FloatBuffer(count: rows)
        func f() -> Double { RMSNorm.forward(out.pointer, rstd: rstd.pointer, x.pointer, w.pointer, rows: rows, dim: dim); return project(out, r) }
        _ = f()
        let dx = FloatBuffer(count: x.count), dw = FloatBuffer(count: w.count)
        RMSNorm.backward(dx: dx.pointer, dweight: dw.pointer, dout: r.pointer, x: x.pointer, weight: w.pointer, rstd: rstd.pointer, rows: rows, dim: dim)
        assertGradient("rmsnorm", gradientError(inputs: [x, w], analytic: [dx, dw], eps: 1e-3, f))
    }

    func testLayerNorm() {
        var random = TestRandom(3)
        let rows = 3, dim = 8
        let x = random.buffer(rows * dim), w = random.buffer(dim), b = random.buffer(dim), r = random.buffer(rows * dim)
        let out = FloatBuffer(count: rows * dim), mean = FloatBuffer(count: rows), rstd = FloatBuffer(count: rows)
        func f() -> Double {
            LayerNorm.forward(out.pointer, mean: mean.pointer, rstd: rstd.pointer, x.pointer, w.pointer, b.pointer, rows: rows, dim: dim)
            return project(out, r)
        }
        _ = f()
        let dx = FloatBuffer(count: x.count), dw = FloatBuffer(count: dim), db = FloatBuffer(count: dim)
        LayerNorm.backward(dx: dx.pointer, dweight: dw.pointer, dbias: db.pointer, dout: r.pointer, x: x.pointer, weight: w.pointer,
                           mean: mean.pointer, rstd: rstd.pointer, rows: rows, dim: dim)
        assertGradient("layernorm", gradientError(inputs: [x, w, b], analytic: [dx, dw, db], eps: 1e-3, f))
    }

    func testRopeGradientAndHalvesConvention() {
        var random = TestRandom(4)
        let rows = 4, heads = 2, dim = 8
        let rope = Rope(ropeDims: 4, maxPositions: 16)
        let x = random.buffer(rows * heads * dim), r = random.buffer(x.count), work = FloatBuffer(count: x.count)
        func f() -> Double { work.copy(from: x); rope.apply(work.pointer, rows: rows, heads: heads, headDim: dim, startPosition: 3); return project(work, r) }
        let dx = FloatBuffer(r.array)
        rope.apply(dx.pointer, rows: rows, heads: heads, headDim: dim, startPosition: 3, inverse: true)
        assertGradient("rope", gradientError(inputs: [x], analytic: [dx], f))
        // Non-interleaved: at position 1, dims 0 and 2 (ropeDims/2 apart) rotate by angle 1; dims 4... untouched.
        let v = FloatBuffer([1, 0, 0, 0, 5, 6, 7, 8])
        rope.apply(v.pointer, rows: 1, heads: 1, headDim: 8, startPosition: 1)
        XCTAssertEqual(v[0], Float(cos(1.0)), accuracy: 1e-6)
        XCTAssertEqual(v[2], Float(sin(1.0)), accuracy: 1e-6)
        XCTAssertEqual(v[1], 0)
        XCTAssertEqual(v[3], 0)
        XCTAssertEqual(Array(v.array[4...]), [5, 6, 7, 8])
    }

    func testSwiGLU() {
        var random = TestRandom(5)
        let n = 24
        let a = random.buffer(n, scale: 3), b = random.buffer(n), r = random.buffer(n), h = FloatBuffer(count: n)
        func f() -> Double { SwiGLU.forward(h.pointer, a.pointer, b.pointer, count: n); return project(h, r) }
        let da = FloatBuffer(count: n), db = FloatBuffer(count: n)
        SwiGLU.backward(da: da.pointer, db: db.pointer, dh: r.pointer, a.pointer, b.pointer, count: n)
        assertGradient("swiglu", gradientError(inputs: [a, b], analytic: [da, db], eps: 1e-3, f))
    }

    func testCrossEntropyAndEmbedding() {
        var random = TestRandom(6)
        let rows = 4, vocab = 6, dim = 3
        let targets = [2, 0, -1, 5]
        let logits = random.buffer(rows * vocab, scale: 2), probs = FloatBuffer(count: rows * vocab)
        func f() -> Double { Double(CrossEntropy.forward(probs: probs.pointer, logits: logits.pointer, targets: targets, vocab: vocab)) }
        let loss = f()
        var expected = 0.0
        for (row, t) in targets.enumerated() where t >= 0 {
            let l = (0..<vocab).map { Double(logits[row * vocab + $0]) }
            expected -= l[t] - log(l.map(exp).reduce(0, +))
        }
        XCTAssertEqual(loss, expected / 3, accuracy: 1e-5)
        CrossEntropy.backward(probs: probs.pointer, targets: targets, vocab: vocab)
        let grad = FloatBuffer(probs.array)
        assertGradient("cross-entropy", gradientError(inputs: [logits], analytic: [grad], eps: 1e-3, f))

        let table = random.buffer(5 * dim), r = random.buffer(rows * dim), out = FloatBuffer(count: rows * dim)
        let tokens = [1, 4, 1, 0]
        func g() -> Double { Embedding.forward(out.pointer, tokens: tokens, table: table.pointer, dim: dim); return project(out, r) }
        let dtable = FloatBuffer(count: table.count)
        Embedding.backward(dtable: dtable.pointer, dout: r.pointer, tokens: tokens, dim: dim)
        assertGradient("embedding", gradientError(inputs: [table], analytic: [dtable], g))
    }
}

