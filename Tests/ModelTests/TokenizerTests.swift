import Foundation
import Basics
import XCTest
@testable import Model

final class TokenizerTests: XCTestCase {
    /// A slice of real code (this package's own sources) to train small tokenizers on.
    static let codeCorpus: [[UInt8]] = {
        let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Sources/Model")
        // A fixed subset, so the compression expectation does not drift as the module grows.
        let files = ((try? TokenizerCorpus.files(in: [sources])) ?? []).filter { file in
            ["Tokenizer", "Sampler", "Safetensors"].contains { file.lastPathComponent.hasPrefix($0) }
        }
        return files.compactMap { try? TokenizerCorpus.contents(of: $0) }
    }()

    static let smallTokenizer: Tokenizer = try! TokenizerTrainer(vocabularySize: 700).train(documents: codeCorpus)

    func pieces(_ text: String, _ pattern: PreTokenizerPattern) -> [String] {
        let bytes = Array(text.utf8)
        return PreTokenizer(pattern: pattern).pieces(of: bytes).map { String(decoding: bytes[$0], as: UTF8.self) }
    }

    func testByteLevelAlphabetIsGPT2s() {
        let table = ByteLevelAlphabet.scalarOfByte
        XCTAssertEqual(Set(table.map(\.value)).count, 256)
        XCTAssertEqual(table[0x20], "\u{120}")   // Ġ
        XCTAssertEqual(table[0x0A], "\u{10A}")   // Ċ
        XCTAssertEqual(table[0x00], "\u{100}")
        XCTAssertEqual(table[0xAD], "\u{143}")   // the last shifted byte
        XCTAssertEqual(table[Int(UInt8(ascii: "a"))], "a")
        let everyByte = (0..<256).map(UInt8.init)
        XCTAssertEqual(ByteLevelAlphabet.decode(ByteLevelAlphabet.encode(everyByte)), everyByte)
        XCTAssertNil(ByteLevelAlphabet.decode(" "))
    }

    func testCl100kSplitsAsTheRegexDoes() {
        // Expected pieces as Hugging Face's Split(cl100k regex) produced them for this string.
        XCTAssertEqual(pieces("Hello world's  \r\n\n   def foo123456(x):\n\treturn 'S", .cl100k),
                       ["Hello", " world", "'s", "  \r\n\n", "  ", " def", " foo", "123", "456", "(x", "):\n",
                        "\treturn", " '", "S"])
        XCTAssertEqual(pieces("x  ", .cl100k), ["x", "  "])
        XCTAssertEqual(pieces("WE'LL _init", .cl100k), ["WE", "'LL", " _", "init"])
        XCTAssertEqual(pieces("", .cl100k), [])
    }

    func testGPT2SplitsAsTheRegexDoes() {
        XCTAssertEqual(pieces("Hello world's  foo123 !!\n\n  x", .gpt2),
                       ["Hello", " world", "'s", " ", " foo", "123", " !!", "\n\n ", " x"])
        XCTAssertEqual(pieces("WE'LL don't", .gpt2), ["WE", "'", "LL", " don", "'t"])
    }

