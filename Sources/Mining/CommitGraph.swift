import Git

/// What the miner keeps of each commit it walks, so later steps (first-parent lines, the default
/// branch's reachable set, rebase detection) need no second pass through libgit2.
struct CommitGraph {
    struct Node {
        let parents: [ObjectID]
        let tree: ObjectID
        let committerTime: Int64
        /// Hash of author name, email and time: what rebases and cherry-picks keep.
        let authorKey: Int
        /// Hash of the subject line.
        let subjectKey: Int
        /// Hashes of the author's e-mail (lowercased) and name without the time: what a
        /// maintainer who re-commits a contributor's change with edits usually keeps.
        let authorEmailKey: Int
        let authorNameKey: Int
        /// True for a single-parent commit whose subject ends in "(#N)".
        let isSquash: Bool

        init(_ info: CommitInfo) {
            parents = info.parentIDs
            tree = info.treeID
            committerTime = info.committerTime
            var hasher = Hasher()
            hasher.combine(info.authorName); hasher.combine(info.authorEmail); hasher.combine(info.authorTime)
            authorKey = hasher.finalize()
            subjectKey = info.summary.hashValue
            authorEmailKey = info.authorEmail.lowercased().hashValue
            authorNameKey = info.authorName.hashValue
            isSquash = parents.count <= 1 && PullRequestDiscovery.squashedPullNumber(subject: info.summary) != nil
        }
    }

    private(set) var nodes: [ObjectID: Node] = [:]
    /// The walked commits as arrays for in-memory merge bases; built once the walk is done.
    private(set) var ancestry: AncestryIndex?
    /// True when the walk started from nothing: every commit reachable from the tips is here.
    let isComplete: Bool
    private var repository: Repository

    init(repository: Repository, isComplete: Bool) {
        self.repository = repository
        self.isComplete = isComplete
    }

    /// This graph, reading what it did not walk through `reader` (a thread's own handle: a
    /// libgit2 handle is not shared between threads). The nodes are shared, not copied.
    func reading(through reader: Repository) -> CommitGraph {
        var graph = self
        graph.repository = reader
        return graph
    }

    mutating func add(_ id: ObjectID, _ node: Node) { nodes[id] = node }

    /// Call once every walked commit is added.
    mutating func indexAncestry() { ancestry = AncestryIndex(nodes) }

    /// True when the walk recorded this commit.
    func contains(_ id: ObjectID) -> Bool { nodes[id] != nil }

    /// The node of any commit: from the walk, else read now through `reader` (the graph's own
    /// repository by default; workers pass theirs, as a libgit2 handle is not shared between
    /// threads). Nil when absent, e.g. beyond a shallow boundary.
    func node(_ id: ObjectID, reader: Repository? = nil) throws -> Node? {
        if let node = nodes[id] { return node }
        let repository = reader ?? self.repository
        guard repository.contains(id) else { return nil }
        return Node(try repository.commitInfo(id))
    }

    /// `git rev-list head ^hidden`, newest first, at most `limit`: commits reachable from `head`
    /// but not from `hidden`. Commits are taken newest first and a commit's ancestors inherit its
    /// "hidden" mark, so the walk stops as soon as only hidden commits remain queued — the
    /// history below the fork point is never visited.
    func exclusiveAncestors(of head: ObjectID, hiding hidden: ObjectID?, limit: Int, reader: Repository) throws -> [ObjectID] {
        var hiddenMark: [ObjectID: Bool] = [:]    // queued or done → hidden?
        var done = Set<ObjectID>()
        var heap = NewestFirstHeap<ObjectID>()
        var visibleQueued = 0
        var cache: [ObjectID: Node] = [:]
        func lookup(_ id: ObjectID) throws -> Node? {
            if let known = cache[id] { return known }
            let node = try self.node(id, reader: reader)
            cache[id] = node
            return node
        }
        func push(_ id: ObjectID, hidden: Bool) throws {
            if let mark = hiddenMark[id] {
                // Reached again from a hidden commit: hide it (and, through it, its ancestors).
                if hidden && !mark && !done.contains(id) { hiddenMark[id] = true; visibleQueued -= 1 }
                return
            }
            guard let node = try lookup(id) else { return }
            hiddenMark[id] = hidden
            if !hidden { visibleQueued += 1 }
            heap.push(id, time: node.committerTime)
        }
        func pop() -> ObjectID { heap.pop() }
        if let hidden { try push(hidden, hidden: true) }
        try push(head, hidden: false)
        var result: [ObjectID] = []
        while visibleQueued > 0, result.count < limit, !heap.isEmpty {
            let id = pop()
            guard done.insert(id).inserted else { continue }
            let isHidden = hiddenMark[id] ?? true
            if !isHidden { visibleQueued -= 1; result.append(id) }
            guard let node = try lookup(id), !reader.shallowBoundary.contains(id) else { continue }
            for parent in node.parents { try push(parent, hidden: isHidden) }
        }
        return result
    }

    /// The next commit down a first-parent line; nil at a root or a shallow boundary.
    func firstParent(of id: ObjectID, _ node: Node) -> ObjectID? {
        guard !repository.shallowBoundary.contains(id), let parent = node.parents.first else { return nil }
        return nodes[parent] != nil || repository.contains(parent) ? parent : nil
    }

    /// First-parent line from `tip` through walked commits only (the new part of the line).
    func walkedFirstParentLine(from tip: ObjectID) -> [ObjectID] {
        var line: [ObjectID] = []
        var current: ObjectID? = tip
        while let id = current, let node = nodes[id] {
            line.append(id)
            current = node.parents.first
        }
        return line
    }

    /// The default branch's first-parent line from `tip` that an earlier run, whose default branch
    /// ended at `earlierTip`, never compared: down to the first commit `earlierTip` reaches. That is
    /// more than the commits walked now, which stop at anything an earlier branch or tag tip
    /// reaches: when the default branch is fast-forwarded to a development or release branch
    /// mined before, that branch's commits join the line without being walked again (sympy's
    /// #29858 landed in such a stretch and an incremental run missed it). Without `earlierTip`
    /// (a full run, or a state saved before the tip was recorded) the walked commits.
    func newFirstParentLine(from tip: ObjectID, earlierTip: ObjectID?) throws -> [ObjectID] {
        guard !isComplete, let earlierTip, repository.contains(earlierTip) else { return walkedFirstParentLine(from: tip) }
        var line: [ObjectID] = []
        var current: ObjectID? = tip
        while let id = current, id != earlierTip {
            // A commit walked now is reached by no earlier tip; one not walked is reached by some,
            // and it ends the new part when that is the earlier default branch.
            if nodes[id] == nil, try !repository.contains(id) || repository.isAncestor(id, of: earlierTip) { break }
            guard let node = try node(id) else { break }
            line.append(id)
            current = firstParent(of: id, node)
        }
        return line
    }

    /// Every commit reachable from `tip`.
    func reachable(from tip: ObjectID) throws -> Set<ObjectID> {
        guard isComplete else { return Set(try repository.walk(from: [tip], order: .unsorted).all()) }
        var seen: Set<ObjectID> = [tip]
        var stack = [tip]
        while let id = stack.popLast() {
            for parent in nodes[id]?.parents ?? [] where seen.insert(parent).inserted { stack.append(parent) }
        }
        return seen
    }

}
