import Git

/// The walked commits as dense integer arrays, for merge bases computed in memory.
///
/// libgit2's `git_merge_base` reads and parses every commit between the two tips and the fork
/// point, in a fresh revision walk per call: on a long history with long-lived pull requests
/// (sympy: thousands of commits per PR) that was half of all mining CPU, mostly inflating commits
/// the walk had already read once. The walk's graph has every commit's parents and committer
/// time, so the same search runs here over arrays, reading nothing.
///
/// Immutable once built: shared by every worker thread.
final class AncestryIndex: Sendable {
    private let ids: [ObjectID]
    private let position: [ObjectID: Int32]
    private let times: [Int64]
    /// Parents of commit `i` are `parents[parentStart[i]..<parentStart[i + 1]]`; -1 marks a parent
    /// the walk did not record (older history in an incremental run, a shallow boundary, a
    /// missing object).
    private let parentStart: [Int32]
    private let parents: [Int32]

    init(_ nodes: [ObjectID: CommitGraph.Node]) {
        var ids: [ObjectID] = [], times: [Int64] = []
        ids.reserveCapacity(nodes.count); times.reserveCapacity(nodes.count)
        var position: [ObjectID: Int32] = [:]
        position.reserveCapacity(nodes.count)
        for (id, node) in nodes {
            position[id] = Int32(ids.count)
            ids.append(id); times.append(node.committerTime)
        }
        var parentStart: [Int32] = [0], parents: [Int32] = []
        parentStart.reserveCapacity(ids.count + 1)
        for id in ids {
            for parent in nodes[id]!.parents { parents.append(position[parent] ?? -1) }
            parentStart.append(Int32(parents.count))
        }
        self.ids = ids; self.position = position; self.times = times
        self.parentStart = parentStart; self.parents = parents
    }

    enum MergeBase: Equatable {
        case base(ObjectID)
        /// The two commits share no history.
        case none
        /// Not decidable here: the search left the recorded commits, or found several best
        /// common ancestors (libgit2 then picks one by date, which it is left to do).
        case undecided
    }

    /// Commits outside the index that one search may read through `outside` (a PR ref's own
    /// commits, not on any branch): beyond this the answer is left to libgit2.
    static let outsideLimit = 4_096

