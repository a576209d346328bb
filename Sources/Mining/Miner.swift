import Foundation
import Workers
import Git
import Store
import Synchronization

/// Turns a clone's merged pull requests into SWE-bench-style tasks.
///
/// ```swift
/// let miner = Miner(repository: try Repository.open(path), repo: "psf/requests")
/// let result = try miner.mine(metadata: try Metadata.load(contentsOf: "meta.jsonl"),
///                             previous: savedState) { done, total in bar.update(done: done, total: total) }
/// save(result.tasks); savedState = result.state
/// ```
/// Runs are incremental: history reachable from `previous.tips` is not walked again, and PRs in
/// `previous.minedPullNumbers` are not reported again, so re-running with the returned state
/// finds nothing new until new commits arrive.
///
/// The miner reads through its own handles on `repository.gitDirectory`, opened as bare (the
/// working tree is never consulted), one per worker thread; `progress` may be called from any of
/// them. Failures are thrown as `GitError` (corrupt objects, naming them); a PR the clone cannot
/// support (shallow history, an object missing from a partial clone or damaged mirror) is
/// returned in `skipped` instead, with the reason and the object's id.
public final class Miner {
    public let repository: Repository
    /// `owner/name`: instance ids and same-repository issue links use it.
    public let repo: String
    public let options: MiningOptions

    public init(repository: Repository, repo: String, options: MiningOptions = MiningOptions()) {
        self.repository = repository; self.repo = repo; self.options = options
    }

    /// Mines every merged PR not mined before and returns all tasks at once: for small
    /// repositories and tests. Large ones use `mine(metadata:previous:batchSize:progress:write:)`,
    /// which never holds more than one batch of tasks.
    public func mine(metadata: Metadata? = nil, previous: MiningState = MiningState(),
                     progress: ((_ done: Int, _ total: Int?) -> Void)? = nil) throws -> MiningResult {
        var tasks: [TaskRecord] = []
        let summary = try mine(metadata: metadata, previous: previous, progress: progress) { batch in
            tasks += batch.tasks
        }
        tasks.sort { ($0.pullNumber ?? 0) < ($1.pullNumber ?? 0) }   // PRs found by rebase discovery come in the last batches
        return MiningResult(tasks: tasks, skipped: summary.skipped, state: summary.state, commitsWalked: summary.commitsWalked)
    }

