// The safetensors file format: an 8-byte little-endian header length, a JSON header naming each
// tensor's dtype, shape and byte range, padded with spaces so the data starts 8-byte aligned, then
// the raw little-endian tensor bytes back to back. Forge stores the model config JSON in the
// header's `__metadata__` string map. Reading maps the file and converts straight into [Float].
import Basics
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
public struct SafetensorsError: Error, CustomStringConvertible, LocalizedError {
    public let path: String
    public let tensor: String?
    public let problem: String
    /// What failed underneath (the file system's error, the JSON decoder's), when something did.
    public let underlying: (any Error)?

    public init(path: String, tensor: String? = nil, problem: String, underlying: (any Error)? = nil) {
        self.path = path; self.tensor = tensor; self.problem = problem; self.underlying = underlying
    }

    public var description: String {
        "safetensors \(path)" + (tensor.map { " tensor \($0.debugDescription)" } ?? "") + ": \(problem)"
    }
    public var errorDescription: String? { description }
}

/// The JSON header: `{name: {dtype, shape, data_offsets}, ..., "__metadata__": {string: string}}`.
/// Decoding checks only the JSON types; `SafetensorsReader` checks the values.
struct SafetensorsHeader: Decodable {
    struct Entry: Decodable, Equatable {
        var dtype: String
        var shape: [Int]
        var dataOffsets: [Int]
        enum CodingKeys: String, CodingKey { case dtype, shape, dataOffsets = "data_offsets" }
    }
    static let metadataKey = "__metadata__"

    var metadata: [String: String]
    var entries: [String: Entry]

    /// Tensor names are the header's own keys.
    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Key.self)
        var metadata: [String: String] = [:], entries: [String: Entry] = [:]
        for key in container.allKeys {
            if key.stringValue == Self.metadataKey {
                metadata = try container.decode([String: String].self, forKey: key)
            } else {
                entries[key.stringValue] = try container.decode(Entry.self, forKey: key)
            }
        }
        self.metadata = metadata
        self.entries = entries
    }

    /// Decodes the header bytes; a failure names the tensor (or `__metadata__`) and the field.
    static func decode(_ data: Data, path: String) throws -> SafetensorsHeader {
        do {
            return try JSONDecoder().decode(SafetensorsHeader.self, from: data)
        } catch let error as DecodingError {
            let keys = error.failurePath
            let problem: String
            var tensor: String?
            switch (keys.first?.stringValue, keys.count) {
            // This JSONDecoder reports a number that fits no Int (1.5, 1e30) as invalid JSON at
            // the top level, without the tensor's name.
            case (nil, _): problem = "header does not decode as JSON: " + ModelIOJSON.describe(error)
            case (metadataKey?, 1): problem = "__metadata__ is not a string map"
            case (metadataKey?, _): problem = "__metadata__[\(keys[1].stringValue.debugDescription)] is not a string"
            case (let name?, 1):
                tensor = name
                problem = "entry is not an object"
            case (let name?, _):
                tensor = name
                let field = keys[1].stringValue
                if case .keyNotFound = error { problem = "entry has no \(field)" } else {
                    problem = field == Entry.CodingKeys.dtype.rawValue ? "dtype is not a string"
                        : field == Entry.CodingKeys.shape.rawValue ? "shape is not a list of non-negative integers"
                        : "data_offsets is not [begin, end]"
                }
            }
            throw SafetensorsError(path: path, tensor: tensor, problem: problem, underlying: error)
        }
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
            throw SafetensorsError(path: url.path, problem: "cannot read: \(error.localizedDescription)", underlying: error)
        }
        guard mapped.count >= 8 else { throw fail("file is \(mapped.count) bytes, shorter than the 8-byte header length") }
        let headerLength = mapped.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard headerLength <= 100_000_000, 8 + Int(headerLength) <= mapped.count else {
            throw fail("header length \(headerLength) exceeds the file size \(mapped.count) (truncated or not safetensors)")
        }
        dataStart = 8 + Int(headerLength)
        let headerData = mapped.subdata(in: 8..<dataStart)
        guard headerData.first == UInt8(ascii: "{") else { throw fail("header is not a JSON object") }
        let header = try SafetensorsHeader.decode(headerData, path: url.path)
        metadata = header.metadata
        var infos: [SafetensorsTensorInfo] = []
        for (name, entry) in header.entries {
            guard let dtype = SafetensorsDType(rawValue: entry.dtype) else {
                throw fail("unsupported dtype \(entry.dtype.debugDescription)", name)
            }
            let shape = entry.shape
            guard shape.allSatisfy({ $0 >= 0 }) else { throw fail("shape is not a list of non-negative integers", name) }
            let offsets = entry.dataOffsets
            guard offsets.count == 2, offsets[0] >= 0, offsets[0] <= offsets[1] else {
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
                .map { JSONString.quoted($0.key) + ":" + JSONString.quoted($0.value) }.joined(separator: ",") + "},"
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
            header += JSONString.quoted(tensor.name) + ":{\"dtype\":\"\(dtype.rawValue)\",\"shape\":[" +
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
            // On the error path only the removal below matters; on success synchronize() has
            // already put the bytes on disk, so close() has nothing left to lose.
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
            // The partial file is garbage either way; the write's error is the one to report.
            try? FileManager.default.removeItem(at: temporary)
            throw SafetensorsError(path: url.path, problem: "write failed: \(error.localizedDescription)", underlying: error)
        }
        guard rename(temporary.path, url.path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: temporary)
            throw fail("cannot move the finished file into place: \(reason)")
        }
    }
}