    func testInvalidUTF8BytesSplitAsPunctuationAndCoverTheInput() {
        let bytes: [UInt8] = [0x61, 0xFF, 0x62, 0x20, 0xC3, 0x20, 0xE2, 0x82, 0x20, 0x00, 0x0D, 0x0A, 0xF0, 0x9F, 0x98, 0x80]
        for pattern in PreTokenizerPattern.allCases {
            let ranges = PreTokenizer(pattern: pattern).pieces(of: bytes)
            XCTAssertEqual(ranges.flatMap { Array(bytes[$0]) }, bytes, "\(pattern)")
            XCTAssertTrue(zip(ranges, ranges.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
        }
        // 0xFF is "other", so cl100k lets it prefix a letter run, as it would a '#'.
        XCTAssertEqual(PreTokenizer(pattern: .cl100k).pieces(of: [0x61, 0xFF, 0x62]), [0..<1, 1..<3])
    }

    func testTrainingMergesMostFrequentPairsWithSmallestIdsOnTies() throws {
        let tokenizer = try TokenizerTrainer(vocabularySize: 300, specialTokens: ["<|endoftext|>"])
            .train(documents: [Array("hello hello hello help".utf8)])
        // Pieces: "hello", " hello" ×2, " help". Counts: he 4, el 4 → el (smaller ids) first; then
        // h+el 4; then ties at 3 between " "+hel, l+o, hel+l → space first; then lo 3; then " hel"+lo 2.
        let spelled = tokenizer.merges.map { String(decoding: tokenizer.tokenBytes[$0.left] + tokenizer.tokenBytes[$0.right], as: UTF8.self) }
        XCTAssertEqual(spelled, ["el", "hel", " hel", "lo", " hello"])
        XCTAssertEqual(tokenizer.vocabularySize, 256 + 5 + 1)
        XCTAssertEqual(tokenizer.id(ofSpecialToken: "<|endoftext|>"), 261)
        XCTAssertEqual(tokenizer.encode("hello hello help"), [257, 259, 260, 258, Int(UInt8(ascii: "p"))])
    }

    func testRepeatedSymbolPairsAreCountedWithoutOverlap() throws {
        // "aaaa" has three overlapping (a,a) pairs but merging gives two "aa"; then "aaaa".
        let tokenizer = try TokenizerTrainer(vocabularySize: 258, specialTokens: [])
            .train(documents: [Array("aaaa aaaa".utf8)])
        XCTAssertEqual(tokenizer.merges.map { tokenizer.tokenBytes[$0.left] + tokenizer.tokenBytes[$0.right] },
                       [Array("aa".utf8), Array("aaaa".utf8)])
        XCTAssertEqual(tokenizer.encode("aaaaa"), [257, 97])
    }

    func testRandomBytesRoundTripExactly() throws {
        var random = SamplerRandom(seed: 42)
        let fragments: [[UInt8]] = [[0], [0x0D, 0x0A], [0x0A], [0x20], [0x20, 0x20, 0x20, 0x20], [0x09], [0xFF], [0xC3],
                                    [0xE2, 0x82], Array("😀".utf8), Array("é".utf8), Array("中文".utf8), Array("func".utf8),
                                    Array("<|endoftext|>".utf8), Array("'s".utf8), Array("12345".utf8), Array("\u{3000}".utf8)]
        for pattern in PreTokenizerPattern.allCases {
            let tokenizer = pattern == .cl100k ? Self.smallTokenizer
                : try TokenizerTrainer(vocabularySize: 500, pattern: .gpt2).train(documents: Self.codeCorpus)
            for _ in 0..<300 {
                var bytes: [UInt8] = []
                for _ in 0..<Int.random(in: 0...40, using: &random) {
                    if Bool.random(using: &random) {
                        bytes += fragments.randomElement(using: &random)!
                    } else {
                        bytes.append(UInt8.random(in: 0...255, using: &random))
                    }
                }
                let ids = tokenizer.encode(bytes: bytes)
                XCTAssertEqual(try tokenizer.decode(ids), bytes, "\(pattern) \(bytes)")
                XCTAssertFalse(ids.contains { tokenizer.specialTokenContents[$0] != nil }, "plain encoding produced a special id")
            }
        }
    }

    func testTrainedTokenizerCompressesCode() throws {
        let tokenizer = Self.smallTokenizer
        XCTAssertEqual(tokenizer.vocabularySize, 700)
        let sample: [UInt8] = Array(Self.codeCorpus.joined(separator: [UInt8(0x0A)]))
        let ids = tokenizer.encode(bytes: sample)
        XCTAssertGreaterThan(sample.count, 20_000)
        XCTAssertLessThan(Double(ids.count), Double(sample.count) / 2.5, "expected over 2.5 bytes per token on training code")
        XCTAssertEqual(try tokenizer.decode(ids), sample)
    }

    func testSpecialTokensAreMatchedOnlyWhenAllowed() throws {
        let tokenizer = Self.smallTokenizer
        let end = try XCTUnwrap(tokenizer.id(ofSpecialToken: SpecialTokens.endOfText))
        let patch = try XCTUnwrap(tokenizer.id(ofSpecialToken: SpecialTokens.patch))
        let text = "<|patch|>let x = 1<|endoftext|>"
        let ids = tokenizer.encode(text, allowingSpecialTokens: true)
        XCTAssertEqual(ids.first, patch)
        XCTAssertEqual(ids.last, end)
        XCTAssertEqual(try tokenizer.decodeText(ids), text)
        XCTAssertFalse(tokenizer.encode(text).contains(end))
        XCTAssertThrowsError(try tokenizer.decode([tokenizer.vocabularySize])) { error in
            XCTAssertTrue("\(error)".contains("token id \(tokenizer.vocabularySize) at position 0"))
        }
    }

    func testSaveAndLoadGiveTheSameTokenizer() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for pattern in PreTokenizerPattern.allCases {
            let tokenizer = try TokenizerTrainer(vocabularySize: 400, pattern: pattern).train(documents: Self.codeCorpus)
            let file = directory.appendingPathComponent("\(pattern).json")
            try tokenizer.save(to: file)
            let loaded = try Tokenizer.load(from: file)
            XCTAssertEqual(loaded.pattern, pattern)
            XCTAssertEqual(loaded.tokenBytes, tokenizer.tokenBytes)
            XCTAssertEqual(loaded.merges.map { [$0.left, $0.right] }, tokenizer.merges.map { [$0.left, $0.right] })
            XCTAssertEqual(loaded.specialTokenIds, tokenizer.specialTokenIds)
            let text = "func f() -> Int {\r\n\treturn 42 // ok 😀\n}<|endoftext|>"
            XCTAssertEqual(loaded.encode(text, allowingSpecialTokens: true), tokenizer.encode(text, allowingSpecialTokens: true))
        }
    }

    func testLoadingACorruptFileNamesIt() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("tokenizer.json")
        let text = Self.smallTokenizer.jsonText()
        try Data(text.utf8.prefix(text.utf8.count / 2)).write(to: file)
        XCTAssertThrowsError(try Tokenizer.load(from: file)) { error in
            XCTAssertTrue("\(error)".contains(file.path), "\(error)")
        }
        // Options that would make Hugging Face encode differently are refused, not ignored.
        try Data(text.replacingOccurrences(of: "\"ignore_merges\": false", with: "\"ignore_merges\": true").utf8).write(to: file)
        XCTAssertThrowsError(try Tokenizer.load(from: file)) { error in
            XCTAssertTrue("\(error)".contains("ignore_merges is not supported"), "\(error)")
        }
        // A merge naming a token the vocabulary lacks.
        try Data(text.replacingOccurrences(of: "\"merges\": [\n      \"", with: "\"merges\": [\n      \"zzzq ").utf8).write(to: file)
        XCTAssertThrowsError(try Tokenizer.load(from: file)) { error in
            XCTAssertTrue("\(error)".contains("merge #0"), "\(error)")
        }
    }

    func testCorpusSkipsHiddenAndBinaryFiles() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createDirectory(at: root.appendingPathComponent(".git"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: root.appendingPathComponent("src"), withIntermediateDirectories: true)
        try Data("print(1)\n".utf8).write(to: root.appendingPathComponent("src/a.py"))
        try Data("x".utf8).write(to: root.appendingPathComponent(".git/config"))
        try Data([0x89, 0x50, 0x00, 0x01]).write(to: root.appendingPathComponent("src/logo.png"))
        let files = try TokenizerCorpus.files(in: [root])
        XCTAssertEqual(files.map(\.lastPathComponent), ["a.py"])
        XCTAssertThrowsError(try TokenizerCorpus.files(in: [root.appendingPathComponent("missing")]))
    }
}
