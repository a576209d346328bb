import Foundation
import ModelFixtures
import Basics
import XCTest
@testable import Model

final class TrainingTests: XCTestCase {
    /// A stream with structure (a repeated phrase with noise) is learnable: validation loss falls.
    func testTrainerLowersValidationLoss() throws {
        var random = SamplerRandom(seed: 3)
        func stream(_ count: Int) -> [Int] {
            (0..<count).map { i in random.next() % 5 == 0 ? Int(random.next() % 23) : [3, 1, 4, 1, 5, 9, 2, 6][i % 8] }
        }
        let config = TransformerConfig(layers: 1, dModel: 16, heads: 2, headDim: 8, ffnHidden: 32, context: 16, vocab: 23,
                                       indexerHeads: 2, indexerDim: 8, topK: 6, attention: .sparse)
        let settings = TrainingSettings(batch: 4, sequenceLength: 16, steps: 40, maxLearningRate: 1e-2, minLearningRate: 1e-3,
                                        warmupSteps: 5, evalEvery: 20, evalWindows: 4, seed: 4)
        let trainer = try LanguageModelTrainer(model: try Transformer(config: config, seed: 5), settings: settings,
                                               train: stream(2000), validation: stream(400))
        var reported = 0
        let log = try trainer.run { _ in reported += 1 }
        XCTAssertEqual(reported, 41)
        let validation = log.compactMap(\.validationLoss)
        XCTAssertEqual(validation.count, 3)   // before training, step 20, step 40
        print("trainer: validation loss \(validation)")
        XCTAssertLessThan(validation.last!, validation.first! - 1)
        XCTAssertNotNil(log.last!.indexerKL)
        XCTAssertThrowsError(try LanguageModelTrainer(model: trainer.model, settings: settings, train: [1, 2], validation: stream(400)))
    }

    /// Copy windows: the window's last 16–32 tokens repeat an earlier span of the same window, only
    /// the copy's next tokens are targets (from its second token on), and without a copy share the
    /// batches are unchanged.
    func testCopyWindowsEndInAnEarlierSpanOfThemselves() throws {
        let config = TransformerConfig(layers: 1, dModel: 16, heads: 2, headDim: 8, ffnHidden: 32, context: 128, vocab: 6000)
        var settings = TrainingSettings(batch: 8, sequenceLength: 128, steps: 1, seed: 7)
        let stream = Array(0..<6000)   // every token tells where in the stream it comes from
        func trainer(_ share: Double?) throws -> LanguageModelTrainer {
            settings.copyShare = share
            return try LanguageModelTrainer(model: try Transformer(config: config, seed: 1), settings: settings, train: stream, validation: stream)
        }
        let copying = try trainer(1)
        var copies = 0
        for _ in 0..<20 {
            let (tokens, targets) = copying.trainingWindows()
            for window in 0..<8 {
                let inputs = Array(tokens[(window * 128)..<((window + 1) * 128)]), labels = Array(targets[(window * 128)..<((window + 1) * 128)])
                let sequence = inputs + [labels.last!]
                let head = sequence.indices.first { sequence[$0] != sequence[0] + $0 }!
                let tail = Array(sequence[head...])
                for (position, label) in labels.enumerated() {
                    XCTAssertEqual(label, position + 1 > head ? sequence[position + 1] : -1, "only the copy after its first token is scored")
                }
                XCTAssertTrue((16...32).contains(tail.count), "\(tail.count)")
                XCTAssertEqual(tail, Array(tail[0]..<(tail[0] + tail.count)), "one span of the stream")
                XCTAssertLessThanOrEqual(tail.last!, sequence[head - 1], "a span the window already showed")
                copies += 1
            }
        }
        XCTAssertEqual(copies, 160)
        // Half the windows with a half share (over 400 windows); none without one, and the same windows as before.
        let half = try trainer(0.5)
        var halfCopies = 0
        for _ in 0..<50 {
            let (tokens, _) = half.trainingWindows()
            for window in 0..<8 where zip(tokens[(window * 128)...].prefix(128), tokens[window * 128]...).contains(where: { $0 != $1 }) { halfCopies += 1 }
        }
        XCTAssertTrue((150...250).contains(halfCopies), "\(halfCopies) of 400")
        // The copy probe: measured only when training on copy windows, over the copied spans alone.
        let copyLoss = try XCTUnwrap(try half.copyLossIfCopying())
        XCTAssertTrue(copyLoss.isFinite && copyLoss > 0)
        XCTAssertNil(try trainer(nil).copyLossIfCopying())
        let plain = try trainer(nil), reference = try trainer(nil)
        let starts = reference.randomStarts()
        XCTAssertEqual(plain.trainingWindows().tokens, reference.windows(stream, starts: starts).tokens)
    }
}

final class IndexerWarmupTests: XCTestCase {
    /// The dense warm-up trains only the indexer and brings its distribution towards the main
    /// attention (KL falls); the model's other parameters stay exactly as they were.
    func testDenseWarmupTrainsOnlyTheIndexer() throws {
        var random = SamplerRandom(seed: 8)
        let stream = (0..<1500).map { _ in Int(random.next() % 23) }
        let config = TransformerConfig(layers: 1, dModel: 16, heads: 2, headDim: 8, ffnHidden: 32, context: 16, vocab: 23,
                                       indexerHeads: 2, indexerDim: 8, topK: 6, attention: .sparse)
        let model = try scrambledModel(config, seed: 9)
        let before = model.params.array
        var settings = TrainingSettings(batch: 4, sequenceLength: 16, steps: 1, evalEvery: 1, evalWindows: 2, seed: 10)
        settings.indexerWarmupSteps = 60
        settings.indexerWarmupLearningRate = 1e-2
        var warmup: [TrainingMetrics] = []
        let trainer = try LanguageModelTrainer(model: model, settings: settings, train: stream, validation: stream)
        // Compare parameters right after the warm-up, before the first main step.
        var snapshot: [Float] = []
        try trainer.run { metrics in
            if metrics.indexerWarmupStep != nil { warmup.append(metrics) }
            if metrics.indexerWarmupStep == 60 { snapshot = model.params.array }
        }
        XCTAssertEqual(warmup.count, 60)
        XCTAssertEqual(model.config.attention, .sparse, "sparse attention is restored after the warm-up")
        let kl = warmup.compactMap(\.indexerKL)
        print("indexer warm-up KL: \(kl.first!) → \(kl.last!)")
        XCTAssertLessThan(kl.suffix(10).reduce(0, +), kl.prefix(10).reduce(0, +) * 0.8)
        for entry in model.layout.entries {
            let range = entry.offset..<(entry.offset + entry.count)
            let changed = range.contains { before[$0] != snapshot[$0] }
            XCTAssertEqual(changed, entry.isIndexer, entry.name)
        }
    }
}
