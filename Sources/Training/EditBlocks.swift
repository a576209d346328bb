// The policy's edit format: SEARCH/REPLACE blocks (Aider's and SWE-RL's), which a small model
// writes more reliably than unified diffs (no line numbers, no hunk counts). Each block names a
// file on the line before it:
//
//     textkit/words.py
//     <<<<<<< SEARCH
//         return a - b
//     =======
//         return a + b
//     >>>>>>> REPLACE
//
// Blocks apply in order to the file at the task's base; an empty SEARCH creates a file. The
// result is scored as the unified diff of the edited files (`unifiedDiff`), so the evaluator
// sees the same kind of patch as from any other model.
import Foundation
import Evaluation
import Git

public struct EditBlock: Hashable, Sendable, Codable {
    public var path: String
    /// Whole lines, each with its newline (the last one may lack it at the end of a file).
    public var search: String
    public var replace: String

    public init(path: String, search: String, replace: String) {
        self.path = path; self.search = search; self.replace = replace
    }
}

/// Why a model's output is not a usable edit: the reward for it is the format penalty.
public struct EditFormatError: Error, CustomStringConvertible, Hashable, Sendable {
    public var line: Int?
    public var message: String
    public var description: String { line.map { "line \($0): \(message)" } ?? message }
}

public enum EditFormat {
    static let searchMarker = "<<<<<<< SEARCH", dividerMarker = "=======", replaceMarker = ">>>>>>> REPLACE"