    /// Mines every merged PR not mined before, handing tasks to `write` in batches as they are
    /// built (PRs found by merge or squash commits in PR-number order, then those found by rebase
    /// discovery); at most two batches are held at a time (one being written while the next is
    /// built), so memory does not grow with the number of PRs. A batch ends after `batchSize` PRs
    /// or once its tasks hold `batchBytes` of patch text, whichever comes first: a few old PRs of
    /// a big project carry tens of MB of patch each, and a batch of them, counted by PRs alone,
    /// would set the peak memory. Each batch carries the state to save with it (in the same
    /// transaction): a run stopped between batches resumes after the last written one. Only the
    /// last batch's state records the walked tips; until then a re-run walks the history again
    /// but rebuilds no task already written. `progress(done, total)` is called while walking
    /// history (total unknown) and while building tasks (total = PRs found so far).
    public func mine(metadata: Metadata? = nil, previous: MiningState = MiningState(), batchSize: Int = 256,
                     batchBytes: Int = 16 << 20, progress: ((_ done: Int, _ total: Int?) -> Void)? = nil,
                     write: (MiningBatch) throws -> Void) throws -> MiningSummary {
        // A state from other discovery rules would keep PRs those rules missed skipped for good.
        let previous = previous.isCurrent ? previous : MiningState()
        // All work goes through handles that read the repository as bare: the working tree's
        // .gitattributes are no input to mining, and skipping them saves system calls for every
        // diffed file. The first handle's caches stay warm for the first worker.
        let repository = try Repository.open(self.repository.gitDirectory, ignoringWorkingTree: true)
        HeapRelease.keepLargeBlocksMapped()
        let references = try repository.references()
        let tips = Array(Set(references.filter { $0.isBranch || $0.isTag }.compactMap(\.commit))).sorted()
        let defaultTip = try repository.defaultBranch()?.commit

        // 1. Walk new history (every branch and tag) for merge and squash commits, keeping a
        //    compact graph of it.
        var graph = CommitGraph(repository: repository, isComplete: previous.tips.isEmpty)
        var found: [(landing: Landing, time: Int64, rank: Int)] = []
        // The walk reads through a handle of its own, freed with it: libgit2 caches every commit a
        // walk reads, and on a long history those entries would fill the object cache's budget
        // (shared by all handles) for the whole run, so the workers' caches of trees would be
        // emptied over and over.
        var walker: Repository? = try Repository.open(self.repository.gitDirectory, ignoringWorkingTree: true)
        var walk: RevisionWalk? = try walker!.walk(from: tips, hiding: previous.tips, order: .unsorted)
        var walked = 0
        while let id = try walk!.next() {
            walked += 1
            if walked % 1000 == 0 { progress?(walked, nil) }
            let info = try walker!.commitInfo(id)
            let node = CommitGraph.Node(info)
            graph.add(id, node)
            if let (landing, rank) = PullRequestDiscovery.landing(of: id, node, subject: info.summary),
               !previous.minedPullNumbers.contains(landing.number) {
                found.append((landing, node.committerTime, rank))
            }
        }
        walk = nil   // libgit2 keeps every commit it walked until the walk is freed
        walker = nil
        graph.indexAncestry()
        let defaultLine = Set(defaultTip.map { graph.walkedFirstParentLine(from: $0) } ?? [])
        var candidates: [Int: [PullRequestDiscovery.Candidate]] = [:]
        for (landing, time, rank) in found {
            candidates[landing.number, default: []].append(.init(landing: landing, time: time, rank: rank,
                                                                 onDefaultLine: defaultLine.contains(landing.commit)))
        }
        found = []
        progress?(walked, nil)
        var landings = PullRequestDiscovery.chooseBest(candidates)
        candidates = [:]

        // 2. PR refs: a squash with a ref gets the PR head; the rest may have landed by rebase.
        let pullHeads = try PullRequestDiscovery.pullHeads(references, repository: repository)
        for (number, landing) in landings where landing.style == .squash && !landing.isFlattenedMerge {
            if let head = pullHeads[number], repository.contains(head), head != landing.commit {
                landings[number] = Landing(number: number, style: .squash, commit: landing.commit, head: head,
                                           targetParent: landing.targetParent, baseIsTargetParent: false)
            }
        }
        var skipped: [SkippedPullRequest] = []
        let unresolved = pullHeads.filter { landings[$0.key] == nil && !previous.minedPullNumbers.contains($0.key) }

        // 3. Tasks, built in batches on all workers and handed over batch by batch.
        var state = MiningState(tips: previous.tips, minedPullNumbers: previous.minedPullNumbers, patchIDs: previous.patchIDs,
                                unmergedPullHeads: previous.unmergedPullHeads, defaultTip: previous.defaultTip)
        var ordered = landings.values.sorted { $0.number < $1.number }
        landings = [:]
        let builders = try TaskBuilders(miner: self, repository: repository, graph: graph, metadata: metadata,
                                        references: references)
        var summary = MiningSummary(commitsWalked: walked)
        var batchStart = 0
        // Write-behind: batch k is written on this thread while the workers build batch k + 1 (a
        // store write is a few hundred ms of SQLite and disk, during which the workers would
        // otherwise wait). Writes stay in order, one at a time; a write that fails stops the
        // workers taking new PRs, and the built but unwritten batch is dropped (rebuilt on resume).
        var unwritten: MiningBatch?
        func writeUnwritten() throws {
            guard let batch = unwritten else { return }
            unwritten = nil
            try write(batch)
            HeapRelease.returnFreePages()   // the batch's patches, freed on the workers' arenas
        }
        func buildBatches(upTo end: Int) throws {
            while batchStart < end {
                let outcomes = try builders.build(ordered[batchStart..<min(end, batchStart + max(1, batchSize))],
                                                  byteBudget: batchBytes, done: batchStart, total: ordered.count,
                                                  progress: progress, alongside: writeUnwritten)
                let batch = ordered[batchStart..<(batchStart + outcomes.count)]
                var tasks: [TaskRecord] = []
                var batchSkips: [SkippedPullRequest] = []
                for (landing, outcome) in zip(batch, outcomes) {
                    switch outcome {
                    case .task(let task): tasks.append(task)
                    case .skipped(let reason): batchSkips.append(SkippedPullRequest(number: landing.number, reason: reason))
                    }
                    state.minedPullNumbers.insert(landing.number)
                }
                batchStart += batch.count
                // Missing objects may arrive with the next fetch: those PRs are tried again then.
                for skip in batchSkips { if case .missingObject = skip.reason { state.minedPullNumbers.remove(skip.number) } }
                skipped += batchSkips
                summary.record(tasks)
                unwritten = MiningBatch(tasks: tasks, skipped: batchSkips, state: state, isLast: false)
            }
        }

        // Rebase discovery (patch-ids, edited re-commits: seconds on a big history) needs nothing
        // the workers build, so it runs on a thread of its own, through a handle of its own, while
        // the PRs found by merge and squash commits are built; the PRs it finds are built after.
        let titles = metadata?.pulls.mapValues(\.title) ?? [:]
        let gitDirectory = self.repository.gitDirectory
        var discovery: Result<PullRequestDiscovery.Rebased, any Error> = .success(PullRequestDiscovery.Rebased())
        progress?(0, ordered.count)
        try WorkerPool.run(workers: 1, { _ in
            guard !unresolved.isEmpty else { return }
            guard let defaultTip else {
                discovery = .success(PullRequestDiscovery.Rebased(notMerged: unresolved.keys.map { ($0, .notMerged) }))
                return
            }
            discovery = Result {
                let handle = try Repository.open(gitDirectory, ignoringWorkingTree: true)
                return try PullRequestDiscovery(repository: handle, previous: previous)
                    .findRebased(candidates: unresolved, titles: titles, defaultTip: defaultTip, graph: graph.reading(through: handle),
                                 maxCommits: options.maxCommitsPerPullRequest, workers: options.workers)
            }
        }, alongside: { try buildBatches(upTo: ordered.count) })
        let rebased = try discovery.get()
        skipped += rebased.notMerged.map { SkippedPullRequest(number: $0.number, reason: $0.reason) }
        skipped += rebased.missing.map { SkippedPullRequest(number: $0.key, reason: $0.value) }
        state.patchIDs.merge(rebased.patchIDs) { $1 }
        ordered += rebased.landed.values.sorted { $0.number < $1.number }
        try buildBatches(upTo: ordered.count)

        // The last batch carries the whole state: the walked tips, and PR refs checked and unmerged.
        state.tips = tips
        state.unmergedPullHeads = defaultTip == nil ? [:] : Dictionary(rebased.notMerged.compactMap { miss in
            unresolved[miss.number].map { (miss.number, $0) }
        }, uniquingKeysWith: { first, _ in first })
        state.defaultTip = defaultTip
        var last = unwritten ?? MiningBatch(tasks: [], skipped: [], state: state, isLast: true)
        last.state = state
        last.isLast = true
        unwritten = last
        try writeUnwritten()
        summary.skipped = skipped.sorted { $0.number < $1.number }
        summary.state = state
        return summary
    }
}

