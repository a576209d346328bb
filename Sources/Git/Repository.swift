import CGit2
import Foundation

/// An open git repository (owns the `git_repository` handle and its object database).
public final class Repository {
    let pointer: OpaquePointer
    private let odb: ObjectDatabase
    /// The `.git` directory (or the bare repository), ending in "/".
    public let gitDirectory: String
    /// The working tree, ending in "/"; nil for a bare repository.
    public let workingDirectory: String?

    private init(pointer: OpaquePointer, path: String) throws {
        self.pointer = pointer
        var odbPointer: OpaquePointer?
        do {
            try check(git_repository_odb(&odbPointer, pointer), "opening the object database of \(path)")
        } catch {
            git_repository_free(pointer)
            throw error
        }
        odb = ObjectDatabase(odbPointer!)
        gitDirectory = String(cString: git_repository_path(pointer))
        workingDirectory = git_repository_workdir(pointer).map { String(cString: $0) }
    }

    deinit { git_repository_free(pointer) }

    /// Opens the repository at `path` (a working tree or a bare/`.git` directory; no upward search).
    ///
    /// With `ignoringWorkingTree` the repository is read as if it were bare: nothing in a working
    /// tree is consulted (no `.gitattributes` there, no file checks), as in a bare mirror — which
    /// saves several system calls per diffed file.
    public static func open(_ path: String, ignoringWorkingTree: Bool = false) throws -> Repository {
        _ = libgit2Ready
        var repo: OpaquePointer?
        var flags = GIT_REPOSITORY_OPEN_NO_SEARCH.rawValue
        if ignoringWorkingTree { flags |= GIT_REPOSITORY_OPEN_BARE.rawValue }
        let rc = git_repository_open_ext(&repo, path, flags, nil)
        if rc == GIT_ENOTFOUND.rawValue {
            git_error_clear()
            throw GitError(code: .notARepository, operation: "not a git repository: \(path)", message: "")
        }
        try check(rc, "opening repository \(path)")
        return try Repository(pointer: repo!, path: path)
    }

    /// Creates an empty non-bare repository whose initial branch is `main`.
    static func initialize(at path: String) throws -> Repository {
        _ = libgit2Ready
        var options = git_repository_init_options()
        try check(git_repository_init_options_init(&options, UInt32(GIT_REPOSITORY_INIT_OPTIONS_VERSION)),
                  "initializing repository options")
        options.flags = GIT_REPOSITORY_INIT_MKPATH.rawValue | GIT_REPOSITORY_INIT_NO_REINIT.rawValue
        var repo: OpaquePointer?
        try "main".withCString { head in
            options.initial_head = head
            try check(git_repository_init_ext(&repo, path, &options), "creating repository \(path)")
        }
        return try Repository(pointer: repo!, path: path)
    }

    /// True when this is a shallow clone (some commits' parents are absent on purpose). Read once.
    public lazy var isShallow: Bool = git_repository_is_shallow(pointer) == 1

    /// The commits listed in `.git/shallow`: their parents are not in this clone.
    public lazy var shallowBoundary: Set<ObjectID> = {
        guard let text = try? String(contentsOfFile: gitDirectory + "shallow", encoding: .utf8) else { return [] }
        return Set(text.split(whereSeparator: \.isNewline).compactMap { ObjectID(hex: String($0)) })
    }()

    /// True when the object is present in the object database.
    public func contains(_ id: ObjectID) -> Bool {
        var oid = id.oid
        return git_odb_exists(odb.pointer, &oid) == 1
    }

    /// Reads an object's raw content and type name (`commit`, `tree`, `blob`, `tag`).
    public func readObject(_ id: ObjectID) throws -> (type: String, data: [UInt8]) {
        let object = try odb.read(id)
        return (object.typeName, object.data)
    }

    func writeObject(_ data: [UInt8], typeName: String) throws -> ObjectID {
        try odb.write(data, type: git_object_string2type(typeName))
    }

    var objectDatabase: ObjectDatabase { odb }

