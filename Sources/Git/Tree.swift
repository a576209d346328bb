import CGit2
import Foundation

/// What a tree entry holds.
public enum TreeEntryKind: Sendable, Hashable {
    case file, executable, symlink, directory, submodule
}

/// One name in a tree.
public struct TreeEntry: Hashable, Sendable {
    /// The name decoded as UTF-8 (invalid bytes become U+FFFD); `nameBytes` is exact.
    public let name: String
    public let nameBytes: [UInt8]
    public let id: ObjectID
    public let kind: TreeEntryKind
    /// The raw git file mode (0o100644, 0o100755, 0o120000, 0o040000, 0o160000).
    public let mode: UInt32

    init(_ entry: OpaquePointer) {
        let cName = git_tree_entry_name(entry)!
        nameBytes = Array(UnsafeRawBufferPointer(start: cName, count: strlen(cName)))
        name = String(decoding: nameBytes, as: UTF8.self)
        id = ObjectID(git_tree_entry_id(entry))
        mode = git_tree_entry_filemode(entry).rawValue
        switch git_tree_entry_filemode(entry) {
        case GIT_FILEMODE_BLOB_EXECUTABLE: kind = .executable
        case GIT_FILEMODE_LINK: kind = .symlink
        case GIT_FILEMODE_TREE: kind = .directory
        case GIT_FILEMODE_COMMIT: kind = .submodule
        default: kind = .file
        }
    }
}

/// Owns a `git_tree_entry` handle (one returned by path lookup; entries read by index belong to
/// their tree).
final class TreeEntryHandle {
    let pointer: OpaquePointer
    init(_ pointer: OpaquePointer) { self.pointer = pointer }
    deinit { git_tree_entry_free(pointer) }
}

/// Owns a `git_signature`.
final class SignatureHandle {
    let pointer: UnsafeMutablePointer<git_signature>
    init(_ pointer: UnsafeMutablePointer<git_signature>) { self.pointer = pointer }
    deinit { git_signature_free(pointer) }
}

/// A tree object (owns its `git_tree` handle).
public final class Tree {
    let pointer: OpaquePointer
    public let id: ObjectID

    init(_ pointer: OpaquePointer) {
        self.pointer = pointer
        id = ObjectID(git_tree_id(pointer))
    }

    deinit { git_tree_free(pointer) }

    /// The entries, in git's order.
    public var entries: [TreeEntry] {
        (0..<git_tree_entrycount(pointer)).map { TreeEntry(git_tree_entry_byindex(pointer, $0)!) }
    }

    /// The entry with this exact name (no slashes), or nil.
    public func entry(named name: String) -> TreeEntry? {
        git_tree_entry_byname(pointer, name).map { TreeEntry($0) }
    }

    /// The entries whose names start with `prefix` (compared as bytes, without building the other
    /// entries).
    public func entries(withPrefix prefix: String) -> [TreeEntry] {
        let wanted = Array(prefix.utf8)
        return wanted.withUnsafeBufferPointer { want in
            (0..<git_tree_entrycount(pointer)).compactMap { index -> TreeEntry? in
                let entry = git_tree_entry_byindex(pointer, index)!
                let name = git_tree_entry_name(entry)!
                guard strlen(name) >= want.count, memcmp(name, want.baseAddress!, want.count) == 0 else { return nil }
                return TreeEntry(entry)
            }
        }
    }

    /// The entry at a slash-separated path below this tree, or nil.
    public func entry(atPath path: String) throws -> TreeEntry? {
        var raw: OpaquePointer?
        let rc = git_tree_entry_bypath(&raw, pointer, path)
        if rc == GIT_ENOTFOUND.rawValue { git_error_clear(); return nil }
        try check(rc, "looking up \(path) in tree \(id)")
        let entry = TreeEntryHandle(raw!)
        return TreeEntry(entry.pointer)
    }
}

