import CGit2

/// A git object name: 20 bytes, written as 40 lowercase hex digits.
///
/// Stored as three integers so hashing and comparing millions of ids stays cheap.
public struct ObjectID: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    private let a: UInt64, b: UInt64, c: UInt32

    /// Parses 40 hex digits (either case); nil for anything else.
    public init?(hex: String) {
        let utf8 = Array(hex.utf8)
        guard utf8.count == 40 else { return nil }
        var bytes = [UInt8](repeating: 0, count: 20)
        for i in 0..<20 {
            guard let hi = ObjectID.nibble(utf8[2 * i]), let lo = ObjectID.nibble(utf8[2 * i + 1]) else { return nil }
            bytes[i] = hi << 4 | lo
        }
        self.init(bytes: bytes)
    }

    /// The 20 raw bytes.
    public init(bytes: [UInt8]) {
        precondition(bytes.count == 20, "an object id has 20 bytes")
        var a: UInt64 = 0, b: UInt64 = 0, c: UInt32 = 0
        for i in 0..<8 { a = a << 8 | UInt64(bytes[i]) }
        for i in 8..<16 { b = b << 8 | UInt64(bytes[i]) }
        for i in 16..<20 { c = c << 8 | UInt32(bytes[i]) }
        self.a = a; self.b = b; self.c = c
    }

    init(_ oid: git_oid) {
        self.init(bytes: withUnsafeBytes(of: oid.id) { Array($0) })
    }

    init(_ pointer: UnsafePointer<git_oid>) { self.init(pointer.pointee) }

    /// The 20 raw bytes, most significant first.
    public var bytes: [UInt8] {
        var out = [UInt8](repeating: 0, count: 20)
        for i in 0..<8 { out[i] = UInt8(truncatingIfNeeded: a >> (56 - 8 * UInt64(i))) }
        for i in 0..<8 { out[8 + i] = UInt8(truncatingIfNeeded: b >> (56 - 8 * UInt64(i))) }
        for i in 0..<4 { out[16 + i] = UInt8(truncatingIfNeeded: c >> (24 - 8 * UInt32(i))) }
        return out
    }

    /// 40 lowercase hex digits.
    public var hex: String {
        String(unsafeUninitializedCapacity: 40) { buffer in
            func put(_ value: UInt64, digits: Int, at offset: Int) {
                for i in 0..<digits {
                    let nibble = UInt8(truncatingIfNeeded: value >> UInt64(4 * (digits - 1 - i))) & 15
                    buffer[offset + i] = nibble < 10 ? 48 + nibble : 87 + nibble
                }
            }
            put(a, digits: 16, at: 0)
            put(b, digits: 16, at: 16)
            put(UInt64(c), digits: 8, at: 32)
            return 40
        }
    }

    /// The first `length` hex digits, for messages.
    public func abbreviated(_ length: Int = 10) -> String { String(hex.prefix(length)) }

    public var description: String { hex }

    public var isZero: Bool { a == 0 && b == 0 && c == 0 }

    /// All zeros: git's name for "no object".
    public static let zero = ObjectID(bytes: [UInt8](repeating: 0, count: 20))

    var oid: git_oid {
        var oid = git_oid()
        let raw = bytes
        withUnsafeMutableBytes(of: &oid.id) { $0.copyBytes(from: raw) }
        return oid
    }

    public static func < (lhs: ObjectID, rhs: ObjectID) -> Bool {
        (lhs.a, lhs.b, lhs.c) < (rhs.a, rhs.b, rhs.c)
    }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let id = ObjectID(hex: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                    debugDescription: "not a 40-hex object id: \(text)"))
        }
        self = id
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(hex)
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: return c - 48
        case 97...102: return c - 87
        case 65...70: return c - 55
        default: return nil
        }
    }
}
