/// Ids that end up as path components — `instance_id` (run folders, evaluation folders, logs,
/// refs) and `model_name_or_path` (evaluation folders, `/` becoming `__` as in SWE-bench) — are
/// checked where they enter Forge: mining (repository names), dataset import, store merge,
/// predictions files and HTTP requests. Paths are built with `pathComponent(_:)`, which cannot
/// leave its folder even for an id that never passed a check (a hand-made database, say).
public enum Identifier {
    /// At most this many characters (file names stay well under the usual 255-byte limit).
    public static let maxLength = 200

    /// `owner__name-123`, `owner__name.synth-…`: a letter or digit, then letters, digits, `.`,
    /// `_`, `+`, `-` — one path component, never `.` or `..`, no `/`, NUL or control characters.
    public static func checkInstanceID(_ id: String) throws(UnsafeIdentifier) {
        let reason: String?
        if id.isEmpty { reason = "is empty" }
        else if id.count > maxLength { reason = "is longer than \(maxLength) characters" }
        else if !(id.unicodeScalars.first.map(isAlphanumeric) ?? false) { reason = "must start with a letter or digit" }
        else if let bad = id.unicodeScalars.first(where: { !isAlphanumeric($0) && !"._+-".unicodeScalars.contains($0) }) {
            reason = "holds \(describe(bad)); only letters, digits, '.', '_', '+' and '-' may follow the first character"
        } else { reason = nil }
        if let reason { throw UnsafeIdentifier(field: "instance_id", value: id, reason: reason) }
    }

    /// A model name may contain `/` (`org/model`), but every component it gives must be safe:
    /// not empty, not `.` or `..`, no NUL or control characters.
    public static func checkModelName(_ name: String) throws(UnsafeIdentifier) {
        let reason: String?
        if name.isEmpty { reason = "is empty" }
        else if name.count > maxLength { reason = "is longer than \(maxLength) characters" }
        else if let bad = name.unicodeScalars.first(where: { $0.properties.generalCategory == .control || $0 == "\\" }) {
            reason = "holds \(describe(bad))"
        } else if name.split(separator: "/", omittingEmptySubsequences: false).contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) {
            reason = "has an empty, '.' or '..' path component"
        } else { reason = nil }
        if let reason { throw UnsafeIdentifier(field: "model_name_or_path", value: name, reason: reason) }
    }

    /// `owner/name` as mining takes it: two components of letters, digits, `.`, `_`, `-`, neither
    /// `.` nor `..` — the tasks' ids (`owner__name-N`) then pass `checkInstanceID`.
    public static func checkRepositoryName(_ repo: String) throws(UnsafeIdentifier) {
        let parts = repo.split(separator: "/", omittingEmptySubsequences: false)
        let safe = parts.count == 2 && parts.allSatisfy { part in
            !part.isEmpty && part != "." && part != ".." && part.unicodeScalars.first.map(isAlphanumeric) == true
                && part.unicodeScalars.allSatisfy { isAlphanumeric($0) || "._-".unicodeScalars.contains($0) }
        }
        if !safe {
            throw UnsafeIdentifier(field: "repo", value: repo, reason: "must be owner/name, each starting with a letter or digit and holding only letters, digits, '.', '_' and '-'")
        }
    }

    /// The id as one path component: itself when it passes `checkInstanceID`, else every byte
    /// outside the safe set percent-encoded (a leading dot too), so it never names `.`, `..` or
    /// another folder.
    public static func pathComponent(_ id: String) -> String {
        if (try? checkInstanceID(id)) != nil { return id }
        var out = ""
        for (index, byte) in id.utf8.enumerated() {
            let scalar = Unicode.Scalar(byte)
            let keep = byte < 0x80 && (isAlphanumeric(scalar) || "_+-".unicodeScalars.contains(scalar) || (scalar == "." && index > 0))
            out += keep ? String(scalar) : "%" + String(byte, radix: 16, uppercase: true).leftPadded
        }
        return out.isEmpty ? "%" : out
    }

    private static func isAlphanumeric(_ scalar: Unicode.Scalar) -> Bool {
        scalar.isASCII && (("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar))
    }

    private static func describe(_ scalar: Unicode.Scalar) -> String {
        scalar.properties.generalCategory == .control || scalar == " "
            ? "U+" + String(scalar.value, radix: 16, uppercase: true).leftPadded(to: 4) : "'\(scalar)'"
    }
}

private extension String {
    var leftPadded: String { leftPadded(to: 2) }
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: Swift.max(0, width - count)) + self }
}

/// An id that cannot be used as a path component; one line naming the field, the value and why.
public struct UnsafeIdentifier: Error, CustomStringConvertible, Hashable, Sendable {
    public var field: String
    public var value: String
    public var reason: String

    public var description: String {
        // The value quoted with control characters escaped, so the message stays one line.
        let shown = value.unicodeScalars.prefix(80).map { $0.properties.generalCategory == .control ? $0.escaped(asASCII: true) : String($0) }.joined()
        return "unsafe \(field) \"\(shown)\(value.unicodeScalars.count > 80 ? "…" : "")\": \(reason)"
    }
}
