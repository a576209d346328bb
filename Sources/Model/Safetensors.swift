// The safetensors file format: an 8-byte little-endian header length, a JSON header naming each
// tensor's dtype, shape and byte range, padded with spaces so the data starts 8-byte aligned, then
// the raw little-endian tensor bytes back to back. Forge stores the model config JSON in the
// header's `__metadata__` string map. Reading maps the file and converts straight into [Float].
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Element types Forge reads (all converted to Float) and writes (converted from Float).
public enum SafetensorsDType: String, Sendable, CaseIterable {
    case f32 = "F32", f16 = "F16", bf16 = "BF16", i32 = "I32", i64 = "I64", u8 = "U8"

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .f32, .i32: return 4
        case .f16, .bf16: return 2
        case .i64: return 8
        case .u8: return 1
        }
    }
}

/// A tensor's entry in the header.
public struct SafetensorsTensorInfo: Sendable, Equatable {
    public let name: String
    public let dtype: SafetensorsDType
    public let shape: [Int]
    /// Byte range inside the data section (after the header).
    public let dataRange: Range<Int>
    public var elementCount: Int { shape.reduce(1, *) }
}

/// A problem reading or writing a safetensors file, naming the file and, where known, the tensor.
public struct SafetensorsError: Error, CustomStringConvertible {
    public let path: String
    public let tensor: String?
    public let problem: String
    public var description: String {
        "safetensors \(path)" + (tensor.map { " tensor \($0.debugDescription)" } ?? "") + ": \(problem)"
    }
}

/// Reads tensors one at a time from a memory-mapped safetensors file.
public final class SafetensorsReader {
    public let url: URL
    /// Header entries in data order.
    public let tensors: [SafetensorsTensorInfo]
    /// The `__metadata__` map (empty if absent).
    public let metadata: [String: String]
    private let mapped: Data
    private let dataStart: Int
    private let indexOfName: [String: Int]

    /// Maps the file and validates the header: known dtypes, sizes matching shapes, byte ranges
    /// contiguous from 0 to the end of the file (which catches truncation and trailing garbage).
    public init(url: URL) throws {
        self.url = url
        func fail(_ problem: String, _ tensor: String? = nil) -> SafetensorsError {
            SafetensorsError(path: url.path, tensor: tensor, problem: problem)
        }
        do { mapped = try Data(contentsOf: url, options: .alwaysMapped) } catch {
            throw fail("cannot read: \(error.localizedDescription)")
        }
        guard mapped.count >= 8 else { throw fail("file is \(mapped.count) bytes, shorter than the 8-byte header length") }
        let headerLength = mapped.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard headerLength <= 100_000_000, 8 + Int(headerLength) <= mapped.count else {
            throw fail("header length \(headerLength) exceeds the file size \(mapped.count) (truncated or not safetensors)")
        }
        dataStart = 8 + Int(headerLength)
        let headerData = mapped.subdata(in: 8..<dataStart)
        guard headerData.first == UInt8(ascii: "{"),
              let header = try? JSONSerialization.jsonObject(with: headerData) as? [String: Any] else {
            throw fail("header is not a JSON object")
        }
        var metadata: [String: String] = [:]
        if let rawMetadata = header["__metadata__"] {
            guard let map = rawMetadata as? [String: Any] else { throw fail("__metadata__ is not a string map") }
            for (key, value) in map {
                guard let text = value as? String else { throw fail("__metadata__[\(key.debugDescription)] is not a string") }
                metadata[key] = text
            }
        }
        self.metadata = metadata
        var infos: [SafetensorsTensorInfo] = []
        for (name, rawEntry) in header where name != "__metadata__" {
            guard let entry = rawEntry as? [String: Any] else { throw fail("entry is not an object", name) }
            guard let dtypeName = entry["dtype"] as? String, let dtype = SafetensorsDType(rawValue: dtypeName) else {
                throw fail("unsupported dtype \(String(describing: entry["dtype"]))", name)
            }
            guard let shape = (entry["shape"] as? [NSNumber])?.map(\.intValue), shape.allSatisfy({ $0 >= 0 }) else {
                throw fail("shape is not a list of non-negative integers", name)
            }
            guard let offsets = (entry["data_offsets"] as? [NSNumber])?.map(\.intValue), offsets.count == 2,
                  offsets[0] >= 0, offsets[0] <= offsets[1] else {
                throw fail("data_offsets is not [begin, end]", name)
            }
            let (product, overflow) = shape.reduce((1, false)) { acc, dim in
                let (value, over) = acc.0.multipliedReportingOverflow(by: dim)
                return (value, acc.1 || over)
            }
            guard !overflow, product * dtype.byteSize == offsets[1] - offsets[0] else {
                throw fail("shape \(shape) of \(dtype.rawValue) needs \(product * dtype.byteSize) bytes but data_offsets give \(offsets[1] - offsets[0])", name)
            }
            infos.append(SafetensorsTensorInfo(name: name, dtype: dtype, shape: shape, dataRange: offsets[0]..<offsets[1]))
        }
        infos.sort { ($0.dataRange.lowerBound, $0.dataRange.upperBound, $0.name) < ($1.dataRange.lowerBound, $1.dataRange.upperBound, $1.name) }
        var expectedStart = 0
        for info in infos {
            guard info.dataRange.lowerBound == expectedStart else {
                throw fail("data starts at byte \(info.dataRange.lowerBound), expected \(expectedStart) (overlap or hole)", info.name)
            }
            expectedStart = info.dataRange.upperBound
            guard dataStart + expectedStart <= mapped.count else {
                throw fail("data ends at byte \(dataStart + expectedStart) but the file has \(mapped.count) bytes (truncated)", info.name)
            }
        }
        guard dataStart + expectedStart == mapped.count else {
            throw fail("file has \(mapped.count - dataStart - expectedStart) bytes after the last tensor")
        }
        tensors = infos
        indexOfName = Dictionary(uniqueKeysWithValues: infos.enumerated().map { ($0.element.name, $0.offset) })
    }

