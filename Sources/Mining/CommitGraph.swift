import Git

/// What the miner keeps of each commit it walks, so later steps (first-parent lines, the default
/// branch's reachable set, rebase detection) need no second pass through libgit2.
struct CommitGraph {
    struct Node {
        let parents: [ObjectID]
        let committerTime: Int64
        /// Hash of author name, email and time: what rebases and cherry-picks keep.
        let authorKey: Int
        /// Hash of the subject line.
        let subjectKey: Int
        /// True for a single-parent commit whose subject ends in "(#N)".
        let isSquash: Bool

        init(_ commit: Commit, subject: String) {
            parents = commit.parentIDs
            committerTime = commit.committerTime
            authorKey = CommitGraph.authorKey(commit)
            subjectKey = subject.hashValue
            isSquash = parents.count <= 1 && PullRequestDiscovery.squashedPullNumber(subject: subject) != nil
        }
    }

    private(set) var nodes: [ObjectID: Node] = [:]
    /// True when the walk started from nothing: every commit reachable from the tips is here.
    let isComplete: Bool
    private let repository: Repository

    init(repository: Repository, isComplete: Bool) {
        self.repository = repository
        self.isComplete = isComplete
    }

    mutating func add(_ id: ObjectID, _ node: Node) { nodes[id] = node }

    /// The node of any commit: from the walk, else read now (nil when absent, e.g. shallow).
    func node(_ id: ObjectID) throws -> Node? {
        if let node = nodes[id] { return node }
        guard repository.contains(id) else { return nil }
        let commit = try repository.commit(id)
        return Node(commit, subject: commit.summary)
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

    static func authorKey(_ commit: Commit) -> Int {
        let author = commit.author
        var hasher = Hasher()
        hasher.combine(author.name); hasher.combine(author.email); hasher.combine(author.time)
        return hasher.finalize()
    }
}
