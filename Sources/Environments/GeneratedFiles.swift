import Foundation
import Sandbox

/// Files an install step generates inside the project checkout that the tests need: a version
/// module written by setuptools_scm (`src/_pytest/_version.py`), parser tables, extension modules
/// built in place. Tests run in a fresh export of the task's tree, which lacks them, so the builder
/// keeps a copy (the environment's overlay) and each run lays it under its tree, never over a file
/// the tree has.
///
/// Build code is untrusted: only regular files are taken (links are neither followed nor copied),
/// within a count and size budget, and they are written beneath the test tree without following
/// any link the tree holds.
public enum GeneratedFiles {
    /// Build by-products no test imports, and the version control folder.
    static let skippedDirectories: Set<String> = [".git", ".hg", "build", "dist", ".eggs", "__pycache__", ".pytest_cache",
                                                  ".tox", ".nox", ".mypy_cache", "node_modules"]
    static let maximumFiles = 20_000
    static let maximumBytes = 512 << 20

    /// Relative paths of the regular files under `root`, skipped folders and links left out.
    static func regularFiles(under root: URL) -> Set<String> {
        let base = root.standardizedFileURL.path
        var found = Set<String>()
        let keys: [URLResourceKey] = [.isDirectoryKey, .isSymbolicLinkKey, .isRegularFileKey]
        guard let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: keys, options: []) else { return [] }
        for case let url as URL in walker {
            guard let values = try? url.resourceValues(forKeys: Set(keys)) else { continue }
            if values.isSymbolicLink == true { continue }
            let name = url.lastPathComponent
            if values.isDirectory == true {
                if skippedDirectories.contains(name) || name.hasSuffix(".egg-info") || name.hasSuffix(".dist-info") {
                    walker.skipDescendants()
                }
                continue
            }
            guard values.isRegularFile == true, !name.hasSuffix(".pyc") else { continue }
            let path = url.standardizedFileURL.path
            guard path.hasPrefix(base + "/") else { continue }
            found.insert(String(path.dropFirst(base.count + 1)))
        }
        return found
    }

    /// The list of the files an export wrote, kept in the checkout: checkouts are shared by the
    /// builds of every environment of a setup commit, so what an earlier build generated there
    /// (urllib3's `_version.py`) must still count as generated for the next build.
    public static let exportListName = ".forge-exported-files"

    /// Records the files of a fresh export of `root`, so later builds tell generated files from
    /// the tree's own. Written atomically, the list also marks the export complete.
    public static func recordExport(of root: URL) throws {
        let files = regularFiles(under: root).union([exportListName]).sorted()
        try (files.joined(separator: "\n") + "\n").write(to: root.appendingPathComponent(exportListName), atomically: true, encoding: .utf8)
    }

    /// The tree's own files: the export's list when there is one (read without following links:
    /// an earlier build could have replaced it), else whatever is there now.
    static func pristineFiles(of root: URL) -> Set<String> {
        guard let data = try? SafeFile.read(exportListName, beneath: root.path, maxBytes: 64 << 20),
              let text = String(data: data, encoding: .utf8) else { return regularFiles(under: root) }
        return Set(text.split(separator: "\n").map(String.init))
    }

    /// Copies the regular files under `root` that are not in `before` into `overlay`; returns their
    /// relative paths (sorted), or an empty list when nothing new appeared or the budget ran out.
    static func collect(from root: URL, before: Set<String>, into overlay: URL) -> [String] {
        let new = regularFiles(under: root).subtracting(before).sorted()
        guard !new.isEmpty, new.count <= maximumFiles else { return [] }
        try? FileManager.default.removeItem(at: overlay)
        guard (try? FileManager.default.createDirectory(at: overlay, withIntermediateDirectories: true)) != nil else { return [] }
        // Best effort by design: a file that cannot be copied is left out of the list returned,
        // and only listed files are ever laid into a tree.
        var copied: [String] = []
        var bytes = 0
        for relative in new {
            guard let data = try? SafeFile.read(relative, beneath: root.path, maxBytes: maximumBytes - bytes) else { continue }
            bytes += data.count
            guard (try? SafeFile.write(data, to: relative, beneath: overlay.path, createFolders: true)) != nil else { continue }
            copied.append(relative)
            if bytes >= maximumBytes { break }
        }
        return copied
    }

    /// Lays the overlay's files into `tree` where the tree has nothing at that path; returns how
    /// many were written. A path the tree holds as anything (a file, a folder, a link) is left alone.
    @discardableResult
    public static func apply(_ files: [String], from overlay: String, to tree: String) -> Int {
        var written = 0
        for relative in files {
            var info = stat()
            guard lstat(tree + "/" + relative, &info) != 0, errno == ENOENT,
                  let data = try? SafeFile.read(relative, beneath: overlay, maxBytes: maximumBytes) else { continue }
            // Refuses every link on the way: a tracked link in the tree cannot redirect the write.
            // A refused or failed write is not counted; the run then sees the tree without it.
            if (try? SafeFile.write(data, to: relative, beneath: tree, createFolders: true)) != nil { written += 1 }
        }
        return written
    }
}
