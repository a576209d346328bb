import Foundation
import ModelFixtures
import Tensor
import XCTest
@testable import Model

final class TransformerTests: XCTestCase {
    func testSparseEqualsDenseExactlyWhenSequenceFitsInK() throws {
        let T = 8
        let dense = try scrambledModel(tinyConfig(.dense, topK: T), seed: 41)
        let sparse = try scrambledModel(tinyConfig(.sparse, topK: T), seed: 41)
        let tokens = sampleTokens(2 * T, vocab: 23, seed: 42), targets = sampleTokens(2 * T, vocab: 23, seed: 43)
        let denseLoss = try dense.forward(tokens: tokens, targets: targets, batch: 2)
        let sparseLoss = try sparse.forward(tokens: tokens, targets: targets, batch: 2)
        XCTAssertEqual(denseLoss.language, sparseLoss.language)
        for row in 0..<(2 * T) { XCTAssertEqual(dense.logits(row: row), sparse.logits(row: row), "row \(row)") }
        try dense.backward()
        try sparse.backward()
        XCTAssertEqual(dense.grads.array, sparse.grads.array)
    }

    func testSparseSelectionIsCausalAndDiffersFromDenseBeyondK() throws {
        let k = 3, T = 12
        let sparse = try scrambledModel(tinyConfig(.sparse, topK: k), seed: 51)
        let dense = try scrambledModel(tinyConfig(.dense, topK: k), seed: 51)
        let tokens = sampleTokens(T, vocab: 23, seed: 52)
        try sparse.forward(tokens: tokens, targets: nil)
        try dense.forward(tokens: tokens, targets: nil)
        let config = sparse.config, HI = config.indexerHeads, dI = config.indexerDim
        let full = FloatBuffer(count: T * T)
        for layer in sparse.acts!.layers {
            // The sparse stage keeps only the selected keys' scores; the full causal matrix is
            // recomputed here from the layer's indexer queries and keys.
            IndexerKernel.scores(q: layer.iq.pointer, k: layer.ik.pointer, w: layer.iw.pointer, first: 0, rows: T,
                                 shape: IndexerShape(heads: HI, dim: dI), out: full.pointer, ldI: T)
            for t in 0..<T {
                let count = Int(layer.counts[t])
                XCTAssertEqual(count, min(t + 1, k), "rows with fewer than k candidates keep them all")
                let chosen = layer.selection[(t * k)..<(t * k + count)].map(Int.init)
                XCTAssertTrue(chosen.allSatisfy { $0 <= t }, "row \(t) selected a future position: \(chosen)")
                XCTAssertEqual(Set(chosen).count, count)
                // The chosen keys are the top-k of the causal scores.
                let scores = (0...t).map { full[t * T + $0] }
                let threshold = chosen.map { scores[$0] }.min()!
                XCTAssertEqual(scores.filter { $0 > threshold }.count <= count - 1, true)
            }
        }
        // Rows before k see every key: the same logits up to summation order (the sparse kernel
        // gathers, then sums in its own order; which order OpenBLAS picks varies by CPU).
        for (a, b) in zip(sparse.logits(row: k - 1), dense.logits(row: k - 1)) {
            XCTAssertEqual(a, b, accuracy: 1e-5 * max(1, abs(b)), "rows before k see every key")
        }
        XCTAssertNotEqual(sparse.logits(row: T - 1), dense.logits(row: T - 1))
        XCTAssertTrue(sparse.logits(row: T - 1).allSatisfy(\.isFinite))
    }

    func testTinyModelOverfitsFixedBatch() throws {
        let config = TransformerConfig(layers: 2, dModel: 32, heads: 4, headDim: 8, ffnHidden: 64, context: 16, vocab: 40,
                                       indexerHeads: 2, indexerDim: 8, topK: 8, attention: .sparse)
        let model = try Transformer(config: config, seed: 61)
        let batch = 2, T = 16
        let stream = sampleTokens(batch * T + 1, vocab: config.vocab, seed: 62)
        let tokens = Array(stream[0..<(batch * T)]), targets = Array(stream[1...(batch * T)])
        let optimizer = AdamW(layout: model.layout, settings: AdamWSettings(weightDecay: 0, clipNorm: 1))
        let steps = 150
        let schedule = CosineSchedule(maxLearningRate: 1e-2, minLearningRate: 1e-3, warmupSteps: 10, totalSteps: steps)
        var first: Float = 0, last: Float = 0
        for step in 0..<steps {
            model.zeroGradients()
            let losses = try model.forward(tokens: tokens, targets: targets, batch: batch, indexerLoss: true)
            try model.backward(language: true, indexer: true)
            optimizer.update(params: model.params, grads: model.grads, learningRate: schedule.learningRate(step: step))
            if step == 0 { first = losses.language }
            last = losses.language
        }
        print("overfit: loss \(first) → \(last) after \(steps) steps")
        XCTAssertGreaterThan(first, 3)
        XCTAssertLessThan(last, 0.05)
    }

    func testScheduleClippingAndDecay() {
        let schedule = CosineSchedule(maxLearningRate: 1, minLearningRate: 0.1, warmupSteps: 4, totalSteps: 14)
        XCTAssertEqual(schedule.learningRate(step: 0), 0.25)
        XCTAssertEqual(schedule.learningRate(step: 3), 1)
        XCTAssertEqual(schedule.learningRate(step: 9), 0.55, accuracy: 1e-6)
        XCTAssertEqual(schedule.learningRate(step: 14), 0.1, accuracy: 1e-6)
        XCTAssertEqual(schedule.learningRate(step: 100), 0.1, accuracy: 1e-6)

        let config = tinyConfig(.dense)
        let layout = ParameterLayout(config)
        let params = FloatBuffer(count: layout.count), grads = FloatBuffer(count: layout.count)
        for i in 0..<layout.count { params[i] = 1; grads[i] = 3 }
        let optimizer = AdamW(layout: layout, settings: AdamWSettings(weightDecay: 0.5, clipNorm: 1))
        let norm = optimizer.update(params: params, grads: grads, learningRate: 0.1)
        XCTAssertEqual(norm, 3 * Float(layout.count).squareRoot(), accuracy: 1e-2)
        // First Adam step moves every coordinate by lr·sign(g) (clipping rescales g but not its sign);
        // matrices also decay by lr·wd·p, norm gains do not.
        let matrix = layout.entries.first { $0.decays }!, gain = layout.entries.first { !$0.decays }!
        XCTAssertEqual(params[matrix.offset], 1 - 0.1 - 0.05, accuracy: 1e-5)
        XCTAssertEqual(params[gain.offset], 1 - 0.1, accuracy: 1e-5)
    }
}
