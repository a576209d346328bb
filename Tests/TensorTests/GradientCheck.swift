// Finite-difference checking shared by the kernel tests: central differences of a scalar
// objective (a fixed random projection of the op's output, summed in Double) against the
// analytic gradient, compared as ‖a − n‖ / max(‖a‖, ‖n‖) over every input element.
import Basics
import Tensor
import XCTest

/// Reproducible test data.
struct TestRandom {
    var generator: SplitMix64
    init(_ seed: UInt64) { generator = SplitMix64(seed: seed) }
    mutating func next() -> UInt64 { generator.next() }
    /// Uniform in [-scale, scale).
    mutating func uniform(_ scale: Float = 1) -> Float { (Float(next() >> 40) / Float(1 << 24) * 2 - 1) * scale }
    mutating func buffer(_ count: Int, scale: Float = 1) -> FloatBuffer { FloatBuffer((0..<count).map { _ in uniform(scale) }) }
}

/// Σ r·x in Double.
func project(_ x: FloatBuffer, _ r: FloatBuffer, count: Int? = nil) -> Double {
    var s = 0.0
    for i in 0..<(count ?? x.count) { s += Double(x[i]) * Double(r[i]) }
    return s
}

/// Relative error between analytic gradients and central differences of `objective` with respect
/// to every element of each input.
/// `skip(inputIndex, element)` leaves out elements whose perturbation would cross a kink (ReLU).
func gradientError(inputs: [FloatBuffer], analytic: [FloatBuffer], eps: Float = 1e-2, skip: ((Int, Int) -> Bool)? = nil,
                   _ objective: () -> Double) -> Double {
    var diff = 0.0, normA = 0.0, normN = 0.0
    for (which, (input, grad)) in zip(inputs, analytic).enumerated() {
        for i in 0..<input.count where !(skip?(which, i) ?? false) {
            let saved = input[i]
            input[i] = saved + eps
            let plus = objective()
            input[i] = saved - eps
            let minus = objective()
            input[i] = saved
            let numeric = (plus - minus) / (2 * Double(eps))
            let a = Double(grad[i])
            diff += (a - numeric) * (a - numeric)
            normA += a * a
            normN += numeric * numeric
        }
    }
    return diff.squareRoot() / max(normA.squareRoot(), normN.squareRoot(), 1e-12)
}

func assertGradient(_ name: String, _ error: Double, limit: Double = 1e-3, file: StaticString = #filePath, line: UInt = #line) {
    print("gradient check \(name): relative error \(String(format: "%.2e", error))")
    XCTAssertLessThan(error, limit, "\(name) gradient relative error", file: file, line: line)
}

/// The indexer's selection the slow way, for checking the fused kernels: every row's full
/// scores over its causal keys, then `TopK.select`. Returns the T × T scores and each row's keys.
func referenceSelection(q: FloatBuffer, k: FloatBuffer, w: FloatBuffer, rows T: Int, shape: IndexerShape,
                        topK: Int) -> (scores: FloatBuffer, keys: [[Int32]]) {
    let scores = FloatBuffer(count: T * T)
    IndexerKernel.scores(q: q.pointer, k: k.pointer, w: w.pointer, first: 0, rows: T, shape: shape, out: scores.pointer, ldI: T)
    let scratch = UnsafeMutablePointer<UInt32>.allocate(capacity: TopK.scratchCount(maxCount: T))
    defer { scratch.deallocate() }
    var expected = [Int32](repeating: 0, count: topK)
    let keys = (0..<T).map { t in
        let count = TopK.select(scores.pointer + t * T, count: t + 1, k: topK, into: &expected, scratch: scratch)
        return Array(expected.prefix(count))
    }
    return (scores, keys)
}
