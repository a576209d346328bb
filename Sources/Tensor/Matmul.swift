// Linear layers without bias through cblas_sgemm, in llm.c's layout: a weight is [out, in] row-major
// and out[rows, out] = inp[rows, in] · Wᵀ.
import COpenBLAS

public enum Matmul {
    /// out = inp · Wᵀ   (inp [rows, inDim], W [outDim, inDim], out [rows, outDim]); beta 1 accumulates.
    public static func forward(_ out: FloatPointer, _ inp: ConstFloatPointer, _ weight: ConstFloatPointer,
                               rows: Int, inDim: Int, outDim: Int, accumulate: Bool = false) {
        guard rows > 0, outDim > 0 else { return }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(outDim), Int32(inDim),
                    1, inp, Int32(inDim), weight, Int32(inDim), accumulate ? 1 : 0, out, Int32(outDim))
    }

    /// dinp += dout · W and dW += doutᵀ · inp; either may be skipped (nil), e.g. for a detached input.
    public static func backward(dinp: FloatPointer?, dweight: FloatPointer?, dout: ConstFloatPointer,
                                inp: ConstFloatPointer, weight: ConstFloatPointer, rows: Int, inDim: Int, outDim: Int) {
        guard rows > 0 else { return }
        if let dinp {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(rows), Int32(inDim), Int32(outDim),
                        1, dout, Int32(outDim), weight, Int32(inDim), 1, dinp, Int32(inDim))
        }
        if let dweight {
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(outDim), Int32(inDim), Int32(rows),
                        1, dout, Int32(outDim), inp, Int32(inDim), 1, dweight, Int32(inDim))
        }
    }

    /// Plain row-major C[m,n] = alpha·op(A)·op(B) + beta·C, for attention blocks.
    @inline(__always)
    public static func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
                            _ a: ConstFloatPointer, lda: Int, _ b: ConstFloatPointer, ldb: Int,
                            beta: Float = 0, _ c: FloatPointer, ldc: Int) {
        guard m > 0, n > 0 else { return }
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}
