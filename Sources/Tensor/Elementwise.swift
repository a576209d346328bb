// Embedding, rotary position embedding, SwiGLU, softmax cross-entropy.
import Foundation

public enum Embedding {
    /// out[row] = table[tokens[row]]
    public static func forward(_ out: FloatPointer, tokens: [Int], table: ConstFloatPointer, dim: Int) {
        for (row, token) in tokens.enumerated() { (out + row * dim).update(from: table + token * dim, count: dim) }
    }

    public static func backward(dtable: FloatPointer, dout: ConstFloatPointer, tokens: [Int], dim: Int) {
        for (row, token) in tokens.enumerated() { Vector.add(dout + row * dim, into: dtable + token * dim, dim) }
    }
}

/// The token shift's input: row t of `out` is table[tokens[t − 1]], or zeros for the first token
/// of each sequence of `sequenceLength` (it has no predecessor).
public enum TokenShift {
    public static func gatherPrevious(_ out: FloatPointer, tokens: [Int], sequenceLength T: Int, table: ConstFloatPointer, dim: Int) {
        for row in tokens.indices {
            let target = out + row * dim
            if row % T == 0 { target.update(repeating: 0, count: dim) } else { target.update(from: table + tokens[row - 1] * dim, count: dim) }
        }
    }

    /// Adds each row's gradient into the previous token's embedding row.
    public static func scatterPrevious(dtable: FloatPointer, dout: ConstFloatPointer, tokens: [Int], sequenceLength T: Int, dim: Int) {
        for row in tokens.indices where row % T != 0 { Vector.add(dout + row * dim, into: dtable + tokens[row - 1] * dim, dim) }
    }
}

/// Rotary embedding over the first `ropeDims` of each head with NON-interleaved halves: dims i and
/// i + ropeDims/2 form a pair (the GPT-NeoX / Llama-HF convention, as DeepSeek's indexer uses).
public struct Rope: Sendable {
    public let ropeDims: Int
    public let maxPositions: Int
    /// cos/sin tables [position, ropeDims/2]
    let cosTable: [Float], sinTable: [Float]

    public init(ropeDims: Int, maxPositions: Int, base: Float = 10000) {
        precondition(ropeDims % 2 == 0, "rope dims must be even")
        self.ropeDims = ropeDims
        self.maxPositions = maxPositions
        let half = ropeDims / 2
        var c = [Float](repeating: 1, count: maxPositions * half), s = [Float](repeating: 0, count: maxPositions * half)
        for p in 0..<maxPositions {
            for i in 0..<half {
                let angle = Double(p) * pow(Double(base), -2 * Double(i) / Double(ropeDims))
                c[p * half + i] = Float(cos(angle))
                s[p * half + i] = Float(sin(angle))
            }
        }
        cosTable = c
        sinTable = s
    }

    /// Rotates in place. x is [rows, heads, headDim]; row r has position startPosition + r.
    /// `inverse` applies the transposed rotation, which is the backward pass.
    public func apply(_ x: FloatPointer, rows: Int, heads: Int, headDim: Int, startPosition: Int = 0, inverse: Bool = false) {
        let half = ropeDims / 2
        guard half > 0 else { return }
        cosTable.withUnsafeBufferPointer { cosine in
            sinTable.withUnsafeBufferPointer { sine in
                for r in 0..<rows {
                    let p = startPosition + r
                    precondition(p < maxPositions, "position \(p) beyond the rope table (\(maxPositions))")
                    let cr = cosine.baseAddress! + p * half, sr = sine.baseAddress! + p * half
                    let sign: Float = inverse ? -1 : 1
                    for h in 0..<heads {
                        let v = x + (r * heads + h) * headDim
                        for i in 0..<half {
                            let a = v[i], b = v[i + half], c = cr[i], s = sign * sr[i]
                            v[i] = a * c - b * s
                            v[i + half] = a * s + b * c
                        }
                    }
                }
            }
        }
    }
}

public enum SwiGLU {
    /// h = silu(a) · b elementwise.
    public static func forward(_ h: FloatPointer, _ a: ConstFloatPointer, _ b: ConstFloatPointer, count: Int) {
        for i in 0..<count {
            let s = 1 / (1 + exp(-a[i]))
            h[i] = a[i] * s * b[i]
        }
    }

    /// da, db (overwritten) from dh.
    public static func backward(da: FloatPointer, db: FloatPointer, dh: ConstFloatPointer, _ a: ConstFloatPointer,
                                _ b: ConstFloatPointer, count: Int) {
        for i in 0..<count {
            let s = 1 / (1 + exp(-a[i]))
            let silu = a[i] * s
            db[i] = dh[i] * silu
            da[i] = dh[i] * b[i] * s * (1 + a[i] * (1 - s))
        }
    }
}

public enum CrossEntropy {
    /// Softmax of each logits row written into `probs`; returns the mean over rows with a target
    /// of −log p[target] (targets < 0 are ignored, e.g. padding or prompt tokens).
    public static func forward(probs: FloatPointer, logits: ConstFloatPointer, targets: [Int], vocab: Int) -> Float {
        let rows = targets.count
        var losses = [Double](repeating: 0, count: rows)
        losses.withUnsafeMutableBufferPointer { lossesOut in
            let out = lossesOut.baseAddress!
            Parallel.chunks(rows, minimumChunk: max(1, 8192 / max(vocab, 1))) { _, range in
                for row in range {
                    let l = logits + row * vocab, p = probs + row * vocab
                    p.update(from: l, count: vocab)
                    let logSumExp = Attention.softmaxPrefix(p, valid: vocab, total: vocab)
                    let t = targets[row]
                    out[row] = t >= 0 ? Double(logSumExp) - Double(l[t]) : 0
                }
            }
        }
        let counted = targets.filter { $0 >= 0 }.count
        return counted == 0 ? 0 : Float(losses.reduce(0, +) / Double(counted))
    }

    /// dlogits = (p − onehot) / counted rows, written over `probs` (which becomes the gradient).
    public static func backward(probs: FloatPointer, targets: [Int], vocab: Int) {
        let counted = Float(max(1, targets.filter { $0 >= 0 }.count))
        for (row, t) in targets.enumerated() {
            let p = probs + row * vocab
            if t < 0 { p.update(repeating: 0, count: vocab); continue }
            for i in 0..<vocab { p[i] /= counted }
            p[t] -= 1 / counted
        }
    }
}
