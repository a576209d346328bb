import Foundation
import Git
import PathRules
import Store

/// Builds one task from one landed pull request: base commit, split patches, statement, hints.
final class TaskBuilder {
    enum Outcome { case task(TaskRecord), skipped(SkipReason) }

    private let repository: Repository
    private let repo: String
    private let options: MiningOptions
    private let metadata: Metadata?
    private let links: IssueLinkParser
    private let facts: ProjectFacts

    private let graph: CommitGraph

    init(repository: Repository, repo: String, options: MiningOptions, metadata: Metadata?, references: [Reference],
         graph: CommitGraph) throws {
        self.repository = repository; self.repo = repo; self.options = options; self.metadata = metadata
        self.graph = graph
        links = IssueLinkParser(repository: repo)
        facts = try ProjectFacts(repository: repository, references: references, graph: graph)
    }

    func task(for landing: Landing) throws -> Outcome {
        let number = landing.number
        let pull = metadata?.pulls[number]
        let landingCommit = try repository.commit(landing.commit)

        // Dates first: the cheapest filter.
        let createdAt = pull?.createdAt.map(Timestamp.normalized) ?? landingCommit.committer.iso8601UTC
        if let seconds = Timestamp.seconds(createdAt) {
            if let after = options.createdAfter, Double(seconds) < after.timeIntervalSince1970 { return .skipped(.outsideDateRange(createdAt: createdAt)) }
            if let before = options.createdBefore, Double(seconds) > before.timeIntervalSince1970 { return .skipped(.outsideDateRange(createdAt: createdAt)) }
        }

        // Base commit: merge-base(first parent of the landing, PR head); a squash without a PR
        // ref has only its parent.
        guard repository.contains(landing.head) else {
            return .skipped(.historyIncomplete("PR head \(landing.head.abbreviated()) is not in this clone"))
        }
        guard let targetParent = landing.targetParent, repository.contains(targetParent) else {
            return .skipped(.historyIncomplete("the parent of landing commit \(landing.commit.abbreviated()) is not in this clone"))
        }
        let base: ObjectID
        if landing.baseIsTargetParent {
            base = targetParent
        } else {
            guard let found = try graph.mergeBase(targetParent, landing.head, reader: repository), repository.contains(found) else {
                return .skipped(.historyIncomplete(repository.isShallow
                    ? "the PR's base commit is beyond the shallow clone's boundary"
                    : "PR head \(landing.head.abbreviated()) shares no history with \(targetParent.abbreviated())"))
            }
            base = found
        }
        if repository.isShallow, repository.shallowBoundary.contains(base) {
            // The boundary commit exists, but whether it is the true base cannot be known.
            return .skipped(.historyIncomplete("the PR's base commit is at the shallow clone's boundary"))
        }

        // The PR's commits: messages, links, and the time of its first commit.
        let prCommits = try pullRequestCommits(landing)

        // Which files changed decides most skips before any patch (or rename detection, the
        // costliest part of a diff) is made. Pairing renames only merges a deleted file into an
        // added one, under the added path: a category absent from the changed paths is absent
        // from the diff, and one present on an added or modified file stays present.
        let changes = try repository.changedFiles(from: base, to: landing.head)
        guard !changes.isEmpty else { return .skipped(.emptyDiff) }
        if options.requireTestAndCode, options.includePaths.isEmpty, options.excludePaths.isEmpty {
            var categories = Set<FileCategory>(), surviving = Set<FileCategory>()
            for change in changes {
                let category = PathClassifier.category(of: change.pathString)
                categories.insert(category)
                if change.newID != nil { surviving.insert(category) }
            }
            if !categories.contains(.test) { return .skipped(.noTestChanges) }
            if !categories.contains(.code) && surviving.contains(.test) { return .skipped(.noCodeChanges) }
        }

        // The diff, split into code, tests and other files.
        let diff = try repository.diff(from: base, to: landing.head, changes: changes)
        guard diff.count > 0 else { return .skipped(.emptyDiff) }
        var code: [Int] = [], tests: [Int] = [], other: [Int] = []
        var lines = 0, bytes = 0
        var matchedInclude = options.includePaths.isEmpty
        for index in 0..<diff.count {
            let patch = try diff.patch(at: index)
            let entry = patch.entry
            for path in Set([entry.oldPath, entry.newPath]) where !path.isEmpty {
                if options.excludePaths.contains(where: { $0.matches(path) }) { return .skipped(.excludedPath(path)) }
                if !matchedInclude, options.includePaths.contains(where: { $0.matches(path) }) { matchedInclude = true }
            }
            switch PathClassifier.category(of: entry.path) {
            case .code: code.append(index)
            case .test: tests.append(index)
            case .other: other.append(index); continue
            }
            lines += patch.additions + patch.deletions
            bytes += patch.text.utf8.count
        }
        if !matchedInclude { return .skipped(.noIncludedPath) }
        if options.requireTestAndCode {
            if tests.isEmpty { return .skipped(.noTestChanges) }
            if code.isEmpty { return .skipped(.noCodeChanges) }
        }
        if let limit = options.maxPatchLines, lines > limit { return .skipped(.patchTooLarge(lines: lines, bytes: bytes)) }
        if let limit = options.maxPatchBytes, bytes > limit { return .skipped(.patchTooLarge(lines: lines, bytes: bytes)) }

        // Linked issues, statement, hints.
        var texts: [String] = []
        if let pull { texts += [pull.title, pull.body] }
        texts += prCommits.map(\.message)
        if !prCommits.contains(where: { $0.id == landingCommit.id }) { texts.append(landingCommit.message) }
        var issueNumbers: [Int] = []
        for text in texts { for n in links.issues(in: text) where n != number && !issueNumbers.contains(n) { issueNumbers.append(n) } }
        issueNumbers.sort()

        let (statement, source) = problemStatement(number: number, issues: issueNumbers, pull: pull,
                                                   landing: landing, landingCommit: landingCommit, prCommits: prCommits)
        let firstCommitTime = prCommits.map(\.author.time).min() ?? landingCommit.author.time
        let hints = hintsText(issues: issueNumbers, before: firstCommitTime)

        return .task(TaskRecord(
            instanceID: TaskRecord.instanceID(repo: repo, pullNumber: number), repo: repo, baseCommit: base.hex,
            patch: try diff.patchText(for: code), testPatch: try diff.patchText(for: tests),
            problemStatement: statement, hintsText: hints, createdAt: createdAt,
            version: try facts.version(at: base),
            environmentSetupCommit: try facts.environmentSetupCommit(for: base).hex,
            pullNumber: number, issueNumbers: issueNumbers, mergeCommit: landing.commit.hex, mergeStyle: landing.style,
            statementSource: source, language: try facts.language(at: base), otherPatch: try diff.patchText(for: other)))
    }

