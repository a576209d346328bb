// RMSNorm (the decoder's pre-norms) and LayerNorm (the lightning indexer's key), forward and backward.
import Foundation

public enum RMSNorm {
    /// out = x / rms(x) · weight per row; saves 1/rms in `rstd` for the backward pass.
    public static func forward(_ out: FloatPointer, rstd: FloatPointer?, _ x: ConstFloatPointer, _ weight: ConstFloatPointer,
                               rows: Int, dim: Int, eps: Float = 1e-5) {
        Parallel.chunks(rows, minimumChunk: max(1, 16384 / max(dim, 1))) { _, range in
            for row in range {
                let xr = x + row * dim, outr = out + row * dim
                let r = 1 / (Vector.dot(xr, xr, dim) / Float(dim) + eps).squareRoot()
                rstd?[row] = r
                for i in 0..<dim { outr[i] = xr[i] * r * weight[i] }
            }
        }
    }

    /// dx += ∂, dweight += ∂ given dout. dx = r·(g·dy) − x·r³/n · Σ(g·dy·x).
    public static func backward(dx: FloatPointer, dweight: FloatPointer?, dout: ConstFloatPointer, x: ConstFloatPointer,
                                weight: ConstFloatPointer, rstd: ConstFloatPointer, rows: Int, dim: Int) {
        for row in 0..<rows {
            let xr = x + row * dim, dyr = dout + row * dim, dxr = dx + row * dim
            let r = rstd[row]
            var sum: Float = 0
            for i in 0..<dim { sum += weight[i] * dyr[i] * xr[i] }
            let c = sum * r * r * r / Float(dim)
            for i in 0..<dim { dxr[i] += r * weight[i] * dyr[i] - c * xr[i] }
            if let dweight { for i in 0..<dim { dweight[i] += dyr[i] * xr[i] * r } }
        }
    }
}

public enum LayerNorm {
    /// out = (x − mean)/σ · weight + bias per row; saves mean and 1/σ.
    public static func forward(_ out: FloatPointer, mean: FloatPointer?, rstd: FloatPointer?, _ x: ConstFloatPointer,
                               _ weight: ConstFloatPointer, _ bias: ConstFloatPointer, rows: Int, dim: Int, eps: Float = 1e-5) {
        for row in 0..<rows {
            let xr = x + row * dim, outr = out + row * dim
            var m: Float = 0
            for i in 0..<dim { m += xr[i] }
            m /= Float(dim)
            var v: Float = 0
            for i in 0..<dim { let d = xr[i] - m; v += d * d }
            let r = 1 / (v / Float(dim) + eps).squareRoot()
            mean?[row] = m
            rstd?[row] = r
            for i in 0..<dim { outr[i] = (xr[i] - m) * r * weight[i] + bias[i] }
        }
    }

    /// dx += ∂, dweight/dbias += ∂ (llm.c's formulation).
    public static func backward(dx: FloatPointer?, dweight: FloatPointer, dbias: FloatPointer, dout: ConstFloatPointer,
                                x: ConstFloatPointer, weight: ConstFloatPointer, mean: ConstFloatPointer, rstd: ConstFloatPointer,
                                rows: Int, dim: Int) {
        for row in 0..<rows {
            let xr = x + row * dim, dyr = dout + row * dim
            let m = mean[row], r = rstd[row]
            var dnormMean: Float = 0, dnormNormMean: Float = 0
            for i in 0..<dim {
                let norm = (xr[i] - m) * r
                let dnorm = weight[i] * dyr[i]
                dnormMean += dnorm
                dnormNormMean += dnorm * norm
            }
            dnormMean /= Float(dim)
            dnormNormMean /= Float(dim)
            for i in 0..<dim {
                let norm = (xr[i] - m) * r
                dbias[i] += dyr[i]
                dweight[i] += norm * dyr[i]
                if let dx { dx[row * dim + i] += (weight[i] * dyr[i] - dnormMean - norm * dnormNormMean) * r }
            }
        }
    }
}
