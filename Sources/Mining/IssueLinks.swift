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

    private func isThisRepository(_ owner: String?, _ name: String?) -> Bool {
        guard let owner, let name else { return false }
        return "\(owner)/\(name)".lowercased() == repository.lowercased()
    }
}
