import CGit2
import Foundation

/// Writing trees and commits: a commit's tree with some files replaced, as a new commit.
/// Synthesis stores each mutant this way, so a synthetic task's `base_commit` is a real commit
/// that every stage (validation, evaluation, snapshots) exports like any other.
extension Repository {
    /// Writes a parentless commit whose tree is `base`'s tree with `files` replaced (path → new
    /// bytes; nil deletes the file; a new path is added as a regular file). Author and committer
    /// are Forge at `base`'s committer time, so the same edit gives the same commit id on every
    /// machine. Without a parent the commit's history cannot reveal the original code.
    public func writeCommit(replacing files: [String: [UInt8]?], in base: ObjectID,
                            message: String) throws -> (commit: ObjectID, tree: ObjectID) {
        let info = try commitInfo(base)
        let tree = try writeTree(info.treeID, replacing: files.map { (Array($0.key.split(separator: "/").map(String.init)), $0.value) })
        let time = info.committerTime
        let text = "tree \(tree.hex)\nauthor Forge <forge@localhost> \(time) +0000\n"
            + "committer Forge <forge@localhost> \(time) +0000\n\n\(message.hasSuffix("\n") ? message : message + "\n")"
        let commit = try writeObject(Array(text.utf8), typeName: "commit")
        return (commit, tree)
    }

    /// The id `writeCommit` would give the tree, written (trees and blobs are content-addressed,
    /// so writing twice is harmless): used to recognise two edits that give the same tree.
    public func writeTree(of base: ObjectID, replacing files: [String: [UInt8]?]) throws -> ObjectID {
        let info = try commitInfo(base)
        return try writeTree(info.treeID, replacing: files.map { (Array($0.key.split(separator: "/").map(String.init)), $0.value) })
    }

    /// Points `name` (e.g. `refs/forge/synth/…`) at `commit`, replacing what it pointed at.
    public func setReference(_ name: String, to commit: ObjectID) throws {
        var oid = commit.oid
        var raw: OpaquePointer?
        try check(git_reference_create(&raw, pointer, name, &oid, 1, "forge synth"), "setting reference \(name)")
        _ = ReferenceHandle(raw!)
    }

    private func writeTree(_ id: ObjectID?, replacing changes: [([String], [UInt8]?)]) throws -> ObjectID {
        var entries: [String: (mode: UInt32, id: ObjectID, name: [UInt8])] = [:]
        if let id {
            for entry in try tree(id).entries { entries[entry.name] = (entry.mode, entry.id, entry.nameBytes) }
        }
        var byDirectory: [String: [([String], [UInt8]?)]] = [:]
        for (components, data) in changes {
            guard let first = components.first else { continue }
            if components.count == 1 {
                if let data {
                    let blob = try writeObject(data, typeName: "blob")
                    let mode = entries[first].map { $0.mode == 0o100755 ? 0o100755 : 0o100644 } ?? 0o100644
                    entries[first] = (UInt32(mode), blob, Array(first.utf8))
                } else {
                    entries[first] = nil
                }
            } else {
                byDirectory[first, default: []].append((Array(components.dropFirst()), data))
            }
        }
        for (directory, nested) in byDirectory {
            let existing = entries[directory].flatMap { $0.mode == 0o040000 ? $0.id : nil }
            let subtree = try writeTree(existing, replacing: nested)
            if try tree(subtree).entries.isEmpty { entries[directory] = nil } else {
                entries[directory] = (0o040000, subtree, Array(directory.utf8))
            }
        }
        // git orders entries by name bytes, a directory's name compared as if it ended in "/".
        let ordered = entries.values.sorted { a, b in
            let keyA = a.name + (a.mode == 0o040000 ? [UInt8(ascii: "/")] : [])
            let keyB = b.name + (b.mode == 0o040000 ? [UInt8(ascii: "/")] : [])
            return keyA.lexicographicallyPrecedes(keyB)
        }
        var bytes: [UInt8] = []
        for entry in ordered {
            bytes += Array(String(entry.mode, radix: 8).utf8) + [UInt8(ascii: " ")] + entry.name + [0]
            bytes += entry.id.bytes
        }
        return try writeObject(bytes, typeName: "tree")
    }
}
