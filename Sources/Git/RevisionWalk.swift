import CGit2

/// The order in which a `RevisionWalk` yields commits.
public enum WalkOrder: Sendable {
    /// Children before parents; among ready commits, newer commit time first (`git log --topo-order`).
    case topological
    /// Newest commit time first (`git log --date-order` without the topological guarantee).
    case time
    /// Whatever order is cheapest.
    case unsorted
}

/// Walks history: every commit reachable from the pushed tips and not from the hidden ones.
///
/// libgit2 1.5 cannot walk past a shallow clone's boundary (it insists on parsing the missing
/// parents), so in a shallow repository the walk runs in Swift over `git_commit` lookups and treats
/// the commits listed in `.git/shallow` (and any commit whose parent is absent) as roots.
public final class RevisionWalk {
    private let repository: Repository
    private let order: WalkOrder
    private let firstParentOnly: Bool
    private var native: OpaquePointer?
    private var pushed: [ObjectID] = []
    private var hidden: [ObjectID] = []
    private var fallbackQueue: [ObjectID]?

    /// Prefer `Repository.walk(from:hiding:order:firstParentOnly:)`.
    public init(repository: Repository, order: WalkOrder = .topological, firstParentOnly: Bool = false) throws {
        self.repository = repository
        self.order = order
        self.firstParentOnly = firstParentOnly
        guard !repository.isShallow else { return }
        var walk: OpaquePointer?
        try check(git_revwalk_new(&walk, repository.pointer), "starting a history walk in \(repository.gitDirectory)")
        native = walk
        try configureNative()
    }

    deinit { if let native { git_revwalk_free(native) } }

    private func configureNative() throws {
        guard let native else { return }
        let mode: UInt32
        switch order {
        case .topological: mode = GIT_SORT_TOPOLOGICAL.rawValue | GIT_SORT_TIME.rawValue
        case .time: mode = GIT_SORT_TIME.rawValue
        case .unsorted: mode = GIT_SORT_NONE.rawValue
        }
        try check(git_revwalk_sorting(native, mode), "setting the walk order")
        if firstParentOnly { try check(git_revwalk_simplify_first_parent(native), "restricting the walk to first parents") }
    }

    /// Adds a starting point (a commit id).
    public func push(_ id: ObjectID) throws {
        pushed.append(id)
        guard let native else { return }
        var oid = id.oid
        try check(git_revwalk_push(native, &oid), "starting the walk at \(id)")
    }

    /// Excludes a commit and all its ancestors. Ids that are not in the repository (e.g. tips from an
    /// earlier run that were since garbage-collected) are ignored.
    public func hide(_ id: ObjectID) throws {
        guard repository.contains(id) else { return }
        hidden.append(id)
        guard let native else { return }
        var oid = id.oid
        try check(git_revwalk_hide(native, &oid), "hiding \(id) from the walk")
    }

    /// The next commit id, or nil when the walk is over.
    public func next() throws -> ObjectID? {
        if let native {
            var oid = git_oid()
            let rc = git_revwalk_next(&oid, native)
            if rc == GIT_ITEROVER.rawValue { git_error_clear(); return nil }
            try check(rc, "walking history of \(repository.gitDirectory)")
            return ObjectID(oid)
        }
        if fallbackQueue == nil { fallbackQueue = try fallbackWalk().reversed() }
        return fallbackQueue!.popLast()
    }

    /// Every remaining commit id.
    public func all() throws -> [ObjectID] {
        var ids: [ObjectID] = []
        while let id = try next() { ids.append(id) }
        return ids
    }

    /// Forgets tips and hidden commits so the walk can be reused; libgit2 keeps the commits it has
    /// already parsed, which makes many small walks over the same history cheap.
    public func reset() throws {
        pushed = []; hidden = []; fallbackQueue = nil
        if let native {
            try check(git_revwalk_reset(native), "resetting the walk")
            try configureNative()
        }
    }

    // MARK: Shallow-clone walk

    private struct Node { let time: Int64; let parents: [ObjectID] }

    private func node(_ id: ObjectID, cache: inout [ObjectID: Node]) throws -> Node? {
        if let known = cache[id] { return known }
        guard repository.contains(id) else { return nil }
        let commit = try repository.commit(id)
        let boundary = repository.shallowBoundary.contains(id)
        let parents = boundary ? [] : commit.parentIDs.filter { repository.contains($0) }
        let node = Node(time: commit.committer.time, parents: parents)
        cache[id] = node
        return node
    }

    private func fallbackWalk() throws -> [ObjectID] {
        var cache: [ObjectID: Node] = [:]
        var excluded = Set<ObjectID>()
        var stack = hidden
        while let id = stack.popLast() {
            guard excluded.insert(id).inserted, let node = try node(id, cache: &cache) else { continue }
            stack.append(contentsOf: node.parents)
        }
        var included: [ObjectID] = []
        var seen = excluded
        stack = pushed
        while let id = stack.popLast() {
            guard seen.insert(id).inserted, let node = try node(id, cache: &cache) else { continue }
            included.append(id)
            stack.append(contentsOf: firstParentOnly ? Array(node.parents.prefix(1)) : node.parents)
        }
        let newerFirst: (ObjectID, ObjectID) -> Bool = { cache[$0]!.time > cache[$1]!.time }
        switch order {
        case .unsorted: return included
        case .time: return included.sorted(by: newerFirst)
        case .topological:
            // Kahn's algorithm: a commit becomes ready once all its children in the set are out.
            let members = Set(included)
            var pendingChildren: [ObjectID: Int] = [:]
            for id in included {
                for parent in edges(id, cache) where members.contains(parent) { pendingChildren[parent, default: 0] += 1 }
            }
            var ready = included.filter { pendingChildren[$0, default: 0] == 0 }.sorted(by: newerFirst)
            var result: [ObjectID] = []
            while !ready.isEmpty {
                let id = ready.removeFirst()
                result.append(id)
                for parent in edges(id, cache) where members.contains(parent) {
                    pendingChildren[parent]! -= 1
                    if pendingChildren[parent] == 0 {
                        let position = ready.firstIndex { !newerFirst($0, parent) } ?? ready.endIndex
                        ready.insert(parent, at: position)
                    }
                }
            }
            return result
        }
    }

    private func edges(_ id: ObjectID, _ cache: [ObjectID: Node]) -> [ObjectID] {
        let parents = cache[id]!.parents
        return firstParentOnly ? Array(parents.prefix(1)) : parents
    }
}

extension Repository {
    /// Starts a walk over every commit reachable from `tips` but not from `hidden`.
    public func walk(from tips: [ObjectID], hiding hidden: [ObjectID] = [], order: WalkOrder = .topological,
                     firstParentOnly: Bool = false) throws -> RevisionWalk {
        let walk = try RevisionWalk(repository: self, order: order, firstParentOnly: firstParentOnly)
        for tip in tips { try walk.push(tip) }
        for id in hidden { try walk.hide(id) }
        return walk
    }
}
