import Foundation
import Git
import Store
import Synchronization
import Workers

/// Where and how a pull request landed.
struct Landing {
    let number: Int
    let style: MergeStyle
    /// The commit that brought the PR into its target branch.
    let commit: ObjectID
    /// The PR's final state (second parent, PR ref head, or the squash commit itself).
    let head: ObjectID
    /// The target branch just before the landing (the landing commit's first parent).
    let targetParent: ObjectID?
    /// True when `base` is simply `targetParent` (a squash commit without a PR ref).
    let baseIsTargetParent: Bool
    /// A merge flattened into one commit: the commit itself is the change, even when a PR ref
    /// exists (its parent is the base, as GitHub's `base.sha` has it).
    var isFlattenedMerge = false
}

/// Finds merged pull requests: merge commits, squash commits, and PR refs whose patches landed.
struct PullRequestDiscovery {
    let repository: Repository
    let previous: MiningState

    /// `Merge pull request #12 from owner/branch` → 12; also a bare `Merge pull request #12` or
    /// `Merge pull request #12: title` (merges made with an edited message: python-control #1104).
    static func mergedPullNumber(subject: String) -> Int? {
        let prefix = "Merge pull request #"
        guard subject.hasPrefix(prefix) else { return nil }
        let rest = subject.dropFirst(prefix.count)
        let digits = rest.prefix { $0.isNumber }
        let after = rest.dropFirst(digits.count)
        guard !digits.isEmpty, after.isEmpty || after.hasPrefix(" ") || after.hasPrefix(":") else { return nil }
        return Int(digits)
    }

    /// `Fix the thing (#12)` → 12.
    static func squashedPullNumber(subject: String) -> Int? {
        var bytes = Array(subject.utf8)
        while let last = bytes.last, last == 32 || last == 9 { bytes.removeLast() }
        guard bytes.last == UInt8(ascii: ")") else { return nil }
        var index = bytes.count - 2
        var number = 0, scale = 1
        while index >= 0, bytes[index] >= 48, bytes[index] <= 57, scale < 1_000_000_000 {
            number += Int(bytes[index] - 48) * scale
            scale *= 10
            index -= 1
        }
        guard scale > 1, index >= 1, bytes[index] == UInt8(ascii: "#"), bytes[index - 1] == UInt8(ascii: "(") else { return nil }
        return number
    }

    /// The landing a walked commit records, if any, with its rank (lower wins for one PR):
    /// 0 `Merge pull request #N from …` merge commits; 1 `… (#N)` squash commits; 2 merge
    /// commits whose subject is the PR title with `(#N)` (maintainers who edit the merge
    /// message: pytest's #5787 and #5840); 3 single-parent commits with a `Merge pull request #N`
    /// subject (a merge flattened by a later rebase of its branch: pytest's #8399). The last two
    /// only fill in PRs the first two miss.
    static func landing(of id: ObjectID, _ node: CommitGraph.Node, subject: String) -> (Landing, rank: Int)? {
        let parents = node.parents
        if parents.count >= 2 {
            if let number = mergedPullNumber(subject: subject) {
                return (Landing(number: number, style: .merge, commit: id, head: parents[1], targetParent: parents[0],
                                baseIsTargetParent: false), 0)
            }
            if let number = squashedPullNumber(subject: subject) {
                return (Landing(number: number, style: .merge, commit: id, head: parents[1], targetParent: parents[0],
                                baseIsTargetParent: false), 2)
            }
            return nil
        }
        if node.isSquash, let number = squashedPullNumber(subject: subject) {
            return (Landing(number: number, style: .squash, commit: id, head: id, targetParent: parents.first,
                            baseIsTargetParent: true), 1)
        }
        if let number = mergedPullNumber(subject: subject) {
            return (Landing(number: number, style: .squash, commit: id, head: id, targetParent: parents.first,
                            baseIsTargetParent: true, isFlattenedMerge: true), 3)
        }
        return nil
    }

