// The whole model's backward pass (language loss, dense and sparse) and the indexer's KL
// gradient against central finite differences, on a tiny model with O(1) weights so that
// gradients stand well above float32 rounding.
import Foundation
import ModelFixtures
import Basics
import Tensor
import XCTest
@testable import Model

func tinyConfig(_ attention: AttentionMode, topK: Int = 4, layers: Int = 2, copyDim: Int = 0, copyNgram: Int = 1, copyFollow: Bool = false) -> TransformerConfig {
    TransformerConfig(layers: layers, dModel: 16, heads: 2, headDim: 8, ffnHidden: 24, copyDim: copyDim, copyNgram: copyNgram, copyFollow: copyFollow, context: 32, vocab: 23,
                      indexerHeads: 2, indexerDim: 8, indexerRopeDims: 4, topK: topK, attention: attention)
}

func sampleTokens(_ count: Int, vocab: Int, seed: UInt64) -> [Int] {
    var random = SamplerRandom(seed: seed)
    return (0..<count).map { _ in Int(random.next() % UInt64(vocab)) }
}

/// Relative error ‖a − n‖/max(‖a‖, ‖n‖) over a few coordinates of each selected tensor.
/// `unchanged` is asked after each nudged evaluation; coordinates where it says false (the
/// indexer picked other keys: a jump, not a slope) are left out and counted in `skipped`.
func modelGradientError(_ model: Transformer, entries: [ParameterLayout.Entry], perTensor: Int, eps: Float,
                        seed: UInt64, unchanged: () -> Bool = { true }, skipped: inout Int,
                        objective: () throws -> Double) rethrows -> Double {
    var random = SamplerRandom(seed: seed)
    var diff = 0.0, normA = 0.0, normN = 0.0
    for entry in entries {
        for _ in 0..<min(perTensor, entry.count) {
            let i = entry.offset + Int(random.next() % UInt64(entry.count))
            let saved = model.params[i]
            model.params[i] = saved + eps
            let plus = try objective()
            let plusSame = unchanged()
            model.params[i] = saved - eps
            let minus = try objective()
            let minusSame = unchanged()
            model.params[i] = saved
            guard plusSame && minusSame else { skipped += 1; continue }
            let numeric = (plus - minus) / (2 * Double(eps)), analytic = Double(model.grads[i])
            diff += (analytic - numeric) * (analytic - numeric)
            normA += analytic * analytic
            normN += numeric * numeric
        }
    }
    return diff.squareRoot() / max(normA.squareRoot(), normN.squareRoot(), 1e-12)
}

final class TransformerGradientTests: XCTestCase {
    func languageCheck(_ attention: AttentionMode, copyDim: Int = 0, copyNgram: Int = 1, copyFollow: Bool = false) throws -> Double {
        let config = tinyConfig(attention, copyDim: copyDim, copyNgram: copyNgram, copyFollow: copyFollow)
        let model = try scrambledModel(config, seed: 7)
        let T = 9, batch = 2
        // Following the pointer needs repeats (a source whose previous source voted for the token
        // read): tokens from 4 ids when it is on.
        let tokens = sampleTokens(T * batch, vocab: copyFollow ? 4 : config.vocab, seed: 8)
        var targets = sampleTokens(T * batch, vocab: config.vocab, seed: 9)
        targets[3] = -1   // an ignored position
        model.zeroGradients()
        try model.forward(tokens: tokens, targets: targets, batch: batch)
        let selections = model.acts!.layers.map(\.selection)
        try model.backward()
        var skipped = 0, checked = 0
        let entries = model.layout.entries.filter { !$0.isIndexer }
        let error = try modelGradientError(model, entries: entries, perTensor: 6, eps: 1e-2, seed: 10,
                                           unchanged: { model.acts!.layers.map(\.selection) == selections }, skipped: &skipped) {
            checked += 1
            return Double(try model.forward(tokens: tokens, targets: targets, batch: batch).language)
        }
        print("\(attention): \(checked / 2 - skipped) coordinates checked, \(skipped) skipped (selection changed)")
        XCTAssertLessThan(skipped, checked / 8, "most nudges must leave the selection alone")
        return error
    }

    func testDenseModelGradient() throws {
        let error = try languageCheck(.dense)
        assertModelGradient("model dense", error)
    }

    func testSparseModelGradient() throws {
        let error = try languageCheck(.sparse)
        assertModelGradient("model sparse (k=4, T=9)", error)
    }

    func testDenseModelGradientWithCopyHead() throws {
        assertModelGradient("model dense, copy head", try languageCheck(.dense, copyDim: 6))
    }

    func testSparseModelGradientWithCopyHead() throws {
        assertModelGradient("model sparse, copy head", try languageCheck(.sparse, copyDim: 6))
    }

