// Hand-written equivalents of the two usual byte-level BPE split patterns, so Forge needs no regex
// engine and can split arbitrary bytes (invalid UTF-8 included), which regex engines refuse.
//
//   gpt2:   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//   cl100k: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
//           ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//
// Each matcher below tries the alternatives in order at the current character, exactly as a
// backtracking regex does (leftmost alternative wins, quantifiers greedy). `\s` is Unicode
// White_Space (what Oniguruma, used by Hugging Face `tokenizers`, means by it). A byte that is not
// part of a valid UTF-8 sequence counts as one "other" character (neither letter, number nor space).

/// Which split pattern a tokenizer uses before BPE runs inside each piece.
public enum PreTokenizerPattern: String, Sendable, CaseIterable {
    /// GPT-2's pattern: Hugging Face's `ByteLevel(use_regex: true)` pre-tokenizer.
    case gpt2
    /// cl100k's pattern (digits in groups of ≤ 3, newlines kept with whitespace/punctuation runs):
    /// better for source code; saved as a `Split` regex before `ByteLevel(use_regex: false)`.
    case cl100k

    /// The regex this splitter is equivalent to, as written into tokenizer.json.
    public var regex: String {
        switch self {
        case .gpt2:
            return #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
        case .cl100k:
            return #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
        }
    }
}

/// Splits bytes into pre-tokens; concatenating the pieces always gives back the input exactly.
public struct PreTokenizer: Sendable {
    public let pattern: PreTokenizerPattern

    public init(pattern: PreTokenizerPattern) { self.pattern = pattern }

    /// Byte ranges of the pieces of `bytes`, in order, covering it without gaps.
    public func pieces(of bytes: [UInt8]) -> [Range<Int>] {
        var result: [Range<Int>] = []
        bytes.withUnsafeBufferPointer { buffer in forEachPiece(in: buffer) { result.append($0) } }
        return result
    }

    /// Calls `body` with each piece's byte range, in order.
    func forEachPiece(in bytes: UnsafeBufferPointer<UInt8>, _ body: (Range<Int>) -> Void) {
        guard !bytes.isEmpty else { return }
        let text = ClassifiedText(bytes)
        var index = 0
        while index < text.count {
            let end = pattern == .gpt2 ? text.matchGPT2(at: index) : text.matchCl100k(at: index)
            body(text.byteOffset(index)..<text.byteOffset(end))
            index = end
        }
    }
}

/// Character classes the patterns distinguish, as bit flags.
private enum CharClass {
    static let letter: UInt8 = 1
    static let number: UInt8 = 2
    static let whitespace: UInt8 = 4
    static let newline: UInt8 = 8   // \r or \n (also whitespace)
    static let space: UInt8 = 16    // U+0020 (also whitespace)

    static let ascii: [UInt8] = (0..<128).map { classify(UInt32($0)) }

    static func classify(_ value: UInt32) -> UInt8 {
        guard let scalar = Unicode.Scalar(value) else { return 0 }
        if value == 0x0A || value == 0x0D { return whitespace | newline }
        if value == 0x20 { return whitespace | space }
        let properties = scalar.properties
        if properties.isWhitespace { return whitespace }
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            return letter
        case .decimalNumber, .letterNumber, .otherNumber:
            return number
        default:
            return 0
        }
    }
}

/// The input decoded leniently into characters with their classes and byte offsets.
private struct ClassifiedText {
    var starts: [Int] = []         // byte offset of each character, plus the total length at the end
    var flags: [UInt8] = []
    var scalars: [UInt32] = []     // scalar value, or UInt32.max for a stray byte
    var count: Int { flags.count }

    init(_ bytes: UnsafeBufferPointer<UInt8>) {
        starts.reserveCapacity(bytes.count + 1)
        flags.reserveCapacity(bytes.count)
        scalars.reserveCapacity(bytes.count)
        var offset = 0
        while offset < bytes.count {
            let (value, length) = ClassifiedText.decodeScalar(bytes, at: offset)
            starts.append(offset)
            scalars.append(value)
            if value < 128 {
                flags.append(CharClass.ascii[Int(value)])
            } else if value == UInt32.max {
                flags.append(0)
            } else {
                flags.append(CharClass.classify(value))
            }
            offset += length
        }
        starts.append(bytes.count)
    }

