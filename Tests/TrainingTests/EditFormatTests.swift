// SEARCH/REPLACE blocks: parsing (and its errors), applying, the unified diff libgit2 makes of
// them, and gold patches turned into blocks that reproduce them exactly.
import Foundation
import Git
import XCTest
@testable import Training

final class EditFormatTests: XCTestCase {
    let words = """
        def count(text):
            return len(text.split())


        def longest(text):
            best = ""
            for word in text.split():
                if len(word) > len(best):
                    best = word
            return best

        """

    func read(_ files: [String: String]) -> (String) throws -> [UInt8]? { { files[$0].map { Array($0.utf8) } } }

    func testParsesBlocksWithFencesAndMissingFinalNewline() throws {
        let text = """
            Here is the fix.
            ```python
            textkit/words.py
            <<<<<<< SEARCH
                    if len(word) > len(best):
            =======
                    if len(word) >= len(best):
            >>>>>>> REPLACE
            ```
            textkit/new.py
            <<<<<<< SEARCH
            =======
            X = 1
            >>>>>>> REPLACE
            """
        let blocks = try EditFormat.parse(text)
        XCTAssertEqual(blocks, [EditBlock(path: "textkit/words.py", search: "        if len(word) > len(best):\n", replace: "        if len(word) >= len(best):\n"),
                                EditBlock(path: "textkit/new.py", search: "", replace: "X = 1\n")])
        XCTAssertEqual(try EditFormat.parse(EditFormat.render(blocks)), blocks)
    }

    func testMarkersOfOtherLengthsAndNearMissSearchTextStillApply() throws {
        let blocks = try EditFormat.parse("textkit/words.py\n<<<<<<<< SEARCH\n        if len(word) > len(bst):\n=========\n        if len(word) >= len(best):\n>>>>>>>>> REPLACE\n")
        let edited = try EditFormat.apply(blocks, read: read(["textkit/words.py": words]))
        XCTAssertEqual(String(decoding: edited[0].new, as: UTF8.self), words.replacingOccurrences(of: "> len(best)", with: ">= len(best)"))
        // Not near enough: a different line is not "fuzzily" the same one.
        XCTAssertThrowsError(try EditFormat.apply([EditBlock(path: "textkit/words.py", search: "    return count\n", replace: "")],
                                                  read: read(["textkit/words.py": words])))
        XCTAssertFalse(EditFormat.isMarker("<<<< SEARCH", EditFormat.searchMarker))
    }

    func testMalformedBlocksNameTheLine() {
        XCTAssertThrowsError(try EditFormat.parse("a.py\n<<<<<<< SEARCH\nx\n>>>>>>> REPLACE\n")) { error in
            XCTAssertEqual((error as? EditFormatError)?.line, 4)
        }
        XCTAssertThrowsError(try EditFormat.parse("a.py\n<<<<<<< SEARCH\nx\n=======\ny\n")) { error in
            XCTAssertEqual((error as? EditFormatError)?.description, "line 2: SEARCH block has no >>>>>>> REPLACE")
        }
        XCTAssertThrowsError(try EditFormat.parse("<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n")) { error in
            XCTAssertEqual((error as? EditFormatError)?.description, "line 1: SEARCH block without a file name before it")
        }
        XCTAssertThrowsError(try EditFormat.parse("just prose, no blocks")) { error in
            XCTAssertEqual((error as? EditFormatError)?.description, "no SEARCH/REPLACE block found")
        }
    }

