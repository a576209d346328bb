// Repair drills: the one-line mutations match `forge synth`'s forms and leave strings, comments
// and `for … in` alone; a drill's target restores exactly its mutated line, its prompt shows that
// line, and no drill mutates a line a held-out gold patch edits.
import Foundation
import GitFixtures
import Model
import Store
import XCTest
@testable import Training

final class RepairDrillTests: XCTestCase {
    func testLineMutationsTakeTheSynthesizersFormsAndOnlyInCode() {
        let cases: [(LineMutation, String, String?)] = [
            (.invertCondition, "        if value is None:", "        if not (value is None):"),
            (.invertCondition, "    elif f(x, y=[1, 2]):", "    elif not (f(x, y=[1, 2])):"),
            (.invertCondition, "    if not (done):", nil),
            (.invertCondition, "    if x: return y", nil),
            (.flipComparison, "    return a == b", "    return a != b"),
            (.flipComparison, "    if key not in data:", "    if key in data:"),
            (.flipComparison, "    if item is not None and n < 3:", "    if item is None and n < 3:"),
            (.flipComparison, "    while n <= limit:", "    while n > limit:"),
            (.flipComparison, "    message = \"a == b\"", nil),
            (.flipComparison, "    for key in data:", nil),
            (.flipComparison, "    keys = [k for k in data if k]", nil),
            (.flipComparison, "    x = a == b  # compare", nil),
            (.flipBoolean, "    failure = False", "    failure = True"),
            (.flipBoolean, "    required=True,", "    required=False,"),
            (.flipBoolean, "    name = 'True'", nil),
            (.flipBoolean, "    Truely = 1", nil),
            (.offByOne, "    version = args[0]", "    version = args[1]"),
            (.offByOne, "    text = \"[0]\"", nil),
            (.swapArguments, "    value = cast(value, str)", "    value = cast(str, value)"),
            (.swapArguments, "    pair(a, a)", nil),
            (.swapArguments, "    with open(path, \"rb\") as f:", "    with open(\"rb\", path) as f:"),
            (.swapArguments, "    f(1, x)", "    f(x, 1)"),
            (.swapArguments, "    text = \"f(a, b)\"", nil),
        ]
        for (mutation, line, expected) in cases {
            XCTAssertEqual(mutation.apply(to: line), expected, "\(mutation.rawValue) of \(line)")
        }
    }

    func testRemovalsTakeWholeStatementsAndKeepTheBlockValid() {
        let lines = """
        def f(items):
            total = 0
            for item in items:
                total += item
            call(
                total,
            )
            if total:
                return total
            log.debug("done")
            return None
        """.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        XCTAssertEqual(LineMutation.dropStatement.apply(at: 1, of: lines), [], "a statement with siblings is removed")
        XCTAssertNil(LineMutation.dropStatement.apply(at: 3, of: lines), "alone in its loop: removing it would leave an empty block")
        XCTAssertNil(LineMutation.dropStatement.apply(at: 5, of: lines), "a continuation line is not a statement")
        XCTAssertNil(LineMutation.dropStatement.apply(at: 4, of: lines), "a statement continued on the next lines")
        XCTAssertEqual(LineMutation.removeReturn.apply(at: 8, of: lines), ["        pass"], "a lone return leaves pass")
        XCTAssertEqual(LineMutation.removeReturn.apply(at: 10, of: lines), [])
        XCTAssertNil(LineMutation.dropStatement.apply(at: 10, of: lines), "returns are remove_return's")
        XCTAssertEqual(LineMutation.dropStatement.apply(at: 9, of: lines), [])
        XCTAssertEqual(LineMutation.flipBoolean.apply(at: 10, of: lines), nil)
        XCTAssertEqual(LineMutation.invertCondition.apply(at: 7, of: lines), ["    if not (total):"])
    }

    func testSitesAreFunctionBodyLinesOutsideDocstrings() {
        let text = """
        import os
        X = 1 == 2


        def outer(a):
            \"\"\"Doc with if a == b: inside.
            more doc
            \"\"\"
            if a == 1:
                return True

            def inner(b):
                return b != a
            return inner


        class Box:
            size = 3

            def grow(self, n):
                self.size += n
        """
        let sites = RepairDrills.sites(in: text)
        XCTAssertEqual(sites.map(\.line), [8, 9, 12, 13, 20])
        XCTAssertEqual(sites.map(\.function), ["outer", "outer", "inner", "outer", "grow"])
        XCTAssertEqual(sites.map(\.definition), [4, 4, 11, 4, 19])
    }

