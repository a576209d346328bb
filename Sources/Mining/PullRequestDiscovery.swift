import Foundation
import Git
import Store

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
}

/// Finds merged pull requests: merge commits, squash commits, and PR refs whose patches landed.
struct PullRequestDiscovery {
    let repository: Repository
    let previous: MiningState

    /// `Merge pull request #12 from owner/branch` → 12.
    static func mergedPullNumber(subject: String) -> Int? {
        let prefix = "Merge pull request #"
        guard subject.hasPrefix(prefix) else { return nil }
        let rest = subject.dropFirst(prefix.count)
        let digits = rest.prefix { $0.isNumber }
        guard !digits.isEmpty, rest.dropFirst(digits.count).hasPrefix(" from ") else { return nil }
        return Int(digits)
    }

    /// `Fix the thing (#12)` → 12.
    static func squashedPullNumber(subject: String) -> Int? {
        let trimmed = subject.trimmingCharacters(in: .whitespaces)
        guard trimmed.hasSuffix(")"), let open = trimmed.range(of: "(#", options: .backwards) else { return nil }
        let digits = trimmed[open.upperBound...].dropLast()
        guard !digits.isEmpty, digits.allSatisfy(\.isNumber) else { return nil }
        return Int(digits)
    }

    struct Candidate {
        let landing: Landing
        let time: Int64
        var onDefaultLine: Bool
    }

    /// Merge and squash candidates among the walked commits, one per PR number.
    static func chooseBest(_ candidates: [Int: [Candidate]]) -> [Int: Landing] {
        var chosen: [Int: Landing] = [:]
        for (number, list) in candidates {
            // A merge commit beats a squash subject (backports often reuse "(#N)"); the default
            // branch beats other branches; the first landing beats later cherry-picks.
            let best = list.min { a, b in
                let keyA = (a.landing.style == .merge ? 0 : 1, a.onDefaultLine ? 0 : 1, a.time)
                let keyB = (b.landing.style == .merge ? 0 : 1, b.onDefaultLine ? 0 : 1, b.time)
                return keyA < keyB
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
    func findRebased(candidates: [Int: ObjectID], defaultTip: ObjectID, maxCommits: Int) throws -> (landed: [Int: Landing], notMerged: [Int], patchIDs: [ObjectID: ObjectID]) {
        var cache = previous.patchIDs
        var computed: [ObjectID: ObjectID] = [:]
        // Landings happen after the PR head was committed: older first-parent commits cannot be one.
        var oldestHead = Int64.max
        for head in candidates.values where repository.contains(head) {
            oldestHead = min(oldestHead, try repository.commit(head).committer.time)
        }
        let bound = oldestHead == Int64.max ? Int64.max : oldestHead - 86_400
        var landedBy: [ObjectID: [ObjectID]] = [:]   // patch-id → first-parent commits, newest first
        var position: [ObjectID: Int] = [:]          // first-parent commit → distance from the tip
        let line = try repository.walk(from: [defaultTip], order: .topological, firstParentOnly: true)
        var olderInARow = 0
        var index = 0
        while let id = try line.next() {
            let commit = try repository.commit(id)
            position[id] = index
            index += 1
            if commit.committer.time < bound { olderInARow += 1; if olderInARow > 50 { break } else { continue } }
            olderInARow = 0
            // Merges and squash commits of other PRs are not rebased commits.
            guard commit.parentIDs.count == 1, PullRequestDiscovery.squashedPullNumber(subject: commit.summary) == nil else { continue }
            let patchID: ObjectID
            if let known = cache[id] { patchID = known } else {
                patchID = try repository.patchID(ofCommit: id)
                cache[id] = patchID
                computed[id] = patchID
            }
            landedBy[patchID, default: []].append(id)
        }

        var landed: [Int: Landing] = [:]
        var notMerged: [Int] = []
        let walk = try RevisionWalk(repository: repository, order: .topological)
        for (number, head) in candidates.sorted(by: { $0.key < $1.key }) {
            guard repository.contains(head) else { notMerged.append(number); continue }
            try walk.reset()
            try walk.push(head)
            try walk.hide(defaultTip)
            var own: [ObjectID] = []
            while own.count < maxCommits, let id = try walk.next() { own.append(id) }
            if own.isEmpty { own = [head] }   // already reachable: fast-forwarded, or merged another way
            var matches: [(commit: ObjectID, isHead: Bool)] = []
            for id in own where try repository.commit(id).parentIDs.count == 1 {
                let patchID = try cache[id] ?? repository.patchID(ofCommit: id)
                // The earliest first-parent commit with this change is where it landed.
                if let hit = landedBy[patchID]?.last { matches.append((hit, id == head)) }
            }
            var style = MergeStyle.rebase
            var landing = matches.first { $0.isHead }?.commit ?? matches.min { position[$0.commit]! < position[$1.commit]! }?.commit
            if landing == nil, own.count > 1, let base = try repository.mergeBase(head, defaultTip) {
                // Squashed without "(#N)" in the subject: the whole PR is one commit on the line.
                let whole = try repository.diff(from: base, to: head, options: DiffOptions(detectRenames: false)).patchID()
                if let hit = landedBy[whole]?.last { landing = hit; style = .squash }
            }
            guard let landing else { notMerged.append(number); continue }
            let parent = try repository.commit(landing).parentIDs.first
            landed[number] = Landing(number: number, style: style, commit: landing, head: head,
                                     targetParent: parent, baseIsTargetParent: false)
        }
        return (landed, notMerged, computed)
    }
}
