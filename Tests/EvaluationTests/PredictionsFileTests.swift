import Foundation
import XCTest
@testable import Evaluation

/// Reading prediction files and model diffs: no sandbox, no environments.
final class PredictionsFileTests: XCTestCase {
    private func write(_ text: String, name: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("forge-eval-\(UUID().uuidString.prefix(8))-\(name)").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    private func loadError(_ path: String) -> PredictionsError? {
        do {
            let loaded = try PredictionsFile.load(path: path)
            XCTFail("expected an error, read \(loaded.count) predictions")
        } catch let error as PredictionsError {
            return error
        } catch {
            XCTFail("expected a PredictionsError, got \(error)")
        }
        return nil
    }

    func testReadsJSONLinesAndJSONList() throws {
        let jsonl = try write("""
            {"instance_id": "o__r-1", "model_name_or_path": "m", "model_patch": "diff --git a/x b/x\\n"}

            {"instance_id": "o__r-2", "model_name_or_path": "m", "model_patch": null}
            """, name: "p.jsonl")
        let lines = try PredictionsFile.load(path: jsonl)
        XCTAssertEqual(lines.map(\.instanceID), ["o__r-1", "o__r-2"])
        XCTAssertEqual(lines.map(\.line), [1, 3])
        XCTAssertEqual(lines[0].patch, "diff --git a/x b/x\n")
        XCTAssertNil(lines[1].patch)
        XCTAssertTrue(lines[1].isEmptyPatch)
        XCTAssertFalse(lines[0].isEmptyPatch)

        let list = try write("""
            [
              {"instance_id": "o__r-1", "model_name_or_path": "org/model-7b", "model_patch": "  \\n"},
              {"instance_id": "o__r-2",
               "model_name_or_path": "org/model-7b", "model_patch": "x, ] { \\" y"}
            ]
            """, name: "p.json")
        let elements = try PredictionsFile.load(path: list)
        XCTAssertEqual(elements.map(\.instanceID), ["o__r-1", "o__r-2"])
        XCTAssertEqual(elements.map(\.line), [2, 3])
        XCTAssertTrue(elements[0].isEmptyPatch, "whitespace only counts as empty")
        XCTAssertEqual(elements[1].patch, "x, ] { \" y")
        XCTAssertEqual(elements[1].modelDirectoryName, "org__model-7b")
    }

    func testMalformedPredictionNamesFileAndLine() throws {
        let badJSON = try write("""
            {"instance_id": "o__r-1", "model_name_or_path": "m", "model_patch": ""}
            {"instance_id": "o__r-2", "model_name_or_path": "m", "model_patch": ""}
            {"instance_id": "o__r-3", "model_name_or_path": "m", "model_patch": "unterminated}
            """, name: "bad.jsonl")
        let syntax = try XCTUnwrap(loadError(badJSON))
        XCTAssertEqual(syntax.line, 3)
        XCTAssertTrue(syntax.description.hasPrefix("\(badJSON):3: not valid JSON"), syntax.description)

        let missing = try write("""
            [
              {"instance_id": "o__r-1", "model_name_or_path": "m", "model_patch": ""},

              {"instance_id": "o__r-2", "model_name_or_path": "m"}
            ]
            """, name: "missing.json")
        let field = try XCTUnwrap(loadError(missing))
        XCTAssertEqual(field.description, "\(missing):4: missing model_patch (use null or \"\" for no patch)")

        let wrongType = try write(#"{"instance_id": 7, "model_name_or_path": "m", "model_patch": ""}"# + "\n", name: "type.jsonl")
        XCTAssertEqual(loadError(wrongType)?.description, "\(wrongType):1: instance_id must be a non-empty string")

        let unclosed = try write("[\n {\"instance_id\": \"a\", \"model_name_or_path\": \"m\", \"model_patch\": \"\"}\n", name: "open.json")
        XCTAssertEqual(loadError(unclosed)?.message, "the JSON list is not closed with ']'")
        let trailingComma = try write("[{\"instance_id\": \"a\", \"model_name_or_path\": \"m\", \"model_patch\": \"\"},\n]", name: "comma.json")
        XCTAssertEqual(loadError(trailingComma)?.line, 2)
        XCTAssertEqual(loadError(try write("\n\n", name: "empty.jsonl"))?.message, "no predictions in the file")
    }

    func testDuplicateInstanceIDsPerModelAreRefused() throws {
        let duplicate = try write("""
            {"instance_id": "o__r-1", "model_name_or_path": "a", "model_patch": ""}
            {"instance_id": "o__r-1", "model_name_or_path": "b", "model_patch": ""}
            {"instance_id": "o__r-1", "model_name_or_path": "a", "model_patch": "x"}
            """, name: "dup.jsonl")
        let error = try XCTUnwrap(loadError(duplicate))
        XCTAssertEqual(error.description, "\(duplicate):3: duplicate instance_id 'o__r-1' for model 'a' (first at line 1)")

        // The same instance for two models is fine: each model is scored on its own.
        let twoModels = try write("""
            {"instance_id": "o__r-1", "model_name_or_path": "a", "model_patch": ""}
            {"instance_id": "o__r-1", "model_name_or_path": "b", "model_patch": ""}
            """, name: "two.jsonl")
        XCTAssertEqual(try PredictionsFile.load(path: twoModels).map(\.model), ["a", "b"])
    }
}

final class PatchTextTests: XCTestCase {
    let gitDiff = """
        From: someone
        Subject: a commit message before the diff

        diff --git a/src/a.py b/src/a.py
        index 1111111..2222222 100644
        --- a/src/a.py
        +++ b/src/a.py
        @@ -1,2 +1,2 @@
        -x = 1
        +x = 2
        --- not a header inside a hunk
        diff --git a/tests/test_a.py b/tests/test_a.py
        new file mode 100644
        --- /dev/null
        +++ b/tests/test_a.py
        @@ -0,0 +1 @@
        +def test_a(): pass
        diff --git a/data/logo file.png b/data/logo file.png
        new file mode 100644
        index 0000000000000000000000000000000000000000..3333333333333333333333333333333333333333
        GIT binary patch
        literal 4
        LcmZQzWMT#Y01f~L

        literal 0
        HcmV?d00001

        diff --git a/old.py b/new.py
        similarity index 100%
        rename from old.py
        rename to new.py

        """

    func testSectionsAndPathsOfGitDiffs() {
        let sections = PatchText.sections(of: gitDiff)
        XCTAssertEqual(sections.count, 4)
        XCTAssertEqual(sections[0].oldPath, "src/a.py")
        XCTAssertEqual(sections[0].newPath, "src/a.py")
        XCTAssertNil(sections[1].oldPath, "a new file has no old path")
        XCTAssertEqual(sections[1].newPath, "tests/test_a.py")
        XCTAssertEqual(sections[2].paths, ["data/logo file.png"], "binary sections name their path only in the header")
        XCTAssertEqual(sections[3].oldPath, "old.py")
        XCTAssertEqual(sections[3].newPath, "new.py")
        XCTAssertEqual(PatchText.touchedPaths(gitDiff), ["src/a.py", "tests/test_a.py", "data/logo file.png", "old.py", "new.py"])
        XCTAssertTrue(PatchText.hasBinaryData(gitDiff))
        XCTAssertTrue(sections[2].text.contains("GIT binary patch\nliteral 4\n"))

    }

    func testSectionsOfPlainUnifiedDiffs() {
        let plain = """
            --- textkit.orig/wrap.py\t2024-03-01 10:00:00.000000000 +0000
            +++ textkit/wrap.py\t2024-03-01 11:00:00.000000000 +0000
            @@ -1 +1 @@
            -a
            +b
            --- a/tests/test_wrap.py
            +++ b/tests/test_wrap.py
            @@ -1 +1 @@
            -c
            +d

            """
        XCTAssertEqual(PatchText.touchedPaths(plain), ["wrap.py", "tests/test_wrap.py"])
    }

    func testNormalisationRepairsLineEndingsAndTheFinalNewline() {
        let (crlf, crlfFixes) = PatchText.normalized("--- a/x\r\n+++ b/x\r\n@@ -1 +1 @@\r\n-a\r\n+b\r\n")
        XCTAssertEqual(crlf, "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n")
        XCTAssertEqual(crlfFixes, [.crlf])
        let (tail, tailFixes) = PatchText.normalized("--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b")
        XCTAssertEqual(tail, "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n")
        XCTAssertEqual(tailFixes, [.trailingNewline])
        let (both, bothFixes) = PatchText.normalized("-a\r\n+b\r\n+c")
        XCTAssertEqual(both, "-a\n+b\n+c\n")
        XCTAssertEqual(bothFixes, [.crlf, .trailingNewline])
        let clean = "-a\n+b\n"
        XCTAssertEqual(PatchText.normalized(clean).text, clean)
        XCTAssertEqual(PatchText.normalized(clean).fixes, [])
        XCTAssertEqual(PatchText.normalized("a\rb\n").text, "a\rb\n", "a lone CR is content, not a line ending")
    }
}