    func testDrillsRestoreTheirLineShowItAndSpareHeldOutLines() throws {
        let fixture = try Fixture()
        var source = ""
        for index in 0..<12 {
            source += """
            def check_\(index)(value, limits):
                limit = limits[0]
                if value is None:
                    return False
                if value >= limit + \(index):
                    return cast(value, str)
                return value == \(index)


            """
        }
        try fixture.write("pkg/checks.py", source)
        try fixture.write("tests/test_checks.py", "def test_it():\n    assert True == True\n")
        let commit = try fixture.commit("checks")
        func task(_ id: String, patch: String, synthetic: Bool) -> TaskRecord {
            var task = TaskRecord(instanceID: id, repo: "owner/name", baseCommit: commit, patch: patch, testPatch: "",
                                  problemStatement: "checks fail", createdAt: "2025-01-01T00:00:00Z", version: "",
                                  environmentSetupCommit: commit, statementSource: .synthetic)
            task.synthesisStrategy = synthetic ? "mutation:invert_condition" : nil
            return task
        }
        let mined = task("owner__name-1", patch: "", synthetic: false)
        let mutant = task("owner__name.synth-1", patch: "", synthetic: true)
        let heldOut = task("owner__name-2", patch: "--- a/pkg/checks.py\n+++ b/pkg/checks.py\n@@ -2 +2 @@\n-    if not (value is None):\n+    if value is None:\n",
                           synthetic: false)
        let tokenizer = try TokenizerTrainer(vocabularySize: 400).train(documents: [Array(source.utf8)])
        let builder = try PromptBuilder(tokenizer: tokenizer, clones: ["owner/name": fixture.path],
                                        settings: PromptSettings(mode: .retrieval, maxFiles: 4, maxResponseTokens: 192), context: 1024)
        let drills = try RepairDrills.examples(settings: RepairDrillSettings(count: 40, share: 0.5), training: [mined, mutant], heldOut: [heldOut],
                                               builder: builder, seed: 7)
        XCTAssertEqual(drills.count, 40)
        XCTAssertGreaterThanOrEqual(Set(drills.map(\.kind)).count, 6, "several kinds of mutation")
        let lines = source.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        for drill in drills.map(\.example) {
            let blocks = try EditFormat.parse(try tokenizer.decodeText(Array(drill.target.dropLast())))
            XCTAssertEqual(blocks.count, 1, drill.instanceID)
            let block = try XCTUnwrap(blocks.first)
            XCTAssertEqual(block.path, "pkg/checks.py")
            XCTAssertTrue(try tokenizer.decodeText(drill.prompt).contains(block.search), "\(drill.instanceID): the prompt shows the mutated line")
            // Undoing the fix on the original file is the drill's mutation of one line.
            XCTAssertEqual(source.components(separatedBy: block.replace).count, 2, "\(drill.instanceID): REPLACE is one place of the original")
            let mutated = source.replacingOccurrences(of: block.replace, with: block.search)
            let kind = try XCTUnwrap(LineMutation(rawValue: String(drill.instanceID.split(separator: "-").last!)))
            let sites = lines.indices.filter { index in
                guard let mutant = kind.apply(at: index, of: lines) else { return false }
                var changed = lines
                changed.replaceSubrange(index...index, with: mutant)
                return changed.joined(separator: "\n") == mutated
            }
            XCTAssertEqual(sites.count, 1, drill.instanceID)
            if let site = sites.first {
                XCTAssertNotEqual(lines[site].trimmingCharacters(in: .whitespaces), "if value is None:", "\(drill.instanceID) mutates a held-out line")
            }
        }
        // A response restores a drill when it edits the mutant back to the original file, and only then.
        for drill in drills.prefix(8) {
            XCTAssertTrue(drill.restores(drill.example.target, tokenizer: tokenizer, endToken: builder.endToken), drill.example.instanceID)
            let block = try EditFormat.parse(try tokenizer.decodeText(Array(drill.example.target.dropLast())))[0]
            let unchanged = EditBlock(path: block.path, search: block.search, replace: block.search)
            let elsewhere = EditBlock(path: "pkg/other.py", search: block.search, replace: block.replace)
            for wrong in [unchanged, elsewhere] {
                XCTAssertFalse(drill.restores(tokenizer.encode(EditFormat.render([wrong])), tokenizer: tokenizer, endToken: builder.endToken))
            }
        }
        // Only mined tasks' commits are read: with none, there are no drills.
        XCTAssertTrue(try RepairDrills.examples(settings: RepairDrillSettings(count: 5, share: 0.5), training: [mutant], heldOut: [],
                                                builder: builder, seed: 7).isEmpty)
    }
}
