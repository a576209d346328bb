import Foundation
import Git
import Store
import Synchronization

/// The tree at a task's `base_commit`, for an agent to work in: exported once into a folder and
/// written once as a tar archive under `<root>/<instance_id>-<base commit>/`. Only the base
/// tree: no test patch, no gold patch, no history.
public final class Snapshots: Sendable {
    public let root: String
    // libgit2 handles must not be used from two threads at once: every export holds this lock.
    private let repositories = Mutex<[String: Repository]>([:])
    private let clones: [String: String]

    public init(root: String, clones: [String: String]) {
        self.root = root
        self.clones = clones
    }

    /// The folder holding the task's base tree, exported now if needed.
    public func tree(for task: TaskRecord) throws -> String {
        try repositories.withLock { repositories in
            let folder = folder(for: task) + "/tree"
            if FileManager.default.fileExists(atPath: folder) { return folder }
            let (repository, commit) = try open(task, opened: &repositories)
            let partial = folder + ".partial-\(getpid())"
            try? FileManager.default.removeItem(atPath: partial)
            do {
                try repository.exportTree(of: commit, to: partial)
                try FileManager.default.moveItem(atPath: partial, toPath: folder) // readers never see half a tree
            } catch {
                try? FileManager.default.removeItem(atPath: partial)
                throw SnapshotError.export(instanceID: task.instanceID, reason: "\(error)")
            }
            return folder
        }
    }

    /// The tar archive of the task's base tree, written now if needed.
    public func archive(for task: TaskRecord) throws -> String {
        try repositories.withLock { repositories in
            let path = folder(for: task) + "/snapshot.tar"
            if FileManager.default.fileExists(atPath: path) { return path }
            let (repository, commit) = try open(task, opened: &repositories)
            let partial = path + ".partial-\(getpid())"
            do {
                try FileManager.default.createDirectory(atPath: folder(for: task), withIntermediateDirectories: true)
                _ = FileManager.default.createFile(atPath: partial, contents: nil)
                guard let handle = FileHandle(forWritingAtPath: partial) else { throw SnapshotError.export(instanceID: task.instanceID, reason: "cannot write \(partial)") }
                defer { try? handle.close() }
                var writer = TarWriter(handle: handle)
                try writer.add(tree: try repository.tree(commit), prefix: [], from: repository)
                try writer.finish()
                try FileManager.default.moveItem(atPath: partial, toPath: path)
            } catch let error as SnapshotError {
                try? FileManager.default.removeItem(atPath: partial)
                throw error
            } catch {
                try? FileManager.default.removeItem(atPath: partial)
                throw SnapshotError.export(instanceID: task.instanceID, reason: "\(error)")
            }
            return path
        }
    }

    private func folder(for task: TaskRecord) -> String { "\(root)/\(Identifier.pathComponent(task.instanceID))-\(Identifier.pathComponent(task.baseCommit))" }

    /// Called with the lock held: `opened` is the locked cache of handles.
    private func open(_ task: TaskRecord, opened: inout [String: Repository]) throws -> (Repository, ObjectID) {
        guard let commit = ObjectID(hex: task.baseCommit) else { throw SnapshotError.badCommit(task.baseCommit) }
        if let repository = opened[task.repo] { return (repository, commit) }
        guard let path = clones[task.repo] else { throw SnapshotError.noClone(task.repo) }
        let repository = try Repository.open(path)
        opened[task.repo] = repository
        return (repository, commit)
    }
}

public enum SnapshotError: Error, CustomStringConvertible, Hashable, Sendable {
    case noClone(String)
    case badCommit(String)
    case export(instanceID: String, reason: String)

    public var description: String {
        switch self {
        case .noClone(let repo): return "no clone of \(repo) given (--clone \(repo)=PATH)"
        case .badCommit(let commit): return "base_commit '\(commit)' is not a 40-hex commit id"
        case .export(let id, let reason): return "cannot export the base tree of \(id): \(reason)"
        }
    }
}

/// POSIX ustar archives, with pax `path`/`linkpath` records for names longer than ustar allows.
/// Written straight from git objects, so no process and no checkout are needed.
struct TarWriter {
    let handle: FileHandle

    mutating func add(tree: Tree, prefix: [UInt8], from repository: Repository) throws {
        for entry in tree.entries {
            let path = prefix + entry.nameBytes
            switch entry.kind {
            case .directory:
                try write(path: path + [UInt8(ascii: "/")], type: "5", mode: 0o755, data: [])
                try add(tree: try repository.tree(entry.id), prefix: path + [UInt8(ascii: "/")], from: repository)
            case .submodule:
                try write(path: path + [UInt8(ascii: "/")], type: "5", mode: 0o755, data: [])
            case .symlink:
                try write(path: path, type: "2", mode: 0o777, data: [], link: try repository.blob(entry.id))
            case .file, .executable:
                try write(path: path, type: "0", mode: entry.kind == .executable ? 0o755 : 0o644, data: try repository.blob(entry.id))
            }
        }
    }

    /// Two zero blocks end an archive.
    func finish() throws { try handle.write(contentsOf: Data(count: 1024)) }

    private func write(path: [UInt8], type: Character, mode: Int, data: [UInt8], link: [UInt8] = []) throws {
        if path.count > 100 || link.count > 100 {
            var records: [UInt8] = []
            if path.count > 100 { records += Self.paxRecord("path", path) }
            if link.count > 100 { records += Self.paxRecord("linkpath", link) }
            try block(header(name: Array("PaxHeader".utf8), type: "x", mode: 0o644, size: records.count, link: []), body: records)
        }
        try block(header(name: Array(path.prefix(100)), type: type, mode: mode, size: data.count, link: Array(link.prefix(100))), body: data)
    }

    private func block(_ header: [UInt8], body: [UInt8]) throws {
        var out = header + body
        let padding = (512 - body.count % 512) % 512
        out += [UInt8](repeating: 0, count: padding)
        try handle.write(contentsOf: Data(out))
    }

    /// `"<length> key=value\n"`, where length counts the whole record, its own digits included.
    static func paxRecord(_ key: String, _ value: [UInt8]) -> [UInt8] {
        let rest = 1 + key.utf8.count + 1 + value.count + 1 // " key=value\n"
        var length = rest + String(rest).count
        if String(length).count != String(rest).count { length = rest + String(length).count }
        return Array("\(length) \(key)=".utf8) + value + [UInt8(ascii: "\n")]
    }

    private func header(name: [UInt8], type: Character, mode: Int, size: Int, link: [UInt8]) -> [UInt8] {
        var header = [UInt8](repeating: 0, count: 512)
        func put(_ bytes: [UInt8], at offset: Int) { for (index, byte) in bytes.enumerated() { header[offset + index] = byte } }
        func octal(_ value: Int, width: Int) -> [UInt8] { // zero-padded, NUL-terminated
            let digits = String(value, radix: 8)
            return Array((String(repeating: "0", count: max(0, width - 1 - digits.count)) + digits).utf8) + [0]
        }
        put(name, at: 0)
        put(octal(mode, width: 8), at: 100)
        put(octal(0, width: 8), at: 108)
        put(octal(0, width: 8), at: 116)
        put(octal(size, width: 12), at: 124)
        put(octal(0, width: 12), at: 136)
        put(Array("        ".utf8), at: 148) // the checksum counts its own field as spaces
        header[156] = type.asciiValue!
        put(link, at: 157)
        put(Array("ustar\u{0}00".utf8), at: 257)
        let checksum = header.reduce(0) { $0 + Int($1) }
        put(octal(checksum, width: 7) + [UInt8(ascii: " ")], at: 148)
        return header
    }
}