    struct Candidate {
        let landing: Landing
        let time: Int64
        let rank: Int
        var onDefaultLine: Bool
    }

    /// Merge and squash candidates among the walked commits, one per PR number.
    static func chooseBest(_ candidates: [Int: [Candidate]]) -> [Int: Landing] {
        var chosen: [Int: Landing] = [:]
        for (number, list) in candidates {
            // A merge commit beats a squash subject (backports often reuse "(#N)"); the default
            // branch beats other branches; the first landing beats later cherry-picks.
            let best = list.min { a, b in
                (a.rank, a.onDefaultLine ? 0 : 1, a.time) < (b.rank, b.onDefaultLine ? 0 : 1, b.time)
            }!
            chosen[number] = best.landing
        }
        return chosen
    }

    /// PR refs (`refs/pull/N/head`, else the second parent of `refs/pull/N/merge`) by number.
    static func pullHeads(_ references: [Reference], repository: Repository) throws -> [Int: ObjectID] {
        var heads: [Int: ObjectID] = [:]
        var merges: [Int: ObjectID] = [:]
        for reference in references {
            guard let number = reference.pullNumber, let commit = reference.commit else { continue }
            if reference.name.hasSuffix("/head") { heads[number] = commit }
            else if reference.name.hasSuffix("/merge") { merges[number] = commit }
        }
        for (number, merge) in merges where heads[number] == nil && repository.contains(merge) {
            let parents = try repository.commit(merge).parentIDs
            if parents.count == 2 { heads[number] = parents[1] }
        }
        return heads
    }

