import CGit2
import Foundation

/// One file that differs between two trees (no rename pairing, no contents read).
public struct FileChange: Hashable, Sendable {
    /// Path bytes, slash-separated.
    public let path: [UInt8]
    /// Blob ids; nil when the file is absent on that side.
    public let oldID: ObjectID?
    public let newID: ObjectID?
    /// Modes (0o100644, 0o100755, 0o120000, 0o160000); 0 when absent.
    public let oldMode: UInt32
    public let newMode: UInt32

    public var pathString: String { String(decoding: path, as: UTF8.self) }
}

extension Repository {
    /// Files that differ between two trees (commit or tree ids; nil = empty tree), in `git diff`
    /// order. Only differing subtrees are opened, and no file contents are read, so this is much
    /// cheaper than a diff.
    public func changedFiles(from old: ObjectID?, to new: ObjectID) throws -> [FileChange] {
        var changes: [FileChange] = []
        try compare(try old.map { try tree($0) }, try tree(new), prefix: [], into: &changes)
        return changes
    }

    private func name(_ entry: OpaquePointer) -> UnsafeBufferPointer<UInt8> {
        let text = git_tree_entry_name(entry)!
        return UnsafeBufferPointer(start: UnsafeRawPointer(text).assumingMemoryBound(to: UInt8.self), count: strlen(text))
    }

    private func isTree(_ entry: OpaquePointer) -> Bool { git_tree_entry_filemode(entry) == GIT_FILEMODE_TREE }

    /// git's tree order: byte order, with a directory's name compared as if it ended in "/".
    private func order(_ a: OpaquePointer, _ b: OpaquePointer) -> Int {
        let x = name(a), y = name(b)
        let common = min(x.count, y.count)
        let c = memcmp(x.baseAddress!, y.baseAddress!, common)
        if c != 0 { return Int(c) }
        let nextA: UInt8 = x.count > common ? x[common] : (isTree(a) ? 47 : 0)
        let nextB: UInt8 = y.count > common ? y[common] : (isTree(b) ? 47 : 0)
        return Int(nextA) - Int(nextB)
    }

    private func lookupTree(_ id: UnsafePointer<git_oid>) throws -> Tree {
        var raw: OpaquePointer?
        try check(git_tree_lookup(&raw, pointer, id), "reading tree \(ObjectID(id))")
        return Tree(raw!)
    }

    private func compare(_ old: Tree?, _ new: Tree?, prefix: [UInt8], into changes: inout [FileChange]) throws {
        // Entries point into their trees: keep both alive while comparing.
        try withExtendedLifetime((old, new)) {
            let countA = old.map { git_tree_entrycount($0.pointer) } ?? 0
            let countB = new.map { git_tree_entrycount($0.pointer) } ?? 0
            var i = 0, j = 0
            while i < countA || j < countB {
                let x = i < countA ? git_tree_entry_byindex(old!.pointer, i) : nil
                let y = j < countB ? git_tree_entry_byindex(new!.pointer, j) : nil
                let c = x == nil ? 1 : (y == nil ? -1 : order(x!, y!))
                if c == 0 {
                    i += 1; j += 1
                    let modeX = git_tree_entry_filemode(x!).rawValue, modeY = git_tree_entry_filemode(y!).rawValue
                    let idX = git_tree_entry_id(x!)!, idY = git_tree_entry_id(y!)!
                    if modeX == modeY && git_oid_equal(idX, idY) == 1 { continue }
                    let path = prefix + Array(name(y!))
                    if isTree(x!) && isTree(y!) {
                        try compare(try lookupTree(idX), try lookupTree(idY), prefix: path + [47], into: &changes)
                    } else {
                        changes.append(FileChange(path: path, oldID: ObjectID(idX), newID: ObjectID(idY), oldMode: modeX, newMode: modeY))
                    }
                } else if c < 0 {
                    try side(x!, old: true, prefix: prefix, into: &changes)
                    i += 1
                } else {
                    try side(y!, old: false, prefix: prefix, into: &changes)
                    j += 1
                }
            }
        }
    }

    /// An entry present on one side only: a file, or every file under a directory.
    private func side(_ entry: OpaquePointer, old: Bool, prefix: [UInt8], into changes: inout [FileChange]) throws {
        let path = prefix + Array(name(entry))
        let id = git_tree_entry_id(entry)!
        let mode = git_tree_entry_filemode(entry).rawValue
        if isTree(entry) {
            let subtree = try lookupTree(id)
            try compare(old ? subtree : nil, old ? nil : subtree, prefix: path + [47], into: &changes)
        } else if old {
            changes.append(FileChange(path: path, oldID: ObjectID(id), newID: nil, oldMode: mode, newMode: 0))
        } else {
            changes.append(FileChange(path: path, oldID: nil, newID: ObjectID(id), oldMode: 0, newMode: mode))
        }
    }
}