    /// git's `core.abbrev=auto` length: half the bits of the packed-object count, at least 7.
    public lazy var defaultAbbreviationLength: Int = {
        let packDirectory = gitDirectory + "objects/pack/"
        var count: UInt64 = 0
        let names = (try? FileManager.default.contentsOfDirectory(atPath: packDirectory)) ?? []
        for name in names where name.hasSuffix(".idx") {
            guard let handle = FileHandle(forReadingAtPath: packDirectory + name),
                  let header = try? handle.read(upToCount: 1032) else { continue }
            try? handle.close()
            let bytes = Array(header)
            let isVersion2 = bytes.count >= 1032 && bytes[0..<4] == [0xFF, 0x74, 0x4F, 0x63]
            let offset = isVersion2 ? 1028 : 1020
            guard bytes.count >= offset + 4 else { continue }
            count += bytes[offset..<offset + 4].reduce(0) { $0 << 8 | UInt64($1) }
        }
        var highestBit = 0
        var n = count
        while n > 1 { n >>= 1; highestBit += 1 }
        return max(7, (highestBit + 2) / 2)
    }()

    /// The shortest prefix of at least `defaultAbbreviationLength` digits that no other object in
    /// the repository shares — what git prints in `index` lines and `--abbrev` output.
    public func abbreviate(_ id: ObjectID) -> String {
        let hex = id.hex
        var length = defaultAbbreviationLength
        // The null id of an added or deleted file: a failed prefix search makes libgit2 rescan
        // the pack directory, and no real object starts with that many zeros.
        if id.isZero { return String(hex.prefix(length)) }
        var oid = id.oid
        while length < 40 {
            var found = git_oid()
            let rc = git_odb_exists_prefix(&found, odb.pointer, &oid, length)
            git_error_clear()
            if rc == GIT_EAMBIGUOUS.rawValue || (rc == 0 && ObjectID(found) != id) { length += 1 } else { break }
        }
        return String(hex.prefix(length))
    }
}

/// Owns a `git_odb` handle.
final class ObjectDatabase {
    let pointer: OpaquePointer
    init(_ pointer: OpaquePointer) { self.pointer = pointer }
    deinit { git_odb_free(pointer) }

    func read(_ id: ObjectID) throws -> OdbObject {
        var oid = id.oid
        var object: OpaquePointer?
        try check(git_odb_read(&object, pointer, &oid), "reading object \(id)")
        return OdbObject(object!)
    }

    func write(_ data: [UInt8], type: git_object_t) throws -> ObjectID {
        var oid = git_oid()
        try data.withUnsafeBytes { raw in
            try check(git_odb_write(&oid, pointer, raw.baseAddress, raw.count, type), "writing an object")
        }
        return ObjectID(oid)
    }
}

/// Owns a `git_odb_object` handle.
final class OdbObject {
    let pointer: OpaquePointer
    init(_ pointer: OpaquePointer) { self.pointer = pointer }
    deinit { git_odb_object_free(pointer) }

    var type: git_object_t { git_odb_object_type(pointer) }
    var typeName: String { String(cString: git_object_type2string(type)) }
    var data: [UInt8] {
        let size = git_odb_object_size(pointer)
        guard size > 0, let raw = git_odb_object_data(pointer) else { return [] }
        return Array(UnsafeRawBufferPointer(start: raw, count: size))
    }
}

// MARK: - References

/// A reference and the commit it leads to.
public struct Reference: Hashable, Sendable {
    /// Full name, e.g. `refs/heads/main`, `refs/tags/v1.0`, `refs/pull/12/head`.
    public let name: String
    /// The object the (resolved) reference points at: a commit, or a tag object for annotated tags.
    public let target: ObjectID
    /// The commit it leads to: tags are peeled (nil when a tag names a tree or blob); branches and
    /// other refs name commits, as git requires, and are taken as they are.
    public let commit: ObjectID?

    public var isBranch: Bool { name.hasPrefix("refs/heads/") || name.hasPrefix("refs/remotes/") }
    public var isTag: Bool { name.hasPrefix("refs/tags/") }
    /// The pull request number for `refs/pull/<N>/head` and `refs/pull/<N>/merge`.
    public var pullNumber: Int? {
        guard name.hasPrefix("refs/pull/") else { return nil }
        let parts = name.split(separator: "/")
        return parts.count == 4 ? Int(parts[2]) : nil
    }
    /// The name without `refs/heads/`, `refs/remotes/`, or `refs/tags/`.
    public var shortName: String {
        for prefix in ["refs/heads/", "refs/remotes/", "refs/tags/"] where name.hasPrefix(prefix) {
            return String(name.dropFirst(prefix.count))
        }
        return name
    }
}

