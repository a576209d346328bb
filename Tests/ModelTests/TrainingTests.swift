import Foundation
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
}