    /// Rebase (and subject-less squash) detection: a PR ref whose commits' patch-ids appear on the
    /// default branch's first-parent line landed there. Returns landings, PRs that never landed,
    /// and every patch-id computed (to cache).
    ///
    /// Computing a patch-id costs a full diff, so only commits that keep something a rebase or
    /// cherry-pick keeps — the author's name, email and timestamp, or the subject (also the PR
    /// title, for squashes) — are compared. A change re-landed with both rewritten is missed.
    func findRebased(candidates: [Int: ObjectID], titles: [Int: String], defaultTip: ObjectID, graph: CommitGraph,
                     maxCommits: Int, workers: Int = 1) throws -> Rebased {
        var cache = previous.patchIDs
        var computed: [ObjectID: ObjectID] = [:]
        func patchID(_ id: ObjectID) throws -> ObjectID {
            if let known = cache[id] { return known }
            let value = try repository.patchID(ofCommit: id)
            cache[id] = value
            return value
        }
        // PR refs that were checked before, unchanged since, can only have landed in the part of
        // the line walked now; when nothing was walked there, nothing needs looking at.
        let fresh = candidates.filter { previous.unmergedPullHeads[$0.key] != $0.value }
        let newLine = try graph.newFirstParentLine(from: defaultTip, earlierTip: previous.defaultTip)
        if fresh.isEmpty && newLine.isEmpty { return Rebased(notMerged: candidates.keys.sorted().map { ($0, .notMerged) }) }
        let onDefaultBranch = try graph.reachable(from: defaultTip)

        // Each candidate's own commits: from its head back to the default branch's history.
        struct Own { var commits: [(id: ObjectID, node: CommitGraph.Node)] = []; var forks = Set<ObjectID>(); var keys = Set<Int>() }
        var own: [Int: Own] = [:]
        var wanted = Set<Int>()
        var oldestHead = Int64.max
        for (number, head) in candidates {
            guard let headNode = try graph.node(head) else { continue }
            if fresh[number] != nil { oldestHead = min(oldestHead, headNode.committerTime) }
            var entry = Own()
            var queue = [head]
            var seen: Set<ObjectID> = [head]
            while !queue.isEmpty, entry.commits.count < maxCommits {
                let id = queue.removeFirst()
                guard let node = try graph.node(id) else { continue }
                if onDefaultBranch.contains(id) && id != head { continue }
                entry.commits.append((id, node))
                if node.parents.count == 1 { entry.keys.formUnion([node.authorKey, node.subjectKey]) }
                if onDefaultBranch.contains(id) { continue }   // the head itself is on main: fast-forwarded
                for parent in node.parents where seen.insert(parent).inserted {
                    if onDefaultBranch.contains(parent) { entry.forks.insert(parent) } else { queue.append(parent) }
                }
            }
            if let title = titles[number], !title.isEmpty { entry.keys.insert(title.hashValue) }
            wanted.formUnion(entry.keys)
            own[number] = entry
        }

        // The default branch's first-parent line, newest first. Landings happen after the PR head
        // was committed: a long run of older commits ends the search.
        let bound = oldestHead == Int64.max ? Int64.max : oldestHead - 86_400
        let newCommits = Set(newLine)
        var keyed: [ObjectID] = []                   // first-parent commits sharing a key with a PR commit
        var byAuthor: [Int: [ObjectID]] = [:]        // the line's plain commits by author e-mail and name
        var position: [ObjectID: Int] = [:]
        var matchedKeys = Set<Int>()
        var current: ObjectID? = defaultTip
        var olderInARow = 0
        while let id = current, let node = try graph.node(id) {
            position[id] = position.count
            current = graph.firstParent(of: id, node)
            if !newCommits.contains(id) && node.committerTime < bound {
                olderInARow += 1
                if olderInARow > 50 { break } else { continue }
            }
            olderInARow = 0
            // Merges and other PRs' squash commits are not rebased commits.
            guard node.parents.count == 1, !node.isSquash else { continue }
            byAuthor[node.authorEmailKey, default: []].append(id)
            byAuthor[node.authorNameKey, default: []].append(id)
            let hits = [node.authorKey, node.subjectKey].filter { wanted.contains($0) }
            guard !hits.isEmpty else { continue }
            matchedKeys.formUnion(hits)
            keyed.append(id)
        }

        // Cheapest first: the same parent tree and tree (a rebase onto an unchanged base) is the
        // same change; so are the same files with the same blobs before and after. Both imply the
        // same patch-id without a diff; patch-ids are computed only for what they do not settle.
        struct TreePair: Hashable { let parent: ObjectID?, tree: ObjectID }
        func treePair(_ id: ObjectID, _ node: CommitGraph.Node) throws -> TreePair {
            TreePair(parent: try node.parents.first.map { try repository.commit($0).treeID }, tree: try repository.commit(id).treeID)
        }
        func changes(_ id: ObjectID, _ node: CommitGraph.Node) throws -> [FileChange] {
            try repository.changedFiles(from: node.parents.first, to: id)
        }
        // A default-branch commit whose objects the clone lacks cannot be matched: it is left out
        // of the indexes (a PR that landed there stays unmatched) instead of ending the run.
        func unlessMissing<T>(_ read: () throws -> T) throws -> T? {
            do { return try read() } catch { if SkipReason.missingObject(error) != nil { return nil }; throw error }
        }
        var byTrees: [TreePair: [ObjectID]] = [:]
        for id in keyed {
            guard let pair = try unlessMissing({ try treePair(id, try graph.node(id)!) }) else { continue }
            byTrees[pair, default: []].append(id)
        }
        var bySignatureCache: [[FileChange]: [ObjectID]]?
        func bySignature() throws -> [[FileChange]: [ObjectID]] {
            if let bySignatureCache { return bySignatureCache }
            var map: [[FileChange]: [ObjectID]] = [:]
            for id in keyed {
                guard let signature = try unlessMissing({ try changes(id, try graph.node(id)!) }) else { continue }
                map[signature, default: []].append(id)
            }
            bySignatureCache = map
            return map
        }
        var byPatchID: [ObjectID: [ObjectID]]?
        func patchIndex() throws -> [ObjectID: [ObjectID]] {
            if let byPatchID { return byPatchID }
            // Each patch-id is a full diff, and a long line has thousands of keyed commits: they
            // are computed on every worker. A commit whose objects are missing gets none.
            let found = try Self.patchIDs(of: keyed.filter { cache[$0] == nil }, repository: repository, workers: workers)
            for (commit, value) in found { cache[commit] = value; computed[commit] = value }
            var map: [ObjectID: [ObjectID]] = [:]
            for commit in keyed {
                guard let value = cache[commit] else { continue }
                map[value, default: []].append(commit)
            }
            byPatchID = map
            return map
        }

        var landed: [Int: Landing] = [:]
        var unmatched: [(number: Int, head: ObjectID)] = []
        var missing: [Int: SkipReason] = [:]
        for (number, head) in candidates.sorted(by: { $0.key < $1.key }) {
            guard let entry = own[number], !entry.keys.isDisjoint(with: matchedKeys) else { unmatched.append((number, head)); continue }
            do {
                var matches: [(commit: ObjectID, isHead: Bool)] = []
                for (id, node) in entry.commits where node.parents.count == 1
                    && (matchedKeys.contains(node.authorKey) || matchedKeys.contains(node.subjectKey)) {
                    // The earliest first-parent commit with this change is where it landed.
                    if let hit = try byTrees[treePair(id, node)]?.last ?? bySignature()[changes(id, node)]?.last
                        ?? patchIndex()[patchID(id)]?.last {
                        matches.append((hit, id == head))
                    }
                }
                var style = MergeStyle.rebase
                var landing = matches.first { $0.isHead }?.commit ?? matches.min { position[$0.commit]! < position[$1.commit]! }?.commit
                // Squashed without "(#N)" in the subject: the whole PR is one commit on the line. Its
                // fork point is where its commits meet the default branch.
                let forkBase = entry.forks.count == 1 ? entry.forks.first : nil
                if landing == nil, entry.commits.count > 1, let base = try forkBase ?? graph.mergeBase(head, defaultTip, reader: repository) {
                    let whole = try repository.changedFiles(from: base, to: head)
                    if let hit = try bySignature()[whole]?.last {
                        landing = hit
                    } else if !keyed.isEmpty {
                        let patch = try repository.diff(from: base, to: head, options: DiffOptions(detectRenames: false)).patchID()
                        landing = try patchIndex()[patch]?.last
                    }
                    if landing != nil { style = .squash }
                }
                guard let landing else { unmatched.append((number, head)); continue }
                let parent = try graph.node(landing)?.parents.first
                landed[number] = Landing(number: number, style: style, commit: landing, head: head,
                                         targetParent: parent, baseIsTargetParent: false)
            } catch {
                // This PR's own objects are missing: skip it, naming the object.
                guard let reason = SkipReason.missingObject(error) else { throw error }
                missing[number] = reason
            }
        }

        // Re-committed with edits: a plain first-parent commit by one of the PR's authors, made
        // after the PR's head, whose changed lines mostly are the PR's.
        var notMerged: [(number: Int, reason: SkipReason)] = []
        let recommits = EditedRecommitMatcher(repository: repository, byAuthor: byAuthor, graph: graph)
        for (number, head) in unmatched {
            do {
                // A PR ref checked before, unchanged since, is compared with new commits only.
                let among = fresh[number] == nil ? newCommits : nil
                // A default-branch commit or PR commit whose objects are missing only means no match.
                if let entry = own[number], let (commit, parent) = try unlessMissing({
                    try recommits.match(head: head, commits: entry.commits, forks: entry.forks, defaultTip: defaultTip, among: among)
                }) ?? nil {
                    landed[number] = Landing(number: number, style: .squash, commit: commit, head: commit,
                                             targetParent: parent, baseIsTargetParent: true)
                } else if graph.isComplete, graph.contains(head) {
                    notMerged.append((number, .landedElsewhere("head \(head.abbreviated()) is in a branch's or tag's history")))
                } else {
                    notMerged.append((number, .notMerged))
                }
            } catch {
                guard let reason = SkipReason.missingObject(error) else { throw error }
                missing[number] = reason
            }
        }
        return Rebased(landed: landed, notMerged: notMerged, missing: missing, patchIDs: computed)
    }

