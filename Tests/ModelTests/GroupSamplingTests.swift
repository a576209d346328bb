// GRPO's G samples of one prompt share one prefill: each must equal a separate generation with
// its seed, in dense and DSA mode (the sparse rows past top-k included).
import Foundation
import ModelFixtures
import XCTest
@testable import Model

final class GroupSamplingTests: XCTestCase {
    func assertGroupEqualsSeparate(_ attention: AttentionMode, copyDim: Int = 0, copyNgram: Int = 1, copyFollow: Bool = false,
                                   file: StaticString = #filePath, line: UInt = #line) throws {
        let model = try scrambledModel(tinyConfig(attention, topK: 4, copyDim: copyDim, copyNgram: copyNgram, copyFollow: copyFollow), seed: 91)
        let settings = SamplingSettings(temperature: 1.0, topK: 0, topP: 0.95)
        let prompt = sampleTokens(7, vocab: copyFollow ? 4 : 23, seed: 92)   // repeats, so a followed copy holds
        let seeds: [UInt64] = [11, 12, 13, 14]
        let session = InferenceSession(model: model)
        let group = try session.generateSamples(prompt: prompt, seeds: seeds, maxNewTokens: 10, settings: settings)
        XCTAssertEqual(group.count, seeds.count, file: file, line: line)
        for (seed, sample) in zip(seeds, group) {
            let separate = try InferenceSession(model: model).generate(prompt: prompt, maxNewTokens: 10, settings: settings, seed: seed)
            XCTAssertEqual(sample.map(\.token), separate.map(\.token), file: file, line: line)
            for (a, b) in zip(sample, separate) { XCTAssertEqual(a.logProbability, b.logProbability, accuracy: 1e-5, file: file, line: line) }
        }
        XCTAssertGreaterThan(Set(group.map { $0.map(\.token) }).count, 1, "different seeds sample different continuations", file: file, line: line)
    }

    func testGroupSamplesEqualSeparateGenerationsDense() throws { try assertGroupEqualsSeparate(.dense) }
    func testGroupSamplesEqualSeparateGenerationsSparse() throws { try assertGroupEqualsSeparate(.sparse) }
    func testGroupSamplesEqualSeparateGenerationsWithCopyHead() throws {
        try assertGroupEqualsSeparate(.sparse, copyDim: 6)
        try assertGroupEqualsSeparate(.sparse, copyDim: 6, copyNgram: 3)
        try assertGroupEqualsSeparate(.sparse, copyDim: 6, copyNgram: 3, copyFollow: true)
    }

    func testGroupSamplingRejectsEmptyPromptAndOverflow() throws {
        let model = try scrambledModel(tinyConfig(.dense, topK: 4), seed: 93)
        let session = InferenceSession(model: model)
        XCTAssertThrowsError(try session.generateSamples(prompt: [], seeds: [1], maxNewTokens: 2, settings: SamplingSettings(temperature: 1)))
        XCTAssertThrowsError(try session.generateSamples(prompt: [1, 2], seeds: [1], maxNewTokens: model.config.context,
                                                         settings: SamplingSettings(temperature: 1)))
    }
}