    /// Blocks in `text`. Tolerates code fences, blank lines between blocks and a missing final
    /// newline; a block without its divider or end marker, or with no file name, is an error.
    public static func parse(_ text: String) throws -> [EditBlock] {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { String($0) }
        var blocks: [EditBlock] = []
        var index = 0
        var lastPath: String?
        while index < lines.count {
            let line = lines[index]
            guard isMarker(line, searchMarker) else {
                let candidate = line.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "`*"))
                if !candidate.isEmpty && !candidate.contains(" ") && !line.hasPrefix("```") { lastPath = candidate }
                index += 1
                continue
            }
            guard let path = lastPath else { throw EditFormatError(line: index + 1, message: "SEARCH block without a file name before it") }
            var search: [String] = [], replace: [String] = []
            var cursor = index + 1
            while cursor < lines.count && !isMarker(lines[cursor], dividerMarker) {
                if isMarker(lines[cursor], searchMarker) || isMarker(lines[cursor], replaceMarker) {
                    throw EditFormatError(line: cursor + 1, message: "expected \(dividerMarker) before this marker")
                }
                search.append(lines[cursor]); cursor += 1
            }
            guard cursor < lines.count else { throw EditFormatError(line: index + 1, message: "SEARCH block has no \(dividerMarker)") }
            cursor += 1
            while cursor < lines.count && !isMarker(lines[cursor], replaceMarker) {
                if isMarker(lines[cursor], searchMarker) || isMarker(lines[cursor], dividerMarker) {
                    throw EditFormatError(line: cursor + 1, message: "expected \(replaceMarker) before this marker")
                }
                replace.append(lines[cursor]); cursor += 1
            }
            guard cursor < lines.count else { throw EditFormatError(line: index + 1, message: "SEARCH block has no \(replaceMarker)") }
            blocks.append(EditBlock(path: path, search: joinLines(search), replace: joinLines(replace)))
            index = cursor + 1
        }
        guard !blocks.isEmpty else { throw EditFormatError(line: nil, message: "no SEARCH/REPLACE block found") }
        return blocks
    }

    /// The non-blank lines of every SEARCH block in `text`, read leniently (a block may lack its
    /// divider or file name): what a response claims the file says, for measuring how much of it
    /// the model copied from its prompt even when the edit is unusable.
    public static func searchLines(in text: String) -> [String] {
        var lines: [String] = [], inSearch = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if isMarker(line, searchMarker) { inSearch = true; continue }
            if isMarker(line, dividerMarker) || isMarker(line, replaceMarker) { inSearch = false; continue }
            if inSearch && !line.trimmingCharacters(in: .whitespaces).isEmpty { lines.append(line) }
        }
        return lines
    }

    /// How many of `response`'s SEARCH lines (compared without their indentation) are lines of
    /// `prompt`: a SEARCH the policy copied from the file it was shown counts in full, one it
    /// made up counts little.
    public static func searchLinesShown(response: String, prompt: String) -> (shown: Int, total: Int) {
        let promptLines = Set(prompt.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) })
        let lines = searchLines(in: response).map { $0.trimmingCharacters(in: .whitespaces) }
        return (lines.filter(promptLines.contains).count, lines.count)
    }

    /// The text `parse` reads back as `blocks`.
    public static func render(_ blocks: [EditBlock]) -> String {
        blocks.map { block in
            "\(block.path)\n\(searchMarker)\n\(block.search)\(terminated(block.search))\(dividerMarker)\n" +
                "\(block.replace)\(terminated(block.replace))\(replaceMarker)\n"
        }.joined()
    }

    /// Applies the blocks to files read through `read` (nil: no such file). Returns each edited
    /// file's contents before and after, in the order first edited.
    public static func apply(_ blocks: [EditBlock], read: (String) throws -> [UInt8]?) throws -> [(path: String, old: [UInt8], new: [UInt8])] {
        var order: [String] = []
        var originals: [String: [UInt8]] = [:], current: [String: String] = [:]
        for (number, block) in blocks.enumerated() {
            guard !block.path.hasPrefix("/"), !block.path.split(separator: "/").contains("..") else {
                throw EditFormatError(line: nil, message: "block \(number + 1) edits \(block.path), outside the repository")
            }
            if current[block.path] == nil {
                let bytes = try read(block.path)
                if bytes == nil && !block.search.isEmpty {
                    throw EditFormatError(line: nil, message: "block \(number + 1) edits \(block.path), which does not exist")
                }
                originals[block.path] = bytes ?? []
                current[block.path] = String(decoding: bytes ?? [], as: UTF8.self)
                order.append(block.path)
            }
            let text = current[block.path]!
            if block.search.isEmpty {
                guard text.isEmpty else {
                    throw EditFormatError(line: nil, message: "block \(number + 1) has an empty SEARCH but \(block.path) is not empty")
                }
                current[block.path] = block.replace
                continue
            }
            guard let range = lineRange(of: block.search, in: text) else {
                throw EditFormatError(line: nil, message: "block \(number + 1): SEARCH text not found in \(block.path)")
            }
            var replacement = block.replace
            // A SEARCH that ended the file without a newline matched text that has one.
            if !replacement.isEmpty && !replacement.hasSuffix("\n") && text[range].hasSuffix("\n") { replacement += "\n" }
            current[block.path] = text.replacingCharacters(in: range, with: replacement)
        }
        return order.map { (path: $0, old: originals[$0]!, new: Array(current[$0]!.utf8)) }
    }

    /// The unified diff of applying `blocks` (empty when they change nothing).
    public static func unifiedDiff(_ blocks: [EditBlock], read: (String) throws -> [UInt8]?) throws -> String {
        try apply(blocks, read: read).map { try TextDiff.unified(path: $0.path, old: $0.old, new: $0.new) }.joined()
    }

    /// SEARCH/REPLACE blocks equivalent to a unified diff (a gold patch, as an SFT target): one
    /// block per hunk, its context trimmed to the fewest lines (at least one where the file
    /// has any) that keep SEARCH unique in the file, so targets stay short. Deletions, renames
    /// and binary files have no block form and throw.
    /// Each hunk's SEARCH keeps at least `leastContext` lines of context on each side, more where
    /// it would not be unique in the file.
    public static func blocks(fromUnifiedDiff patch: String, read: (String) throws -> [UInt8]?, leastContext: Int = 1) throws -> [EditBlock] {
        var blocks: [EditBlock] = []
        for section in PatchText.sections(of: patch) {
            guard let path = section.newPath, section.oldPath == nil || section.oldPath == path else {
                throw EditFormatError(line: nil, message: "\(section.oldPath ?? "a file") is deleted or renamed: no SEARCH/REPLACE form")
            }
            guard !section.text.contains("\nGIT binary patch\n") else {
                throw EditFormatError(line: nil, message: "\(path) is binary: no SEARCH/REPLACE form")
            }
            let original = String(decoding: try read(path) ?? [], as: UTF8.self)
            for hunk in hunks(section.text) {
                blocks.append(trimmedBlock(path: path, hunk: hunk, in: original, leastContext: leastContext))
            }
        }
        guard !blocks.isEmpty else { throw EditFormatError(line: nil, message: "the patch has no text hunks") }
        return blocks
    }

    // MARK: - Helpers

    /// Markers as models write them: 5 to 9 marker characters, the keyword after optional space.
    static func isMarker(_ line: String, _ marker: String) -> Bool {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        guard let symbol = marker.first, trimmed.first == symbol else { return false }
        let run = trimmed.prefix { $0 == symbol }.count
        let keyword = marker.drop { $0 == symbol }.trimmingCharacters(in: .whitespaces)
        return (5...9).contains(run) && trimmed.dropFirst(run).trimmingCharacters(in: .whitespaces) == keyword
    }

    static func joinLines(_ lines: [String]) -> String { lines.isEmpty ? "" : lines.joined(separator: "\n") + "\n" }

    static func terminated(_ text: String) -> String { text.isEmpty || text.hasSuffix("\n") ? "" : "\n" }

    /// The range of `needle` in `text` starting at a line start: exactly, else with trailing
    /// whitespace ignored on every line (models often drop or add it), else the clearly most
    /// similar window of lines.
    static func lineRange(of needle: String, in text: String) -> Range<String.Index>? {
        var searchStart = text.startIndex
        while let found = text.range(of: needle, range: searchStart..<text.endIndex) {
            if found.lowerBound == text.startIndex || text[text.index(before: found.lowerBound)] == "\n" { return found }
            searchStart = text.index(after: found.lowerBound)
        }
        let wanted = needle.split(separator: "\n", omittingEmptySubsequences: false).dropLast(needle.hasSuffix("\n") ? 1 : 0)
            .map { $0.trimmingTrailingWhitespace() }
        guard !wanted.isEmpty else { return nil }
        var lineStarts: [String.Index] = [text.startIndex]
        for index in text.indices where text[index] == "\n" { lineStarts.append(text.index(after: index)) }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.trimmingTrailingWhitespace() }
        guard lines.count >= wanted.count else { return nil }
        func range(_ start: Int) -> Range<String.Index> {
            lineStarts[start]..<(start + wanted.count < lineStarts.count ? lineStarts[start + wanted.count] : text.endIndex)
        }
        for start in 0...(lines.count - wanted.count) where Array(lines[start..<(start + wanted.count)]) == wanted { return range(start) }
        // Last resort (as Aider does): the one window of as many lines that is clearly the most
        // similar, if it is nearly the same text — a model misremembering a character or two.
        var scores: [(start: Int, score: Double)] = []
        for start in 0...(lines.count - wanted.count) {
            let score = zip(lines[start..<(start + wanted.count)], wanted).reduce(0.0) { $0 + similarity($1.0, $1.1) } / Double(wanted.count)
            scores.append((start, score))
        }
        scores.sort { $0.score > $1.score }
        guard let best = scores.first, best.score >= fuzzyThreshold, scores.count == 1 || scores[1].score < best.score - 0.02 else { return nil }
        return range(best.start)
    }

    /// How similar SEARCH must be to the file's lines for the fuzzy match.
    static let fuzzyThreshold = 0.9

    /// 1 − Levenshtein distance / the longer length, on characters.
    static func similarity(_ a: String, _ b: String) -> Double {
        let x = Array(a), y = Array(b)
        guard !x.isEmpty || !y.isEmpty else { return 1 }
        var previous = Array(0...y.count), current = [Int](repeating: 0, count: y.count + 1)
        for i in 1...max(1, x.count) where !x.isEmpty {
            current[0] = i
            for j in stride(from: 1, through: y.count, by: 1) {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1))
            }
            swap(&previous, &current)
        }
        let distance = x.isEmpty ? y.count : previous[y.count]
        return 1 - Double(distance) / Double(max(x.count, y.count))
    }

    /// One hunk's lines: (" ", "-", "+") kind and text without its newline, plus whether the old
    /// or new side lacks a final newline.
    struct Hunk {
        var lines: [(kind: Character, text: String)] = []
        var oldLacksNewline = false, newLacksNewline = false
    }

    static func hunks(_ sectionText: String) -> [Hunk] {
        var hunks: [Hunk] = []
        var current: Hunk?
        for raw in sectionText.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = String(raw)
            if line.hasPrefix("@@") {
                if let hunk = current { hunks.append(hunk) }
                current = Hunk()
                continue
            }
            guard current != nil else { continue }
            if line.hasPrefix("\\") {
                // "\ No newline at end of file" applies to the line before it.
                switch current!.lines.last?.kind {
                case "-": current!.oldLacksNewline = true
                case "+": current!.newLacksNewline = true
                default: current!.oldLacksNewline = true; current!.newLacksNewline = true
                }
                continue
            }
            guard let kind = line.first, " -+".contains(kind) else {
                if line.isEmpty { current!.lines.append((" ", "")) }   // some tools strip a context line's space
                continue
            }
            current!.lines.append((kind, String(line.dropFirst())))
        }
        if let hunk = current { hunks.append(hunk) }
        // A trailing empty "context" line is the section's final newline, not a line.
        return hunks.map { hunk in
            var hunk = hunk
            while let last = hunk.lines.last, last.kind == " ", last.text.isEmpty { hunk.lines.removeLast() }
            return hunk
        }
    }

    static func trimmedBlock(path: String, hunk: Hunk, in original: String, leastContext: Int = 1) -> EditBlock {
        let firstChange = hunk.lines.firstIndex { $0.kind != " " } ?? 0
        let lastChange = hunk.lines.lastIndex { $0.kind != " " } ?? hunk.lines.count - 1
        let leading = firstChange, trailing = hunk.lines.count - 1 - lastChange
        func block(context: Int) -> EditBlock {
            let slice = hunk.lines[(firstChange - min(context, leading))...(lastChange + min(context, trailing))]
            let endsHunk = lastChange + min(context, trailing) == hunk.lines.count - 1
            var search = joinLines(slice.filter { $0.kind != "+" }.map(\.text))
            var replace = joinLines(slice.filter { $0.kind != "-" }.map(\.text))
            if endsHunk && hunk.oldLacksNewline && search.hasSuffix("\n") { search.removeLast() }
            if endsHunk && hunk.newLacksNewline && replace.hasSuffix("\n") { replace.removeLast() }
            return EditBlock(path: path, search: search, replace: replace)
        }
        if original.isEmpty { return block(context: 0) }
        let most = max(leading, trailing)
        for context in min(leastContext, most)...max(leastContext, most) {
            let candidate = block(context: context)
            if !candidate.search.isEmpty && occurrences(of: candidate.search, in: original) == 1 { return candidate }
        }
        return block(context: most)
    }

    static func occurrences(of needle: String, in text: String) -> Int {
        var count = 0
        var searchStart = text.startIndex
        while let found = text.range(of: needle, range: searchStart..<text.endIndex) {
            if found.lowerBound == text.startIndex || text[text.index(before: found.lowerBound)] == "\n" { count += 1 }
            searchStart = text.index(after: found.lowerBound)
        }
        return count
    }
}

extension Substring {
    func trimmingTrailingWhitespace() -> String {
        var end = endIndex
        while end > startIndex, let scalar = self[index(before: end)].unicodeScalars.first, scalar == " " || scalar == "\t" || scalar == "\r" {
            end = index(before: end)
        }
        return String(self[startIndex..<end])
    }
}
