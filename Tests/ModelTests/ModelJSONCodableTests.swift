// The Codable readers of tokenizer.json and safetensors headers: files written by the Python
// reference packages load, malformed JSON gives a typed one-line error naming the file and the
// field, and no input crashes the reader.
import Basics
import Foundation
import XCTest
@testable import Model

final class ModelJSONCodableTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("forge-model-json-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    // MARK: - tokenizer.json

    /// Hugging Face re-saves Forge's file in its own serialization (every field, merges as pairs
    /// in recent versions) and trains one of its own; Forge reads both and encodes as HF does.
    func testForgeReadsTokenizersWrittenByHuggingFace() throws {
        let script = """
        import json, sys
        from tokenizers import Tokenizer, models, pre_tokenizers, trainers, decoders
        forge_file, resaved_file, trained_file, strings_file, ids_file = sys.argv[1:6]
        Tokenizer.from_file(forge_file).save(resaved_file)
        texts = json.load(open(strings_file, encoding="utf-8"))
        trained = Tokenizer(models.BPE())
        trained.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        trained.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=400, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                      special_tokens=["<|endoftext|>"], show_progress=False)
        trained.train_from_iterator(texts * 4, trainer)
        trained.save(trained_file)
        json.dump([trained.encode(text).ids for text in texts], open(ids_file, "w"))
        """
        let strings = TokenizerPythonTests.testStrings()
        let stringsFile = directory.appendingPathComponent("strings.json")
        try JSONEncoder().encode(strings).write(to: stringsFile)
        let forgeFile = directory.appendingPathComponent("forge.json"), resavedFile = directory.appendingPathComponent("resaved.json")
        let trainedFile = directory.appendingPathComponent("trained.json"), idsFile = directory.appendingPathComponent("ids.json")
        for pattern in PreTokenizerPattern.allCases {
            let tokenizer = try TokenizerTrainer(vocabularySize: 500, pattern: pattern).train(documents: TokenizerTests.codeCorpus)
            try tokenizer.save(to: forgeFile)
            _ = try ModelIOPython.runScript(script, [forgeFile, resavedFile, trainedFile, stringsFile, idsFile].map(\.path))

            let resaved = try Tokenizer.load(from: resavedFile)
            XCTAssertEqual(resaved.vocabularySize, tokenizer.vocabularySize, "\(pattern)")
            XCTAssertEqual(resaved.jsonText(), tokenizer.jsonText(), "\(pattern): HF's re-save reads back as the same tokenizer")

            let trained = try Tokenizer.load(from: trainedFile)
            let expected = try JSONDecoder().decode([[Int]].self, from: Data(contentsOf: idsFile))
            XCTAssertEqual(expected.count, strings.count)
            // HF matches added special tokens in any input.
            let mismatches = zip(strings, expected).filter { trained.encode($0.0, allowingSpecialTokens: true) != $0.1 }.map(\.0)
            XCTAssertEqual(mismatches.count, 0, "HF-trained tokenizer encodes differently: \(mismatches.prefix(3).map { $0.prefix(60) })")
        }
    }

    func testMalformedTokenizerJSONNamesTheFileAndTheField() throws {
        let good = TokenizerTests.smallTokenizer.jsonText()
        let file = directory.appendingPathComponent("tokenizer.json")
        func expectError(_ text: String, containing expected: String, line: UInt = #line) throws {
            try Data(text.utf8).write(to: file)
            XCTAssertThrowsError(try Tokenizer.load(from: file), line: line) { error in
                guard let error = error as? TokenizerError else { return XCTFail("untyped error \(error)", line: line) }
                let message = error.description
                XCTAssertTrue(message.hasPrefix("tokenizer \(file.path): "), message, line: line)
                XCTAssertTrue(message.contains(expected), message, line: line)
                XCTAssertFalse(message.contains("\n"), "one line: \(message)", line: line)
            }
        }
        try expectError("[1, 2]", containing: "the top level: ")
        try expectError(String(good.prefix(good.count / 3)), containing: "the top level: ")
        try expectError(good.replacingOccurrences(of: "\"type\": \"BPE\"", with: "\"type\": 7"), containing: "model.type: ")
        try expectError(good.replacingOccurrences(of: "\"type\": \"BPE\"", with: "\"type\": \"WordPiece\""), containing: "BPE models only")
        try expectError(good.replacingOccurrences(of: "\"Ā\": 0", with: "\"Ā\": \"0\""), containing: "model.vocab.\"Ā\": ")
        try expectError(good.replacingOccurrences(of: "\"merges\": [\n      ", with: "\"merges\": [\n      42, "), containing: "model.merges[0]: ")
        try expectError(good.replacingOccurrences(of: "{\"id\": ", with: "{\"ident\": "), containing: "added_tokens[0].id: missing")
        try expectError(good.replacingOccurrences(of: "\"normalizer\": null", with: "\"normalizer\": {\"type\": \"NFC\"}"),
                        containing: "normalizers are not supported")
        try expectError(good.replacingOccurrences(of: "\"dropout\": null", with: "\"dropout\": 0.1"), containing: "BPE option dropout is not supported")
        try expectError(good.replacingOccurrences(of: "\"use_regex\": false}", with: "\"use_regex\": \"yes\"}"),
                        containing: "pre_tokenizer.pretokenizers[1].use_regex: ")

        // The underlying decoding error is kept for callers that want more than the message.
        try Data("{\"model\": 1}".utf8).write(to: file)
        XCTAssertThrowsError(try Tokenizer.load(from: file)) { error in
            guard case .inFile(_, .malformedJSON(_, let underlying))? = error as? TokenizerError else { return XCTFail("\(error)") }
            guard case .typeMismatch = underlying else { return XCTFail("\(underlying)") }
        }
        // An unreadable file keeps the file system's error.
        XCTAssertThrowsError(try Tokenizer.load(from: directory.appendingPathComponent("absent.json"))) { error in
            guard case .unreadable(let path, _)? = error as? TokenizerError else { return XCTFail("\(error)") }
            XCTAssertEqual(path, self.directory.appendingPathComponent("absent.json").path)
        }
    }

    /// Every truncation and many single-byte corruptions of a real file: each either loads or
    /// throws a TokenizerError, never anything else and never a crash.
    func testCorruptedTokenizerJSONNeverCrashes() throws {
        let good = Array(TokenizerTests.smallTokenizer.jsonText().utf8)
        var random = SamplerRandom(seed: 19)
        var inputs: [[UInt8]] = stride(from: 0, to: good.count, by: max(1, good.count / 300)).map { Array(good.prefix($0)) }
        for _ in 0..<300 {
            var bytes = good
            bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
            inputs.append(bytes)
        }
        var refused = 0
        for bytes in inputs {
            do { _ = try Tokenizer(jsonData: Data(bytes)) } catch is TokenizerError { refused += 1 }
        }
        XCTAssertGreaterThan(refused, inputs.count / 2)
    }

    // MARK: - safetensors header

    func testHeaderRoundTripKeepsMetadataAndTensors() throws {
        let file = directory.appendingPathComponent("round.safetensors")
        let metadata = ["config": "{\"a\": [1, 2]}", "quote\"and\\slash": "line\nbreak\ttab \u{1} é 中 😀", "empty": ""]
        try SafetensorsFile.write(tensors: [("b.weight", [2, 3], (0..<6).map(Float.init)), ("a", [0], []), ("scalar", [], [7])],
                                  metadata: metadata, to: file)
        let reader = try SafetensorsReader(url: file)
        XCTAssertEqual(reader.metadata, metadata)
        XCTAssertEqual(reader.tensors.map(\.name), ["b.weight", "a", "scalar"])
        XCTAssertEqual(reader.info("b.weight")?.shape, [2, 3])
        XCTAssertEqual(reader.info("scalar")?.shape, [])
        XCTAssertEqual(try reader.values("b.weight"), [0, 1, 2, 3, 4, 5])
        XCTAssertEqual(try reader.values("scalar"), [7])
        let header = try SafetensorsHeader.decode(try Self.header(of: file), path: file.path)
        XCTAssertEqual(header.entries["b.weight"], .init(dtype: "F32", shape: [2, 3], dataOffsets: [0, 24]))
        XCTAssertEqual(header.entries.count, 3)
    }

    func testMalformedHeaderNamesTheTensorAndTheField() throws {
        let file = directory.appendingPathComponent("bad.safetensors")
        func expectError(_ header: String, tensor: String?, containing expected: String, line: UInt = #line) throws {
            var bytes = Array(header.utf8)
            bytes += [UInt8](repeating: 0x20, count: (8 - bytes.count % 8) % 8)
            var length = UInt64(bytes.count).littleEndian
            try (Data(bytes: &length, count: 8) + Data(bytes) + Data(count: 16)).write(to: file)
            XCTAssertThrowsError(try SafetensorsReader(url: file), line: line) { error in
                guard let error = error as? SafetensorsError else { return XCTFail("untyped error \(error)", line: line) }
                XCTAssertEqual(error.tensor, tensor, "\(error)", line: line)
                XCTAssertTrue(error.description.hasPrefix("safetensors \(file.path)"), error.description, line: line)
                XCTAssertTrue(error.description.contains(expected), error.description, line: line)
                XCTAssertFalse(error.description.contains("\n"), "one line: \(error)", line: line)
            }
        }
        let entry = #"{"dtype":"F32","shape":[4],"data_offsets":[0,16]}"#
        try expectError(#"{"__metadata__":{"k":1},"w":\#(entry)}"#, tensor: nil, containing: #"__metadata__["k"] is not a string"#)
        try expectError(#"{"__metadata__":[],"w":\#(entry)}"#, tensor: nil, containing: "__metadata__ is not a string map")
        try expectError(#"{"w":"F32"}"#, tensor: "w", containing: "entry is not an object")
        try expectError(#"{"w":{"dtype":"F32","shape":[4]}}"#, tensor: "w", containing: "entry has no data_offsets")
        // A number that is no Int: this JSONDecoder names no field for it, but the error stays typed.
        try expectError(#"{"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,16]}}"#, tensor: nil, containing: "header does not decode as JSON")
        try expectError(#"{"w":{"dtype":"F32","shape":[-4],"data_offsets":[0,16]}}"#, tensor: "w", containing: "shape is not a list")
        try expectError(#"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,"16"]}}"#, tensor: "w", containing: "data_offsets is not [begin, end]")
        try expectError(#"{"w":{"dtype":4,"shape":[4],"data_offsets":[0,16]}}"#, tensor: "w", containing: "dtype is not a string")
        try expectError(#"{"w":{"dtype":"F33","shape":[4],"data_offsets":[0,16]}}"#, tensor: "w", containing: #"unsupported dtype "F33""#)
        try expectError(#"{"w":\#(entry)"#, tensor: nil, containing: "header does not decode as JSON")
        try expectError(#"{"w":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,16]}}"#, tensor: nil,
                        containing: "header does not decode as JSON")

        // The decoder's error stays attached.
        try expectError(#"{"w":"F32"}"#, tensor: "w", containing: "entry is not an object")
        XCTAssertThrowsError(try SafetensorsReader(url: file)) { error in
            let underlying = (error as? SafetensorsError)?.underlying
            XCTAssertTrue(underlying is DecodingError, "\(String(reflecting: underlying))")
        }
    }

    /// Single-byte corruptions of a real header: each either reads or throws SafetensorsError.
    func testCorruptedHeadersNeverCrash() throws {
        let file = directory.appendingPathComponent("fuzz.safetensors")
        try SafetensorsFile.write(tensors: [("first", [2, 2], [1, 2, 3, 4]), ("second", [3], [5, 6, 7])],
                                  metadata: ["config": "{}"], to: file)
        let good = try Data(contentsOf: file)
        let headerEnd = 8 + Int(good.prefix(8).withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) })
        var random = SamplerRandom(seed: 3)
        var refused = 0
        for _ in 0..<300 {
            var bytes = good
            bytes[Int.random(in: 8..<headerEnd, using: &random)] = UInt8.random(in: 0...255, using: &random)
            try bytes.write(to: file)
            do { _ = try SafetensorsReader(url: file) } catch is SafetensorsError { refused += 1 }
        }
        XCTAssertGreaterThan(refused, 100)
    }

    // MARK: - config JSON

    func testConfigJSONErrorsAreTyped() throws {
        XCTAssertThrowsError(try TransformerConfig.fromJSON("{\"layers\": 1}")) { error in
            guard case .configDoesNotDecode(let problem, _)? = error as? ModelError else { return XCTFail("\(error)") }
            XCTAssertTrue(problem.hasSuffix(": missing"), problem)
        }
        var config = TransformerConfig(layers: 1, dModel: 16, heads: 2, headDim: 8, ffnHidden: 32, context: 16, vocab: 23)
        XCTAssertEqual(try TransformerConfig.fromJSON(try config.jsonString()), config)
        config.ropeBase = .infinity
        XCTAssertThrowsError(try config.jsonString()) { error in
            guard case .configDoesNotEncode? = error as? ModelError else { return XCTFail("\(error)") }
        }
    }

    /// Configs of checkpoints written before partial RoPE and the token shift load as what they
    /// were trained as (RoPE on the whole head, no shift); new configs get both.
    func testConfigsWithoutRopeDimsOrTokenShiftLoadAsTheyWereTrained() throws {
        let fresh = TransformerConfig(layers: 1, dModel: 32, heads: 2, context: 16, vocab: 23)
        XCTAssertEqual(fresh.ropeDims, 8)
        XCTAssertTrue(fresh.tokenShift)
        XCTAssertNotNil(ParameterLayout(fresh).tokenShift)
        var object = try JSONSerialization.jsonObject(with: Data(try fresh.jsonString().utf8)) as! [String: Any]
        object["ropeDims"] = nil
        object["tokenShift"] = nil
        let old = try TransformerConfig.fromJSON(String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self))
        XCTAssertEqual(old.ropeDims, 16)
        XCTAssertFalse(old.tokenShift)
        XCTAssertNil(ParameterLayout(old).tokenShift)
        XCTAssertEqual(ParameterLayout(old).count + 32 * 32, ParameterLayout(fresh).count)
        for bad in [3, 18] {
            let config = TransformerConfig(layers: 1, dModel: 32, heads: 2, ropeDims: bad, context: 16, vocab: 23)
            XCTAssertThrowsError(try config.validate()) { error in
                XCTAssertEqual("\(error)", "config ropeDims \(bad) must be even and within headDim 16")
            }
        }
    }

    private static func header(of file: URL) throws -> Data {
        let data = try Data(contentsOf: file)
        let length = Int(data.prefix(8).withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) })
        return data.subdata(in: 8..<(8 + length))
    }
}
