import Foundation
import PathRules
#if canImport(Glibc)
import Glibc
#endif

/// Puts a run's tests back after the model patch, as SWE-bench's harness resets `test_patch`'s
/// files before applying it — judged on the tree the patch tools left, not on the patch text, so
/// no spelling of a path, rename or tool (`git apply` or `patch(1)`) slips past.
///
/// Before the model patch, every guarded file of the exported base tree is read (without
/// following links); afterwards every guarded path present in either tree is compared and, when
/// it differs, put back: the base file (content and executable bit) or link, or nothing for a
/// file the patch added. `test_patch` is applied after this, over base files. Guarded are the
/// files `test_patch` touches and, unless the run keeps SWE-bench's exact semantics, all test
/// infrastructure (`TestInfrastructure.kind`); a shared config file counts as changed only when
/// its runner part did (`TestInfrastructure.runnerPart`).
struct TestInfrastructureGuard {
    /// A path's state, read without following links.
    enum Entry: Equatable {
        case file(Data, executable: Bool)
        case link(String)
        /// Something else where a file was (a directory, a socket).
        case other
    }

    /// One guarded path the model patch changed, now put back.
    struct Change: Hashable, Sendable {
        var path: String
        var kind: TestInfrastructure.Kind?
    }

    let work: String
    let testPatchPaths: Set<String>
    let allInfrastructure: Bool
    private var base: [String: Entry] = [:]

    init(work: String, testPatchPaths: Set<String>, allInfrastructure: Bool) {
        self.work = work; self.testPatchPaths = testPatchPaths; self.allInfrastructure = allInfrastructure
        for path in Self.walk(work) where guards(path) { base[path] = Self.entry(at: work + "/" + path) }
    }

    func guards(_ path: String) -> Bool {
        testPatchPaths.contains(path) || (allInfrastructure && TestInfrastructure.kind(of: path) != nil)
    }

    /// Compares the tree with the base, puts back what differs and says what that was.
    func restore() throws -> [Change] {
        var paths = Set(base.keys)
        for path in Self.walk(work) where guards(path) { paths.insert(path) }
        var changes: [Change] = []
        for path in paths.sorted() {
            let before = base[path]
            let after = Self.safeParents(work, path) ? Self.entry(at: work + "/" + path) : nil
            let kind = TestInfrastructure.kind(of: path)
            if before == after { continue }
            if kind == .runnerConfigSection, !testPatchPaths.contains(path), Self.runnerPart(before, path) == Self.runnerPart(after, path) {
                continue // an edit outside the runner's part
            }
            try put(before, at: path)
            changes.append(Change(path: path, kind: kind))
        }
        return changes
    }

    private static func runnerPart(_ entry: Entry?, _ path: String) -> String? {
        switch entry {
        case nil: return ""
        case .file(let data, _): return TestInfrastructure.runnerPart(of: String(decoding: data, as: UTF8.self), path: path)
        case .link, .other: return nil // never equal to a file's part
        }
    }

    /// Writes `entry` at `path` (nil: removes it). Parents the patch turned into links or files
    /// become directories again first, so nothing is written through a link.
    private func put(_ entry: Entry?, at path: String) throws {
        let fileManager = FileManager.default
        let components = path.split(separator: "/").map(String.init)
        var current = work
        for component in components.dropLast() {
            current += "/" + component
            switch Self.fileType(current) {
            case S_IFDIR: continue
            case nil: if entry == nil { return } // nothing below to remove
            default: try fileManager.removeItem(atPath: current)
            }
            try fileManager.createDirectory(atPath: current, withIntermediateDirectories: false)
        }
        let full = work + "/" + path
        if Self.fileType(full) != nil { try fileManager.removeItem(atPath: full) }
        switch entry {
        case nil, .other?: return
        case .link(let target)?: try fileManager.createSymbolicLink(atPath: full, withDestinationPath: target)
        case .file(let data, let executable)?:
            guard fileManager.createFile(atPath: full, contents: data, attributes: [.posixPermissions: executable ? 0o755 : 0o644]) else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: full])
            }
        }
    }

    /// The `S_IFMT` bits of `path` itself (a link is a link), nil when absent.
    private static func fileType(_ path: String) -> mode_t? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        return info.st_mode & S_IFMT
    }

    /// Whether every directory between the work dir and `path` is a real directory.
    private static func safeParents(_ work: String, _ path: String) -> Bool {
        var current = work
        for component in path.split(separator: "/").dropLast() {
            current += "/" + component
            guard fileType(current) == S_IFDIR else { return false }
        }
        return true
    }

    private static func entry(at path: String) -> Entry? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        switch info.st_mode & S_IFMT {
        case S_IFREG:
            guard let data = FileManager.default.contents(atPath: path) else { return .other }
            return .file(data, executable: info.st_mode & 0o111 != 0)
        case S_IFLNK:
            return (try? FileManager.default.destinationOfSymbolicLink(atPath: path)).map(Entry.link) ?? .other
        default:
            return .other
        }
    }

    /// Relative paths of everything but directories under `root`, never entering a linked directory.
    static func walk(_ root: String) -> [String] {
        var result: [String] = []
        var pending = [""]
        while let relative = pending.popLast() {
            let directory = relative.isEmpty ? root : root + "/" + relative
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { continue }
            for name in names {
                let path = relative.isEmpty ? name : relative + "/" + name
                if fileType(root + "/" + path) == S_IFDIR { pending.append(path) } else { result.append(path) }
            }
        }
        return result
    }
}