extension Repository {
    /// The tree of a commit, or the tree itself when given a tree id.
    public func tree(_ id: ObjectID) throws -> Tree {
        var oid = id.oid
        var object: OpaquePointer?
        try check(git_object_lookup(&object, pointer, &oid, GIT_OBJECT_ANY), "looking up \(id)")
        let handle = ObjectHandle(object!)
        var treeOID: git_oid
        switch git_object_type(handle.pointer) {
        case GIT_OBJECT_TREE:
            var copy: OpaquePointer?
            try check(git_object_dup(&copy, handle.pointer), "reading tree \(id)")
            return Tree(copy!)
        case GIT_OBJECT_COMMIT:
            treeOID = git_commit_tree_id(handle.pointer)!.pointee   // a commit object is a git_commit
        default:
            var peeled: OpaquePointer?
            try check(git_object_peel(&peeled, handle.pointer, GIT_OBJECT_TREE), "reading the tree of \(id)")
            return Tree(peeled!)
        }
        var tree: OpaquePointer?
        try check(git_tree_lookup(&tree, pointer, &treeOID), "reading tree \(ObjectID(treeOID)) of commit \(id)")
        return Tree(tree!)
    }

    /// A blob's content.
    public func blob(_ id: ObjectID) throws -> [UInt8] {
        let handle = try BlobHandle(repository: self, id: id)
        let size = Int(git_blob_rawsize(handle.pointer))
        guard size > 0, let data = git_blob_rawcontent(handle.pointer) else { return [] }
        return Array(UnsafeRawBufferPointer(start: data, count: size))
    }

    /// The content of the file at `path` in a commit; nil when there is no such file.
    public func fileContent(atPath path: String, in commit: ObjectID) throws -> [UInt8]? {
        guard let entry = try tree(commit).entry(atPath: path), entry.kind == .file || entry.kind == .executable else {
            return nil
        }
        return try blob(entry.id)
    }

    /// Every regular (or executable) file of a commit's tree, with its blob id, in tree order.
    public func files(in commit: ObjectID) throws -> [(path: String, id: ObjectID)] {
        var found: [(path: String, id: ObjectID)] = []
        func walk(_ tree: Tree, prefix: String) throws {
            for entry in tree.entries {
                switch entry.kind {
                case .directory: try walk(try self.tree(entry.id), prefix: prefix + entry.name + "/")
                case .file, .executable: found.append((prefix + entry.name, entry.id))
                case .symlink, .submodule: continue
                }
            }
        }
        try walk(try tree(commit), prefix: "")
        return found
    }

    /// Writes a commit's tree into `directory` (created if needed): regular files, the executable
    /// bit, symlinks, and an empty directory per submodule. No `.git` is written.
    /// Writes the tree of `commit` into `directory`. With `skippingMissingObjects`, files and folders
    /// whose objects the clone lacks (a partial clone, a mirror without its largest blobs) are left
    /// out instead of failing the export; their paths (relative) are returned.
    @discardableResult
    public func exportTree(of commit: ObjectID, to directory: String, skippingMissingObjects: Bool = false) throws -> [String] {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var missing: [String] = []
        try export(tree: try tree(commit), to: Array(directory.utf8), relative: [],
                   missing: skippingMissingObjects ? { missing.append($0) } : nil)
        return missing
    }

