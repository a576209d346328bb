// The edit-format guard: which next tokens it forbids in each section of a response, and that a
// model sampling under it never writes a marker out of place.
import Basics
import Foundation
import XCTest
@testable import Model
@testable import Training

final class EditFormatGuardTests: XCTestCase {
    static let response = "a.py\n<<<<<<< SEARCH\n    return x + 1\n=======\n    return x + 2\n>>>>>>> REPLACE\n"
    static let tokenizer: Tokenizer = try! TokenizerTrainer(vocabularySize: 400).train(documents: [
        Array(response.utf8), Array("def f(x):\n    return x\n\n>>> f(1)\n<div>\n".utf8),
    ])

    func makeGuard(grounding: SearchGrounding? = nil) -> (EditFormatGuard, Int) {
        let end = Self.tokenizer.id(ofSpecialToken: SpecialTokens.endOfText)!
        return (EditFormatGuard(tokenizer: Self.tokenizer, endToken: end, grounding: grounding), end)
    }

    /// Whether the guard, after `written`, lets the tokens of `next` through one by one.
    func allows(_ written: String, _ next: String, grounding: SearchGrounding? = nil) -> Bool {
        var rules = makeGuard(grounding: grounding).0
        for token in Self.tokenizer.encode(written) { rules.advance(with: token) }
        for token in Self.tokenizer.encode(next) {
            var logits = [Float](repeating: 0, count: Self.tokenizer.vocabularySize)
            rules.mask(&logits)
            if logits[token] == -.infinity { return false }
            rules.advance(with: token)
        }
        return true
    }

    func testEachSectionTakesOnlyTheMarkerItExpects() {
        let search = "a.py\n<<<<<<< SEARCH\n    return x + 1\n"
        let replace = search + "=======\n    return x + 2\n"
        XCTAssertTrue(allows("", Self.response), "the well-formed response")
        XCTAssertTrue(allows(search, "=======\n"))
        XCTAssertFalse(allows(search, ">>>>>>> REPLACE\n"), "no end marker before the divider")
        XCTAssertFalse(allows(search, "<<<<<<< SEARCH\n"), "no nested SEARCH")
        XCTAssertTrue(allows(replace, ">>>>>>> REPLACE\n"))
        XCTAssertFalse(allows(replace, "=======\n"), "a second divider: the loop a copying model falls into")
        XCTAssertFalse(allows(replace, "==="), "a line that can only become a divider out of place is stopped early")
        XCTAssertFalse(allows("a.py\n", "=======\n"), "no divider outside a block")
        XCTAssertTrue(allows(Self.response, "b.py\n<<<<<<< SEARCH\n"), "a second block")
        // Lines of code that start with a marker symbol still pass.
        XCTAssertTrue(allows(search, ">>> f(1)\n<div>\n    x == 1\n"))
    }

    /// With grounding, a block names a file the prompt showed and its SEARCH lines are a run of
    /// consecutive lines shown of it; REPLACE stays free.
    func testGroundedSearchCopiesOnlyLinesThePromptShowed() {
        let grounding = SearchGrounding(shown: [("a.py", "def f(x):\n    return x + 1\n…\n    y = 2\n    return y\n"), ("b.py", "z = 1\nw = "), ("c.py", "cut = ")])
        func allows(_ written: String, _ next: String) -> Bool { self.allows(written, next, grounding: grounding) }
        XCTAssertTrue(allows("", Self.response), "a block of shown lines")
        XCTAssertTrue(allows(Self.response, "a.py\n<<<<<<< SEARCH\n    y = 2\n    return y\n=======\n    y = 3\n>>>>>>> REPLACE\n"))
        XCTAssertTrue(allows("", "b.py\n<<<<<<< SEARCH\nz = 1\n=======\n"))
        XCTAssertFalse(allows("", "d.py\n"), "a file the prompt did not show")
        XCTAssertFalse(allows("", "c.py\n"), "a file with no whole line shown: its block could not be finished")
        XCTAssertFalse(allows("", "<<<<<<< SEARCH\n"), "a block without its file")
        let search = "a.py\n<<<<<<< SEARCH\n"
        XCTAssertFalse(allows(search, "    return x + 3\n"), "a line the file does not show")
        XCTAssertFalse(allows(search, "    return z"), "stopped as soon as no shown line starts so")
        XCTAssertFalse(allows(search, "z = 1\n"), "a line of another file")
        XCTAssertFalse(allows(search, "def f(x):\n    y = 2\n"), "lines that are not consecutive")
        XCTAssertFalse(allows(search, "    return x + 1\n    y = 2\n"), "a run across the excerpt's gap")
        XCTAssertFalse(allows(search, "=======\n"), "an empty SEARCH")
        XCTAssertFalse(allows("b.py\n<<<<<<< SEARCH\n", "w = \n"), "the cut last line is not a line")
        XCTAssertTrue(allows(search + "    return x + 1\n=======\n", "anything(at, all)\n>>>>>>> REPLACE\n"), "REPLACE is free")
        XCTAssertFalse(allows(search + "    return x + 1\n", "    return y\n"), "the marker grammar still holds")
    }

