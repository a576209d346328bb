import Foundation
import Git

/// A pull request as GitHub's REST API (or an archive export) describes it.
public struct PullRequestInfo: Hashable, Sendable {
    public var number: Int
    public var title: String
    public var body: String
    /// ISO-8601, as GitHub wrote it.
    public var createdAt: String?
    public var mergedAt: String?
    public var headCommit: ObjectID?
    /// The target branch's tip when the PR was last updated (`base.sha`).
    public var baseCommit: ObjectID?
    public var mergeCommit: ObjectID?
}

/// An issue (GitHub's issues API also lists pull requests; those have `isPullRequest`).
public struct IssueInfo: Hashable, Sendable {
    public var number: Int
    public var title: String
    public var body: String
    public var createdAt: String?
    public var isPullRequest: Bool
}

/// A comment on an issue or pull request conversation.
public struct IssueComment: Hashable, Sendable {
    public var issueNumber: Int
    public var body: String
    public var createdAt: String
}

/// A metadata file that is not what Forge can read; names the file and line.
public struct MetadataError: Error, CustomStringConvertible, Equatable, Sendable {
    public let file: String
    public let line: Int
    public let message: String
    public var description: String { "\(file):\(line): \(message)" }
}

/// Issue and pull request text that is not in git: titles, bodies, comments, dates.
///
/// Reads GitHub REST API objects — issues, pulls, issue comments — and GitHub archive events
/// (`IssuesEvent`, `PullRequestEvent`, `IssueCommentEvent`), given as one JSON array, JSON Lines,
/// or arrays back to back as `gh api --paginate` prints them. Several files can be merged.
public struct Metadata: Sendable {
    public private(set) var pulls: [Int: PullRequestInfo] = [:]
    public private(set) var issues: [Int: IssueInfo] = [:]
    /// Comments by issue (or PR) number, in the order read.
    public private(set) var comments: [Int: [IssueComment]] = [:]

    public init() {}

