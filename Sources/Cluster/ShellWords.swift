/// The two directions between an argument list and a shell line: reading a step as a user typed
/// it (`"validate --clone /data/x --reruns 1"`) and writing arguments into a generated script.
public enum ShellWords {
    /// Splits like a POSIX shell without expansions: spaces separate words, single quotes keep
    /// everything, double quotes keep everything but `\"` and `\\`, a backslash outside quotes
    /// escapes the next character. Throws on an unclosed quote or a trailing backslash.
    public static func split(_ line: String) throws -> [String] {
        var words: [String] = []
        var current = ""
        var inWord = false
        var characters = Array(line)[...]
        while let character = characters.popFirst() {
            switch character {
            case " ", "\t", "\n":
                if inWord { words.append(current); current = ""; inWord = false }
            case "'":
                inWord = true
                guard let end = characters.firstIndex(of: "'") else { throw ClusterPlanError.badStep(line, "unclosed single quote") }
                current += String(characters[..<end])
                characters = characters[(end + 1)...]
            case "\"":
                inWord = true
                var closed = false
                while let next = characters.popFirst() {
                    if next == "\"" { closed = true; break }
                    if next == "\\", let escaped = characters.first, escaped == "\"" || escaped == "\\" {
                        current.append(escaped); characters.removeFirst()
                    } else {
                        current.append(next)
                    }
                }
                guard closed else { throw ClusterPlanError.badStep(line, "unclosed double quote") }
            case "\\":
                guard let escaped = characters.popFirst() else { throw ClusterPlanError.badStep(line, "trailing backslash") }
                inWord = true
                current.append(escaped)
            default:
                inWord = true
                current.append(character)
            }
        }
        if inWord { words.append(current) }
        return words
    }

    /// One argument as a shell reads it back unchanged: bare when it holds only safe characters,
    /// otherwise single-quoted (a single quote inside becomes `'\''`).
    public static func quote(_ word: String) -> String {
        let safe = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./_-")
        if !word.isEmpty, word.allSatisfy(safe.contains) { return word }
        return "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    public static func join(_ words: [String]) -> String { words.map(quote).joined(separator: " ") }
}
