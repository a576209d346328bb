import Foundation
import PathRules

/// Reading model-written unified diffs: which files they touch, per-file sections, and the
/// repairs that make sloppy output applicable (CRLF line endings, a missing final newline).
public enum PatchText {
    /// A repair made before applying, recorded per instance.
    public enum Fix: String, Codable, Hashable, Sendable {
        /// `\r\n` line endings became `\n`.
        case crlf
        /// A final newline was added (without it `git apply` calls the last hunk corrupt).
        case trailingNewline = "trailing-newline"
    }

    /// The patch with CRLF endings normalised and a final newline, and which of the two it needed.
    public static func normalized(_ patch: String) -> (text: String, fixes: [Fix]) {
        var text = patch, fixes: [Fix] = []
        // Swift treats "\r\n" as one Character, so replace at the byte level.
        if text.utf8.contains(13) {
            let bytes = Array(text.utf8)
            var out: [UInt8] = []
            out.reserveCapacity(bytes.count)
            for (index, byte) in bytes.enumerated() where !(byte == 13 && index + 1 < bytes.count && bytes[index + 1] == 10) {
                out.append(byte)
            }
            if out.count != bytes.count {
                text = String(decoding: out, as: UTF8.self)
                fixes.append(.crlf)
            }
        }
        if !text.isEmpty, !text.hasSuffix("\n") {
            text += "\n"
            fixes.append(.trailingNewline)
        }
        return (text, fixes)
    }

    /// One file's part of a diff: its header and hunks (or binary data), and the paths it names.
    public struct FileSection: Hashable, Sendable {
        public var text: String
        /// Path before (nil for a new file) and after (nil for a deletion), without `a/` and `b/`.
        public var oldPath: String?
        public var newPath: String?
        /// Every path the section touches.
        public var paths: [String] { Array(Set([oldPath, newPath].compactMap { $0 })).sorted() }
    }

    /// Splits a diff into per-file sections, found and named as `git apply` does (`PatchPaths`).
    /// Text between sections (a commit message, say) is dropped.
    public static func sections(of patch: String) -> [FileSection] {
        let lines = patch.split(separator: "\n", omittingEmptySubsequences: false)
        return PatchPaths.sections(of: patch).map { section in
            var body = lines[section.lineRange]
            if section.lineRange.upperBound == lines.count, body.last == "" { body.removeLast() } // the split's empty tail
            return FileSection(text: body.joined(separator: "\n") + "\n", oldPath: section.oldPath, newPath: section.newPath)
        }
    }

    /// Every file path the diff touches, in order of first appearance.
    public static func touchedPaths(_ patch: String) -> [String] { PatchPaths.touched(patch) }

    /// Whether the diff contains a git binary patch (which `patch(1)` cannot apply).
    public static func hasBinaryData(_ patch: String) -> Bool { patch.contains("\nGIT binary patch\n") }
}