    func testSearchLinesShownCountsCopiedLinesEvenInBrokenBlocks() {
        let prompt = "a.py\ndef f(x):\n    return x + 1\n\ndef g():\n    pass\n"
        // Two blocks: the first copies two prompt lines (re-indented), the second is cut off
        // before its divider and makes one line up; blank lines and REPLACE lines do not count.
        let response = "a.py\n<<<<<<< SEARCH\ndef f(x):\n\n  return x + 1\n=======\n    return x + 2\n>>>>>>> REPLACE\n"
            + "a.py\n<<<<<<< SEARCH\n    pass\n    return None"
        XCTAssertEqual(EditFormat.searchLines(in: response), ["def f(x):", "  return x + 1", "    pass", "    return None"])
        let shown = EditFormat.searchLinesShown(response: response, prompt: prompt)
        XCTAssertEqual(shown.shown, 3)
        XCTAssertEqual(shown.total, 4)
        XCTAssertEqual(EditFormat.searchLinesShown(response: "no blocks at all", prompt: prompt).total, 0)
    }

    func testApplyingChecksSearchTextAndPaths() throws {
        let files = ["textkit/words.py": words]
        XCTAssertThrowsError(try EditFormat.apply([EditBlock(path: "textkit/words.py", search: "return nothing\n", replace: "")], read: read(files))) {
            XCTAssertEqual("\($0)", "block 1: SEARCH text not found in textkit/words.py")
        }
        XCTAssertThrowsError(try EditFormat.apply([EditBlock(path: "../etc/passwd", search: "x\n", replace: "")], read: read(files))) {
            XCTAssertEqual("\($0)", "block 1 edits ../etc/passwd, outside the repository")
        }
        XCTAssertThrowsError(try EditFormat.apply([EditBlock(path: "missing.py", search: "x\n", replace: "")], read: read(files)))
        // Trailing whitespace the model dropped or added still matches.
        let edited = try EditFormat.apply([EditBlock(path: "textkit/words.py", search: "    return len(text.split())   \n",
                                                     replace: "    return len(text.split(\" \"))\n")], read: read(files))
        XCTAssertEqual(String(decoding: edited[0].new, as: UTF8.self), words.replacingOccurrences(of: "len(text.split())", with: "len(text.split(\" \"))"))
    }

    func testUnifiedDiffOfBlocksIsGitsDiff() throws {
        let blocks = [EditBlock(path: "textkit/words.py", search: "        if len(word) > len(best):\n", replace: "        if len(word) >= len(best):\n")]
        let diff = try EditFormat.unifiedDiff(blocks, read: read(["textkit/words.py": words]))
        XCTAssertTrue(diff.hasPrefix("diff --git a/textkit/words.py b/textkit/words.py\n"), diff)
        XCTAssertTrue(diff.contains("\n-        if len(word) > len(best):\n+        if len(word) >= len(best):\n"), diff)
        XCTAssertTrue(diff.contains("@@ -5,6 +5,6 @@"), diff)
        XCTAssertEqual(try EditFormat.unifiedDiff([EditBlock(path: "textkit/words.py", search: "    return best\n", replace: "    return best\n")],
                                                  read: read(["textkit/words.py": words])), "")
    }

