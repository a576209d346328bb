import Foundation
import ModelFixtures
import Tensor
import XCTest
@testable import Model

final class InferenceTests: XCTestCase {
    func assertIncrementalMatchesFull(_ attention: AttentionMode, copyDim: Int = 0, copyNgram: Int = 1, copyFollow: Bool = false,
                                      file: StaticString = #filePath, line: UInt = #line) throws {
        let model = try scrambledModel(tinyConfig(attention, topK: 4, copyDim: copyDim, copyNgram: copyNgram, copyFollow: copyFollow), seed: 71)
        // 13 > k: sparse rows are exercised; few ids with the following pointer, so copies hold.
        let tokens = sampleTokens(13, vocab: copyFollow ? 4 : 23, seed: 72)
        try model.forward(tokens: tokens, targets: nil)
        let session = InferenceSession(model: model)
        var worst: Float = 0
        for (t, token) in tokens.enumerated() {
            let incremental = try session.step(token), full = model.logits(row: t)
            for (a, b) in zip(incremental, full) { worst = max(worst, abs(a - b)) }
        }
        print("incremental vs full (\(attention)): max |Δlogit| \(worst)")
        XCTAssertLessThan(worst, 1e-4, file: file, line: line)
    }

    func testIncrementalDecodingMatchesFullForwardDense() throws { try assertIncrementalMatchesFull(.dense) }
    func testIncrementalDecodingMatchesFullForwardSparse() throws { try assertIncrementalMatchesFull(.sparse) }
    func testIncrementalDecodingMatchesFullForwardWithCopyHead() throws {
        try assertIncrementalMatchesFull(.dense, copyDim: 6)
        try assertIncrementalMatchesFull(.sparse, copyDim: 6)
        try assertIncrementalMatchesFull(.dense, copyDim: 6, copyNgram: 3)
        try assertIncrementalMatchesFull(.sparse, copyDim: 6, copyNgram: 4)
        try assertIncrementalMatchesFull(.dense, copyDim: 6, copyFollow: true)
        try assertIncrementalMatchesFull(.sparse, copyDim: 6, copyNgram: 3, copyFollow: true)
    }

    func testGenerationIsDeterministicAndReportsSamplerFacts() throws {
        let model = try scrambledModel(tinyConfig(.sparse, topK: 4), seed: 81)
        let settings = SamplingSettings(temperature: 0.9, topK: 10, topP: 0.95)
        let session = InferenceSession(model: model)
        let prompt = [1, 2, 3]
        let first = try session.generate(prompt: prompt, maxNewTokens: 12, settings: settings, seed: 5)
        let again = try session.generate(prompt: prompt, maxNewTokens: 12, settings: settings, seed: 5)
        XCTAssertEqual(first, again)
        XCTAssertEqual(first.count, 12)
        let other = try session.generate(prompt: prompt, maxNewTokens: 12, settings: settings, seed: 6)
        XCTAssertNotEqual(first.map(\.token), other.map(\.token))
        // Replaying the sampled tokens reproduces each token's log-prob and kept set.
        session.reset()
        var logits: [Float] = []
        for token in prompt { logits = try session.step(token) }
        for sampled in first {
            let distribution = try Sampler.finalDistribution(logits: logits, settings: settings)
            XCTAssertEqual(distribution.tokens.sorted(), sampled.keptTokens)
            XCTAssertTrue(sampled.keptTokens.contains(sampled.token))
            XCTAssertLessThanOrEqual(sampled.keptTokens.count, 10)
            let renormalised = try Sampler.logSoftmax(logits: logits, over: sampled.keptTokens, temperature: settings.temperature)
            XCTAssertEqual(renormalised[sampled.token], sampled.logProbability, accuracy: 1e-4)
            logits = try session.step(sampled.token)
        }
        XCTAssertThrowsError(try session.generate(prompt: prompt, maxNewTokens: 40, settings: settings, seed: 1))
    }
}

final class CheckpointTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("checkpoint-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func testRoundTripKeepsConfigAndOutputs() throws {
        let model = try scrambledModel(tinyConfig(.sparse, topK: 4), seed: 91)
        let file = directory.appendingPathComponent("model.safetensors")
        try model.save(to: file, extraMetadata: ["step": "12"])
        let loaded = try Transformer.load(from: file)
        XCTAssertEqual(loaded.config, model.config)
        XCTAssertEqual(loaded.params.array, model.params.array)
        let tokens = sampleTokens(10, vocab: 23, seed: 92)
        try model.forward(tokens: tokens, targets: nil)
        try loaded.forward(tokens: tokens, targets: nil)
        XCTAssertEqual(model.logits(row: 9), loaded.logits(row: 9))
        XCTAssertEqual(try SafetensorsReader(url: file).metadata["step"], "12")
    }

    func testLoadRejectsWrongShapesAndMissingConfig() throws {
        let file = directory.appendingPathComponent("bad.safetensors")
        try SafetensorsFile.write(tensors: [("embedding", [2, 2], [1, 2, 3, 4])], to: file)
        XCTAssertThrowsError(try Transformer.load(from: file)) { XCTAssertTrue("\($0)".contains("no config")) }
        let config = tinyConfig(.dense)
        try SafetensorsFile.write(tensors: [("embedding", [2, 2], [1, 2, 3, 4])], metadata: ["config": config.jsonString()], to: file)
        XCTAssertThrowsError(try Transformer.load(from: file)) { XCTAssertTrue("\($0)".contains("shape"), "\($0)") }
    }

    func testPythonSafetensorsReadsCheckpoint() throws {
        let model = try scrambledModel(tinyConfig(.sparse, topK: 4), seed: 93)
        let file = directory.appendingPathComponent("model.safetensors")
        try model.save(to: file)
        let script = """
        import json, sys
        from safetensors import safe_open
        with safe_open(sys.argv[1], framework="np") as f:
            meta = f.metadata()
            out = {"config": json.loads(meta["config"]), "format": meta["format"],
                   "shapes": {k: list(f.get_tensor(k).shape) for k in f.keys()},
                   "wq_sum": float(f.get_tensor("layers.1.attn.wq").astype("float64").sum())}
        print(json.dumps(out))
        """
        let output = try ModelIOPython.runScript(script, [file.path])
        let parsed = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
        XCTAssertEqual(parsed["format"] as? String, Transformer.checkpointFormat)
        XCTAssertEqual((parsed["config"] as? [String: Any])?["layers"] as? Int, 2)
        XCTAssertEqual((parsed["config"] as? [String: Any])?["attention"] as? String, "sparse")
        let shapes = try XCTUnwrap(parsed["shapes"] as? [String: [Int]])
        XCTAssertEqual(shapes.count, model.layout.entries.count)
        for entry in model.layout.entries { XCTAssertEqual(shapes[entry.name], entry.shape, entry.name) }
        let wq = model.layout.entries.first { $0.name == "layers.1.attn.wq" }!
        let expected = (wq.offset..<(wq.offset + wq.count)).reduce(0.0) { $0 + Double(model.params[$1]) }
        XCTAssertEqual(try XCTUnwrap(parsed["wq_sum"] as? Double), expected, accuracy: 1e-9)
    }
}
