// GPT-2's reversible byte ↔ printable-character map, used to spell byte-level BPE tokens in
// tokenizer.json: every byte gets a visible, non-whitespace Unicode character, so tokens survive
// JSON and can be compared with other implementations (Hugging Face `tokenizers`, tiktoken).

/// The GPT-2 byte-to-Unicode alphabet: printable Latin-1 bytes map to themselves, the other 68
/// bytes (controls, space, DEL, NBSP, soft hyphen) to U+0100 onwards, in byte order.
public enum ByteLevelAlphabet {
    /// `scalarOfByte[b]` is the character that spells byte `b`.
    public static let scalarOfByte: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: "\0", count: 256)
        var nextShifted: UInt32 = 256
        for byte in 0..<256 {
            let printable = (33...126).contains(byte) || (161...172).contains(byte) || (174...255).contains(byte)
            if printable {
                table[byte] = Unicode.Scalar(UInt32(byte))!
            } else {
                table[byte] = Unicode.Scalar(nextShifted)!
                nextShifted += 1
            }
        }
        return table
    }()

    /// Inverse of `scalarOfByte`, keyed by scalar value.
    static let byteOfScalar: [UInt32: UInt8] = {
        var map: [UInt32: UInt8] = [:]
        for (byte, scalar) in scalarOfByte.enumerated() { map[scalar.value] = UInt8(byte) }
        return map
    }()

    /// Spells raw token bytes with the byte-level alphabet (e.g. " def" → "Ġdef").
    public static func encode<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        var scalars = String.UnicodeScalarView()
        for byte in bytes { scalars.append(scalarOfByte[Int(byte)]) }
        return String(scalars)
    }

    /// Turns a byte-level spelling back into raw bytes; nil if a character is outside the alphabet.
    public static func decode(_ text: String) -> [UInt8]? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.unicodeScalars.count)
        for scalar in text.unicodeScalars {
            guard let byte = byteOfScalar[scalar.value] else { return nil }
            bytes.append(byte)
        }
        return bytes
    }
}
