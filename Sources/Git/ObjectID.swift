import CGit2

/// A git object name: 20 bytes, written as 40 lowercase hex digits.
///
/// Stored as three integers so hashing and comparing millions of ids stays cheap.
public struct ObjectID: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    private let a: UInt64, b: UInt64, c: UInt32

    /// Parses 40 hex digits (either case); nil for anything else.
    public init?(hex: String) {
        var text = hex
        guard let parsed = text.withUTF8({ ObjectID(hexDigits: $0) }) else { return nil }
        self = parsed
    }

    /// Parses 40 hex digits given as ASCII bytes.
    init?(hexDigits digits: UnsafeBufferPointer<UInt8>) {
        guard digits.count == 40 else { return nil }
        func word(_ from: Int, _ count: Int) -> UInt64? {
            var value: UInt64 = 0
            for i in from..<(from + count) {
                guard let nibble = ObjectID.nibble(digits[i]) else { return nil }
                value = value << 4 | UInt64(nibble)
            }
            return value
        }
        guard let a = word(0, 16), let b = word(16, 16), let c = word(32, 8) else { return nil }
        self.a = a; self.b = b; self.c = UInt32(c)
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
        var id = oid.id
        (a, b, c) = withUnsafeBytes(of: &id) { raw in
            (UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
             UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self)),
             UInt32(bigEndian: raw.loadUnaligned(fromByteOffset: 16, as: UInt32.self)))
        }
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
        withUnsafeMutableBytes(of: &oid.id) { raw in
            raw.storeBytes(of: a.bigEndian, toByteOffset: 0, as: UInt64.self)
            raw.storeBytes(of: b.bigEndian, toByteOffset: 8, as: UInt64.self)
            raw.storeBytes(of: c.bigEndian, toByteOffset: 16, as: UInt32.self)
        }
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