    /// The header entry for `name`, if present.
    public func info(_ name: String) -> SafetensorsTensorInfo? { indexOfName[name].map { tensors[$0] } }

    /// The tensor's elements converted to Float, in row-major order.
    public func values(_ name: String) throws -> [Float] {
        guard let info = info(name) else {
            throw SafetensorsError(path: url.path, tensor: name, problem: "no such tensor")
        }
        let count = info.elementCount
        return mapped.withUnsafeBytes { file in
            let source = UnsafeRawBufferPointer(rebasing: file[(dataStart + info.dataRange.lowerBound)..<(dataStart + info.dataRange.upperBound)])
            return [Float](unsafeUninitializedCapacity: count) { destination, initialized in
                SafetensorsConversion.decode(source, dtype: info.dtype, into: destination)
                initialized = count
            }
        }
    }
}

/// Whole-file reading and writing over named flat Float buffers.
public enum SafetensorsFile {
    /// Reads every tensor (converted to Float) and the metadata.
    public static func read(from url: URL) throws -> (tensors: [String: (shape: [Int], values: [Float])], metadata: [String: String]) {
        let reader = try SafetensorsReader(url: url)
        var tensors: [String: (shape: [Int], values: [Float])] = [:]
        for info in reader.tensors { tensors[info.name] = (info.shape, try reader.values(info.name)) }
        return (tensors, reader.metadata)
    }

    /// Writes tensors in the given order, stored as `dtype` (integer dtypes require integral values
    /// in range), through a temporary file renamed into place, so a failure leaves no partial file.
    public static func write(tensors: [(name: String, shape: [Int], values: [Float])], metadata: [String: String] = [:],
                             to url: URL, dtype: SafetensorsDType = .f32) throws {
        func fail(_ problem: String, _ tensor: String? = nil) -> SafetensorsError {
            SafetensorsError(path: url.path, tensor: tensor, problem: problem)
        }
        var seen = Set<String>()
        var header = "{"
        if !metadata.isEmpty {
            header += "\"__metadata__\":{" + metadata.sorted { $0.key < $1.key }
                .map { ModelIOJSON.quoted($0.key) + ":" + ModelIOJSON.quoted($0.value) }.joined(separator: ",") + "},"
        }
        var offset = 0
        for tensor in tensors {
            guard !tensor.name.isEmpty, tensor.name != "__metadata__", seen.insert(tensor.name).inserted else {
                throw fail("tensor names must be non-empty, distinct and not __metadata__", tensor.name)
            }
            guard tensor.shape.allSatisfy({ $0 >= 0 }), tensor.shape.reduce(1, *) == tensor.values.count else {
                throw fail("shape \(tensor.shape) does not hold \(tensor.values.count) values", tensor.name)
            }
            if let bad = SafetensorsConversion.firstUnrepresentable(tensor.values, as: dtype) {
                throw fail("value \(tensor.values[bad]) at index \(bad) cannot be stored as \(dtype.rawValue)", tensor.name)
            }
            let end = offset + tensor.values.count * dtype.byteSize
            header += ModelIOJSON.quoted(tensor.name) + ":{\"dtype\":\"\(dtype.rawValue)\",\"shape\":[" +
                tensor.shape.map(String.init).joined(separator: ",") + "],\"data_offsets\":[\(offset),\(end)]},"
            offset = end
        }
        if header.hasSuffix(",") { header.removeLast() }
        header += "}"
        var headerBytes = Array(header.utf8)
        headerBytes += [UInt8](repeating: 0x20, count: (8 - headerBytes.count % 8) % 8)

        let directory = url.deletingLastPathComponent()
        let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).partial")
        guard FileManager.default.createFile(atPath: temporary.path, contents: nil),
              let handle = FileHandle(forWritingAtPath: temporary.path) else {
            throw fail("cannot create \(temporary.path)")
        }
        do {
            defer { try? handle.close() }
            var length = UInt64(headerBytes.count).littleEndian
            try handle.write(contentsOf: Data(bytes: &length, count: 8))
            try handle.write(contentsOf: headerBytes)
            for tensor in tensors {
                try SafetensorsConversion.encode(tensor.values, as: dtype) { chunk in
                    try handle.write(contentsOf: Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: chunk.baseAddress ?? UnsafeRawPointer(bitPattern: 8)!),
                                                      count: chunk.count, deallocator: .none))
                }
            }
            try handle.synchronize()
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw fail("write failed: \(error.localizedDescription)")
        }
        guard rename(temporary.path, url.path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: temporary)
            throw fail("cannot move the finished file into place: \(reason)")
        }
    }
}