    /// The single best common ancestor of `one` and `two`, found as libgit2's
    /// `paint_down_to_common` finds it: commits are taken newest first, painted with the side(s)
    /// they are reached from; a commit reached from both is a candidate and its ancestors are
    /// stale; the search ends when only stale commits are queued. The candidates left unstale,
    /// less those that are ancestors of another, are exactly the best common ancestors whatever
    /// the order of equal times, so a single one is the answer `git_merge_base` gives.
    ///
    /// Commits the walk did not record (an unmerged PR ref's head and its own commits) are read
    /// through `outside` (time and parents; nil when unreadable), at most `outsideLimit` of them.
    func mergeBase(_ one: ObjectID, _ two: ObjectID,
                   outside: (ObjectID) -> (time: Int64, parents: [ObjectID])? = { _ in nil }) -> MergeBase {
        if one == two { return .base(one) }
        let recorded = ids.count
        var extraIDs: [ObjectID] = [], extraTimes: [Int64] = [], extraParents: [[ObjectID]] = []
        var extraPosition: [ObjectID: Int32] = [:]
        let side1: UInt8 = 1, side2: UInt8 = 2, stale: UInt8 = 4, result: UInt8 = 8
        var flags = [UInt8](repeating: 0, count: recorded)
        var queuedCopies = [UInt8](repeating: 0, count: recorded)   // ≤ 3 insertions per commit: flags only grow
        func index(of id: ObjectID) -> Int32? {
            if let known = position[id] ?? extraPosition[id] { return known }
            guard extraIDs.count < AncestryIndex.outsideLimit, let node = outside(id) else { return nil }
            let index = Int32(recorded + extraIDs.count)
            extraPosition[id] = index
            extraIDs.append(id); extraTimes.append(node.time); extraParents.append(node.parents)
            flags.append(0); queuedCopies.append(0)
            return index
        }
        func time(_ commit: Int32) -> Int64 {
            Int(commit) < recorded ? times[Int(commit)] : extraTimes[Int(commit) - recorded]
        }
        guard let first = index(of: one), let second = index(of: two) else { return .undecided }
        var heap = NewestFirstHeap<Int32>()
        var unstaleQueued = 0
        var candidates: [Int32] = []

        func push(_ commit: Int32) {
            heap.push(commit, time: time(commit))
            queuedCopies[Int(commit)] += 1
            if flags[Int(commit)] & stale == 0 { unstaleQueued += 1 }
        }
        func pop() -> Int32 {
            let top = heap.pop()
            queuedCopies[Int(top)] -= 1
            if flags[Int(top)] & stale == 0 { unstaleQueued -= 1 }
            return top
        }
        func paint(_ parent: Int32, _ paint: UInt8) {
            let p = Int(parent)
            if flags[p] & paint == paint { return }
            let wasStale = flags[p] & stale != 0
            flags[p] |= paint
            if !wasStale && flags[p] & stale != 0 { unstaleQueued -= Int(queuedCopies[p]) }
            push(parent)
        }

        flags[Int(first)] = side1
        push(first)
        flags[Int(second)] |= side2
        push(second)
        while unstaleQueued > 0 {
            let commit = Int(pop())
            var colour = flags[commit] & (side1 | side2 | stale)
            if colour == side1 | side2 {
                if flags[commit] & result == 0 {
                    flags[commit] |= result
                    candidates.append(Int32(commit))
                }
                colour |= stale
            }
            if commit < recorded {
                for slot in Int(parentStart[commit])..<Int(parentStart[commit + 1]) {
                    let parent = parents[slot]
                    guard parent >= 0 else { return .undecided }
                    paint(parent, colour)
                }
            } else {
                for parentID in extraParents[commit - recorded] {
                    guard let parent = index(of: parentID) else { return .undecided }
                    paint(parent, colour)
                }
            }
        }
        var best = candidates.filter { flags[Int($0)] & stale == 0 }
        if best.count > 1 {
            // A candidate taken before the walk reached it from a newer one (skewed times) can be
            // an ancestor of another: drop those, as libgit2's remove_redundant does.
            guard best.allSatisfy({ Int($0) < recorded }) else { return .undecided }
            var kept: [Int32] = []
            for candidate in best {
                var redundant = false
                for other in best where other != candidate {
                    guard let reached = isAncestor(candidate, of: other) else { return .undecided }
                    if reached { redundant = true; break }
                }
                if !redundant { kept.append(candidate) }
            }
            best = kept
        }
        switch best.count {
        case 0: return .none
        case 1: return .base(Int(best[0]) < recorded ? ids[Int(best[0])] : extraIDs[Int(best[0]) - recorded])
        default: return .undecided
        }
    }

    /// Whether `ancestor` is reachable from `descendant`; nil when the search leaves the recorded
    /// commits first.
    private func isAncestor(_ ancestor: Int32, of descendant: Int32) -> Bool? {
        var seen = [Bool](repeating: false, count: ids.count)
        var stack = [descendant]
        seen[Int(descendant)] = true
        while let commit = stack.popLast() {
            if commit == ancestor { return true }
            for slot in Int(parentStart[Int(commit)])..<Int(parentStart[Int(commit) + 1]) {
                let parent = parents[slot]
                guard parent >= 0 else { return nil }
                if !seen[Int(parent)] { seen[Int(parent)] = true; stack.append(parent) }
            }
        }
        return false
    }
}

extension CommitGraph {
    /// `repository.mergeBase(one, two)`, answered from the walked commits when they settle it
    /// (see `AncestryIndex`), else by libgit2 through `reader` (the caller's handle).
    func mergeBase(_ one: ObjectID, _ two: ObjectID, reader: Repository) throws -> ObjectID? {
        if !reader.isShallow, let ancestry {
            let outside = { (id: ObjectID) -> (time: Int64, parents: [ObjectID])? in
                guard let node = try? self.node(id, reader: reader) else { return nil }
                return (node.committerTime, node.parents)
            }
            switch ancestry.mergeBase(one, two, outside: outside) {
            case .base(let id): return id
            case .none: return nil
            case .undecided: break
            }
        }
        return try reader.mergeBase(one, two)
    }
}
