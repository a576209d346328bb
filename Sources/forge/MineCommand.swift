import ArgumentParser
import Foundation
import Mining
import Pipeline
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
        only new tasks. --full forgets that and walks everything again. Tasks are written batch \
        by batch: Ctrl-C finishes the batch in flight and exits 130; the same command resumes.
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

    @Option(help: ArgumentHelp("Keep only tasks in shard i of N (by a stable hash of the instance id).", valueName: "i/N"),
            transform: Shard.init(parsing:))
    var shard: Shard?

    @Flag(help: "Ignore the saved mining state and walk the whole history again.")
    var full = false

    @Flag(help: "List every skipped pull request with its reason.")
    var verbose = false

    func validate() throws {
        if let repo, repo.split(separator: "/").count != 2 {
            throw ValidationError("--repo must be owner/name, got '\(repo)'")
        }
        // Task ids (`owner__name-N`) are built from it and become folder names.
        if let repo { do { try Identifier.checkRepositoryName(repo) } catch { throw ValidationError("--repo: \(error)") } }
        for (flag, value) in [("--max-patch-lines", maxPatchLines), ("--max-patch-bytes", maxPatchBytes)] {
            if let value, value < 1 { throw ValidationError("\(flag) must be at least 1") }
        }
        for (flag, value) in [("--since", since), ("--until", until)] {
            if let value, Self.parseDate(value) == nil { throw ValidationError("\(flag): not an ISO-8601 date: '\(value)'") }
        }
    }

    static func parseDate(_ text: String) -> Date? {
        let full = ISO8601DateFormatter()
        if let date = full.date(from: text) { return date }
        let day = ISO8601DateFormatter()
        day.formatOptions = [.withFullDate]
        return day.date(from: text)
    }

    func run() throws {
        let request = Pipeline.MiningRequest(
            clone: clone, repo: repo, metadata: metadata,
            options: MiningOptions(requireTestAndCode: requireTests, maxPatchLines: maxPatchLines, maxPatchBytes: maxPatchBytes,
                                   createdAfter: since.flatMap(Self.parseDate), createdBefore: until.flatMap(Self.parseDate),
                                   includePaths: include.map(PathGlob.init), excludePaths: exclude.map(PathGlob.init)),
            shard: shard, full: full)
        let interrupt = InterruptWatch(finishing: "batch of tasks")
        defer { interrupt.cancel() }
        let pipeline = Pipeline(workspace: Workspace(database: store.db))
        let mined = try ProgressBar.showing("mining \(repo ?? clone)") { progress in
            try pipeline.mine(request, stop: interrupt.stop, notice: { print($0) }, progress: progress)
        }
        guard let summary = mined.summary else {
            print("interrupted: \(mined.written) task(s) written in \(mined.batches) batch(es) in \(String(format: "%.2f", mined.seconds)) s; run the same command again to resume")
            print("store \(store.db): \(mined.counts)")
            throw ExitCode(130)
        }
        print("mined \(mined.repo): \(summary.commitsWalked) commits walked in \(String(format: "%.2f", mined.seconds)) s")
        print("tasks: \(summary.taskCount) new (" + summary.tasksByStyle.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
              + ")" + (shard.map { ", \(mined.written) in shard \($0)" } ?? ""))
        print("store \(store.db): \(mined.counts)")
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
}