    /// One UTF-8 scalar at `offset` (Unicode Table 3-7 well-formedness), or a stray byte.
    static func decodeScalar(_ bytes: UnsafeBufferPointer<UInt8>, at offset: Int) -> (UInt32, Int) {
        let lead = bytes[offset]
        if lead < 0x80 { return (UInt32(lead), 1) }
        let length: Int
        var secondRange: ClosedRange<UInt8> = 0x80...0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; secondRange = 0xA0...0xBF
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; secondRange = 0x80...0x9F
        case 0xF0: length = 4; secondRange = 0x90...0xBF
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; secondRange = 0x80...0x8F
        default: return (UInt32.max, 1)
        }
        guard offset + length <= bytes.count, secondRange.contains(bytes[offset + 1]) else {
            return (UInt32.max, 1)
        }
        var value = UInt32(lead) & (length == 2 ? 0x1F : length == 3 ? 0x0F : 0x07)
        for k in 1..<length {
            let byte = bytes[offset + k]
            guard byte & 0xC0 == 0x80 else { return (UInt32.max, 1) }
            value = (value << 6) | UInt32(byte & 0x3F)
        }
        return (value, length)
    }

    func byteOffset(_ charIndex: Int) -> Int { starts[charIndex] }

    func has(_ index: Int, _ flag: UInt8) -> Bool { index < count && flags[index] & flag != 0 }
    /// Neither whitespace, letter nor number: `[^\s\p{L}\p{N}]`.
    func isOther(_ index: Int) -> Bool {
        index < count && flags[index] & (CharClass.whitespace | CharClass.letter | CharClass.number) == 0
    }

    func runEnd(from start: Int, while flag: UInt8) -> Int {
        var end = start
        while end < count && flags[end] & flag != 0 { end += 1 }
        return end
    }

    func otherRunEnd(from start: Int) -> Int {
        var end = start
        while isOther(end) { end += 1 }
        return end
    }

    /// `'s|'t|'re|'ve|'m|'ll|'d`, optionally case-insensitive; returns the end or nil.
    func contractionEnd(at index: Int, ignoringCase: Bool) -> Int? {
        guard scalars[index] == 0x27, index + 1 < count else { return nil }
        func letter(_ at: Int) -> UInt32? {
            guard at < count else { return nil }
            let value = scalars[at]
            guard ignoringCase else { return value }
            if value >= 0x41 && value <= 0x5A { return value + 0x20 }
            if value == 0x17F { return 0x73 }   // ſ case-folds to s
            return value
        }
        switch letter(index + 1) {
        case 0x73, 0x74, 0x6D, 0x64: return index + 2                            // s t m d
        case 0x72, 0x76: return letter(index + 2) == 0x65 ? index + 3 : nil       // re ve
        case 0x6C: return letter(index + 2) == 0x6C ? index + 3 : nil             // ll
        default: return nil
        }
    }

    /// `\s+(?!\S)|\s+` from a whitespace character.
    func trailingWhitespaceEnd(from index: Int) -> Int {
        let end = runEnd(from: index, while: CharClass.whitespace)
        if end == count || end - index < 2 { return end }
        return end - 1   // leave the last space to prefix the following word
    }

    func matchGPT2(at index: Int) -> Int {
        if let end = contractionEnd(at: index, ignoringCase: false) { return end }
        let leadingSpace = has(index, CharClass.space) ? 1 : 0
        for flag in [CharClass.letter, CharClass.number] {           // ` ?\p{L}+`, ` ?\p{N}+`
            if has(index, flag) { return runEnd(from: index, while: flag) }
            if leadingSpace == 1 && has(index + 1, flag) { return runEnd(from: index + 1, while: flag) }
        }
        if isOther(index) { return otherRunEnd(from: index) }         // ` ?[^\s\p{L}\p{N}]+`
        if leadingSpace == 1 && isOther(index + 1) { return otherRunEnd(from: index + 1) }
        return trailingWhitespaceEnd(from: index)
    }

    func matchCl100k(at index: Int) -> Int {
        if let end = contractionEnd(at: index, ignoringCase: true) { return end }
        // `[^\r\n\p{L}\p{N}]?\p{L}+`
        if has(index, CharClass.letter) { return runEnd(from: index, while: CharClass.letter) }
        if !has(index, CharClass.newline | CharClass.number) && has(index + 1, CharClass.letter) {
            return runEnd(from: index + 1, while: CharClass.letter)
        }
        // `\p{N}{1,3}`
        if has(index, CharClass.number) {
            var end = index + 1
            while end < index + 3 && has(end, CharClass.number) { end += 1 }
            return end
        }
        // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
        let punctuationStart = has(index, CharClass.space) && isOther(index + 1) ? index + 1 : index
        if isOther(punctuationStart) {
            return runEnd(from: otherRunEnd(from: punctuationStart), while: CharClass.newline)
        }
        // `\s*[\r\n]+`: up to the last newline of the whitespace run
        let end = runEnd(from: index, while: CharClass.whitespace)
        var lastNewline = end - 1
        while lastNewline >= index && !has(lastNewline, CharClass.newline) { lastNewline -= 1 }
        if lastNewline >= index { return lastNewline + 1 }
        return trailingWhitespaceEnd(from: index)
    }
}
