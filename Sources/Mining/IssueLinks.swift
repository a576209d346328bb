import Foundation

/// GitHub's closing keywords: `fixes #12`, `Closes: owner/repo#12`,
/// `resolved https://github.com/owner/repo/issues/12` (case-insensitive, optional colon).
public struct IssueLinkParser: Sendable {
    /// `owner/name` of the repository being mined; references to other repositories are ignored.
    public let repository: String

    public init(repository: String) { self.repository = repository }

    // keyword, then ":" and/or whitespace, then one of: URL, owner/repo#N, #N.
    private static let pattern = try! NSRegularExpression(pattern: #"""
        (?<![\w-])(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)(?::[ \t]*|[ \t]+)\
        (?:https?://github\.com/([\w.-]+)/([\w.-]+)/issues/(\d+)|([\w.-]+)/([\w.-]+)#(\d+)|#(\d+))(?![\w])
        """#.replacingOccurrences(of: "\\\n", with: ""), options: [.caseInsensitive])

    /// Issue numbers closed by `text`, in order of appearance, without repeats.
    public func issues(in text: String) -> [Int] {
        guard IssueLinkParser.mayContainKeyword(text) else { return [] }
        var numbers: [Int] = []
        let range = NSRange(text.startIndex..., in: text)
        for match in Self.pattern.matches(in: text, range: range) {
            func group(_ index: Int) -> String? {
                let r = match.range(at: index)
                guard r.location != NSNotFound, let swiftRange = Range(r, in: text) else { return nil }
                return String(text[swiftRange])
            }
            var number: Int?
            if let n = group(3), isThisRepository(group(1), group(2)) { number = Int(n) }
            else if let n = group(6), isThisRepository(group(4), group(5)) { number = Int(n) }
            else if let n = group(7) { number = Int(n) }
            if let number, !numbers.contains(number) { numbers.append(number) }
        }
        return numbers
    }

    /// A quick scan for "fix", "clos" or "resolv" in any case: most texts have none, and the
    /// regular expression costs far more than this.
    static func mayContainKeyword(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count >= 5 else { return false }
        func lower(_ b: UInt8) -> UInt8 { b >= 65 && b <= 90 ? b + 32 : b }
        for i in 0..<(bytes.count - 2) {
            switch lower(bytes[i]) {
            case 102: if lower(bytes[i + 1]) == 105 && lower(bytes[i + 2]) == 120 { return true }   // fix
            case 99: if i + 3 < bytes.count && lower(bytes[i + 1]) == 108 && lower(bytes[i + 2]) == 111 && lower(bytes[i + 3]) == 115 { return true }   // clos
            case 114: if i + 5 < bytes.count && Array(bytes[i...(i + 5)].map(lower)) == Array("resolv".utf8) { return true }
            default: continue
            }
        }
        return false
    }

    private func isThisRepository(_ owner: String?, _ name: String?) -> Bool {
        guard let owner, let name else { return false }
        return "\(owner)/\(name)".lowercased() == repository.lowercased()
    }
}
