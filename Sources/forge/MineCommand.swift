import ArgumentParser
import Foundation
import Git
import Mining
import Store

struct MineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mine",
        abstract: "Find merged pull requests in a local clone and store them as SWE-bench tasks.",
        discussion: """
        Walks every commit reachable from the clone's branches and tags with libgit2 and finds \
        merged pull requests of three kinds: merge commits ("Merge pull request #N ..."), squash \
        merges ("... (#N)"), and rebase merges, matched by patch-id from refs/pull/N/head. Each PR \
        becomes a task: its non-test changes are the gold `patch`, its test changes the \
        `test_patch`, and `base_commit` is where the PR branched. Issues it closes (fixes #N, \
        owner/repo#N, issue URLs) give the problem statement when --metadata has their text; \
        otherwise the PR's commit messages do.

        Runs are incremental: history walked before is skipped, so re-running is cheap and adds \
        only new tasks. --full forgets that and walks everything again.
        """)

    @Argument(help: "Path of a local clone (a full clone with refs/pull/* fetched finds rebase merges too).")
    var clone: String

    @Option(help: ArgumentHelp("Repository name owner/name; read from the clone's origin URL if omitted.", valueName: "owner/name"))
    var repo: String?

    @Option(help: ArgumentHelp("GitHub REST API issue, comment and pull objects (JSON or JSONL).", valueName: "file"))
    var metadata: String?

    @OptionGroup var store: StoreOptions

    @Flag(inversion: .prefixedNo, help: "Keep only PRs that change both tests and non-test code.")
    var requireTests = true

    @Option(help: "Skip PRs whose gold patch has more lines than this.")
    var maxPatchLines: Int?

    @Option(help: "Skip PRs whose gold patch has more bytes than this.")
    var maxPatchBytes: Int?

    @Option(help: ArgumentHelp("Only PRs created at or after this date (ISO-8601).", valueName: "date"))
    var since: String?

    @Option(help: ArgumentHelp("Only PRs created before this date (ISO-8601).", valueName: "date"))
    var until: String?

    @Option(help: ArgumentHelp("Only PRs touching a path matching this glob (repeatable).", valueName: "glob"))
    var include: [String] = []

    @Option(help: ArgumentHelp("Ignore changes to paths matching this glob (repeatable).", valueName: "glob"))
    var exclude: [String] = []

    @Option(help: ArgumentHelp("Keep only tasks in shard i of N (by a stable hash of the instance id).", valueName: "i/N"))
    var shard: String?

    @Flag(help: "Ignore the saved mining state and walk the whole history again.")
    var full = false

    @Flag(help: "List every skipped pull request with its reason.")
    var verbose = false

    func validate() throws {
        if let repo, repo.split(separator: "/").count != 2 {
            throw ValidationError("--repo must be owner/name, got '\(repo)'")
        }
        for (flag, value) in [("--max-patch-lines", maxPatchLines), ("--max-patch-bytes", maxPatchBytes)] {
            if let value, value < 1 { throw ValidationError("\(flag) must be at least 1") }
        }
        for (flag, value) in [("--since", since), ("--until", until)] {
            if let value, Self.parseDate(value) == nil { throw ValidationError("\(flag): not an ISO-8601 date: '\(value)'") }
        }
        if let shard { do { _ = try Shard(parsing: shard) } catch { throw ValidationError("--shard: \(error)") } }
    }

    static func parseDate(_ text: String) -> Date? {
        let full = ISO8601DateFormatter()
        if let date = full.date(from: text) { return date }
        let day = ISO8601DateFormatter()
        day.formatOptions = [.withFullDate]
        return day.date(from: text)
    }

    func run() throws {
        let repository = try Repository.open(clone)
        let name = try repo ?? Self.inferRepoName(clone: clone)
        // Task ids (`owner__name-N`) are built from it and become folder names.
        do { try Identifier.checkRepositoryName(name) } catch { throw ValidationError("\(error)") }
        let options = MiningOptions(
            requireTestAndCode: requireTests, maxPatchLines: maxPatchLines, maxPatchBytes: maxPatchBytes,
            createdAfter: since.flatMap(Self.parseDate), createdBefore: until.flatMap(Self.parseDate),
            includePaths: include.map(PathGlob.init), excludePaths: exclude.map(PathGlob.init))
        let loadedMetadata = try metadata.map(Metadata.load(contentsOf:))
        let taskStore = try store.open()
        var previous = MiningState()
        if !full, let saved = try taskStore.miningState(repo: name), let cache = saved.cache {
            previous = try JSONDecoder().decode(MiningState.self, from: cache)
            if !previous.isCurrent {
                print("the saved mining state is from other discovery rules: walking the whole history again")
            }
        }

        let started = Date()
        let bar = ProgressBar("mining \(name)")
        let shardFilter = try shard.map(Shard.init(parsing:))
        // Tasks go to the store batch by batch, each batch with the state that follows it in one
        // transaction: memory stays flat, and an interrupted run resumes after the last batch.
        var counts = UpsertCounts()
        var inShard = 0
        let summary = try Miner(repository: repository, repo: name, options: options)
            .mine(metadata: loadedMetadata, previous: previous, progress: { done, total in bar.update(done: done, total: total) }) { batch in
                let tasks = batch.tasks.filter { shardFilter?.contains($0.instanceID) ?? true }
                let state = MiningStateRecord(repo: name, walkedTips: batch.state.tips.map(\.hex),
                                              cache: try JSONEncoder().encode(batch.state))
                let written = try taskStore.save(tasks: tasks, miningStates: [state])
                counts.inserted += written.inserted; counts.updated += written.updated; counts.unchanged += written.unchanged
                inShard += tasks.count
            }
        bar.finish()

        let seconds = Date().timeIntervalSince(started)
        print("mined \(name): \(summary.commitsWalked) commits walked in \(String(format: "%.2f", seconds)) s")
        print("tasks: \(summary.taskCount) new (" + summary.tasksByStyle.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
              + ")" + (shardFilter.map { ", \(inShard) in shard \($0)" } ?? ""))
        print("store \(store.db): \(counts)")
        let merged = summary.taskCount + summary.skipped.filter { $0.reason != .notMerged }.count
        print("merged pull requests found: \(merged) (\(summary.taskCount) became tasks)")
        if !summary.skipped.isEmpty {
            var byReason: [String: Int] = [:]
            for skipped in summary.skipped { byReason[skipped.reason.category, default: 0] += 1 }
            print("skipped \(summary.skipped.count) pull request(s): "
                  + byReason.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
            for skipped in summary.skipped.prefix(verbose ? .max : 10) { print("  \(skipped)") }
            if !verbose, summary.skipped.count > 10 { print("  … \(summary.skipped.count - 10) more (--verbose lists all)") }
        }
    }

    /// owner/name from the clone's `origin` URL (https or ssh form), read from its config file.
    static func inferRepoName(clone: String) throws -> String {
        for config in ["\(clone)/.git/config", "\(clone)/config"] {
            guard let text = try? String(contentsOfFile: config, encoding: .utf8) else { continue }
            var inOrigin = false
            for line in text.split(separator: "\n").map({ $0.trimmingCharacters(in: .whitespaces) }) {
                if line.hasPrefix("[") { inOrigin = line == "[remote \"origin\"]"; continue }
                guard inOrigin, line.hasPrefix("url") else { continue }
                let url = line.split(separator: "=", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
                let parts = url.replacingOccurrences(of: ":", with: "/").split(separator: "/").suffix(2)
                if parts.count == 2 {
                    var name = parts.last!
                    if name.hasSuffix(".git") { name = name.dropLast(4) }
                    return "\(parts.first!)/\(name)"
                }
            }
        }
        throw CommandFailure("cannot tell the repository's name from \(clone) (no origin remote): pass --repo owner/name")
    }
}
