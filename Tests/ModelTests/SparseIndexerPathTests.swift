// The sparse stage's indexer path keeps only each row's top-k keys and their scores (no T×T
// matrix). Checked against the full causal score matrix of the same indexer queries and keys,
// over a batch of two sequences so that the per-sequence offsets are exercised too.
import ModelFixtures
import Tensor
import XCTest
@testable import Model

final class SparseIndexerPathTests: XCTestCase {
    func testSparseSelectionAndScoresMatchFullMatrix() throws {
        let config = tinyConfig(.sparse, topK: 5)
        let model = try scrambledModel(config, seed: 51)
        let T = 17, batch = 2, ld = config.topK, HI = config.indexerHeads, dI = config.indexerDim
        try model.forward(tokens: sampleTokens(T * batch, vocab: config.vocab, seed: 52), targets: nil, batch: batch, indexerLoss: true)
        let shape = IndexerShape(heads: HI, dim: dI)
        let scores = FloatBuffer(count: T * T)
        let scratch = UnsafeMutablePointer<UInt32>.allocate(capacity: TopK.scratchCount(maxCount: T))
        defer { scratch.deallocate() }
        var expected = [Int32](repeating: 0, count: ld)
        for (l, A) in model.acts!.layers.enumerated() {
            for b in 0..<batch {
                IndexerKernel.scores(q: A.iq.pointer + b * T * HI * dI, k: A.ik.pointer + b * T * dI, w: A.iw.pointer + b * T * HI,
                                     first: 0, rows: T, shape: shape, out: scores.pointer, ldI: T)
                for t in 0..<T {
                    let row = b * T + t
                    let count = TopK.select(scores.pointer + t * T, count: t + 1, k: ld, into: &expected, scratch: scratch)
                    XCTAssertEqual(Int(A.counts[row]), count, "layer \(l) row \(row)")
                    XCTAssertEqual(Array(A.selection[(row * ld)..<(row * ld + count)]), Array(expected.prefix(count)), "layer \(l) row \(row)")
                    for j in 0..<count {
                        XCTAssertEqual(A.scores[row * ld + j], scores[t * T + Int(expected[j])], accuracy: 1e-6, "layer \(l) row \(row) slot \(j)")
                    }
                }
            }
        }
    }
}