    /// What `findRebased` found: PRs that landed by rebase, squash without a number or an edited
    /// re-commit; PR refs that did not land (with why); PRs whose objects are missing; and the
    /// patch-ids it computed (kept in the mining state for the next run).
    struct Rebased: Sendable {
        var landed: [Int: Landing] = [:]
        var notMerged: [(number: Int, reason: SkipReason)] = []
        var missing: [Int: SkipReason] = [:]
        var patchIDs: [ObjectID: ObjectID] = [:]
    }
}

extension PullRequestDiscovery {
    /// `git patch-id --stable` of each of `commits` against its first parent, computed on
    /// `workers` threads, each reading through its own handle (worker 0 through `repository`). A
    /// commit whose objects are missing is left out; any other failure is thrown.
    static func patchIDs(of commits: [ObjectID], repository: Repository, workers: Int) throws -> [ObjectID: ObjectID] {
        let count = min(max(1, workers), commits.count)
        guard count > 0 else { return [:] }
        let handles = try (0..<count).map { worker in
            worker == 0 ? repository : try Repository.open(repository.gitDirectory, ignoringWorkingTree: true)
        }
        let found = Mutex<[ObjectID: ObjectID]>([:])
        try WorkerPool.forEach(commits, workers: count, stop: StopFlag()) { commit, worker in
            let value: ObjectID
            do { value = try handles[worker].patchID(ofCommit: commit) } catch where SkipReason.missingObject(error) != nil { return }
            found.withLock { $0[commit] = value }
        }
        return found.withLock { $0 }
    }
}

