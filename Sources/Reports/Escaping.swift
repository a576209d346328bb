import Foundation

/// Escaping for everything the report writes: text from tasks, logs and repositories is never
/// trusted. The same escaping serves HTML and SVG, and keeps the page well-formed XML too
/// (only the five predefined entities and numeric references are ever written).
public enum Markup {
    /// Escapes `&`, `<`, `>`, `"` and `'`, so `text` is inert in element content and in quoted
    /// attribute values. Control characters that XML forbids are dropped.
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            case "\t", "\n", "\r": out.unicodeScalars.append(scalar)
            default:
                // XML 1.0 rejects C0 controls and the non-characters U+FFFE/U+FFFF; logs and
                // patches do contain the odd escape byte, so drop them rather than break the page.
                if scalar.value < 0x20 || scalar.value == 0xFFFE || scalar.value == 0xFFFF { continue }
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// The relative URL, from `directory` to the file at `path`, suitable for an `href` in a page
    /// stored in `directory` (opened as file://, it resolves to the file). Relative inputs are
    /// taken relative to the current directory. Every path component is percent-encoded, so
    /// names containing `:`, `#`, `?` or spaces stay one path. The result still needs `escape`.
    public static func relativeURL(to path: String, from directory: String) -> String {
        let target = absoluteComponents(path), base = absoluteComponents(directory)
        var common = 0
        while common < min(target.count, base.count), target[common] == base[common] { common += 1 }
        let ups = Array(repeating: "..", count: base.count - common)
        let rest = target[common...].map(percentEncode)
        let parts = ups + rest
        return parts.isEmpty ? "." : parts.joined(separator: "/")
    }

    static func absoluteComponents(_ path: String) -> [String] {
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        return URL(fileURLWithPath: absolute).standardizedFileURL.path
            .split(separator: "/", omittingEmptySubsequences: true).map(String.init)
    }

    /// RFC 3986 unreserved characters plus a few sub-delimiters that are safe inside one segment.
    static let segmentAllowed = CharacterSet(charactersIn:
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$'()*+,=@")

    static func percentEncode(_ segment: String) -> String {
        segment.addingPercentEncoding(withAllowedCharacters: segmentAllowed) ?? segment
    }
}

/// Number formatting shared by the page and the plots (and usable as their tick formatters).
public enum Format {
    /// A duration in seconds, short: `120ms`, `4.2s`, `3m 05s`, `1h 02m`.
    public static func duration(_ seconds: Double) -> String {
        if seconds < 1 { return "\(Int((seconds * 1000).rounded()))ms" }
        if seconds < 10 { return String(format: "%.1fs", seconds) }
        if seconds < 60 { return "\(Int(seconds.rounded()))s" }
        let total = Int(seconds.rounded())
        if total < 3600 { return String(format: "%dm %02ds", total / 60, total % 60) }
        return String(format: "%dh %02dm", total / 3600, (total % 3600) / 60)
    }

    /// An axis tick of a duration axis: the round values the log-ish bins use (`50ms`, `2s`, `5m`, `1h`).
    public static func durationTick(_ seconds: Double) -> String {
        if seconds == 0 { return "0" }
        if seconds < 1 { return "\(Int((seconds * 1000).rounded()))ms" }
        if seconds < 60 { return trimmed(seconds) + "s" }
        if seconds < 3600 { return trimmed(seconds / 60) + "m" }
        return trimmed(seconds / 3600) + "h"
    }

    /// A plain number without a trailing `.0`: `3`, `2.5`, `0.25`.
    public static func trimmed(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int(value)) }
        var text = String(format: "%.3f", value)
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }

    /// A share as a whole percentage, `—` when there is nothing to divide by.
    public static func percent(_ part: Int, of whole: Int) -> String {
        whole == 0 ? "—" : "\(Int((Double(part) * 100 / Double(whole)).rounded()))%"
    }
}
