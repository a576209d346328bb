import Foundation
import Git
import Store

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

    /// Mines every merged PR not mined before. `progress(done, total)` is called while walking
    /// history (total unknown) and while building tasks (total = PRs found).
    public func mine(metadata: Metadata? = nil, previous: MiningState = MiningState(),
                     progress: ((_ done: Int, _ total: Int?) -> Void)? = nil) throws -> MiningResult {
        // All work goes through handles that read the repository as bare: the working tree's
        // .gitattributes are no input to mining, and skipping them saves system calls for every
        // diffed file. The first handle's caches stay warm for the first worker.
        let repository = try Repository.open(self.repository.gitDirectory, ignoringWorkingTree: true)
        let references = try repository.references()
        let tips = Array(Set(references.filter { $0.isBranch || $0.isTag }.compactMap(\.commit))).sorted()
        let defaultBranch = try repository.defaultBranch()
        let defaultTip = defaultBranch?.commit
        let discovery = PullRequestDiscovery(repository: repository, previous: previous)

        // 1. Walk new history for merge and squash commits, keeping a compact graph of it.
        var graph = CommitGraph(repository: repository, isComplete: previous.tips.isEmpty)
        var found: [(landing: Landing, time: Int64)] = []
        let walk = try repository.walk(from: tips, hiding: previous.tips, order: .unsorted)
        var walked = 0
        while let id = try walk.next() {
            walked += 1
            if walked % 1000 == 0 { progress?(walked, nil) }
            let info = try repository.commitInfo(id)
            let subject = info.summary
            let node = CommitGraph.Node(info)
            graph.add(id, node)
            let parents = node.parents
            var landing: Landing?
            if parents.count >= 2, let number = PullRequestDiscovery.mergedPullNumber(subject: subject) {
                landing = Landing(number: number, style: .merge, commit: id, head: parents[1], targetParent: parents[0],
                                  baseIsTargetParent: false)
            } else if node.isSquash, let number = PullRequestDiscovery.squashedPullNumber(subject: subject) {
                landing = Landing(number: number, style: .squash, commit: id, head: id, targetParent: parents.first,
                                  baseIsTargetParent: true)
            }
            if let landing, !previous.minedPullNumbers.contains(landing.number) {
                found.append((landing, node.committerTime))
            }
        }
        let defaultLine = Set(defaultTip.map { graph.walkedFirstParentLine(from: $0) } ?? [])
        var candidates: [Int: [PullRequestDiscovery.Candidate]] = [:]
        for (landing, time) in found {
            candidates[landing.number, default: []].append(.init(landing: landing, time: time,
                                                                 onDefaultLine: defaultLine.contains(landing.commit)))
        }
        progress?(walked, nil)
        var landings = PullRequestDiscovery.chooseBest(candidates)

        // 2. PR refs: a squash with a ref gets the PR head; the rest may have landed by rebase.
        let pullHeads = try PullRequestDiscovery.pullHeads(references, repository: repository)
        for (number, landing) in landings where landing.style == .squash {
            if let head = pullHeads[number], repository.contains(head), head != landing.commit {
                landings[number] = Landing(number: number, style: .squash, commit: landing.commit, head: head,
                                           targetParent: landing.targetParent, baseIsTargetParent: false)
            }
        }
        var skipped: [SkippedPullRequest] = []
        var patchIDs = previous.patchIDs
        var unmerged: [Int: ObjectID] = [:]
        let unresolved = pullHeads.filter { landings[$0.key] == nil && !previous.minedPullNumbers.contains($0.key) }
        if !unresolved.isEmpty {
            if let defaultTip {
                let titles = metadata?.pulls.mapValues(\.title) ?? [:]
                let found = try discovery.findRebased(candidates: unresolved, titles: titles, defaultTip: defaultTip,
                                                      graph: graph, maxCommits: options.maxCommitsPerPullRequest)
                landings.merge(found.landed) { first, _ in first }
                skipped += found.notMerged.map { SkippedPullRequest(number: $0, reason: .notMerged) }
                skipped += found.missing.map { SkippedPullRequest(number: $0.key, reason: $0.value) }
                patchIDs.merge(found.patchIDs) { $1 }
                for number in found.notMerged { unmerged[number] = unresolved[number] }
            } else {
                skipped += unresolved.keys.map { SkippedPullRequest(number: $0, reason: .notMerged) }
            }
        }
        // 3. One task per landing, one PR at a time per worker (only one diff in memory each).
        let ordered = landings.values.sorted { $0.number < $1.number }
        let outcomes = try buildTasks(ordered, in: repository, graph: graph, metadata: metadata, references: references,
                                      progress: progress)
        var tasks: [TaskRecord] = []
        for (landing, outcome) in zip(ordered, outcomes) {
            switch outcome {
            case .task(let task): tasks.append(task)
            case .skipped(let reason): skipped.append(SkippedPullRequest(number: landing.number, reason: reason))
            }
        }

        var state = MiningState(tips: tips, minedPullNumbers: previous.minedPullNumbers, patchIDs: patchIDs,
                                unmergedPullHeads: unmerged)
        state.minedPullNumbers.formUnion(landings.keys)
        // Missing objects may arrive with the next fetch: those PRs are tried again then.
        for skip in skipped { if case .missingObject = skip.reason { state.minedPullNumbers.remove(skip.number) } }
        return MiningResult(tasks: tasks, skipped: skipped.sorted { $0.number < $1.number }, state: state,
                            commitsWalked: walked)
    }

    /// Builds tasks on `options.workers` threads, each with its own libgit2 repository handle (a
    /// handle must not be shared between threads) and a contiguous run of PRs, so the memoized
    /// first-parent walks of neighbouring PRs stay in one worker. Results keep `landings`' order.
    private func buildTasks(_ landings: [Landing], in repository: Repository, graph: CommitGraph, metadata: Metadata?,
                            references: [Reference],
                            progress: ((Int, Int?) -> Void)?) throws -> [TaskBuilder.Outcome] {
        let total = landings.count
        let workers = max(1, min(options.workers, total / 16))   // tiny runs are not worth a thread
        let chunk = (total + workers - 1) / max(workers, 1)
        let lock = NSLock()
        var outcomes = [TaskBuilder.Outcome?](repeating: nil, count: total)
        var firstError: Error?
        var done = 0
        progress?(0, total)
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            let range = (worker * chunk)..<min(total, (worker + 1) * chunk)
            guard !range.isEmpty else { return }
            do {
                let repository = worker == 0 ? repository : try Repository.open(repository.gitDirectory, ignoringWorkingTree: true)
                let builder = try TaskBuilder(repository: repository, repo: repo, options: options, metadata: metadata,
                                              references: references, graph: graph)
                for index in range {
                    // A PR whose objects the clone lacks is skipped, naming the object; the rest
                    // are still mined.
                    let outcome: TaskBuilder.Outcome
                    do {
                        outcome = try builder.task(for: landings[index])
                    } catch {
                        guard let missing = SkipReason.missingObject(error) else { throw error }
                        outcome = .skipped(missing)
                    }
                    lock.lock()
                    outcomes[index] = outcome
                    done += 1
                    let finished = done
                    let stop = firstError != nil
                    lock.unlock()
                    progress?(finished, total)
                    if stop { return }
                }
            } catch {
                lock.lock()
                if firstError == nil { firstError = error }
                lock.unlock()
            }
        }
        if let firstError { throw firstError }
        return outcomes.map { $0! }
    }
}
