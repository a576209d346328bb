import Foundation

/// A version in PEP 440's public form (`1.2.3`, `3.10.0rc1`, `2.0.post1`, `1!1.0.dev2`), ordered as
/// PEP 440 orders them. Used for interpreter versions, project versions and requirement bounds.
public struct PythonVersion: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public var epoch: Int
    /// Release components, e.g. `[3, 10, 2]`.
    public var release: [Int]
    /// Pre-release phase (`a`, `b`, `rc`) and number.
    public var pre: Prerelease?
    public var post: Int?
    public var dev: Int?

    /// Encoded as its text, e.g. `"3.11.7"`.
    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let parsed = PythonVersion(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                    debugDescription: "not a PEP 440 version: \(text)"))
        }
        self = parsed
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    public struct Prerelease: Hashable, Sendable, Codable {
        public var phase: Phase
        public var number: Int
    }
    public enum Phase: Int, Hashable, Sendable, Codable { case alpha = 0, beta = 1, candidate = 2 }

    public init(_ release: [Int], pre: Prerelease? = nil, post: Int? = nil, dev: Int? = nil, epoch: Int = 0) {
        self.release = release; self.pre = pre; self.post = post; self.dev = dev; self.epoch = epoch
    }

    /// Parses a PEP 440 version; leading `v`, surrounding spaces and a local part (`+abc`) are tolerated.
    public init?(_ text: String) {
        var rest = Substring(text.trimmingCharacters(in: .whitespaces).lowercased())
        if rest.hasPrefix("v") { rest = rest.dropFirst() }
        if let plus = rest.firstIndex(of: "+") { rest = rest[..<plus] }
        epoch = 0
        if let bang = rest.firstIndex(of: "!") {
            guard let e = Int(rest[..<bang]) else { return nil }
            epoch = e
            rest = rest[rest.index(after: bang)...]
        }
        var numbers: [Int] = []
        while true {
            let digits = rest.prefix(while: { $0.isASCII && $0.isNumber })
            guard !digits.isEmpty, let value = Int(digits) else { return nil }
            numbers.append(value)
            rest = rest.dropFirst(digits.count)
            if rest.hasPrefix("."), let next = rest.dropFirst().first, next.isNumber {
                rest = rest.dropFirst()
            } else { break }
        }
        release = numbers
        pre = nil; post = nil; dev = nil
        func takeNumber() -> Int {
            if rest.hasPrefix(".") || rest.hasPrefix("-") || rest.hasPrefix("_") { rest = rest.dropFirst() }
            let digits = rest.prefix(while: { $0.isASCII && $0.isNumber })
            rest = rest.dropFirst(digits.count)
            return Int(digits) ?? 0
        }
        func skipSeparator() {
            if rest.hasPrefix(".") || rest.hasPrefix("-") || rest.hasPrefix("_") { rest = rest.dropFirst() }
        }
        let phases: [(String, Phase)] = [("alpha", .alpha), ("beta", .beta), ("preview", .candidate),
                                         ("pre", .candidate), ("rc", .candidate), ("c", .candidate),
                                         ("a", .alpha), ("b", .beta)]
        var probe = rest
        if probe.hasPrefix(".") || probe.hasPrefix("-") || probe.hasPrefix("_") { probe = probe.dropFirst() }
        for (word, phase) in phases where probe.hasPrefix(word) {
            rest = probe.dropFirst(word.count)
            pre = Prerelease(phase: phase, number: takeNumber())
            break
        }
        probe = rest
        if probe.hasPrefix(".") || probe.hasPrefix("-") || probe.hasPrefix("_") { probe = probe.dropFirst() }
        for word in ["post", "rev", "r"] where probe.hasPrefix(word) {
            rest = probe.dropFirst(word.count)
            post = takeNumber()
            break
        }
        probe = rest
        if probe.hasPrefix(".") || probe.hasPrefix("-") || probe.hasPrefix("_") { probe = probe.dropFirst() }
        if probe.hasPrefix("dev") {
            rest = probe.dropFirst(3)
            dev = takeNumber()
        }
        skipSeparator()
        guard rest.isEmpty else { return nil }
    }

    public var major: Int { release.first ?? 0 }
    public var minor: Int { release.count > 1 ? release[1] : 0 }
    /// `3.11` for `3.11.7`.
    public var majorMinor: String { "\(major).\(minor)" }
    public var isPrerelease: Bool { pre != nil || dev != nil }

    public var description: String {
        var text = (epoch != 0 ? "\(epoch)!" : "") + release.map(String.init).joined(separator: ".")
        if let pre {
            text += ["a", "b", "rc"][pre.phase.rawValue] + "\(pre.number)"
        }
        if let post { text += ".post\(post)" }
        if let dev { text += ".dev\(dev)" }
        return text
    }

    /// Release components padded with zeros to `count`.
    func paddedRelease(_ count: Int) -> [Int] {
        release + Array(repeating: 0, count: max(0, count - release.count))
    }

    /// The sort key PEP 440 defines: dev-only releases before pre-releases before finals before posts.
    private var orderKey: (Int, Int, Int, Int, Int) {
        // (pre phase, pre number, post, dev-present, dev)
        let preKey: (Int, Int)
        if let pre { preKey = (pre.phase.rawValue, pre.number) }
        else if dev != nil && post == nil { preKey = (-1, 0) }      // 1.0.dev0 < 1.0a0
        else { preKey = (3, 0) }                                     // final
        let postKey = post ?? -1
        let devKey = dev == nil ? (1, 0) : (0, dev!)
        return (preKey.0, preKey.1, postKey, devKey.0, devKey.1)
    }

    public static func < (lhs: PythonVersion, rhs: PythonVersion) -> Bool {
        if lhs.epoch != rhs.epoch { return lhs.epoch < rhs.epoch }
        let width = max(lhs.release.count, rhs.release.count)
        let (a, b) = (lhs.paddedRelease(width), rhs.paddedRelease(width))
        if a != b { return a.lexicographicallyPrecedes(b) }
        return lhs.orderKey < rhs.orderKey
    }

    public static func == (lhs: PythonVersion, rhs: PythonVersion) -> Bool {
        !(lhs < rhs) && !(rhs < lhs)
    }

    public func hash(into hasher: inout Hasher) {
        var trimmed = release
        while trimmed.count > 1 && trimmed.last == 0 { trimmed.removeLast() }
        hasher.combine(epoch); hasher.combine(trimmed); hasher.combine(pre); hasher.combine(post); hasher.combine(dev)
    }
}