    /// Gold patch → blocks → patch: the blocks must rebuild exactly the gold patch's result,
    /// with context trimmed to what keeps each SEARCH unique.
    func testGoldPatchBecomesShortBlocksThatReproduceIt() throws {
        let fixed = words.replacingOccurrences(of: "        if len(word) > len(best):\n", with: "        if len(word) >= len(best):\n")
            .replacingOccurrences(of: "    return len(text.split())\n", with: "    words = text.split()\n    return len(words)\n")
        let gold = try TextDiff.unified(path: "textkit/words.py", old: Array(words.utf8), new: Array(fixed.utf8), contextLines: 3)
        let created = try TextDiff.unified(path: "textkit/extra.py", old: [], new: Array("A = 1\n".utf8))
        let blocks = try EditFormat.blocks(fromUnifiedDiff: gold + created, read: read(["textkit/words.py": words]))
        XCTAssertEqual(blocks.count, 2, "the two nearby edits are one hunk in git's diff")
        XCTAssertEqual(blocks[1], EditBlock(path: "textkit/extra.py", search: "", replace: "A = 1\n"))
        let rebuilt = try EditFormat.apply(blocks, read: read(["textkit/words.py": words]))
        XCTAssertEqual(String(decoding: rebuilt[0].new, as: UTF8.self), fixed)
        XCTAssertEqual(String(decoding: rebuilt[1].new, as: UTF8.self), "A = 1\n")
        // A one-line fix keeps one line of context on each side: enough to make its SEARCH unique.
        let oneLine = try TextDiff.unified(path: "textkit/words.py", old: Array(words.utf8),
                                           new: Array(words.replacingOccurrences(of: "> len(best)", with: ">= len(best)").utf8))
        let short = try EditFormat.blocks(fromUnifiedDiff: oneLine, read: read(["textkit/words.py": words]))
        XCTAssertEqual(short, [EditBlock(path: "textkit/words.py", search: "    for word in text.split():\n        if len(word) > len(best):\n            best = word\n",
                                         replace: "    for word in text.split():\n        if len(word) >= len(best):\n            best = word\n")])
        // With no context asked for, a unique changed line is the whole SEARCH; a pure insertion
        // still needs a line to anchor it, and a line that is not unique gets context until it is.
        XCTAssertEqual(try EditFormat.blocks(fromUnifiedDiff: oneLine, read: read(["textkit/words.py": words]), leastContext: 0),
                       [EditBlock(path: "textkit/words.py", search: "        if len(word) > len(best):\n", replace: "        if len(word) >= len(best):\n")])
        let inserted = try TextDiff.unified(path: "textkit/words.py", old: Array(words.utf8),
                                            new: Array(words.replacingOccurrences(of: "            best = word\n", with: "            best = word\n            seen += 1\n").utf8))
        let insertion = try XCTUnwrap(try EditFormat.blocks(fromUnifiedDiff: inserted, read: read(["textkit/words.py": words]), leastContext: 0).first)
        XCTAssertFalse(insertion.search.isEmpty)
        XCTAssertEqual(String(decoding: try EditFormat.apply([insertion], read: read(["textkit/words.py": words]))[0].new, as: UTF8.self),
                       words.replacingOccurrences(of: "            best = word\n", with: "            best = word\n            seen += 1\n"))
        let twice = "a = 1\nb = 2\na = 1\nc = 3\n"
        let repeated = try TextDiff.unified(path: "t.py", old: Array(twice.utf8), new: Array("a = 1\nb = 2\na = 2\nc = 3\n".utf8))
        XCTAssertEqual(try EditFormat.blocks(fromUnifiedDiff: repeated, read: read(["t.py": twice]), leastContext: 0),
                       [EditBlock(path: "t.py", search: "b = 2\na = 1\nc = 3\n", replace: "b = 2\na = 2\nc = 3\n")])
        // A file without a final newline keeps lacking it.
        let bare = "x = 1\ny = 2"
        let patch = try TextDiff.unified(path: "b.py", old: Array(bare.utf8), new: Array("x = 1\ny = 3".utf8))
        let bareBlocks = try EditFormat.blocks(fromUnifiedDiff: patch, read: read(["b.py": bare]))
        XCTAssertEqual(String(decoding: try EditFormat.apply(bareBlocks, read: read(["b.py": bare]))[0].new, as: UTF8.self), "x = 1\ny = 3")
        XCTAssertThrowsError(try EditFormat.blocks(fromUnifiedDiff: "diff --git a/c.py b/c.py\ndeleted file mode 100644\n--- a/c.py\n+++ /dev/null\n@@ -1 +0,0 @@\n-x\n",
                                                   read: read(["c.py": "x\n"])))
    }

    func testBM25RanksTheFileThatSharesTheIssuesWords() {
        let index = BM25Index(documents: ["def parse_header(line): ...", "def longest_word(text): ...", "README about headers and parsing"])
        let ranked = index.rank("parse_header crashes on an empty header line")
        XCTAssertEqual(ranked.first?.index, 0)
        XCTAssertEqual(BM25Index.terms("parseHeader_v2"), ["parseheader_v2", "parse", "header", "v"].filter { $0.count > 1 })
    }
}