    /// Oldest first; at most `maxCommitsPerPullRequest`.
    private func pullRequestCommits(_ landing: Landing) throws -> [Commit] {
        if landing.baseIsTargetParent { return [try repository.commit(landing.commit)] }
        let ids = try graph.exclusiveAncestors(of: landing.head, hiding: landing.targetParent,
                                               limit: options.maxCommitsPerPullRequest, reader: repository)
        return try ids.reversed().map { try repository.commit($0) }
    }

    private func problemStatement(number: Int, issues: [Int], pull: PullRequestInfo?, landing: Landing,
                                  landingCommit: Commit, prCommits: [Commit]) -> (String, StatementSource) {
        if let metadata {
            let texts = issues.compactMap { metadata.issues[$0] }.filter { !$0.isPullRequest }
                .map { TaskBuilder.clean("\($0.title)\n\($0.body)") }
            if !texts.isEmpty { return (texts.joined(separator: "\n\n"), .issue) }
            if let pull, !(pull.title + pull.body).isEmpty {
                return (TaskBuilder.clean("\(pull.title)\n\(pull.body)"), .pullRequest)
            }
            if let issue = metadata.issues[number] {   // the issues API's view of the PR
                return (TaskBuilder.clean("\(issue.title)\n\(issue.body)"), .pullRequest)
            }
        }
        return (commitStatement(number: number, landing: landing, landingCommit: landingCommit, prCommits: prCommits), .commit)
    }

    /// Without metadata: what the merge/squash commit says (GitHub writes the PR title and body
    /// there), else the PR's own commit messages.
    private func commitStatement(number: Int, landing: Landing, landingCommit: Commit, prCommits: [Commit]) -> String {
        var lines = landingCommit.message.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        switch landing.style {
        case .merge:
            lines.removeFirst()
            let body = TaskBuilder.clean(lines.joined(separator: "\n"))
            if !body.isEmpty { return body }
        case .squash:
            if let subject = lines.first, subject.hasSuffix("(#\(number))") {
                lines[0] = String(subject.dropLast("(#\(number))".count)).trimmingCharacters(in: .whitespaces)
            }
            return TaskBuilder.clean(lines.joined(separator: "\n"))
        case .rebase:
            break
        }
        return TaskBuilder.clean(prCommits.map { TaskBuilder.clean($0.message) }.joined(separator: "\n\n"))
    }

    private func hintsText(issues: [Int], before time: Int64) -> String {
        guard let metadata else { return "" }
        var comments: [(Int64, String)] = []
        for issue in issues {
            for comment in metadata.comments[issue] ?? [] {
                if let created = Timestamp.seconds(comment.createdAt), created < time {
                    comments.append((created, TaskBuilder.clean(comment.body)))
                }
            }
        }
        return comments.sorted { $0.0 < $1.0 }.map(\.1).joined(separator: "\n")
    }

    /// CRLF to LF, surrounding blank lines trimmed.
    static func clean(_ text: String) -> String {
        let unixLines = text.utf8.contains(13) ? text.replacingOccurrences(of: "\r\n", with: "\n") : text
        return unixLines.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
