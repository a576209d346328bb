// Constrained decoding of the edit format. A small policy that copies well also copies its own
// markers: after a REPLACE section that repeats the SEARCH lines, the token that followed those
// lines last time is "=======", and greedy decoding loops on it (31 of 69 held-out responses
// of a copy-head SFT model ended that way). Only the marker grammar is enforced: a line that
// starts like a marker must be the marker the block expects next (SEARCH outside a block, the
// divider in SEARCH, the end marker in REPLACE), the end of text never falls inside a block,
// and the prompt's special tokens never appear. What the lines say is left to the model, except
// that with a `SearchGrounding` a block names a file the prompt showed and its SEARCH lines are
// lines shown of that file (SearchGrounding.swift).
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
        let hasNewline: [Bool]
        let endToken: Int

        init(tokenizer: Tokenizer, endToken: Int) {
            bytes = tokenizer.tokenBytes
            let specials = Set(tokenizer.specialTokenIds.values)
            forbidden = bytes.indices.map { specials.contains($0) && $0 != endToken }
            markerRelevant = bytes.map { token in token.contains { EditFormatGuard.markerSymbols.contains($0) || $0 == EditFormatGuard.newline } }
            hasNewline = bytes.map { $0.contains(EditFormatGuard.newline) }
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
    /// What the prompt showed, when SEARCH blocks must copy it (nil: free).
    public var grounding: SearchGrounding?
    var groundingState = GroundingState()

    public init(tokenizer: Tokenizer, endToken: Int, grounding: SearchGrounding? = nil) {
        tables = Tables(tokenizer: tokenizer, endToken: endToken)
        self.grounding = grounding
    }

    public func mask(_ logits: inout [Float]) {
        let unmasked = grounding == nil ? [] : logits   // kept only for the grounded fallback
        maskTokens(&logits)
        // Grounding never leaves nothing to write (the protocol's promise); should a state do
        // so, that step falls back to the marker grammar alone.
        if grounding != nil && !logits.contains(where: { $0 > -.infinity }) {
            var ungrounded = self
            ungrounded.grounding = nil
            logits = unmasked
            ungrounded.maskTokens(&logits)
        }
    }

    func maskTokens(_ logits: inout [Float]) {
        // A line that already started with something other than a marker symbol cannot become a
        // marker: only tokens that end it need checking.
        let plainLine = Self.content(of: line).first.map { !Self.markerSymbols.contains($0) } ?? false
        let continuations = groundedContinuations()
        for id in logits.indices {
            guard id < tables.bytes.count, !tables.forbidden[id] else { logits[id] = -.infinity; continue }
            if id == tables.endToken {
                if section != .outside { logits[id] = -.infinity }
                continue
            }
            if let continuations {
                let bytes = tables.bytes[id]
                if tables.hasNewline[id] {
                    var probe = self
                    if !probe.write(bytes) { logits[id] = -.infinity }
                    continue
                }
                // A marker starting on an empty line is the marker grammar's to judge.
                let startsMarker = line.isEmpty && bytes.first.map(Self.markerSymbols.contains) == true
                if !startsMarker && !Self.anyStarts(continuations, with: bytes) { logits[id] = -.infinity; continue }
            }
            if !tables.markerRelevant[id] || (plainLine && !tables.hasNewline[id]) { continue }
            var probe = self
            if !probe.write(tables.bytes[id]) { logits[id] = -.infinity }
        }
    }

    public mutating func advance(with token: Int) {
        guard token < tables.bytes.count, token != tables.endToken else { return }
        _ = write(tables.bytes[token])
    }

    /// Appends bytes to the response; false when they break the marker grammar or grounding.
    mutating func write(_ bytes: [UInt8]) -> Bool {
        for byte in bytes {
            if byte == Self.newline {
                guard endLine() else { return false }
            } else {
                line.append(byte)
            }
        }
        return !startsWrongMarker(line) && groundedPrefixAllowed(line)
    }

    /// Moves to the section a finished marker line opens; false for a marker out of place or a
    /// line grounding does not allow.
    mutating func endLine() -> Bool {
        defer { line.removeAll(keepingCapacity: true) }
        let text = String(decoding: line, as: UTF8.self)
        let marker = [EditFormat.searchMarker, EditFormat.dividerMarker, EditFormat.replaceMarker].first { EditFormat.isMarker(text, $0) }
        guard endGroundedLine(line, opened: marker) else { return false }
        switch marker {
        case EditFormat.searchMarker?:
            guard section == .outside else { return false }
            section = .search
        case EditFormat.dividerMarker?:
            guard section == .search else { return false }
            section = .replace
        case EditFormat.replaceMarker?:
            guard section == .replace else { return false }
            section = .outside
        default:
            if startsWrongMarker(line) { return false }
        }
        return true
    }

    /// What the line being written may go on with under grounding, sorted (nil where grounding
    /// does not apply: none, a REPLACE section, a marker line).
    func groundedContinuations() -> [ArraySlice<UInt8>]? {
        let markerLine = line.first.map { Self.markerSymbols.contains($0) } ?? false
        guard let grounding, section != .replace, !markerLine else { return nil }
        let whole: [[UInt8]]
        if section == .outside {
            whole = grounding.paths.filter { $0.starts(with: line) }
        } else {
            guard let file = groundingState.file else { return [] }
            whole = grounding.lines(of: file, among: candidateLines(of: file, in: grounding), startingWith: line)
                .compactMap { grounding.lines[file][$0] }
        }
        return whole.map { $0.dropFirst(line.count) }.sorted { $0.lexicographicallyPrecedes($1) }
    }

    /// Whether some element of `sorted` starts with `prefix` (binary search).
    static func anyStarts(_ sorted: [ArraySlice<UInt8>], with prefix: [UInt8]) -> Bool {
        var low = 0, high = sorted.count
        while low < high {
            let middle = (low + high) / 2
            if sorted[middle].lexicographicallyPrecedes(prefix) { low = middle + 1 } else { high = middle }
        }
        return low < sorted.count && sorted[low].starts(with: prefix)
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
