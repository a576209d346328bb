import Foundation
import XCTest
@testable import Evaluation

/// Predictions read through Codable: what JSONEncoder writes reads back exactly, other keys are
/// tolerated whatever they hold, and malformed input gives a PredictionsError naming file:line.
final class PredictionsCodableTests: XCTestCase {
    private var folder: String!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("forge-preds-\(getpid())-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: folder)
    }

    private func write(_ text: String, _ name: String) throws -> String {
        let path = "\(folder!)/\(name)"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// One line as SWE-bench writes it, through JSONEncoder (so escapes are the encoder's).
    private struct Line: Encodable {
        var instance_id: String
        var model_name_or_path: String
        var model_patch: String?
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(instance_id, forKey: .instance_id)
            try container.encode(model_name_or_path, forKey: .model_name_or_path)
            try container.encode(model_patch, forKey: .model_patch)
        }
        enum CodingKeys: CodingKey { case instance_id, model_name_or_path, model_patch }
    }

    func testEncodedPredictionsReadBackExactly() throws {
        let patches: [String?] = [nil, "", "diff --git a/x b/x\n+\"quoted\" \\ back\tslash\r\n", "é 中 😀 \u{1} \u{7f} </script>", "a/b/c"]
        let lines = patches.enumerated().map { Line(instance_id: "o__r-\($0.offset)", model_name_or_path: "org/model", model_patch: $0.element) }
        let encoder = JSONEncoder()
        let jsonl = try lines.map { String(decoding: try encoder.encode($0), as: UTF8.self) }.joined(separator: "\n") + "\n"
        let list = String(decoding: try encoder.encode(lines), as: UTF8.self)
        for (text, name) in [(jsonl, "p.jsonl"), (list, "p.json")] {
            let read = try PredictionsFile.load(path: try write(text, name))
            XCTAssertEqual(read.map(\.instanceID), lines.map(\.instance_id), name)
            XCTAssertEqual(read.map(\.patch), patches, name)
            XCTAssertEqual(Set(read.map(\.model)), ["org/model"], name)
        }
    }

    func testOtherKeysAreToleratedWhateverTheyHold() throws {
        let extras = #""cost": 1e400, "big": 123456789012345678901234567890, "nested": {"a": [true, null, {"b": 1.5}]}, "flag": false"#
        let jsonl = try write("""
            {"instance_id": "o__r-1", \(extras), "model_name_or_path": "m", "model_patch": "p"}
            """, "extras.jsonl")
        XCTAssertEqual(try PredictionsFile.load(path: jsonl).map(\.patch), ["p"])
        let keyed = try write("""
            {"o__r-2": {\(extras), "instance_id": "o__r-2", "model_name_or_path": "m", "model_patch": null},
             "o__r-1": {"instance_id": "o__r-1", "model_name_or_path": "m", "model_patch": "x", "extra": [1, 2]}}
            """, "preds.json")
        let read = try PredictionsFile.load(path: keyed)
        XCTAssertEqual(read.map(\.instanceID), ["o__r-1", "o__r-2"], "SWE-agent's form, by key")
        XCTAssertEqual(read.map(\.patch), ["x", nil])
    }

    func testWrongTypesNameTheFieldAndLine() throws {
        func expect(_ line: String, _ message: String, file: StaticString = #filePath, at: UInt = #line) throws {
            let path = try write("\n" + line + "\n", "bad-\(UUID().uuidString.prefix(6)).jsonl")
            XCTAssertThrowsError(try PredictionsFile.load(path: path), file: file, line: at) { error in
                XCTAssertEqual((error as? PredictionsError)?.description, "\(path):2: \(message)", file: file, line: at)
            }
        }
        try expect(#"{"instance_id": 7, "model_name_or_path": "m", "model_patch": ""}"#, "instance_id must be a non-empty string")
        try expect(#"{"instance_id": "o__r-1", "model_name_or_path": ["m"], "model_patch": ""}"#, "model_name_or_path must be a non-empty string")
        try expect(#"{"instance_id": "o__r-1", "model_name_or_path": "m", "model_patch": 5}"#, "model_patch must be a string or null")
        try expect(#"{"instance_id": "o__r-1", "model_name_or_path": "m", "model_patch": 1e400}"#, "model_patch must be a string or null")
        try expect(#"{"instance_id": "o__r-1", "model_name_or_path": "m"}"#, #"missing model_patch (use null or "" for no patch)"#)
        try expect(#"42"#, "expected a JSON object")
        try expect(#"{"instance_id": "o__r-1",, }"#, #"not valid JSON: {"instance_id": "o__r-1",, }"#)
    }

    /// Truncations and byte corruptions of a valid file: a PredictionsError or a result, never a crash.
    func testCorruptedFilesNeverCrash() throws {
        let good = Array("""
            {"instance_id": "o__r-1", "model_name_or_path": "m", "model_patch": "diff\\n"}
            [{"instance_id": "o__r-2", "model_name_or_path": "m", "model_patch": null}]
            """.utf8)
        var generator = SystemRandomNumberGenerator()
        var refused = 0
        for round in 0..<400 {
            var bytes = round < good.count ? Array(good.prefix(round)) : good
            if round >= good.count { bytes[Int.random(in: 0..<bytes.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator) }
            do { _ = try PredictionsFile.parse(Data(bytes), file: "fuzz.jsonl") } catch is PredictionsError { refused += 1 }
        }
        XCTAssertGreaterThan(refused, 100)
    }
}