/// Finds the commit on the default branch's first-parent line where a maintainer re-committed a
/// pull request's change with edits and without its number: same author (e-mail or name, not
/// the time), committed from one day before the PR's head to `window` after it, touching at least
/// one of the same files, and sharing at least `threshold` of the changed lines (Dice coefficient
/// over added and deleted lines, whitespace-trimmed, blank lines ignored).
///
/// Changed lines are taken as multiset differences of the files' old and new lines, not from a
/// diff: no diff algorithm, no binary patches, and the same answer for similarity. A commit's
/// paths and lines are kept once computed (a busy author's commits are candidates for many of
/// their PRs), up to `cacheLimit` commits, so memory stays bounded on any history.
final class EditedRecommitMatcher {
    let repository: Repository
    let byAuthor: [Int: [ObjectID]]
    let graph: CommitGraph
    let window: Int64 = 180 * 86_400
    let threshold = 0.5
    /// Commits whose paths and lines are kept; changes of more lines than `largeChange` are
    /// not kept (a few huge commits would otherwise hold most of the memory).
    let cacheLimit = 1_024
    let largeChange = 2_000
    private var pathsCache: [ObjectID: Set<[UInt8]>] = [:]
    private var linesCache: [ObjectID: LineSet] = [:]

    init(repository: Repository, byAuthor: [Int: [ObjectID]], graph: CommitGraph) {
        self.repository = repository; self.byAuthor = byAuthor; self.graph = graph
    }

    /// A change as a multiset of signed line hashes.
    struct LineSet {
        var counts: [Int: Int] = [:]
        var total = 0

        /// Dice coefficient of the two multisets.
        func similarity(_ other: LineSet) -> Double {
            guard total + other.total > 0 else { return 0 }
            var shared = 0
            let (small, large) = counts.count <= other.counts.count ? (counts, other.counts) : (other.counts, counts)
            for (line, count) in small { shared += min(count, large[line] ?? 0) }
            return 2 * Double(shared) / Double(total + other.total)
        }
    }

