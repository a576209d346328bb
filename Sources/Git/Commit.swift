import CGit2
import Foundation

/// Who made a commit and when.
public struct Signature: Hashable, Sendable {
    public let name: String
    public let email: String
    /// Seconds since 1970-01-01 UTC.
    public let time: Int64
    /// The author's UTC offset in minutes (e.g. +120 for CEST).
    public let offsetMinutes: Int

    public var date: Date { Date(timeIntervalSince1970: TimeInterval(time)) }

    /// `2024-01-31T12:00:00Z`: the instant in UTC, ISO-8601.
    public var iso8601UTC: String { Signature.iso8601UTC(time) }

    public static func iso8601UTC(_ time: Int64) -> String {
        var seconds = time_t(time)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let year = String(parts.tm_year + 1900)
        return String(repeating: "0", count: max(0, 4 - year.count)) + year + "-" + two(parts.tm_mon + 1) + "-" + two(parts.tm_mday)
            + "T" + two(parts.tm_hour) + ":" + two(parts.tm_min) + ":" + two(parts.tm_sec) + "Z"
    }

    init(_ raw: UnsafePointer<git_signature>) {
        name = String(decoding: Signature.bytes(raw.pointee.name), as: UTF8.self)
        email = String(decoding: Signature.bytes(raw.pointee.email), as: UTF8.self)
        time = raw.pointee.when.time
        offsetMinutes = Int(raw.pointee.when.offset)
    }

    private static func bytes(_ text: UnsafeMutablePointer<CChar>?) -> [UInt8] {
        guard let text else { return [] }
        return Array(UnsafeRawBufferPointer(start: text, count: strlen(text)))
    }
}

/// A commit (owns its `git_commit` handle). Properties are read from libgit2 on demand.
public final class Commit {
    let pointer: OpaquePointer
    /// This commit's id.
    public let id: ObjectID

    init(_ pointer: OpaquePointer) {
        self.pointer = pointer
        id = ObjectID(git_commit_id(pointer))
    }

    deinit { git_commit_free(pointer) }

    /// Parent ids in order (first parent first).
    public var parentIDs: [ObjectID] {
        (0..<git_commit_parentcount(pointer)).compactMap { index in
            git_commit_parent_id(pointer, index).map { ObjectID($0) }
        }
    }

    /// The root tree's id.
    public var treeID: ObjectID { ObjectID(git_commit_tree_id(pointer)) }

    public var author: Signature { Signature(git_commit_author(pointer)) }
    public var committer: Signature { Signature(git_commit_committer(pointer)) }
    /// `committer.time` without building the signature's strings.
    public var committerTime: Int64 { git_commit_time(pointer) }
    /// `author.time` without building the signature's strings.
    public var authorTime: Int64 { git_commit_author(pointer).pointee.when.time }

    /// The message exactly as stored (leading blank lines removed), in whatever encoding it has.
    public var messageBytes: [UInt8] {
        guard let text = git_commit_message(pointer) else { return [] }
        return Array(UnsafeRawBufferPointer(start: text, count: strlen(text)))
    }

    /// The `encoding` header, if the commit declares one (e.g. `ISO-8859-1`).
    public var messageEncoding: String? { git_commit_message_encoding(pointer).map { String(cString: $0) } }

    /// The message decoded as text: Latin-1 when declared, otherwise UTF-8 with invalid bytes
    /// replaced by U+FFFD (never fails).
    public var message: String { Commit.decode(messageBytes, encoding: messageEncoding) }