    private func export(tree: Tree, to directory: [UInt8], relative: [UInt8], missing: ((String) -> Void)?) throws {
        for entry in tree.entries {
            let path = directory + [UInt8(ascii: "/")] + entry.nameBytes
            let relativePath = relative.isEmpty ? entry.nameBytes : relative + [UInt8(ascii: "/")] + entry.nameBytes
            let shown = String(decoding: path, as: UTF8.self)
            // A missing object is skipped only when the caller asked; any other error still fails.
            func skippable(_ error: Error) -> Bool {
                guard let missing, let gitError = error as? GitError, gitError.code == .notFound else { return false }
                missing(String(decoding: relativePath, as: UTF8.self))
                return true
            }
            switch entry.kind {
            case .directory:
                let subtree: Tree
                do { subtree = try self.tree(entry.id) } catch where skippable(error) { continue }
                try posix(path, "creating directory") { mkdir($0, 0o755) == 0 || errno == EEXIST }
                try export(tree: subtree, to: path, relative: relativePath, missing: missing)
            case .submodule:
                try posix(path, "creating directory") { mkdir($0, 0o755) == 0 || errno == EEXIST }
            case .symlink:
                let target: [UInt8]
                do { target = try blob(entry.id) + [0] } catch where skippable(error) { continue }
                try posix(path, "creating symlink") { cPath in
                    target.withUnsafeBufferPointer { symlink(UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), cPath) == 0 }
                }
            case .file, .executable:
                let data: [UInt8]
                do { data = try blob(entry.id) } catch where skippable(error) { continue }
                let mode: mode_t = entry.kind == .executable ? 0o755 : 0o644
                var descriptor: Int32 = -1
                try posix(path, "creating file") { descriptor = Glibc.open($0, O_WRONLY | O_CREAT | O_TRUNC, mode); return descriptor >= 0 }
                defer { close(descriptor) }
                var written = 0
                while written < data.count {
                    let n = data.withUnsafeBytes { write(descriptor, $0.baseAddress! + written, data.count - written) }
                    guard n > 0 else {
                        throw GitError(code: .other(errno), operation: "writing \(shown)", message: String(cString: strerror(errno)))
                    }
                    written += n
                }
                // open() honours the umask; the exec bit must be exactly what git recorded.
                _ = fchmod(descriptor, mode)
            }
        }
    }

    private func posix(_ path: [UInt8], _ what: String, _ call: (UnsafePointer<CChar>) -> Bool) throws {
        let ok = (path + [0]).withUnsafeBufferPointer {
            call(UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self))
        }
        if !ok {
            throw GitError(code: .other(errno), operation: "\(what) \(String(decoding: path, as: UTF8.self))",
                           message: String(cString: strerror(errno)))
        }
    }

    /// Creates a fresh repository at `path` whose only commit (on `main`, checked out) has the tree
    /// of `commit` in `source`. Only that tree's objects are copied, so no later history — and no
    /// fix — can be recovered from it.
    @discardableResult
    public static func createRepository(at path: String, fromTreeOf commit: ObjectID, in source: Repository,
                                        message: String = "Initial state\n") throws -> (repository: Repository, commit: ObjectID) {
        let sourceCommit = try source.commit(commit)
        let target = try Repository.initialize(at: path)
        var copied = Set<ObjectID>()
        try copyTree(sourceCommit.treeID, from: source, to: target, copied: &copied)

        var rawSignature: UnsafeMutablePointer<git_signature>?
        let time = sourceCommit.committer.time
        try check(git_signature_new(&rawSignature, "Forge", "forge@localhost", time, 0), "making a signature")
        let signature = SignatureHandle(rawSignature!)
        let tree = try target.tree(sourceCommit.treeID)
        var out = git_oid()
        try check(git_commit_create(&out, target.pointer, "HEAD", signature.pointer, signature.pointer, "UTF-8", message,
                                    tree.pointer, 0, nil), "committing the base tree in \(path)")
        var options = git_checkout_options()
        try check(git_checkout_options_init(&options, UInt32(GIT_CHECKOUT_OPTIONS_VERSION)), "initializing checkout options")
        options.checkout_strategy = GIT_CHECKOUT_FORCE.rawValue
        try check(git_checkout_head(target.pointer, &options), "checking out the base tree in \(path)")
        return (target, ObjectID(out))
    }

    private static func copyTree(_ id: ObjectID, from source: Repository, to target: Repository,
                                 copied: inout Set<ObjectID>) throws {
        guard copied.insert(id).inserted else { return }
        let object = try source.objectDatabase.read(id)
        _ = try target.objectDatabase.write(object.data, type: object.type)
        for entry in try source.tree(id).entries {
            switch entry.kind {
            case .directory: try copyTree(entry.id, from: source, to: target, copied: &copied)
            case .submodule: continue   // a gitlink names a commit of another repository
            default:
                guard copied.insert(entry.id).inserted else { continue }
                let blob = try source.objectDatabase.read(entry.id)
                _ = try target.objectDatabase.write(blob.data, type: blob.type)
            }
        }
    }
}
