import Foundation
import XCTest
@testable import Store

final class JSONLTests: StoreTestCase {
    /// Tasks whose text exercises JSON escaping: quotes, backslashes, control characters, tabs,
    /// CRLF, non-ASCII, an emoji, and absent optionals.
    private func trickyTasks() -> [TaskRecord] {
        var a = sampleTask(3, failToPass: ["tests/test_m.py::test_3[\"q\"]", "tests/test_m.py::Test::test_é"])
        a.problemStatement = "Quote \" backslash \\ tab \t CRLF \r\n bell \u{07} nul-ish \u{01} — ünïcødé 😀 </script>"
        a.hintsText = "line1\nline2"
        a.passToFail = ["x::y"]
        a.flaky = ["tests/test_m.py::test_slow"]
        a.otherPatch = "diff --git a/CHANGES.rst b/CHANGES.rst\n+* fix\n"
        a.license = "Apache-2.0"
        var b = sampleTask(12, repo: "pallets/flask", createdAt: "2023-01-01 00:00:00")
        b.pullNumber = nil; b.mergeCommit = nil; b.mergeStyle = nil; b.language = nil
        b.issueNumbers = []; b.passToPass = []; b.statementSource = .synthetic
        var c = sampleTask(4, createdAt: "2023-03-22T16:51:50+02:00")
        c.mergeStyle = .rebase; c.issueNumbers = [1, 22, 333]; c.statementSource = .pullRequest
        return [c, b, a]
    }