    func testTheEndAndSpecialTokensAreKeptOutOfBlocks() {
        let (rules, end) = makeGuard()
        func masked(after written: String) -> [Float] {
            var copy = rules
            for token in Self.tokenizer.encode(written) { copy.advance(with: token) }
            var logits = [Float](repeating: 0, count: Self.tokenizer.vocabularySize + 3)
            copy.mask(&logits)
            return logits
        }
        XCTAssertEqual(masked(after: "a.py\n<<<<<<< SEARCH\nx\n")[end], -.infinity)
        XCTAssertEqual(masked(after: "a.py\n<<<<<<< SEARCH\nx\n=======\ny\n")[end], -.infinity)
        XCTAssertEqual(masked(after: Self.response)[end], 0)
        let logits = masked(after: "")
        for special in [SpecialTokens.file, SpecialTokens.patch] {
            XCTAssertEqual(logits[Self.tokenizer.id(ofSpecialToken: special)!], -.infinity, special)
        }
        XCTAssertEqual(logits.suffix(3), [-.infinity, -.infinity, -.infinity], "ids the tokenizer does not have")
    }

    /// Random responses drawn from marker pieces, newlines and code, under the guard (a piece
    /// is drawn only if the guard lets each of its tokens through) and without: under it no
    /// marker is ever out of place; without it most responses break.
    func testResponsesDrawnUnderTheGuardNeverBreakTheMarkerGrammar() {
        let rules = makeGuard().0
        let pieces = ["\n", "=======\n", "<<<<<<< SEARCH\n", ">>>>>>> REPLACE\n", "a.py\n", "    return x\n", "==", ">>>", "<", ">", "x"]
            .map { Self.tokenizer.encode($0) }
        func passes(_ piece: [Int], _ state: EditFormatGuard) -> EditFormatGuard? {
            var probe = state
            for token in piece {
                var logits = [Float](repeating: 0, count: Self.tokenizer.vocabularySize)
                probe.mask(&logits)
                guard logits[token] == 0 else { return nil }
                probe.advance(with: token)
            }
            return probe
        }
        var random = SamplerRandom(seed: 11)
        var brokenWithout = 0
        for trial in 0..<100 {
            for guarded in [true, false] {
                var state = rules, tokens: [Int] = []
                for _ in 0..<30 {
                    let allowed = pieces.compactMap { piece in guarded ? passes(piece, state).map { (piece, $0) } : (piece, state) }
                    XCTAssertFalse(allowed.isEmpty)
                    let (piece, next) = allowed[Int(random.next() % UInt64(allowed.count))]
                    tokens += piece; state = next
                }
                let misplaced = Self.misplacedMarkers(try! Self.tokenizer.decodeText(tokens))
                if guarded { XCTAssertEqual(misplaced, 0, "trial \(trial)") } else if misplaced > 0 { brokenWithout += 1 }
            }
        }
        XCTAssertGreaterThan(brokenWithout, 50, "the draws do exercise the grammar")
    }

    /// Generation applies the guard: greedy decoding of an untrained model, whose argmax is a
    /// special token at some step, never emits one under the guard.
    func testGenerationAppliesTheConstraint() throws {
        let (rules, end) = makeGuard()
        let specials = Set([SpecialTokens.file, SpecialTokens.patch, SpecialTokens.issue].compactMap { Self.tokenizer.id(ofSpecialToken: $0) })
        let model = try Transformer(config: TransformerConfig(layers: 1, dModel: 16, heads: 2, context: 256,
                                                              vocab: Self.tokenizer.vocabularySize, topK: 8), seed: 3)
        let session = InferenceSession(model: model)
        let prompt = Self.tokenizer.encode(Self.response)
        var sawSpecialWithout = false
        for seed in 0..<6 as Range<UInt64> {
            let settings = SamplingSettings(temperature: 3)
            let free = try session.generate(prompt: prompt, maxNewTokens: 100, settings: settings, seed: seed, stopToken: end)
            sawSpecialWithout = sawSpecialWithout || free.contains { specials.contains($0.token) }
            let guarded = try session.generate(prompt: prompt, maxNewTokens: 100, settings: settings, seed: seed, stopToken: end, constraint: rules)
            XCTAssertFalse(guarded.contains { specials.contains($0.token) })
            XCTAssertFalse(guarded.contains { $0.keptTokens.contains(where: specials.contains) }, "masked tokens are not kept")
        }
        XCTAssertTrue(sawSpecialWithout, "the unconstrained samples do draw special tokens")
    }

    /// Lines that start like a marker the block does not expect there (the parser's reading).
    static func misplacedMarkers(_ text: String) -> Int {
        var section = 0, misplaced = 0   // 0 outside, 1 SEARCH, 2 REPLACE
        let expected = ["<", "=", ">"]   // the marker symbol each section may see next
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            let content = line.trimmingCharacters(in: .whitespaces)
            if EditFormat.isMarker(line, EditFormat.searchMarker) { misplaced += section == 0 ? 0 : 1; section = 1 }
            else if EditFormat.isMarker(line, EditFormat.dividerMarker) { misplaced += section == 1 ? 0 : 1; section = 2 }
            else if EditFormat.isMarker(line, EditFormat.replaceMarker) { misplaced += section == 2 ? 0 : 1; section = 0 }
            else if content.hasPrefix(String(repeating: ["<", "=", ">"].filter { $0 != expected[section] }[0], count: 5))
                        || content.hasPrefix(String(repeating: ["<", "=", ">"].filter { $0 != expected[section] }[1], count: 5)) { misplaced += 1 }
        }
        return misplaced
    }
}