    /// The subject: the first paragraph with its lines joined by spaces, as `git log --format=%s`.
    /// Read straight from the message bytes: walks call this for every commit.
    public var summary: String {
        guard let text = git_commit_message(pointer) else { return "" }
        let bytes = UnsafeBufferPointer(start: UnsafeRawPointer(text).assumingMemoryBound(to: UInt8.self), count: strlen(text))
        var subject: [UInt8] = []
        var start = 0
        while start < bytes.count {
            var end = start
            while end < bytes.count && bytes[end] != 10 { end += 1 }
            var last = end
            while last > start && (bytes[last - 1] == 32 || bytes[last - 1] == 9 || bytes[last - 1] == 13) { last -= 1 }
            if last == start {   // a blank line: skip leading ones, stop after the first paragraph
                if !subject.isEmpty { break }
            } else {
                if !subject.isEmpty { subject.append(32) }
                subject.append(contentsOf: bytes[start..<last])
            }
            start = end + 1
        }
        return Commit.decode(subject, encoding: messageEncoding)
    }

    static func decode(_ bytes: [UInt8], encoding: String?) -> String {
        if let encoding, ["iso-8859-1", "iso8859-1", "latin1", "latin-1"].contains(encoding.lowercased()) {
            return String(bytes.map { Character(Unicode.Scalar($0)) })
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension Repository {
    /// Looks up a commit; throws `.notFound` when it is absent (e.g. beyond a shallow boundary).
    public func commit(_ id: ObjectID) throws -> Commit {
        var oid = id.oid
        var raw: OpaquePointer?
        try check(git_commit_lookup(&raw, pointer, &oid), "looking up commit \(id)")
        return Commit(raw!)
    }

    /// Resolves a revision expression (`HEAD`, `main~2`, a hex id, a tag) to a commit id.
    public func resolveCommit(_ revision: String) throws -> ObjectID {
        var raw: OpaquePointer?
        try check(git_revparse_single(&raw, pointer, revision), "resolving revision \(revision)")
        let object = ObjectHandle(raw!)
        var peeled: OpaquePointer?
        try check(git_object_peel(&peeled, object.pointer, GIT_OBJECT_COMMIT), "peeling \(revision) to a commit")
        return ObjectHandle(peeled!).id
    }

    /// The best common ancestor of two commits; nil when they share no history (or, in a shallow
    /// clone, when the shared history is cut off).
    public func mergeBase(_ a: ObjectID, _ b: ObjectID) throws -> ObjectID? {
        var out = git_oid()
        var oidA = a.oid, oidB = b.oid
        let rc = git_merge_base(&out, pointer, &oidA, &oidB)
        if rc < 0 {
            // "No common ancestor" is an answer. In a shallow clone libgit2 1.5 also fails when the
            // search reaches the boundary's missing parents: the shared history is cut off, which
            // is the same answer. Anywhere else a missing object is corruption.
            let error = lastError(rc, "finding the merge base of \(a) and \(b)")
            if (rc == GIT_ENOTFOUND.rawValue && error.message.contains("no merge base")) || isShallow { return nil }
            throw error
        }
        try check(rc, "finding the merge base of \(a) and \(b)")
        return ObjectID(out)
    }

    /// True when `ancestor` is reachable from `descendant` (a commit counts as its own ancestor).
    public func isAncestor(_ ancestor: ObjectID, of descendant: ObjectID) throws -> Bool {
        if ancestor == descendant { return true }
        var a = descendant.oid, b = ancestor.oid
        let rc = git_graph_descendant_of(pointer, &a, &b)
        try check(rc, "checking whether \(ancestor) is an ancestor of \(descendant)")
        return rc == 1
    }
}

/// A commit's header and subject, parsed straight from the raw object: what history walks need,
/// without building (and caching) a full libgit2 commit.
public struct CommitInfo: Hashable, Sendable {
    public let id: ObjectID
    public let treeID: ObjectID
    public let parentIDs: [ObjectID]
    public let authorName: String
    public let authorEmail: String
    public let authorTime: Int64
    public let committerTime: Int64
    /// As `Commit.summary`.
    public let summary: String
}

extension Repository {
    /// Reads a commit's header and subject (throws `.corrupt` when the object is not a well-formed
    /// commit, `.notFound` when it is absent).
    public func commitInfo(_ id: ObjectID) throws -> CommitInfo {
        let object = try objectDatabase.read(id)
        guard object.type == GIT_OBJECT_COMMIT else {
            throw GitError(code: .invalid, operation: "reading commit \(id)", message: "object is a \(object.typeName)")
        }
        let size = git_odb_object_size(object.pointer)
        guard let raw = git_odb_object_data(object.pointer) else {
            throw GitError(code: .corrupt, operation: "reading commit \(id)", message: "empty object")
        }
        let bytes = UnsafeBufferPointer(start: raw.assumingMemoryBound(to: UInt8.self), count: size)
        func corrupt(_ what: String) -> GitError { GitError(code: .corrupt, operation: "parsing commit \(id)", message: what) }
        func hexID(_ from: Int) -> ObjectID? {
            guard from + 40 <= bytes.count else { return nil }
            return ObjectID(hexDigits: UnsafeBufferPointer(rebasing: bytes[from..<from + 40]))
        }
        func time(in line: Slice<UnsafeBufferPointer<UInt8>>) -> (name: String, email: String, time: Int64)? {
            guard let open = line.firstIndex(of: 60), let close = line[open...].firstIndex(of: 62) else { return nil }
            var nameEnd = open
            while nameEnd > line.startIndex && bytes[nameEnd - 1] == 32 { nameEnd -= 1 }
            var index = close + 1
            while index < line.endIndex && bytes[index] == 32 { index += 1 }
            var value: Int64 = 0
            while index < line.endIndex, bytes[index] >= 48, bytes[index] <= 57 { value = value * 10 + Int64(bytes[index] - 48); index += 1 }
            return (String(decoding: line[line.startIndex..<nameEnd], as: UTF8.self),
                    String(decoding: bytes[(open + 1)..<close], as: UTF8.self), value)
        }
        var tree: ObjectID?, parents: [ObjectID] = [], author: (name: String, email: String, time: Int64)?
        var committerTime: Int64?, encoding: String?
        var start = 0
        while start < bytes.count {
            let end = bytes[start...].firstIndex(of: 10) ?? bytes.count
            if end == start { start += 1; break }   // blank line: the message follows
            let line = bytes[start..<end]
            func has(_ prefix: StaticString) -> Bool {
                prefix.withUTF8Buffer { p in line.count >= p.count && memcmp(bytes.baseAddress! + start, p.baseAddress!, p.count) == 0 }
            }
            switch bytes[start] {
            case UInt8(ascii: "t") where has("tree "): tree = hexID(start + 5)
            case UInt8(ascii: "p") where has("parent "):
                guard let parent = hexID(start + 7) else { throw corrupt("bad parent line") }
                parents.append(parent)
            case UInt8(ascii: "a") where has("author "): author = time(in: bytes[(start + 7)..<end])
            case UInt8(ascii: "c") where has("committer "): committerTime = time(in: bytes[(start + 10)..<end])?.time
            case UInt8(ascii: "e") where has("encoding "): encoding = String(decoding: bytes[(start + 9)..<end], as: UTF8.self)
            default: break
            }
            start = end + 1
        }
        guard let tree, let author, let committerTime else { throw corrupt("missing tree, author or committer") }
        // The subject: first paragraph, lines right-trimmed and joined by spaces.
        var subject: [UInt8] = []
        while start < bytes.count {
            let end = bytes[start...].firstIndex(of: 10) ?? bytes.count
            var last = end
            while last > start && (bytes[last - 1] == 32 || bytes[last - 1] == 9 || bytes[last - 1] == 13) { last -= 1 }
            if last == start {
                if !subject.isEmpty { break }
            } else {
                if !subject.isEmpty { subject.append(32) }
                subject.append(contentsOf: bytes[start..<last])
            }
            start = end + 1
        }
        return CommitInfo(id: id, treeID: tree, parentIDs: parents, authorName: author.name, authorEmail: author.email,
                          authorTime: author.time, committerTime: committerTime,
                          summary: Commit.decode(subject, encoding: encoding))
    }
}