/// One `TaskBuilder` per worker thread, each with its own libgit2 handle (a handle must not be
/// shared between threads), kept for the whole run so their memoized first-parent walks and
/// version lookups serve every batch.
final class TaskBuilders {
    private let builders: [TaskBuilder]

    init(miner: Miner, repository: Repository, graph: CommitGraph, metadata: Metadata?, references: [Reference]) throws {
        builders = try (0..<max(1, miner.options.workers)).map { worker in
            let handle = worker == 0 ? repository : try Repository.open(repository.gitDirectory, ignoringWorkingTree: true)
            return try TaskBuilder(repository: handle, repo: miner.repo, options: miner.options, metadata: metadata,
                                   references: references, graph: graph)
        }
    }

    /// Builds tasks for a prefix of `landings` on every worker and returns that prefix's outcomes,
    /// in order: all of `landings`, or fewer once the finished tasks hold `byteBudget` bytes of
    /// patch text (at least one PR is always built). Workers take runs of a few neighbouring PRs
    /// at a time from a shared counter: neighbours share bases (memos stay hot), and no worker
    /// waits at the end of the batch for another's long run. Once the budget is spent no new run
    /// is taken, so the prefix ends where the counter stopped: only runs already taken finish
    /// beyond the budget.
    /// `alongside` runs on the calling thread meanwhile (writing the previous batch); its error
    /// stops the workers taking new runs and is rethrown.
    func build(_ landings: ArraySlice<Landing>, byteBudget: Int, done: Int, total: Int,
               progress: ((Int, Int?) -> Void)?, alongside: () throws -> Void = {}) throws -> [TaskBuilder.Outcome] {
        let landings = Array(landings)
        let count = landings.count
        let workers = count < 16 ? 1 : builders.count   // tiny batches are not worth a second thread
        let run = 4
        struct Shared {
            var outcomes: [TaskBuilder.Outcome?]
            var next = 0
            var finished: Int
            var bytes = 0
            var firstError: (any Error)?
        }
        let shared = Mutex(Shared(outcomes: Array(repeating: nil, count: count), finished: done))
        // Each worker uses only its own builder (its own libgit2 handle).
        WorkerPool.run(workers: workers, { worker in
            let builder = builders[worker]
            while true {
                let start: Int? = shared.withLock { shared in
                    let start = shared.next
                    guard shared.firstError == nil, start == 0 || shared.bytes < byteBudget, start < count else { return nil }
                    shared.next = min(count, start + run)
                    return start
                }
                guard let start else { return }
                for index in start..<min(count, start + run) {
                    // A PR whose objects the clone lacks is skipped, naming the object; the rest
                    // are still mined.
                    let outcome: TaskBuilder.Outcome
                    do {
                        outcome = try builder.task(for: landings[index])
                    } catch {
                        guard let missing = SkipReason.missingObject(error) else {
                            shared.withLock { $0.firstError = $0.firstError ?? error }
                            return
                        }
                        outcome = .skipped(missing)
                    }
                    let reported: Int = shared.withLock { shared in
                        shared.outcomes[index] = outcome
                        if case .task(let task) = outcome { shared.bytes += task.patchTextBytes }
                        shared.finished += 1
                        return shared.finished
                    }
                    progress?(reported, total)
                }
            }
        }, alongside: {
            do { try alongside() } catch { shared.withLock { $0.firstError = $0.firstError ?? error } }
        })
        let (outcomes, next, firstError) = shared.withLock { ($0.outcomes, $0.next, $0.firstError) }
        if let firstError { throw firstError }
        return outcomes[..<next].map { $0! }
    }
}

extension TaskRecord {
    /// What a task holds that grows with its pull request: its three patches and its statement
    /// (UTF-8 bytes; O(1) for native strings).
    var patchTextBytes: Int {
        patch.utf8.count + testPatch.utf8.count + otherPatch.utf8.count + problemStatement.utf8.count + hintsText.utf8.count
    }
}