/// A specifier text that is not PEP 440 (nor Poetry's `^`/`~` shorthand).
public struct SpecifierError: Error, Hashable, Sendable, CustomStringConvertible {
    public var text: String
    public var reason: String
    public var description: String { "invalid version specifier '\(text)': \(reason)" }
}

/// One clause such as `>=3.8`, `!=3.9.*` or `~=3.9`.
public struct VersionSpecifier: Hashable, Sendable, CustomStringConvertible {
    public enum Operator: String, Sendable, CaseIterable {
        case compatible = "~=", equal = "==", notEqual = "!=", lessOrEqual = "<=", greaterOrEqual = ">=",
             less = "<", greater = ">", arbitrary = "==="
    }
    public var op: Operator
    public var version: PythonVersion
    /// `==3.9.*` / `!=3.9.*`: prefix match on the release.
    public var wildcard: Bool
    /// Raw text for `===`.
    public var raw: String

    public var description: String { op.rawValue + raw }

    public func contains(_ candidate: PythonVersion) -> Bool {
        switch op {
        case .arbitrary:
            return candidate.description == raw.trimmingCharacters(in: .whitespaces)
        case .equal, .notEqual:
            let match: Bool
            if wildcard {
                let prefix = version.release
                match = candidate.epoch == version.epoch
                    && Array(candidate.paddedRelease(prefix.count).prefix(prefix.count)) == prefix
            } else {
                match = candidate == version
            }
            return op == .equal ? match : !match
        case .lessOrEqual: return candidate <= version
        case .greaterOrEqual: return candidate >= version
        case .less:
            // PEP 440: `<V` excludes pre-releases of V itself.
            if candidate.isPrerelease && !version.isPrerelease
                && candidate.paddedRelease(version.release.count) == version.paddedRelease(candidate.release.count) {
                return false
            }
            return candidate < version
        case .greater:
            // PEP 440: `>V` excludes post-releases of V.
            if candidate.post != nil && version.post == nil
                && candidate.paddedRelease(version.release.count) == version.paddedRelease(candidate.release.count) {
                return false
            }
            return candidate > version
        case .compatible:
            guard version.release.count >= 2 else { return false }
            let prefix = Array(version.release.dropLast())
            return candidate >= version
                && Array(candidate.paddedRelease(prefix.count).prefix(prefix.count)) == prefix
        }
    }
}

