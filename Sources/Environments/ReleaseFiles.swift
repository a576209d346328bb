import Foundation
import Sandbox

/// Data a project generates at release time from sources it downloads, which its tree ignores and
/// its released wheel ships: babel's locale tables (`babel/locale-data/*.dat`, `babel/global.dat`,
/// compiled from a CLDR download by `setup.py import_cldr`). A sandbox without the network cannot
/// make them; the project's own wheel as of the task date has them. Only files the tree's
/// `.gitignore` files ignore, inside the project's own package folders, and absent from the tree,
/// are taken: nothing the tree holds is ever replaced.
enum ReleaseFiles {
    /// Top-level package folders (relative to the tree) whose ignore rules mention generated
    /// content: a `.gitignore` inside the package, or a root `.gitignore` pattern under it. Empty
    /// means the wheel is not worth fetching.
    static func candidatePackages(tree: URL, sourceRoot: String) -> [String] {
        let manager = FileManager.default
        let rootURL = sourceRoot.isEmpty ? tree : tree.appendingPathComponent(sourceRoot)
        let rootIgnore = (try? String(contentsOf: tree.appendingPathComponent(".gitignore"), encoding: .utf8)) ?? ""
        let prefix = sourceRoot.isEmpty ? "" : sourceRoot + "/"
        var packages: [String] = []
        for name in ((try? manager.contentsOfDirectory(atPath: rootURL.path)) ?? []).sorted() where !name.hasPrefix(".") {
            let package = rootURL.appendingPathComponent(name)
            guard manager.fileExists(atPath: package.appendingPathComponent("__init__.py").path) else { continue }
            let relative = prefix + name
            let mentioned = rootIgnore.split(whereSeparator: \.isNewline).contains { line in
                let pattern = line.trimmingCharacters(in: .whitespaces)
                return pattern.hasPrefix(relative + "/") || pattern.hasPrefix("/" + relative + "/")
            }
            let nested = GeneratedFiles.regularFiles(under: package).contains { $0.hasSuffix(".gitignore") }
            if mentioned || nested { packages.append(name) }
        }
        return packages
    }

    /// Copies into `overlay` (at their tree paths) the files of the unpacked wheel in `release`
    /// under `packages` that the tree lacks and ignores; returns their tree paths, sorted.
    static func collect(release: URL, tree: URL, sourceRoot: String, packages: [String], into overlay: URL) -> [String] {
        let ignore = GitIgnore(tree: tree)
        let prefix = sourceRoot.isEmpty ? "" : sourceRoot + "/"
        var taken: [String] = []
        var bytes = 0
        for package in packages {
            for file in GeneratedFiles.regularFiles(under: release.appendingPathComponent(package)).sorted() {
                let treePath = prefix + package + "/" + file
                var info = stat()
                guard lstat(tree.appendingPathComponent(treePath).path, &info) != 0, errno == ENOENT,
                      ignore.ignores(treePath),
                      // Unreadable or unwritable files are left out of the list, like links (best effort).
                      let data = try? SafeFile.read(package + "/" + file, beneath: release.path,
                                                    maxBytes: GeneratedFiles.maximumBytes - bytes),
                      (try? SafeFile.write(data, to: treePath, beneath: overlay.path, createFolders: true)) != nil else { continue }
                bytes += data.count
                taken.append(treePath)
                if taken.count >= GeneratedFiles.maximumFiles || bytes >= GeneratedFiles.maximumBytes { return taken }
            }
        }
        return taken
    }
}

/// The ignore rules of a tree's `.gitignore` files, as git reads them: a pattern without a slash
/// (other than a trailing one) matches a name at any depth below its file's folder; one with a
/// slash is anchored there; a trailing slash matches folders (and so what is in them); `*`, `?`,
/// `[…]` and `**` as in git; the last matching pattern wins, `!` re-includes.
struct GitIgnore {
    private struct Rule { let base: String; let pattern: String; let negated: Bool; let directoryOnly: Bool; let anchored: Bool }
    private var rulesByFolder: [String: [Rule]] = [:]
    private let tree: URL

    init(tree: URL) { self.tree = tree }

    private mutating func rules(in folder: String) -> [Rule] {
        if let known = rulesByFolder[folder] { return known }
        let file = (folder.isEmpty ? tree : tree.appendingPathComponent(folder)).appendingPathComponent(".gitignore")
        var rules: [Rule] = []
        if SafeFile.isRegularFile(atPath: file.path), let text = SafeFile.text(atPath: file.path, maxBytes: 1 << 20) {
            for raw in text.split(whereSeparator: \.isNewline) {
                var pattern = String(raw).trimmingCharacters(in: .whitespaces)
                guard !pattern.isEmpty, !pattern.hasPrefix("#") else { continue }
                let negated = pattern.hasPrefix("!")
                if negated { pattern.removeFirst() }
                let directoryOnly = pattern.hasSuffix("/")
                while pattern.hasSuffix("/") { pattern.removeLast() }
                let anchored = pattern.contains("/")
                while pattern.hasPrefix("/") { pattern.removeFirst() }
                guard !pattern.isEmpty else { continue }
                rules.append(Rule(base: folder, pattern: pattern, negated: negated, directoryOnly: directoryOnly, anchored: anchored))
            }
        }
        rulesByFolder[folder] = rules
        return rules
    }

    /// Whether `path` (relative to the tree, a file) is ignored, by itself or through a folder above it.
    func ignores(_ path: String) -> Bool {
        var copy = self
        let components = path.split(separator: "/").map(String.init)
        // Each prefix of the path (a folder, then the file itself) is checked against the rules of
        // the folders above it; an ignored folder ignores everything in it.
        for depth in 1...components.count {
            let candidate = components.prefix(depth).joined(separator: "/")
            let isDirectory = depth < components.count
            var ignored = false
            for folderDepth in 0..<depth {
                let folder = components.prefix(folderDepth).joined(separator: "/")
                let relative = components[folderDepth..<depth].joined(separator: "/")
                for rule in copy.rules(in: folder) where !rule.directoryOnly || isDirectory {
                    let subject = rule.anchored ? relative : (candidate.split(separator: "/").last.map(String.init) ?? candidate)
                    if Self.matches(rule.pattern, subject) { ignored = !rule.negated }
                }
            }
            if ignored { return true }
        }
        return false
    }

    /// fnmatch with FNM_PATHNAME, `**/` and `/**` spanning folders.
    static func matches(_ pattern: String, _ path: String) -> Bool {
        if pattern.contains("**") {
            let expanded = pattern.replacingOccurrences(of: "**/", with: "").replacingOccurrences(of: "/**", with: "")
            if expanded != pattern && matches(expanded, path) { return true }
            // `a/**/b`: any number of folders between.
            let parts = path.split(separator: "/").map(String.init)
            for start in 0..<parts.count {
                let tail = parts[start...].joined(separator: "/")
                if fnmatch(pattern.replacingOccurrences(of: "**/", with: ""), tail, 0) == 0 { return true }
            }
            return fnmatch(pattern.replacingOccurrences(of: "**", with: "*"), path, 0) == 0
        }
        return fnmatch(pattern, path, FNM_PATHNAME) == 0
    }
}
