// What a SEARCH block may say: the lines the prompt showed. A SEARCH block that is not the file's
// text is an edit that does not apply (29 of 69 held-out responses of a copy-head SFT model were
// "SEARCH text not found"), and the policy can only know the file through its prompt. With this
// grounding the guard lets a block name only a file the prompt showed, and its SEARCH lines be
// only a run of consecutive lines shown of that file; the REPLACE lines stay free. The choice of
// lines (where to edit) and what to write there is still all the model's.

/// The files a prompt showed, as the guard matches them: path bytes and each file's shown lines.
public struct SearchGrounding: Sendable {
    public let paths: [[UInt8]]
    /// Per path, its shown lines (without newline) in order; a gap between excerpts is a nil
    /// that no SEARCH line matches, so a run of lines cannot straddle what was left out.
    public let lines: [[[UInt8]?]]
    /// Per path, the indices of its shown lines (the gaps left out): where a SEARCH block may begin.
    let shownLines: [[Int]]

    /// `shown`: path → the text the prompt shows of it. A last line without its newline (a file
    /// cut mid-line) and the excerpts' "…" separators are not lines a SEARCH block can copy.
    /// A file with no whole line shown is not offered: a block of it could not be finished.
    public init(shown: [(path: String, text: String)]) {
        let files = shown.map { entry in
            var lines = entry.text.split(separator: "\n", omittingEmptySubsequences: false).map { Optional(Array($0.utf8)) }
            lines.removeLast()   // what follows the last newline: empty, or a cut line
            return (path: Array(entry.path.utf8), lines: lines.map { $0 == Array("…".utf8) ? nil : $0 })
        }.filter { $0.lines.contains { $0 != nil } }
        paths = files.map(\.path)
        lines = files.map(\.lines)
        shownLines = lines.map { file in file.indices.filter { file[$0] != nil } }
    }

    /// Line indices of `file` among `candidates` whose text starts with `prefix`.
    func lines(of file: Int, among candidates: [Int], startingWith prefix: [UInt8]) -> [Int] {
        candidates.filter { lines[file][$0].map { $0.starts(with: prefix) } ?? false }
    }
}

extension EditFormatGuard {
    /// Where a grounded response is: the file its next block edits, and the shown lines the
    /// SEARCH line being written may still be (nil before the first: any shown line).
    struct GroundingState: Sendable {
        var file: Int?
        var candidates: [Int]?
        var searchLines = 0
    }

    /// The lines of `file` the SEARCH line being written may be: the one after each line the
    /// block matched so far, or any shown line for its first.
    func candidateLines(of file: Int, in grounding: SearchGrounding) -> [Int] { groundingState.candidates ?? grounding.shownLines[file] }

    /// Whether the bytes of the line being written can still become what grounding allows: in
    /// SEARCH, a prefix of a candidate line of the block's file (or of the divider); outside a
    /// block, a prefix of a shown path (or of the SEARCH marker).
    func groundedPrefixAllowed(_ line: [UInt8]) -> Bool {
        guard let grounding, !line.isEmpty else { return true }   // a line not begun may still be a marker
        switch section {
        case .replace: return true
        case .outside:
            if line.first == UInt8(ascii: "<") { return true }
            return grounding.paths.contains { $0.starts(with: line) }
        case .search:
            if line.first == UInt8(ascii: "=") { return groundingState.searchLines > 0 }
            guard let file = groundingState.file else { return false }
            return !grounding.lines(of: file, among: candidateLines(of: file, in: grounding), startingWith: line).isEmpty
        }
    }

    /// A finished line under grounding: a path line picks the block's file, a SEARCH line must be
    /// a whole candidate line and makes the lines after it the next candidates. False when the
    /// line breaks grounding.
    mutating func endGroundedLine(_ line: [UInt8], opened marker: String?) -> Bool {
        guard let grounding else { return true }
        switch (section, marker) {
        case (.outside, nil):
            guard !line.isEmpty else { return true }
            guard let file = grounding.paths.firstIndex(of: line) else { return false }
            groundingState = GroundingState(file: file)
        case (.search, nil):
            guard let file = groundingState.file else { return false }
            let matches = candidateLines(of: file, in: grounding).filter { grounding.lines[file][$0] == line }
            guard !matches.isEmpty else { return false }
            groundingState.candidates = matches.map { $0 + 1 }.filter { $0 < grounding.lines[file].count && grounding.lines[file][$0] != nil }
            groundingState.searchLines += 1
        case (.outside, EditFormat.searchMarker?):
            return groundingState.file != nil
        case (.search, EditFormat.dividerMarker?):
            return groundingState.searchLines > 0
        case (.replace, EditFormat.replaceMarker?):
            groundingState = GroundingState()
        default:
            break
        }
        return true
    }
}
