import Foundation
import XCTest
@testable import Store

/// A temporary folder removed when the test case ends.
class StoreTestCase: XCTestCase {
    var folder: String!

    override func setUpWithError() throws {
        folder = NSTemporaryDirectory() + "forge-store-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: folder)
    }

    func path(_ name: String) -> String { folder + "/" + name }

    func openStore(_ name: String = "tasks.sqlite") throws -> TaskStore {
        try TaskStore(path: path(name))
    }

    func write(_ text: String, to name: String) throws -> String {
        let file = path(name)
        try Data(text.utf8).write(to: URL(fileURLWithPath: file))
        return file
    }

    /// Asserts that `body` throws a `StoreError` and returns it.
    func storeError(_ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) -> StoreError? {
        do {
            try body()
            XCTFail("expected a StoreError, nothing was thrown", file: file, line: line)
        } catch let error as StoreError {
            return error
        } catch {
            XCTFail("expected a StoreError, got \(error)", file: file, line: line)
        }
        return nil
    }
}

/// A task with plausible content; `number` varies the id, `repo` and `createdAt` are free.
func sampleTask(_ number: Int, repo: String = "psf/requests", createdAt: String = "2023-03-22T14:51:50Z",
                failToPass: [String] = []) -> TaskRecord {
    TaskRecord(
        instanceID: TaskRecord.instanceID(repo: repo, pullNumber: number), repo: repo,
        baseCommit: String(repeating: "ab", count: 20),
        patch: "diff --git a/src/m\(number).py b/src/m\(number).py\n--- a/src/m\(number).py\n+++ b/src/m\(number).py\n@@ -1 +1 @@\n-x = 1\n+x = \(number)\n",
        testPatch: "diff --git a/tests/test_m.py b/tests/test_m.py\n+def test_\(number)(): pass\n",
        problemStatement: "Issue \(number): x is wrong\n\nIt should be \(number).",
        createdAt: createdAt, version: "2.27", environmentSetupCommit: String(repeating: "cd", count: 20),
        failToPass: failToPass, passToPass: ["tests/test_m.py::test_ok"], pullNumber: number,
        issueNumbers: [number - 1], mergeCommit: String(repeating: "ef", count: 20), mergeStyle: .merge,
        statementSource: .issue, language: "python")
}