    func testExportImportExportIsByteIdentical() throws {
        let source = try openStore("a.sqlite")
        try source.upsert(trickyTasks())
        XCTAssertEqual(try source.exportJSONL(to: path("first.jsonl")), 3)
        let copy = try openStore("b.sqlite")
        XCTAssertEqual(try copy.importJSONL(from: path("first.jsonl")), UpsertCounts(inserted: 3))
        XCTAssertEqual(try copy.exportJSONL(to: path("second.jsonl")), 3)
        let first = try Data(contentsOf: URL(fileURLWithPath: path("first.jsonl")))
        let second = try Data(contentsOf: URL(fileURLWithPath: path("second.jsonl")))
        XCTAssertEqual(first, second)
        XCTAssertEqual(try copy.tasks(), try source.tasks())
        XCTAssertEqual(try copy.importJSONL(from: path("first.jsonl")), UpsertCounts(unchanged: 3))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.contains(".partial-") }
        XCTAssertEqual(leftovers, [])
    }

    func testExportedLinesHaveSWEBenchShape() throws {
        let store = try openStore()
        try store.upsert(trickyTasks())
        try store.exportJSONL(to: path("out.jsonl"), matching: TaskFilter(repo: "psf/requests"))
        let text = try String(contentsOfFile: path("out.jsonl"), encoding: .utf8)
        XCTAssertTrue(text.hasSuffix("\n"))
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        XCTAssertEqual(lines.count, 2)
        var ids: [String] = []
        for line in lines {
            // Keys appear in the documented order, each once.
            var cursor = line.startIndex
            for key in TaskJSONL.fieldOrder {
                guard let range = line.range(of: "\"\(key)\":", range: cursor..<line.endIndex) else {
                    return XCTFail("key \(key) missing or out of order in \(line.prefix(80))")
                }
                cursor = range.upperBound
            }
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            XCTAssertEqual(object.count, TaskJSONL.fieldOrder.count)
            for key in ["FAIL_TO_PASS", "PASS_TO_PASS", "PASS_TO_FAIL", "FLAKY"] {
                let encoded = try XCTUnwrap(object[key] as? String, "\(key) must be a string")
                XCTAssertNotNil(try JSONSerialization.jsonObject(with: Data(encoded.utf8)) as? [String])
            }
            XCTAssertTrue(object["issue_numbers"] is [Any])
            ids.append(try XCTUnwrap(object["instance_id"] as? String))
        }
        XCTAssertEqual(ids, ["psf__requests-3", "psf__requests-4"])
        let task3 = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        XCTAssertEqual(task3["FAIL_TO_PASS"] as? String, #"["tests/test_m.py::test_3[\"q\"]", "tests/test_m.py::Test::test_é"]"#)
        XCTAssertEqual(task3["problem_statement"] as? String, trickyTasks()[2].problemStatement)
        XCTAssertEqual(task3["statement_source"] as? String, "issue")
        XCTAssertTrue(lines[1].contains(#""statement_source":"pull_request""#))
        XCTAssertTrue(lines[1].contains(#""issue_numbers":[1,22,333]"#))
        XCTAssertTrue(lines[1].contains(#""created_at":"2023-03-22T16:51:50+02:00""#), "created_at is kept as written")
        XCTAssertEqual(TaskJSONL.listText(["a\u{01}\u{1f}\u{0c}\u{08}\t\r\n\"\\é/", ""]),
                       #"["a\u0001\u001f\f\b\t\r\n\"\\é/", ""]"#)
        XCTAssertEqual(TaskJSONL.listText([]), "[]")
    }

    func testImportsSWEBenchLinesInStringAndArrayForms() throws {
        let base = String(repeating: "0123456789", count: 4)
        let stringForm = #"{"repo": "psf/requests", "instance_id": "psf__requests-2317", "base_commit": "\#(base)", "patch": "diff --git a/requests/sessions.py b/requests/sessions.py\n", "test_patch": "diff --git a/test_requests.py b/test_requests.py\n", "problem_statement": "method = builtin_str(method) problem", "hints_text": "Ugh. This should have been caught.", "created_at": "2014-11-01T02:20:16Z", "version": "2.4", "FAIL_TO_PASS": "[\"test_requests.py::RequestsTestCase::test_HTTP_200_OK_GET_ALTERNATIVE\", \"test_requests.py::RequestsTestCase::test_basic_building\"]", "PASS_TO_PASS": "[]", "environment_setup_commit": "091991be0da19de9108dbe5e3752917fea3d7fdc"}"#
        let arrayForm = #"{"repo": "pallets/flask", "instance_id": "pallets__flask-4045", "base_commit": "\#(base)", "patch": "p", "test_patch": "t", "problem_statement": "Raise error when blueprint name contains a dot", "created_at": "2021-05-13 21:32:41+00:00", "FAIL_TO_PASS": ["tests/test_blueprints.py::test_dotted_name_not_allowed"], "PASS_TO_PASS": ["tests/test_basic.py::test_method_route", "tests/test_basic.py::test_options_work"], "pull_number": "4045", "issue_numbers": ["4041"], "difficulty": "<15 min fix"}"#
        let file = try write(stringForm + "\n\n" + arrayForm + "\r\n", to: "swe.jsonl")
        let store = try openStore()
        XCTAssertEqual(try store.importJSONL(from: file), UpsertCounts(inserted: 2))

        let requests = try XCTUnwrap(store.task(id: "psf__requests-2317"))
        XCTAssertEqual(requests.failToPass, ["test_requests.py::RequestsTestCase::test_HTTP_200_OK_GET_ALTERNATIVE",
                                             "test_requests.py::RequestsTestCase::test_basic_building"])
        XCTAssertEqual(requests.passToPass, [])
        XCTAssertEqual(requests.version, "2.4")
        XCTAssertEqual(requests.hintsText, "Ugh. This should have been caught.")
        XCTAssertEqual(requests.environmentSetupCommit, "091991be0da19de9108dbe5e3752917fea3d7fdc")
        XCTAssertEqual(requests.statementSource, .imported)
        XCTAssertNil(requests.pullNumber)
        XCTAssertEqual(requests.issueNumbers, [])
        XCTAssertEqual(requests.patch, "diff --git a/requests/sessions.py b/requests/sessions.py\n")

        let flask = try XCTUnwrap(store.task(id: "pallets__flask-4045"))
        XCTAssertEqual(flask.failToPass, ["tests/test_blueprints.py::test_dotted_name_not_allowed"])
        XCTAssertEqual(flask.passToPass.count, 2)
        XCTAssertEqual(flask.createdAt, "2021-05-13 21:32:41+00:00")
        XCTAssertEqual(flask.pullNumber, 4045)
        XCTAssertEqual(flask.issueNumbers, [4041])
        XCTAssertEqual(flask.hintsText, "")
        XCTAssertEqual(flask.version, "")
        XCTAssertEqual(flask.environmentSetupCommit, base, "missing environment_setup_commit falls back to base_commit")
        XCTAssertEqual(flask.statementSource, .imported)
        XCTAssertEqual(try store.instanceIDs(matching: TaskFilter(createdSince: "2021-05-13T21:32:41Z", createdBefore: "2021-05-13T21:32:42Z")),
                       ["pallets__flask-4045"])
    }

    func testMalformedLineNamesFileLineAndFieldAndImportsNothing() throws {
        let store = try openStore()
        try store.upsert([sampleTask(1)])
        let before = try store.tasks()

        var changed = sampleTask(1)
        changed.version = "9.9"
        let good = [TaskJSONL.line(for: changed), TaskJSONL.line(for: sampleTask(2))]
        let cases: [(String, String?, String)] = [
            (TaskJSONL.line(for: sampleTask(3)).replacingOccurrences(of: #""FAIL_TO_PASS":"[]""#, with: #""FAIL_TO_PASS":42"#),
             "FAIL_TO_PASS", "expected a JSON array of strings"),
            (TaskJSONL.line(for: sampleTask(3)).replacingOccurrences(of: #""FAIL_TO_PASS":"[]""#, with: #""FAIL_TO_PASS":"[oops""#),
             "FAIL_TO_PASS", "string is not a JSON array of strings"),
            (#"{"instance_id": "x__y-1", "repo": "x/y", "#, nil, "not valid JSON"),
            (TaskJSONL.line(for: sampleTask(3)).replacingOccurrences(of: "2023-03-22T14:51:50Z", with: "22/03/2023"),
             "created_at", "'22/03/2023' is not an ISO-8601 date-time"),
            (TaskJSONL.line(for: sampleTask(3)).replacingOccurrences(of: #""merge_style":"merge""#, with: #""merge_style":"octopus""#),
             "merge_style", "'octopus' is not one of merge, squash, rebase"),
            (#"{"instance_id": "x__y-1", "repo": "x/y"}"#, "base_commit", "missing"),
            (#"["not", "an", "object"]"#, nil, "expected a JSON object"),
            (TaskJSONL.line(for: sampleTask(1)), "instance_id", "duplicate instance_id 'psf__requests-1' (first at line 1)"),
        ]
        for (number, (badLine, field, reason)) in cases.enumerated() {
            let file = try write((good + [badLine, TaskJSONL.line(for: sampleTask(4))]).joined(separator: "\n") + "\n",
                                 to: "bad\(number).jsonl")
            guard let error = storeError({ try store.importJSONL(from: file) }) else { continue }
            guard case let .malformedLine(reportedFile, line, reportedField, reportedReason) = error else {
                XCTFail("case \(number): got \(error)"); continue
            }
            XCTAssertEqual(reportedFile, file)
            XCTAssertEqual(line, 3, "case \(number)")
            XCTAssertEqual(reportedField, field, "case \(number)")
            XCTAssertTrue(reportedReason.hasPrefix(reason), "case \(number): \(reportedReason)")
            XCTAssertTrue(error.description.hasPrefix("\(file):3: "), error.description)
            if let field { XCTAssertTrue(error.description.contains("field \(field): "), error.description) }
            XCTAssertFalse(error.description.contains("\n"))
        }
        XCTAssertEqual(try store.tasks(), before, "a failed import leaves the database unchanged")
        XCTAssertEqual(storeError({ try store.importJSONL(from: path("absent.jsonl")) })?.description.hasPrefix(path("absent.jsonl") + ": cannot read"), true)
    }

    func testImportsAJSONArrayDataset() throws {
        let tasks = [sampleTask(1), sampleTask(2)]
        let array = "[\n" + tasks.map(TaskJSONL.line(for:)).joined(separator: ",\n") + "\n]\n"
        let store = try openStore()
        XCTAssertEqual(try store.importJSONL(from: try write(array, to: "swe.json")), UpsertCounts(inserted: 2))
        XCTAssertEqual(try store.tasks(), tasks)

        let broken = "[" + TaskJSONL.line(for: sampleTask(3)) + #", {"instance_id": 5}]"#
        let file = try write(broken, to: "broken.json")
        XCTAssertEqual(storeError({ try store.importJSONL(from: file) }),
                       .malformedElement(file: file, index: 2, field: "instance_id", reason: "expected a string"))
        XCTAssertEqual(try store.taskCount(), 2)
    }

    func testExportToAHandleMatchesTheFile() throws {
        let store = try openStore()
        try store.upsert(trickyTasks())
        try store.exportJSONL(to: path("file.jsonl"), matching: TaskFilter(limit: 2))
        XCTAssertTrue(FileManager.default.createFile(atPath: path("handle.jsonl"), contents: nil))
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path("handle.jsonl")))
        XCTAssertEqual(try store.exportJSONL(to: handle, matching: TaskFilter(limit: 2)), 2)
        try handle.close()
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("handle.jsonl"))),
                       try Data(contentsOf: URL(fileURLWithPath: path("file.jsonl"))))
    }
}