/// A union (`||`, Poetry only) of comma-separated intersections of specifiers. Empty matches all.
public struct VersionSpecifierSet: Hashable, Sendable, CustomStringConvertible, Codable {
    public var alternatives: [[VersionSpecifier]]
    public let text: String

    public var description: String { text }

    /// Parses `>=3.8,<4`, `~=3.9`, `!=3.9.*`, `>=2.7, !=3.0.*, !=3.1.*`, and Poetry's `^3.8`, `~3.8`,
    /// `3.8.*`, `>=3.8 <4` (space-separated) and `||` unions.
    public init(_ text: String) throws {
        self.text = text.trimmingCharacters(in: .whitespacesAndNewlines)
        alternatives = []
        for alternative in self.text.components(separatedBy: "||") {
            var clauses: [VersionSpecifier] = []
            let parts = alternative.split(whereSeparator: { $0 == "," }).flatMap { Self.splitOnSpaces(String($0)) }
            for part in parts {
                clauses += try Self.parseClause(part, whole: text)
            }
            alternatives.append(clauses)
        }
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        try self.init(try container.decode(String.self))
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(text)
    }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.text == rhs.text }
    public func hash(into hasher: inout Hasher) { hasher.combine(text) }

    public func contains(_ version: PythonVersion) -> Bool {
        alternatives.contains { clauses in clauses.allSatisfy { $0.contains(version) } }
    }

    public var matchesEverything: Bool { alternatives.allSatisfy { $0.isEmpty } }

    /// `>=3.8 <4` → [">=3.8", "<4"]; keeps `>= 3.8` together.
    private static func splitOnSpaces(_ text: String) -> [String] {
        var result: [String] = []
        for token in text.split(separator: " ").map(String.init) where !token.isEmpty {
            if let last = result.last, last.allSatisfy({ "<>=!~^".contains($0) }) {
                result[result.count - 1] = last + token
            } else {
                result.append(token)
            }
        }
        return result
    }

    private static func parseClause(_ raw: String, whole: String) throws -> [VersionSpecifier] {
        let clause = raw.trimmingCharacters(in: .whitespaces)
        if clause.isEmpty || clause == "*" { return [] }
        let operators: [VersionSpecifier.Operator] = [.arbitrary, .compatible, .equal, .notEqual, .lessOrEqual,
                                                      .greaterOrEqual, .less, .greater]
        var op: VersionSpecifier.Operator = .equal
        var body = clause
        var poetry: Character? = nil
        if let found = operators.first(where: { clause.hasPrefix($0.rawValue) }) {
            op = found
            body = String(clause.dropFirst(found.rawValue.count))
        } else if clause.hasPrefix("^") || clause.hasPrefix("~") {
            poetry = clause.first
            body = String(clause.dropFirst())
        }
        body = body.trimmingCharacters(in: .whitespaces)
        if op == .arbitrary {
            return [VersionSpecifier(op: op, version: PythonVersion([0]), wildcard: false, raw: body)]
        }
        var wildcard = false
        if body.hasSuffix(".*") {
            body = String(body.dropLast(2))
            wildcard = true
        }
        guard let version = PythonVersion(body) else {
            throw SpecifierError(text: whole, reason: "cannot read version '\(body)' in '\(clause)'")
        }
        if let poetry {
            // ^3.8 → >=3.8,<4 ; ^0.3 → >=0.3,<0.4 ; ~3.8 → >=3.8,<3.9 ; ~3 → >=3,<4
            var upper = version.release
            if poetry == "^" {
                let index = upper.firstIndex(where: { $0 != 0 }) ?? (upper.count - 1)
                upper = Array(upper.prefix(index + 1))
            } else {
                upper = Array(upper.prefix(max(1, min(2, upper.count))))
            }
            upper[upper.count - 1] += 1
            return [VersionSpecifier(op: .greaterOrEqual, version: version, wildcard: false, raw: body),
                    VersionSpecifier(op: .less, version: PythonVersion(upper), wildcard: false,
                                     raw: upper.map(String.init).joined(separator: "."))]
        }
        switch op {
        case .equal, .notEqual: break
        case .compatible where version.release.count < 2:
            throw SpecifierError(text: whole, reason: "'~=' needs at least two release numbers in '\(clause)'")
        default:
            // `>=3.6.*` is invalid but common in the wild; the wildcard adds nothing to an ordering.
            wildcard = false
        }
        return [VersionSpecifier(op: op, version: version, wildcard: wildcard, raw: body + (wildcard ? ".*" : ""))]
    }
}
