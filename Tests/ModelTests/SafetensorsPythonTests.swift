import Foundation
import XCTest
@testable import Model

/// Forge's files against Python's `safetensors` + numpy, both directions.
final class SafetensorsPythonTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("safetensors-py-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    func testPythonReadsForgeFiles() throws {
        let weights = (0..<1000).map { Float(sin(Double($0))) * 3 }
        let config = #"{"vocab_size": 600, "layers": 2}"#
        let script = """
        import json, sys
        import numpy as np
        from safetensors import safe_open
        out = {}
        for path in sys.argv[1:]:
            with safe_open(path, framework="np") as f:
                tensors = {k: f.get_tensor(k) for k in f.keys()}
                out[path] = {"metadata": f.metadata(), "tensors": {k: {"dtype": str(v.dtype), "shape": list(v.shape),
                    "bits": [int(x) for x in v.ravel().view(np.uint32 if v.dtype == np.float32 else np.uint16)]}
                    for k, v in tensors.items()}}
        print(json.dumps(out))
        """
        let f32 = directory.appendingPathComponent("f32.safetensors"), f16 = directory.appendingPathComponent("f16.safetensors")
        let tensors: [(name: String, shape: [Int], values: [Float])] = [("layers.0.w", [10, 100], weights), ("scale", [], [0.25]),
                                                                       ("none", [2, 0], [])]
        try SafetensorsFile.write(tensors: tensors, metadata: ["config": config], to: f32)
        try SafetensorsFile.write(tensors: tensors, metadata: ["config": config], to: f16, dtype: .f16)
        let output = try ModelIOPython.runScript(script, [f32.path, f16.path])
        let parsed = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: [String: Any]])
        for (path, dtype) in [(f32.path, "float32"), (f16.path, "float16")] {
            let file = try XCTUnwrap(parsed[path])
            XCTAssertEqual(file["metadata"] as? [String: String], ["config": config])
            let read = try XCTUnwrap(file["tensors"] as? [String: [String: Any]])
            XCTAssertEqual(Set(read.keys), ["layers.0.w", "scale", "none"])
            for tensor in tensors {
                let entry = try XCTUnwrap(read[tensor.name])
                XCTAssertEqual(entry["dtype"] as? String, dtype)
                XCTAssertEqual(entry["shape"] as? [Int], tensor.shape)
                // Bit patterns, not decimal text: JSON number parsing need not round-trip exactly.
                let expected = tensor.values.map { dtype == "float16" ? Int(Float16($0).bitPattern) : Int($0.bitPattern) }
                XCTAssertEqual(entry["bits"] as? [Int], expected, "\(path) \(tensor.name)")
            }
        }
    }

    func testForgeReadsPythonFiles() throws {
        let file = directory.appendingPathComponent("python.safetensors")
        let script = """
        import sys
        import numpy as np
        from safetensors.numpy import save_file
        save_file({
            "w": (np.arange(6, dtype=np.float32).reshape(2, 3) * 0.5 - 1),
            "h": np.array([1.5, -2.25, 65504], dtype=np.float16),
            "i": np.array([-3, 7], dtype=np.int32),
            "l": np.array([2**40, -5], dtype=np.int64),
            "u": np.array([0, 255, 7], dtype=np.uint8),
            "s": np.array(3.25, dtype=np.float32),
            "e": np.zeros((0, 3), dtype=np.float32),
        }, sys.argv[1], metadata={"config": '{"layers": 2}', "note": "written by numpy"})
        """
        _ = try ModelIOPython.runScript(script, [file.path])
        let (tensors, metadata) = try SafetensorsFile.read(from: file)
        XCTAssertEqual(metadata, ["config": #"{"layers": 2}"#, "note": "written by numpy"])
        XCTAssertEqual(tensors["w"]?.shape, [2, 3])
        XCTAssertEqual(tensors["w"]?.values, [-1, -0.5, 0, 0.5, 1, 1.5])
        XCTAssertEqual(tensors["h"]?.values, [1.5, -2.25, 65504])
        XCTAssertEqual(tensors["i"]?.values, [-3, 7])
        XCTAssertEqual(tensors["l"]?.values, [1_099_511_627_776, -5])
        XCTAssertEqual(tensors["u"]?.values, [0, 255, 7])
        XCTAssertEqual(tensors["s"]?.shape, [])
        XCTAssertEqual(tensors["s"]?.values, [3.25])
        XCTAssertEqual(tensors["e"]?.shape, [0, 3])
        let reader = try SafetensorsReader(url: file)
        XCTAssertEqual(reader.info("h")?.dtype, .f16)
        XCTAssertEqual(reader.info("l")?.dtype, .i64)
        XCTAssertEqual(reader.info("u")?.dtype, .u8)
    }
}
