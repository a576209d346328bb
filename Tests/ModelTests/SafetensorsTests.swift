import Foundation
import XCTest
@testable import Model

final class SafetensorsTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("safetensors-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    func testWritesTheDocumentedLayoutByteForByte() throws {
        let file = directory.appendingPathComponent("tiny.safetensors")
        try SafetensorsFile.write(tensors: [("x", [2], [1, -2])], metadata: ["k": "v"], to: file)
        let bytes = [UInt8](try Data(contentsOf: file))
        let headerLength = Int(bytes[0..<8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        XCTAssertEqual((8 + headerLength) % 8, 0, "data must start 8-byte aligned")
        let header = String(decoding: bytes[8..<(8 + headerLength)], as: UTF8.self)
        XCTAssertEqual(header.trimmingCharacters(in: .whitespaces),
                       #"{"__metadata__":{"k":"v"},"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#)
        XCTAssertEqual(Array(bytes[(8 + headerLength)...]), [0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0xC0])
    }

    func testRoundTripsShapesValuesAndMetadata() throws {
        let file = directory.appendingPathComponent("model.safetensors")
        let big = (0..<100_000).map { Float($0) * 0.001 - 7 }
        let config = #"{"layers": 2, "dim": 64, "name": "forge \"tiny\""}"#
        try SafetensorsFile.write(tensors: [("embed.weight", [250, 400], big), ("norm.scale", [], [0.5]), ("empty", [0, 3], []),
                                            ("bias", [3], [.infinity, -.infinity, -0.0])],
                                  metadata: ["config": config, "note": "tab\t newline\n bell\u{07} é"], to: file)
        let (tensors, metadata) = try SafetensorsFile.read(from: file)
        XCTAssertEqual(metadata, ["config": config, "note": "tab\t newline\n bell\u{07} é"])
        XCTAssertEqual(tensors["embed.weight"]?.shape, [250, 400])
        XCTAssertEqual(tensors["embed.weight"]?.values, big)
        XCTAssertEqual(tensors["norm.scale"]?.shape, [])
        XCTAssertEqual(tensors["norm.scale"]?.values, [0.5])
        XCTAssertEqual(tensors["empty"]?.shape, [0, 3])
        XCTAssertEqual(tensors["empty"]?.values, [])
        XCTAssertEqual(tensors["bias"]?.values.map(\.bitPattern), [Float.infinity, -.infinity, -0.0].map(\.bitPattern))
        let reader = try SafetensorsReader(url: file)
        XCTAssertEqual(reader.tensors.map(\.name), ["embed.weight", "norm.scale", "empty", "bias"])
        XCTAssertEqual(reader.info("bias")?.dataRange, 400_004..<400_016)
    }

    func testHalfPrecisionDTypesRoundToNearestEven() throws {
        let file = directory.appendingPathComponent("half.safetensors")
        // 1 + 2⁻⁸ is halfway between bf16 neighbours 1 and 1 + 2⁻⁷: ties go to the even one (1);
        // 1 + 3·2⁻⁸ goes up to 1 + 2⁻⁶. In f16 both are exact (10 mantissa bits).
        let values: [Float] = [1, 1.00390625, 1.01171875, -2.5, 65504, 1e-8]
        try SafetensorsFile.write(tensors: [("h", [6], values)], to: file, dtype: .f16)
        XCTAssertEqual(try SafetensorsFile.read(from: file).tensors["h"]?.values, [1, 1.00390625, 1.01171875, -2.5, 65504, 0])
        try SafetensorsFile.write(tensors: [("b", [6], values)], to: file, dtype: .bf16)
        XCTAssertEqual(try SafetensorsFile.read(from: file).tensors["b"]?.values, [1, 1, 1.015625, -2.5, 65536, Float(1e-8).bfloat16Rounded])
        XCTAssertEqual(SafetensorsConversion.bfloat16Bits(.nan) & 0x7FC0, 0x7FC0)
    }

    func testIntegerDTypesRequireIntegralValues() throws {
        let file = directory.appendingPathComponent("ints.safetensors")
        for dtype in [SafetensorsDType.i32, .i64, .u8] {
            try SafetensorsFile.write(tensors: [("ids", [4], [0, 1, 7, 255])], to: file, dtype: dtype)
            let reader = try SafetensorsReader(url: file)
            XCTAssertEqual(reader.info("ids")?.dtype, dtype)
            XCTAssertEqual(try reader.values("ids"), [0, 1, 7, 255])
        }
        XCTAssertThrowsError(try SafetensorsFile.write(tensors: [("ids", [1], [1.5])], to: file, dtype: .i32)) { error in
            XCTAssertEqual("\(error)", "safetensors \(file.path) tensor \"ids\": value 1.5 at index 0 cannot be stored as I32")
        }
        XCTAssertThrowsError(try SafetensorsFile.write(tensors: [("ids", [1], [-1])], to: file, dtype: .u8))
    }

    func testInvalidInputsFailWithoutTouchingTheExistingFile() throws {
        let file = directory.appendingPathComponent("keep.safetensors")
        try SafetensorsFile.write(tensors: [("a", [1], [3])], to: file)
        let before = try Data(contentsOf: file)
        XCTAssertThrowsError(try SafetensorsFile.write(tensors: [("w", [2, 2], [1, 2, 3])], to: file)) { error in
            XCTAssertTrue("\(error)".contains("tensor \"w\": shape [2, 2] does not hold 3 values"), "\(error)")
        }
        XCTAssertThrowsError(try SafetensorsFile.write(tensors: [("a", [1], [1]), ("a", [1], [2])], to: file))
        XCTAssertEqual(try Data(contentsOf: file), before)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["keep.safetensors"])
    }

    func testCorruptFilesAreReportedWithFileAndTensor() throws {
        let file = directory.appendingPathComponent("corrupt.safetensors")
        try SafetensorsFile.write(tensors: [("first", [4], [1, 2, 3, 4]), ("second", [8], Array(repeating: 1, count: 8))], to: file)
        let good = try Data(contentsOf: file)
        func expectError(_ data: Data, containing expected: String, line: UInt = #line) throws {
            try data.write(to: file)
            XCTAssertThrowsError(try SafetensorsReader(url: file), line: line) { error in
                let text = "\(error)"
                XCTAssertTrue(text.hasPrefix("safetensors \(file.path)"), text, line: line)
                XCTAssertTrue(text.contains(expected), text, line: line)
            }
        }
        try expectError(good.prefix(good.count - 5), containing: "tensor \"second\": data ends at byte")
        try expectError(good + Data([0]), containing: "1 bytes after the last tensor")
        try expectError(good.prefix(6), containing: "shorter than the 8-byte header length")
        var hugeHeader = good
        hugeHeader[5] = 0x7F
        try expectError(hugeHeader, containing: "exceeds the file size")
        var notJSON = good
        notJSON[8] = UInt8(ascii: "[")
        try expectError(notJSON, containing: "header is not a JSON object")
        let header = String(decoding: good, as: UTF8.self)
        try expectError(Data(header.replacingOccurrences(of: "\"F32\"", with: "\"Q32\"").utf8), containing: "unsupported dtype")
        try expectError(Data(header.replacingOccurrences(of: "[16,48]", with: "[20,52]").utf8), containing: "overlap or hole")
        try expectError(Data(header.replacingOccurrences(of: "\"shape\":[8]", with: "\"shape\":[9]").utf8),
                        containing: "tensor \"second\": shape [9] of F32 needs 36 bytes")
        XCTAssertThrowsError(try SafetensorsReader(url: directory.appendingPathComponent("missing.safetensors")))
    }
}

extension Float {
    /// This value rounded to bfloat16 precision (round to nearest even), for expected values.
    var bfloat16Rounded: Float { Float(bitPattern: UInt32(SafetensorsConversion.bfloat16Bits(self)) << 16) }
}