    /// Reads one metadata file.
    public static func load(contentsOf path: String) throws -> Metadata {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw MetadataError(file: path, line: 0, message: "cannot read the file")
        }
        var metadata = Metadata()
        try metadata.read(Array(data), source: path)
        return metadata
    }

    /// Adds the records of a JSON text; `source` names it in errors.
    public mutating func read(_ bytes: [UInt8], source: String) throws {
        var reader = JSONStreamReader(bytes: bytes)
        while true {
            let record: JSONNode?
            do { record = try reader.nextRecord() } catch let error as JSONSyntaxError {
                let context = error.recordLine.map { " (in the record that starts on line \($0))" } ?? ""
                throw MetadataError(file: source, line: error.line, message: "malformed JSON: \(error.message)\(context)")
            }
            guard let record else { return }
            try add(record, source: source)
        }
    }

    /// Everything from `other` added to this (later records win).
    public mutating func merge(_ other: Metadata) {
        pulls.merge(other.pulls) { $1 }
        issues.merge(other.issues) { $1 }
        for (number, list) in other.comments { comments[number, default: []] += list }
    }

    // MARK: Records

    private mutating func add(_ record: JSONNode, source: String) throws {
        guard record.isObject else {
            throw MetadataError(file: source, line: record.line, message: "expected a JSON object (issue, pull request, comment or event)")
        }
        if let type = record["type"]?.string, type.hasSuffix("Event"), let payload = record["payload"], payload.isObject {
            try addEvent(type: type, payload: payload, source: source)
        } else if record["number"] != nil {
            if record["head"] != nil || record["merged_at"] != nil || record["merge_commit_sha"] != nil {
                try addPull(record, source: source)
            } else {
                try addIssue(record, source: source)
            }
        } else if let url = record["issue_url"] {
            try addComment(record, issueNumber: try issueNumber(fromURL: url, source: source), source: source)
        } else if record["pull_request_url"] != nil {
            return   // a review comment on a diff line: not conversation text
        } else {
            throw MetadataError(file: source, line: record.line,
                                message: "object is not a GitHub issue, pull request, comment or event (no \"number\", \"issue_url\" or \"type\")")
        }
    }

    private mutating func addEvent(type: String, payload: JSONNode, source: String) throws {
        switch type {
        case "PullRequestEvent":
            if let pull = payload["pull_request"] { try addPull(pull, source: source) }
        case "IssuesEvent":
            if let issue = payload["issue"] { try addIssue(issue, source: source) }
        case "IssueCommentEvent":
            guard let issue = payload["issue"], let comment = payload["comment"] else { return }
            try addIssue(issue, source: source)
            try addComment(comment, issueNumber: try requiredInt(issue, "number", source: source), source: source)
        default:
            return   // pushes, stars, …: nothing Forge uses
        }
    }

    private mutating func addPull(_ node: JSONNode, source: String) throws {
        let number = try requiredInt(node, "number", source: source)
        var pull = pulls[number] ?? PullRequestInfo(number: number, title: "", body: "")
        pull.title = try optionalString(node, "title", source: source) ?? pull.title
        pull.body = try optionalString(node, "body", source: source) ?? pull.body
        pull.createdAt = try optionalString(node, "created_at", source: source) ?? pull.createdAt
        pull.mergedAt = try optionalString(node, "merged_at", source: source) ?? pull.mergedAt
        if let head = node["head"] { pull.headCommit = try optionalString(head, "sha", source: source).flatMap(ObjectID.init(hex:)) ?? pull.headCommit }
        if let base = node["base"] { pull.baseCommit = try optionalString(base, "sha", source: source).flatMap(ObjectID.init(hex:)) ?? pull.baseCommit }
        pull.mergeCommit = try optionalString(node, "merge_commit_sha", source: source).flatMap(ObjectID.init(hex:)) ?? pull.mergeCommit
        pulls[number] = pull
        try addEmbeddedComments(node, number: number, source: source)
    }

    private mutating func addIssue(_ node: JSONNode, source: String) throws {
        let number = try requiredInt(node, "number", source: source)
        let issue = IssueInfo(number: number,
                              title: try optionalString(node, "title", source: source) ?? "",
                              body: try optionalString(node, "body", source: source) ?? "",
                              createdAt: try optionalString(node, "created_at", source: source),
                              isPullRequest: node["pull_request"].map { !$0.isNull } ?? false)
        issues[number] = issue
        try addEmbeddedComments(node, number: number, source: source)
    }

    /// Some exports inline the conversation as `"comments": [...]` (the REST API gives a count).
    private mutating func addEmbeddedComments(_ node: JSONNode, number: Int, source: String) throws {
        guard let list = node["comments"]?.array else { return }
        for comment in list { try addComment(comment, issueNumber: number, source: source) }
    }

    private mutating func addComment(_ node: JSONNode, issueNumber: Int, source: String) throws {
        guard node.isObject else { throw MetadataError(file: source, line: node.line, message: "a comment must be an object") }
        let body = try optionalString(node, "body", source: source) ?? ""
        guard let created = try optionalString(node, "created_at", source: source) else {
            throw MetadataError(file: source, line: node.line, message: "comment on #\(issueNumber) has no created_at")
        }
        let comment = IssueComment(issueNumber: issueNumber, body: body, createdAt: created)
        if !(comments[issueNumber]?.contains(comment) ?? false) { comments[issueNumber, default: []].append(comment) }
    }

    private func issueNumber(fromURL node: JSONNode, source: String) throws -> Int {
        guard let url = node.string, let last = url.split(separator: "/").last, let number = Int(last) else {
            throw MetadataError(file: source, line: node.line, message: "issue_url does not end in an issue number")
        }
        return number
    }

    private func requiredInt(_ node: JSONNode, _ key: String, source: String) throws -> Int {
        guard let value = node[key] else {
            throw MetadataError(file: source, line: node.line, message: "missing \"\(key)\"")
        }
        guard let number = value.int else {
            throw MetadataError(file: source, line: value.line, message: "\"\(key)\" must be an integer")
        }
        return number
    }

    private func optionalString(_ node: JSONNode, _ key: String, source: String) throws -> String? {
        guard let value = node[key], !value.isNull else { return nil }
        guard let text = value.string else {
            throw MetadataError(file: source, line: value.line, message: "\"\(key)\" must be a string or null")
        }
        return text
    }
}

/// ISO-8601 instants as GitHub writes them (`2024-03-01T10:30:00Z`, fractions and offsets allowed).
enum Timestamp {
    /// Seconds since 1970 UTC; nil when the text is not a timestamp.
    static func seconds(_ text: String) -> Int64? {
        let bytes = Array(text.utf8)
        func number(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= bytes.count else { return nil }
            var value = 0
            for byte in bytes[from..<from + count] {
                guard byte >= 48, byte <= 57 else { return nil }
                value = value * 10 + Int(byte - 48)
            }
            return value
        }
        guard let year = number(0, 4), let month = number(5, 2), let day = number(8, 2),
              let hour = number(11, 2), let minute = number(14, 2), let second = number(17, 2),
              bytes.count >= 19, (1...12).contains(month), (1...31).contains(day) else { return nil }
        var index = 19
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            while index < bytes.count, bytes[index] >= 48, bytes[index] <= 57 { index += 1 }
        }
        var offset = 0
        if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
            let sign = bytes[index] == UInt8(ascii: "-") ? -1 : 1
            guard let hours = number(index + 1, 2) else { return nil }
            let minutes = number(index + 4, 2) ?? number(index + 3, 2) ?? 0
            offset = sign * (hours * 3600 + minutes * 60)
        }
        // Days from civil (proleptic Gregorian), Howard Hinnant's algorithm.
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        let days = era * 146_097 + dayOfEra - 719_468
        return Int64(days * 86_400 + hour * 3600 + minute * 60 + second - offset)
    }

    /// `text` rewritten as `YYYY-MM-DDTHH:MM:SSZ`; unchanged when it does not parse.
    static func normalized(_ text: String) -> String {
        seconds(text).map(Signature.iso8601UTC) ?? text
    }
}