    /// Queries and keys read trigrams of final states: the gradient of each slot goes back to
    /// the row it came from, within its own sequence (batch 2, T = 9 crosses no boundary).
    func testModelGradientWithNgramCopyHead() throws {
        assertModelGradient("model dense, trigram copy head", try languageCheck(.dense, copyDim: 6, copyNgram: 3))
        assertModelGradient("model sparse, trigram copy head", try languageCheck(.sparse, copyDim: 6, copyNgram: 3))
    }

    /// The pointer that follows itself: each row's scores read the row before's α, so the
    /// backward runs through the rows' chain (and gives β its gradient).
    func testModelGradientWithFollowingCopyHead() throws {
        assertModelGradient("model dense, following copy head", try languageCheck(.dense, copyDim: 6, copyNgram: 2, copyFollow: true))
        assertModelGradient("model sparse, following copy head", try languageCheck(.sparse, copyDim: 6, copyFollow: true))
    }

    /// The policy-gradient entry point (a gradient given on the output's log-probabilities, any
    /// row, any token) through the copy mixture: objective Σ c·log p with random c.
    func testLogitGradientThroughCopyHead() throws {
        let config = tinyConfig(.dense, copyDim: 6)
        let model = try scrambledModel(config, seed: 41)
        let T = 10, V = config.vocab
        let tokens = sampleTokens(T, vocab: V, seed: 42)
        var random = SamplerRandom(seed: 43)
        let coefficients = (0..<(T * V)).map { _ in Float(random.nextUnit() * 2 - 1) }
        func objective() throws -> Double {
            try model.forward(tokens: tokens, targets: nil)
            return (0..<T).reduce(0.0) { sum, row in
                zip(model.logits(row: row), coefficients[(row * V)...]).reduce(sum) { $0 + Double($1.0 * $1.1) }
            }
        }
        model.zeroGradients()
        _ = try objective()
        try model.backward { row, gradient in for w in 0..<V { gradient[w] = coefficients[row * V + w] } }
        var skipped = 0
        let error = try modelGradientError(model, entries: model.layout.entries.filter { !$0.isIndexer }, perTensor: 6, eps: 1e-2,
                                           seed: 44, skipped: &skipped, objective: objective)
        assertModelGradient("logit gradient, copy head", error)
    }

    func indexerCheck(_ attention: AttentionMode) throws -> Double {
        let config = tinyConfig(attention, topK: 5)
        let model = try scrambledModel(config, seed: 21)
        let T = 11, batch = 1
        let tokens = sampleTokens(T, vocab: config.vocab, seed: 22)
        model.zeroGradients()
        try model.forward(tokens: tokens, targets: nil, batch: batch, indexerLoss: true)
        try model.backward(language: false, indexer: true)
        // Only the indexer's parameters receive the KL gradient.
        for entry in model.layout.entries where !entry.isIndexer {
            XCTAssertTrue((entry.offset..<(entry.offset + entry.count)).allSatisfy { model.grads[$0] == 0 }, entry.name)
        }
        let selections = model.acts!.layers.map(\.selection)
        var skipped = 0
        defer { XCTAssertLessThan(skipped, 10, "most nudges must leave the selection alone") }
        return try modelGradientError(model, entries: model.layout.entries.filter(\.isIndexer), perTensor: 8, eps: 1e-3, seed: 23,
                                      unchanged: { model.acts!.layers.map(\.selection) == selections }, skipped: &skipped) {
            Double(try model.forward(tokens: tokens, targets: nil, batch: batch, indexerLoss: true).indexerKL)
        }
    }

    func testIndexerKLGradientDenseWarmup() throws {
        assertModelGradient("indexer KL (dense warm-up)", try indexerCheck(.dense))
    }

    func testIndexerKLGradientSparseSelectedSet() throws {
        assertModelGradient("indexer KL (sparse, selected set)", try indexerCheck(.sparse))
    }

    func testKLGradientIsSoftmaxMinusTarget() throws {
        let model = try scrambledModel(tinyConfig(.dense), seed: 31)
        let T = 6
        try model.forward(tokens: sampleTokens(T, vocab: 23, seed: 32), targets: nil, indexerLoss: true)
        let A = model.acts!.layers[0]
        for t in 0..<T {
            let scores = (0...t).map { Double(A.scores[t * T + $0]) }
            let maximum = scores.max()!
            let expSum = scores.map { exp($0 - maximum) }.reduce(0, +)
            var pSum = 0.0
            for s in 0...t {
                let q = exp(scores[s] - maximum) / expSum, p = Double(A.pSel[t * T + s])
                pSum += p
                XCTAssertEqual(Double(A.dScores[t * T + s]), (q - p) / Double(T), accuracy: 1e-6)
            }
            XCTAssertEqual(pSum, 1, accuracy: 1e-5, "head-averaged attention is L1-normalised")
        }
    }
}

func assertModelGradient(_ name: String, _ error: Double, file: StaticString = #filePath, line: UInt = #line) {
    print("gradient check \(name): relative error \(String(format: "%.2e", error))")
    XCTAssertLessThan(error, 1e-3, name, file: file, line: line)
}
