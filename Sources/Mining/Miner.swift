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
        let references = try repository.references()
        let tips = Array(Set(references.filter { $0.isBranch || $0.isTag }.compactMap(\.commit))).sorted()
        let defaultBranch = try repository.defaultBranch()
        let defaultTip = defaultBranch?.commit
        let discovery = PullRequestDiscovery(repository: repository, previous: previous)

        // 1. Walk new history for merge and squash commits.
        var defaultLine = Set<ObjectID>()
        if let defaultTip {
            defaultLine = Set(try repository.walk(from: [defaultTip], hiding: previous.tips, firstParentOnly: true).all())
        }
        var candidates: [Int: [PullRequestDiscovery.Candidate]] = [:]
        let walk = try repository.walk(from: tips, hiding: previous.tips, order: .time)
        var walked = 0
        while let id = try walk.next() {
            walked += 1
            if walked % 1000 == 0 { progress?(walked, nil) }
            let commit = try repository.commit(id)
            let parents = commit.parentIDs
            let subject = commit.summary
            var landing: Landing?
            if parents.count >= 2, let number = PullRequestDiscovery.mergedPullNumber(subject: subject) {
                landing = Landing(number: number, style: .merge, commit: id, head: parents[1], targetParent: parents[0],
                                  baseIsTargetParent: false)
            } else if parents.count <= 1, let number = PullRequestDiscovery.squashedPullNumber(subject: subject) {
                landing = Landing(number: number, style: .squash, commit: id, head: id, targetParent: parents.first,
                                  baseIsTargetParent: true)
            }
            if let landing, !previous.minedPullNumbers.contains(landing.number) {
                candidates[landing.number, default: []].append(.init(landing: landing, time: commit.committer.time,
                                                                     onDefaultLine: defaultLine.contains(id)))
            }
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
        let unresolved = pullHeads.filter { landings[$0.key] == nil && !previous.minedPullNumbers.contains($0.key) }
        if !unresolved.isEmpty {
            if let defaultTip {
                let found = try discovery.findRebased(candidates: unresolved, defaultTip: defaultTip,
                                                      maxCommits: options.maxCommitsPerPullRequest)
                landings.merge(found.landed) { first, _ in first }
                skipped += found.notMerged.map { SkippedPullRequest(number: $0, reason: .notMerged) }
                patchIDs.merge(found.patchIDs) { $1 }
            } else {
                skipped += unresolved.keys.map { SkippedPullRequest(number: $0, reason: .notMerged) }
            }
        }

        // 3. One task per landing, one PR at a time (only one diff in memory).
        let builder = try TaskBuilder(repository: repository, repo: repo, options: options, metadata: metadata,
                                      references: references)
        var tasks: [TaskRecord] = []
        let ordered = landings.values.sorted { $0.number < $1.number }
        for (done, landing) in ordered.enumerated() {
            progress?(done, ordered.count)
            switch try builder.task(for: landing) {
            case .task(let task): tasks.append(task)
            case .skipped(let reason): skipped.append(SkippedPullRequest(number: landing.number, reason: reason))
            }
        }
        progress?(ordered.count, ordered.count)

        var state = MiningState(tips: tips, minedPullNumbers: previous.minedPullNumbers, patchIDs: patchIDs)
        state.minedPullNumbers.formUnion(landings.keys)
        return MiningResult(tasks: tasks, skipped: skipped.sorted { $0.number < $1.number }, state: state,
                            commitsWalked: walked)
    }
}
