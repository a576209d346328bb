/// JSON string literals written by hand where a format's bytes are ours to fix (SWE-bench JSONL
/// in the order the harness writes it, tokenizer.json, safetensors headers), faster than a
/// JSONEncoder per string.
public enum JSONString {
    /// Appends `value` as a JSON string. Works on UTF-8 bytes (multi-byte sequences never contain
    /// bytes below 0x80, so they are copied as they are) and copies unescaped runs in one go.
    public static func appendQuoted(_ value: String, to out: inout [UInt8]) {
        var value = value
        value.withUTF8 { bytes in
            out.reserveCapacity(out.count + bytes.count + 2)
            out.append(UInt8(ascii: "\""))
            guard let base = bytes.baseAddress else { return out.append(UInt8(ascii: "\"")) }
            var runStart = 0, index = 0
            let end = bytes.count
            while index < end {
                let byte = base[index]
                // Fast path: most bytes need no escape (UTF-8 continuation bytes are >= 0x80).
                if byte >= 0x20 && byte != 0x22 && byte != 0x5C { index += 1; continue }
                out.append(contentsOf: UnsafeBufferPointer(start: base + runStart, count: index - runStart))
                out.append(0x5C)  // backslash
                switch byte {
                case 0x22, 0x5C: out.append(byte)
                case 0x0A: out.append(UInt8(ascii: "n"))
                case 0x0D: out.append(UInt8(ascii: "r"))
                case 0x09: out.append(UInt8(ascii: "t"))
                case 0x08: out.append(UInt8(ascii: "b"))
                case 0x0C: out.append(UInt8(ascii: "f"))
                default:
                    let hex: StaticString = "0123456789abcdef"
                    out.append(contentsOf: "u00".utf8)
                    out.append(hex.utf8Start[Int(byte >> 4)])
                    out.append(hex.utf8Start[Int(byte & 0xF)])
                }
                index += 1
                runStart = index
            }
            out.append(contentsOf: UnsafeBufferPointer(start: base + runStart, count: end - runStart))
            out.append(UInt8(ascii: "\""))
        }
    }

    /// `text` as a JSON string literal.
    public static func quoted(_ text: String) -> String {
        var bytes: [UInt8] = []
        appendQuoted(text, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }
}