/// Owns a `git_reference` handle.
final class ReferenceHandle {
    let pointer: OpaquePointer
    init(_ pointer: OpaquePointer) { self.pointer = pointer }
    deinit { git_reference_free(pointer) }
    var name: String { String(cString: git_reference_name(pointer)) }
    var isSymbolic: Bool { git_reference_type(pointer) == GIT_REFERENCE_SYMBOLIC }
    var symbolicTarget: String? { git_reference_symbolic_target(pointer).map { String(cString: $0) } }
}

/// Owns a `git_reference_iterator` handle.
final class ReferenceIteratorHandle {
    let pointer: OpaquePointer
    init(_ pointer: OpaquePointer) { self.pointer = pointer }
    deinit { git_reference_iterator_free(pointer) }
}

/// Owns a `git_object` handle.
final class ObjectHandle {
    let pointer: OpaquePointer
    init(_ pointer: OpaquePointer) { self.pointer = pointer }
    deinit { git_object_free(pointer) }
    var id: ObjectID { ObjectID(git_object_id(pointer)) }
}

extension Repository {
    /// Every reference (branches, remote-tracking branches, tags, `refs/pull/*`, …), symbolic ones
    /// resolved; `HEAD` files are not references and are not listed.
    public func references() throws -> [Reference] {
        var raw: OpaquePointer?
        try check(git_reference_iterator_new(&raw, pointer), "listing references of \(gitDirectory)")
        let iterator = ReferenceIteratorHandle(raw!)
        var result: [Reference] = []
        while true {
            var raw: OpaquePointer?
            let rc = git_reference_next(&raw, iterator.pointer)
            if rc == GIT_ITEROVER.rawValue { git_error_clear(); break }
            try check(rc, "listing references of \(gitDirectory)")
            if let reference = try describe(ReferenceHandle(raw!)) { result.append(reference) }
        }
        return result.sorted { $0.name < $1.name }
    }

    /// Looks a reference up by full name; nil when it does not exist or dangles.
    public func reference(named name: String) throws -> Reference? {
        var raw: OpaquePointer?
        let rc = git_reference_lookup(&raw, pointer, name)
        if rc == GIT_ENOTFOUND.rawValue || rc == GIT_EINVALIDSPEC.rawValue { git_error_clear(); return nil }
        try check(rc, "looking up reference \(name)")
        return try describe(ReferenceHandle(raw!))
    }

    /// The branch the project treats as its main line: `HEAD`'s branch, else `origin/HEAD`'s, else
    /// `main` or `master` (local, then `origin/`). Nil when none exists.
    public func defaultBranch() throws -> Reference? {
        for symbolic in ["HEAD", "refs/remotes/origin/HEAD"] {
            if let target = try symbolicTarget(of: symbolic), let branch = try reference(named: target),
               branch.commit != nil {
                return branch
            }
        }
        for name in ["refs/heads/main", "refs/heads/master", "refs/remotes/origin/main", "refs/remotes/origin/master"] {
            if let branch = try reference(named: name), branch.commit != nil { return branch }
        }
        return nil
    }

    private func symbolicTarget(of name: String) throws -> String? {
        var raw: OpaquePointer?
        let rc = git_reference_lookup(&raw, pointer, name)
        if rc == GIT_ENOTFOUND.rawValue { git_error_clear(); return nil }
        try check(rc, "looking up reference \(name)")
        return ReferenceHandle(raw!).symbolicTarget
    }

    private func describe(_ handle: ReferenceHandle) throws -> Reference? {
        var resolved = handle
        if handle.isSymbolic {
            var raw: OpaquePointer?
            let rc = git_reference_resolve(&raw, handle.pointer)
            if rc == GIT_ENOTFOUND.rawValue { git_error_clear(); return nil }   // dangling symref
            try check(rc, "resolving reference \(handle.name)")
            resolved = ReferenceHandle(raw!)
        }
        guard let targetPointer = git_reference_target(resolved.pointer) else { return nil }
        let target = ObjectID(targetPointer)
        // Only tags can point at something other than a commit; peeling means reading the object,
        // which adds up over thousands of refs/pull/* refs.
        guard String(cString: git_reference_name(resolved.pointer)).hasPrefix("refs/tags/") else {
            return Reference(name: handle.name, target: target, commit: target)
        }
        var peeled: OpaquePointer?
        var commit: ObjectID?
        if git_reference_peel(&peeled, resolved.pointer, GIT_OBJECT_COMMIT) == 0 {
            commit = ObjectHandle(peeled!).id
        } else {
            git_error_clear()   // a tag of a tree or blob, or a missing object: no commit
        }
        return Reference(name: handle.name, target: target, commit: commit)
    }
}
