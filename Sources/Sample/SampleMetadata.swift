import Foundation

/// GitHub REST API objects (issues, issue comments, pulls) for the sample, one JSON object a line,
/// as `gh api --paginate` would return them. Pull objects carry the real commit ids of the sample.
enum SampleMetadata {
    static let repoURL = "https://github.com/\(SampleRepository.repoName)"
    static let apiURL = "https://api.github.com/repos/\(SampleRepository.repoName)"

    /// `{"login": ...}`, as GitHub nests users.
    struct User: Encodable { var login: String }
    struct Ref: Encodable {
        var ref: String
        var sha: String?
    }

    /// One GitHub REST object: an issue, an issue comment or a pull (the fields the miner reads).
    /// Absent fields are left out, except a pull's `merged_at`, which GitHub writes as null.
    struct APIObject: Encodable {
        var number: Int?
        var id: Int?
        var issueURL: String?
        var title: String?
        var body: String
        var state: String?
        var createdAt: String
        var user: User
        var htmlURL: String
        var url: String?
        var head: Ref?
        var base: Ref?
        var isPull = false
        var mergedAt: String?
        var mergeCommitSHA: String?

        enum CodingKeys: String, CodingKey {
            case number, id, issueURL = "issue_url", title, body, state, createdAt = "created_at", user, htmlURL = "html_url", url
            case head, base, mergedAt = "merged_at", mergeCommitSHA = "merge_commit_sha"
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(number, forKey: .number)
            try container.encodeIfPresent(id, forKey: .id)
            try container.encodeIfPresent(issueURL, forKey: .issueURL)
            try container.encodeIfPresent(title, forKey: .title)
            try container.encode(body, forKey: .body)
            try container.encodeIfPresent(state, forKey: .state)
            try container.encode(createdAt, forKey: .createdAt)
            try container.encode(user, forKey: .user)
            try container.encode(htmlURL, forKey: .htmlURL)
            try container.encodeIfPresent(url, forKey: .url)
            try container.encodeIfPresent(head, forKey: .head)
            try container.encodeIfPresent(base, forKey: .base)
            if isPull { try container.encode(mergedAt, forKey: .mergedAt) } // an open pull's is null
            try container.encodeIfPresent(mergeCommitSHA, forKey: .mergeCommitSHA)
        }
    }

    static func issue(_ number: Int, _ title: String, _ body: String, created: String, by user: String) -> APIObject {
        APIObject(number: number, title: title, body: body, state: "closed", createdAt: created, user: User(login: user),
                  htmlURL: "\(repoURL)/issues/\(number)", url: "\(apiURL)/issues/\(number)")
    }

    static func comment(_ id: Int, issue: Int, _ body: String, created: String, by user: String) -> APIObject {
        APIObject(id: id, issueURL: "\(apiURL)/issues/\(issue)", body: body, createdAt: created, user: User(login: user),
                  htmlURL: "\(repoURL)/issues/\(issue)#issuecomment-\(id)")
    }

    static func lines(git: SampleGit) async throws -> [String] {
        var objects: [APIObject] = [
            issue(10, "slugify leaves double dashes around punctuation",
                  "`slugify(\"Hello, World!\")` returns `hello--world`; I expected `hello-world`.\nLeading and trailing spaces also leave extra dashes.",
                  created: "2024-03-01T10:30:00Z", by: "frank"),
            comment(9001, issue: 10, "Confirmed: any run of separators produces one dash per character.",
                    created: "2024-03-01T10:45:00Z", by: "maintainer"),
            comment(9002, issue: 10, "Fixed in #1, thanks!", created: "2024-03-10T09:00:00Z", by: "maintainer"),
            issue(11, "wrap crashes on empty text",
                  "```\n>>> textkit.wrap(\"\")\nIndexError: list index out of range\n```\nEmpty or blank text should give no lines.",
                  created: "2024-03-01T14:30:00Z", by: "grace"),
            issue(12, "parse_duration accepts trailing garbage",
                  "`parse_duration(\"1h30x\")` returns 3600 instead of raising ValueError. Same for a lone unit like `h`, which returns 0.",
                  created: "2024-03-01T17:30:00Z", by: "heidi"),
            issue(13, "word_count docs do not say what a word is",
                  "Does `word_count` count numbers? The docstring should say.", created: "2024-03-01T23:30:00Z", by: "ivan"),
            issue(14, "top_words should keep the order in which tied words first appear",
                  "`top_words(\"pear apple fig pear apple\", n=3)` gives `['apple', 'pear', 'fig']`; I expected `['pear', 'apple', 'fig']`.",
                  created: "2024-03-02T01:30:00Z", by: "judy"),
        ]
        let pulls: [(Int, String, String, String, String, String?)] = [
            (1, "Collapse runs of separators in slugify", "Fixes #10", "alice", "2024-03-01T12:30:00Z", "fix-slug"),
            (2, "Return no lines when wrapping empty text", "Closes: #11", "bob", "2024-03-01T15:30:00Z", "wrap-empty"),
            (3, "Reject trailing garbage in durations", "Resolves forge-sample/textkit#12", "carol", "2024-03-01T18:30:00Z", "duration-garbage"),
            (4, "Experiment: wrap on hyphens too", "Not ready.", "eve", "2024-03-01T20:30:00Z", nil),
            (5, "Document how to run the tests", "", "carol", "2024-03-01T22:30:00Z", "docs"),
            (6, "Clarify what word_count counts", "fixes #13", "dave", "2024-03-02T00:30:00Z", "word-count-docs"),
            (7, "Keep first-appearance order for tied words", "Resolves https://github.com/forge-sample/textkit/issues/14",
             "bob", "2024-03-02T02:30:00Z", "first-appearance"),
        ]
        let landings = try await landingCommits(git: git)
        for (number, title, body, user, created, branch) in pulls {
            let head = try await git.run(["rev-parse", "refs/pull/\(number)/head"])
            var pull = APIObject(number: number, title: title, body: body, createdAt: created, user: User(login: user),
                                 htmlURL: "\(repoURL)/pull/\(number)", url: "\(apiURL)/pulls/\(number)",
                                 head: Ref(ref: branch ?? "experiment", sha: head), base: Ref(ref: "main"), isPull: true)
            if let landing = landings[number] {
                pull.state = "closed"
                pull.mergedAt = landing.time
                pull.mergeCommitSHA = landing.commit
            } else {
                pull.state = "open"
            }
            objects.append(pull)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try objects.map { String(decoding: try encoder.encode($0), as: UTF8.self) }
    }

    /// PR number → the commit on main that landed it, found from the subjects the history wrote.
    private static func landingCommits(git: SampleGit) async throws -> [Int: (commit: String, time: String)] {
        let log = try await git.run(["log", "--first-parent", "main", "--format=%H %cI %s"])
        var result: [Int: (String, String)] = [:]
        for line in log.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 2).map(String.init)
            guard parts.count == 3 else { continue }
            let subject = parts[2]
            let time = parts[1].replacingOccurrences(of: "+00:00", with: "Z")
            if subject.hasPrefix("Merge pull request #"),
               let number = Int(subject.dropFirst("Merge pull request #".count).prefix { $0.isNumber }) {
                result[number] = (parts[0], time)
            } else if subject.hasSuffix(")"), let open = subject.range(of: "(#", options: .backwards),
                      let number = Int(subject[open.upperBound...].dropLast()) {
                result[number] = (parts[0], time)
            } else if subject == "Reject trailing garbage in durations" {
                result[3] = (parts[0], time) // the rebase-merged PR
            }
        }
        return result
    }
}