    /// The matching commit and its parent, or nil.
    func match(head: ObjectID, commits: [(id: ObjectID, node: CommitGraph.Node)], forks: Set<ObjectID>,
               defaultTip: ObjectID, among: Set<ObjectID>? = nil) throws -> (ObjectID, ObjectID?)? {
        guard let headNode = commits.first(where: { $0.id == head })?.node else { return nil }
        var authors = Set<Int>()
        for (_, node) in commits where node.parents.count == 1 { authors.formUnion([node.authorEmailKey, node.authorNameKey]) }
        let earliest = headNode.committerTime - 86_400, latest = headNode.committerTime + window
        var seen = Set<ObjectID>()
        var nearby: [(id: ObjectID, node: CommitGraph.Node)] = []
        for key in authors {
            for id in byAuthor[key] ?? [] where among?.contains(id) ?? true && seen.insert(id).inserted {
                guard let node = try graph.node(id), node.committerTime >= earliest, node.committerTime <= latest else { continue }
                nearby.append((id, node))
            }
        }
        guard !nearby.isEmpty else { return nil }
        guard let base = forks.count == 1 ? forks.first : try graph.mergeBase(head, defaultTip, reader: repository) else { return nil }
        let pullChanges = try repository.changedFiles(from: base, to: head)
        let pullPaths = Set(pullChanges.map(\.path))
        var pull: LineSet?
        var best: (id: ObjectID, parent: ObjectID?, score: Double, time: Int64)?
        for (id, node) in nearby.sorted(by: { $0.node.committerTime < $1.node.committerTime }) {
            let parent = node.parents.first
            let paths: Set<[UInt8]>
            if let known = pathsCache[id] { paths = known } else {
                paths = Set(try repository.changedFiles(from: parent, to: id).map(\.path))
                if pathsCache.count >= cacheLimit { pathsCache.removeAll(keepingCapacity: true) }
                pathsCache[id] = paths
            }
            guard !paths.isDisjoint(with: pullPaths) else { continue }
            if pull == nil { pull = try lines(pullChanges) }
            let theirs: LineSet
            if let known = linesCache[id] { theirs = known } else {
                theirs = try lines(try repository.changedFiles(from: parent, to: id))
                if linesCache.count >= cacheLimit { linesCache.removeAll(keepingCapacity: true) }
                if theirs.total <= largeChange { linesCache[id] = theirs }
            }
            let score = pull!.similarity(theirs)
            if score >= threshold, best == nil || score > best!.score { best = (id, parent, score, node.committerTime) }
        }
        return best.map { ($0.id, $0.parent) }
    }

    /// Added lines (new minus old) and deleted lines (old minus new) of every text file changed.
    private func lines(_ changes: [FileChange]) throws -> LineSet {
        var set = LineSet()
        for change in changes {
            var counts: [Int: Int] = [:]
            for (id, sign) in [(change.oldID, -1), (change.newID, 1)] {
                guard let id else { continue }
                let bytes = try repository.blob(id)
                if bytes.prefix(8_000).contains(0) { counts = [:]; break }   // binary: no lines
                for line in bytes.split(separator: 10) {
                    let text = line.drop { $0 == 32 || $0 == 9 }
                    var end = text.endIndex
                    while end > text.startIndex, [32, 9, 13].contains(text[end - 1]) { end -= 1 }
                    guard end > text.startIndex else { continue }
                    var hasher = Hasher()
                    text[text.startIndex..<end].withUnsafeBytes { hasher.combine(bytes: $0) }
                    counts[hasher.finalize(), default: 0] += sign
                }
            }
            for (line, count) in counts where count != 0 {
                // Signed line: an added line and the same line deleted are different changes.
                set.counts[line &* 31 &+ (count > 0 ? 1 : 2), default: 0] += abs(count)
                set.total += abs(count)
            }
        }
        return set
    }
}
