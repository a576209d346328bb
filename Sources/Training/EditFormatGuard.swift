// Constrained decoding of the edit format. A small policy that copies well also copies its own
// markers: after a REPLACE section that repeats the SEARCH lines, the token that followed those
// lines last time is "=======", and greedy decoding loops on it (31 of 69 held-out responses
// of a copy-head SFT model ended that way). Only the marker grammar is enforced: a line that
// starts like a marker must be the marker the block expects next (SEARCH outside a block, the
// divider in SEARCH, the end marker in REPLACE), the end of text never falls inside a block,
// and the prompt's special tokens never appear. What the lines say is left to the model.
import Model

public struct EditFormatGuard: GenerationConstraint {
    enum Section: Sendable { case outside, search, replace }

    /// Per-tokenizer tables, shared by every copy of the guard.
    final class Tables: Sendable {
        let bytes: [[UInt8]]
        /// Tokens that may never be generated (the prompt's special tokens).
        let forbidden: [Bool]
        /// Tokens whose bytes end a line or can start or extend a marker.
        let markerRelevant: [Bool]
        let endToken: Int

        init(tokenizer: Tokenizer, endToken: Int) {
            bytes = tokenizer.tokenBytes
            let specials = Set(tokenizer.specialTokenIds.values)
            forbidden = bytes.indices.map { specials.contains($0) && $0 != endToken }
            markerRelevant = bytes.map { token in token.contains { EditFormatGuard.markerSymbols.contains($0) || $0 == EditFormatGuard.newline } }
            self.endToken = endToken
        }
    }

    static let newline = UInt8(ascii: "\n")
    static let markerSymbols: Set<UInt8> = [UInt8(ascii: "<"), UInt8(ascii: "="), UInt8(ascii: ">")]
    /// The run of an unexpected marker symbol that starts no line of code, so a line starting
    /// with it can only be a marker out of place: "==" or "<<" (a line of HTML starts with one
    /// "<"), ">>>>" (a doctest line starts with ">>>").
    static func unexpectedRun(_ symbol: UInt8) -> Int { symbol == UInt8(ascii: ">") ? 4 : 2 }

    let tables: Tables
    var section = Section.outside
    /// The bytes of the line being written.
    var line: [UInt8] = []

    public init(tokenizer: Tokenizer, endToken: Int) {
        tables = Tables(tokenizer: tokenizer, endToken: endToken)
    }

    public func mask(_ logits: inout [Float]) {
        // A line that already started with something other than a marker symbol cannot become a
        // marker: only tokens that end it need checking.
        let plainLine = Self.content(of: line).first.map { !Self.markerSymbols.contains($0) } ?? false
        for id in logits.indices {
            guard id < tables.bytes.count, !tables.forbidden[id] else { logits[id] = -.infinity; continue }
            if id == tables.endToken {
                if section != .outside { logits[id] = -.infinity }
                continue
            }
            if !tables.markerRelevant[id] || (plainLine && !tables.bytes[id].contains(Self.newline)) { continue }
            var probe = self
            if !probe.write(tables.bytes[id]) { logits[id] = -.infinity }
        }
    }

    public mutating func advance(with token: Int) {
        guard token < tables.bytes.count, token != tables.endToken else { return }
        _ = write(tables.bytes[token])
    }

    /// Appends bytes to the response; false when they break the marker grammar.
    mutating func write(_ bytes: [UInt8]) -> Bool {
        for byte in bytes {
            if byte == Self.newline {
                guard endLine() else { return false }
            } else {
                line.append(byte)
            }
        }
        return !startsWrongMarker(line)
    }

    /// Moves to the section a finished marker line opens; false for a marker out of place.
    mutating func endLine() -> Bool {
        defer { line.removeAll(keepingCapacity: true) }
        let text = String(decoding: line, as: UTF8.self)
        if EditFormat.isMarker(text, EditFormat.searchMarker) {
            guard section == .outside else { return false }
            section = .search
        } else if EditFormat.isMarker(text, EditFormat.dividerMarker) {
            guard section == .search else { return false }
            section = .replace
        } else if EditFormat.isMarker(text, EditFormat.replaceMarker) {
            guard section == .replace else { return false }
            section = .outside
        } else if startsWrongMarker(line) {
            return false
        }
        return true
    }

    /// A line without its indentation.
    static func content(of line: [UInt8]) -> ArraySlice<UInt8> { line.drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") } }

    /// Whether a line starts like a marker that is not the one this section may see next.
    func startsWrongMarker(_ line: [UInt8]) -> Bool {
        let content = Self.content(of: line)
        guard let symbol = content.first, Self.markerSymbols.contains(symbol),
              content.prefix(while: { $0 == symbol }).count >= Self.unexpectedRun(symbol) else { return false }
        let expected: UInt8
        switch section {
        case .outside: expected = UInt8(ascii: "<")
        case .search: expected = UInt8(ascii: "=")
        case .replace: expected = UInt8(ascii: ">")
        }
        return symbol != expected
    }
}
