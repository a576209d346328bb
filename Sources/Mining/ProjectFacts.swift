import Foundation
import Git

/// Facts about the project at a commit that tasks record: its version, the commit that defines its
/// environment, its language. Everything is memoized, so thousands of tasks cost about one pass
/// over the first-parent history.
final class ProjectFacts {
    private let repository: Repository
    /// Commit → `major.minor` of the highest version tag on it.
    private let tagVersions: [ObjectID: String]
    /// Version tags sorted by commit time, for bases with no tagged first-parent ancestor.
    private let tagsByTime: [(time: Int64, version: String)]
    /// Root tree → version found in its files ("" = none).
    private var fileVersionByTree: [ObjectID: String] = [:]
    private var tagVersionMemo: [ObjectID: String] = [:]
    private var environmentMemo: [ObjectID: ObjectID] = [:]
    private var fingerprintByTree: [ObjectID: [ObjectID]] = [:]
    private var languageByTree: [ObjectID: String?] = [:]

    /// Files whose change means the project's dependencies (and so its environment) changed (plus
    /// `requirements*.txt` and a `requirements/` directory at the root).
    static let manifestNames: [String] = ["Cargo.toml", "Package.swift", "pyproject.toml", "setup.cfg", "setup.py", "tox.ini"]

    private let graph: CommitGraph

    init(repository: Repository, references: [Reference], graph: CommitGraph) throws {
        self.repository = repository
        self.graph = graph
        let tags = references.filter(\.isTag)
        let conventions = ProjectFacts.tagConventions(tags.map(\.shortName))
        var byCommit: [ObjectID: String] = [:]
        var timed: [(Int64, String)] = []
        for reference in tags {
            guard let commit = reference.commit,
                  let version = ProjectFacts.majorMinor(ofTag: reference.shortName, acceptedPrefixes: conventions) else { continue }
            if let existing = byCommit[commit], ProjectFacts.compare(existing, version) >= 0 { continue }
            byCommit[commit] = version
            if let time = try? repository.commit(commit).committerTime { timed.append((time, version)) }
        }
        tagVersions = byCommit
        tagsByTime = timed.sorted { $0.0 < $1.0 }.map { (time: $0.0, version: $0.1) }
    }

    // MARK: Version

    /// `major.minor` of the project at `commit`: version file, then packaging manifests, then the
    /// nearest earlier version tag; "" when nothing says.
    func version(at commit: ObjectID) throws -> String {
        let treeID = try repository.commit(commit).treeID
        let fromFiles: String
        if let known = fileVersionByTree[treeID] { fromFiles = known } else {
            fromFiles = try versionFromFiles(try repository.tree(treeID)) ?? ""
            fileVersionByTree[treeID] = fromFiles
        }
        return fromFiles.isEmpty ? try versionFromTags(at: commit) ?? "" : fromFiles
    }

    private struct FileKey: Hashable { let path: String; let blob: ObjectID }
    /// Version found in a file's blob ("" = none): version files rarely change, so most bases hit.
    private var versionByFile: [FileKey: String] = [:]

    /// The `major.minor` that `extract` finds in the file at `path`, if any.
    private func version(in root: Tree, _ path: String, _ extract: (String) -> String?) throws -> String? {
        guard let entry = try root.entry(atPath: path), entry.kind == .file || entry.kind == .executable else { return nil }
        let key = FileKey(path: path, blob: entry.id)
        if let known = versionByFile[key] { return known.isEmpty ? nil : known }
        let found = extract(String(decoding: try repository.blob(entry.id), as: UTF8.self)).flatMap { ProjectFacts.majorMinor($0) } ?? ""
        versionByFile[key] = found
        return found.isEmpty ? nil : found
    }

    private static let skippedPackageDirectories: Set<String> = ["tests", "test", "testing", "docs", "doc", "examples",
                                                                 "benchmarks", "scripts", "tools", "build", "dist"]
    private static let dunderVersion = try! NSRegularExpression(pattern: #"^__version__\s*(?::\s*str\s*)?=\s*['"]([^'"]+)['"]"#, options: .anchorsMatchLines)
    private static let assignedVersion = try! NSRegularExpression(pattern: #"^(?:__version__|version|VERSION)\s*(?::\s*str\s*)?=\s*['"]([^'"]+)['"]"#, options: .anchorsMatchLines)
    private static let setupPyVersion = try! NSRegularExpression(pattern: #"\bversion\s*=\s*['"]([^'"]+)['"]"#)

    private func versionFromFiles(_ root: Tree) throws -> String? {
        // Python version files: <pkg>/__init__.py, <pkg>/_version.py, … also under src/.
        var packageDirectories: [String] = []
        for entry in root.entries where entry.kind == .directory && !ProjectFacts.skippedPackageDirectories.contains(entry.name) && !entry.name.hasPrefix(".") {
            if entry.name == "src", let src = try? repository.tree(entry.id) {
                packageDirectories += src.entries.filter { $0.kind == .directory }.map { "src/\($0.name)" }
            } else {
                packageDirectories.append(entry.name)
            }
        }
        let assigned = { ProjectFacts.firstGroup(ProjectFacts.assignedVersion, $0) }
        let dunder = { ProjectFacts.firstGroup(ProjectFacts.dunderVersion, $0) }
        for directory in packageDirectories.sorted() {
            // release.py (sympy) and __pkginfo__.py (pylint) are where some projects keep it by hand.
            for (file, extract) in [("_version.py", assigned), ("version.py", assigned), ("__about__.py", assigned),
                                    ("release.py", assigned), ("__pkginfo__.py", assigned), ("__init__.py", dunder)] {
                if let version = try version(in: root, "\(directory)/\(file)", extract) { return version }
            }
        }
        for file in ["_version.py", "version.py"] {
            if let version = try version(in: root, file, assigned) { return version }
        }
        if let version = try version(in: root, "pyproject.toml", { ProjectFacts.tomlValue($0, sections: ["project", "tool.poetry"], key: "version") }) {
            return version
        }
        if let version = try version(in: root, "setup.py", { ProjectFacts.firstGroup(ProjectFacts.setupPyVersion, $0) }) { return version }
        if let version = try version(in: root, "setup.cfg", { ProjectFacts.tomlValue($0, sections: ["metadata"], key: "version") }) {
            return version
        }
        if let version = try version(in: root, "Cargo.toml", { ProjectFacts.tomlValue($0, sections: ["package", "workspace.package"], key: "version") }) {
            return version
        }
        return nil   // Package.swift and the rest: versions live in tags
    }

    /// The highest version tag among `commit` and all its ancestors (every parent, not only the
    /// first: projects that take their version from tags, such as setuptools_scm users, tag
    /// releases on maintenance branches that reach the default branch through merges, and `git
    /// describe` finds them there). The highest rather than the nearest, because a maintenance
    /// release merged in later (4.6.5 into a 5.x line) is not what the line builds on. Failing
    /// that, the newest version tag made no later than `commit`.
    private func versionFromTags(at commit: ObjectID) throws -> String? {
        guard !tagVersions.isEmpty else { return nil }
        if let found = try highestReachableTag(from: commit), !found.isEmpty { return found }
        let time = try repository.commit(commit).committerTime
        return tagsByTime.last { $0.time <= time }?.version
    }

    /// Memoized over the whole graph (each commit is resolved once, after its parents), iterative
    /// so that long histories cannot overflow the stack. "" = no version tag reachable.
    private func highestReachableTag(from commit: ObjectID) throws -> String? {
        if let known = tagVersionMemo[commit] { return known }
        var stack: [(id: ObjectID, expanded: Bool)] = [(commit, false)]
        while let (id, expanded) = stack.popLast() {
            if tagVersionMemo[id] != nil { continue }
            let parents = try reachableParents(of: id)
            if !expanded {
                stack.append((id, true))
                for parent in parents where tagVersionMemo[parent] == nil { stack.append((parent, false)) }
                continue
            }
            var best = tagVersions[id] ?? ""
            for parent in parents {
                let version = tagVersionMemo[parent] ?? ""
                if !version.isEmpty && (best.isEmpty || ProjectFacts.compare(version, best) > 0) { best = version }
            }
            tagVersionMemo[id] = best
        }
        return tagVersionMemo[commit]
    }

    /// Parents present in this clone (none past a shallow boundary).
    private func reachableParents(of id: ObjectID) throws -> [ObjectID] {
        guard let node = try graph.node(id, reader: repository), !repository.shallowBoundary.contains(id) else { return [] }
        return node.parents.filter { graph.contains($0) || repository.contains($0) }
    }

    private func firstParent(of id: ObjectID) throws -> ObjectID? {
        try header(id).firstParent
    }

    /// Tree and first parent (nil at a root or a shallow boundary): from the walk's graph when it
    /// has the commit, else read without a full commit parse.
    private func header(_ id: ObjectID) throws -> (tree: ObjectID, firstParent: ObjectID?) {
        guard let node = try graph.node(id, reader: repository) else {
            throw GitError(code: .notFound, operation: "reading commit \(id)", message: "not in this clone")
        }
        guard !repository.shallowBoundary.contains(id), let parent = node.parents.first,
              graph.contains(parent) || repository.contains(parent) else {
            return (node.tree, nil)
        }
        return (node.tree, parent)
    }

    static func firstGroup(_ regex: NSRegularExpression, _ text: String) -> String? {
        guard let match = regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)),
              let range = Range(match.range(at: 1), in: text) else { return nil }
        return String(text[range])
    }

    /// A `key = value` in one of the `[sections]` of a TOML or INI file (quotes removed).
    static func tomlValue(_ text: String, sections: Set<String>, key: String) -> String? {
        var section = ""
        for rawLine in text.split(whereSeparator: \.isNewline) {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("[") {
                section = line.trimmingCharacters(in: CharacterSet(charactersIn: "[] "))
                continue
            }
            guard sections.contains(section), let equals = line.firstIndex(where: { $0 == "=" || $0 == ":" }) else { continue }
            guard line[..<equals].trimmingCharacters(in: .whitespaces) == key else { continue }
            var value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            if let hash = value.range(of: " #") { value = String(value[..<hash.lowerBound]).trimmingCharacters(in: .whitespaces) }
            return value.trimmingCharacters(in: CharacterSet(charactersIn: "\"'"))
        }
        return nil
    }

    /// "2.27.1" → "2.27"; "3" → "3.0"; nil when it does not start with a number.
    static func majorMinor(_ version: String) -> String? {
        let trimmed = version.hasPrefix("v") || version.hasPrefix("V") ? String(version.dropFirst()) : version
        let parts = trimmed.split(separator: ".", omittingEmptySubsequences: false)
        guard let major = parts.first.flatMap({ Int($0) }) else { return nil }
        let minorDigits = parts.count > 1 ? String(parts[1].prefix { $0.isNumber }) : ""
        return "\(major).\(Int(minorDigits) ?? 0)"
    }

    /// Tags such as `v1.2.3`, `1.2`, `release-1.2.0`, `version-2.0`, and `<prefix>-1.2` where the
    /// prefix is one of `acceptedPrefixes` (the project's own convention: `sympy-1.1`,
    /// `networkx-2.5`, `pylint-2.4`).
    static func majorMinor(ofTag name: String, acceptedPrefixes: Set<String> = []) -> String? {
        var text = name
        if let (prefix, rest) = splitTagPrefix(name) {
            guard standardTagPrefixes.contains(prefix.lowercased()) || acceptedPrefixes.contains(prefix) else { return nil }
            text = rest
        }
        guard text.contains("."), let first = text.first, first.isNumber || first == "v" || first == "V" else { return nil }
        return majorMinor(text)
    }

    private static let standardTagPrefixes: Set<String> = ["release-", "version-", "release/", "rel-", "v-", "release_"]

    /// `sympy-1.9rc1` → (`sympy-`, `1.9rc1`): a word and a separator before a version number.
    static func splitTagPrefix(_ name: String) -> (String, String)? {
        guard let first = name.first, first.isLetter else { return nil }
        guard let separator = name.firstIndex(where: { $0 == "-" || $0 == "_" || $0 == "/" }) else { return nil }
        let rest = name[name.index(after: separator)...]
        guard let next = rest.first, next.isNumber || ((next == "v" || next == "V") && rest.dropFirst().first?.isNumber == true) else { return nil }
        return (String(name[...separator]), String(rest))
    }

    /// The project's own tag prefix, if it has one: the most common word prefix of its version-like
    /// tags, when it marks at least a fifth of them. Other prefixes (tags of a vendored or sister
    /// product, `RoboFog-1.6.3` in fonttools) are not the project's versions.
    static func tagConventions(_ names: [String]) -> Set<String> {
        var counts: [String: Int] = [:]
        var versionLike = 0
        for name in names {
            if let (prefix, _) = splitTagPrefix(name) {
                counts[prefix, default: 0] += 1; versionLike += 1
            } else if majorMinor(ofTag: name) != nil {
                versionLike += 1
            }
        }
        guard let (prefix, count) = counts.max(by: { ($0.value, $1.key) < ($1.value, $0.key) }), count * 5 >= versionLike else { return [] }
        return [prefix]
    }

    /// Numeric comparison of "a.b" versions.
    static func compare(_ a: String, _ b: String) -> Int {
        let x = a.split(separator: ".").map { Int($0) ?? 0 }, y = b.split(separator: ".").map { Int($0) ?? 0 }
        for (p, q) in zip(x, y) where p != q { return p < q ? -1 : 1 }
        return x.count == y.count ? 0 : (x.count < y.count ? -1 : 1)
    }

    // MARK: Environment

    /// The latest first-parent ancestor of `commit` (inclusive) at which the dependency manifests
    /// took the contents they have at `commit`.
    func environmentSetupCommit(for commit: ObjectID) throws -> ObjectID {
        var chain: [ObjectID] = []
        var current = commit
        var node = try header(current)
        var fingerprint = try manifestFingerprint(tree: node.tree)
        var result: ObjectID
        while true {
            if let known = environmentMemo[current] { result = known; break }
            chain.append(current)
            guard let parent = node.firstParent else { result = current; break }
            let parentNode = try header(parent)
            let parentFingerprint = try manifestFingerprint(tree: parentNode.tree)
            if parentFingerprint != fingerprint { result = current; break }
            current = parent
            node = parentNode
            fingerprint = parentFingerprint
        }
        for id in chain { environmentMemo[id] = result }
        return result
    }

    /// The manifests' blob ids in a root tree (memoized by tree).
    private func manifestFingerprint(tree treeID: ObjectID) throws -> [ObjectID] {
        if let known = fingerprintByTree[treeID] { return known }
        let root = try repository.tree(treeID)
        var ids: [ObjectID] = []
        for name in ProjectFacts.manifestNames { ids.append(root.entry(named: name)?.id ?? ObjectID.zero) }
        for entry in root.entries(withPrefix: "requirements") where entry.name.hasSuffix(".txt") || entry.kind == .directory {
            ids.append(entry.id)
        }
        fingerprintByTree[treeID] = ids
        return ids
    }

    // MARK: Language

    /// The project's main language, from its manifests at `commit`.
    func language(at commit: ObjectID) throws -> String? {
        let treeID = try repository.commit(commit).treeID
        if let known = languageByTree[treeID] { return known }
        let names = Set(try repository.tree(treeID).entries.map(\.name))
        let language: String?
        if !names.isDisjoint(with: ["pyproject.toml", "setup.py", "setup.cfg"]) { language = "python" }
        else if names.contains("Package.swift") { language = "swift" }
        else if names.contains("Cargo.toml") { language = "rust" }
        else if names.contains("go.mod") { language = "go" }
        else if names.contains("package.json") { language = names.contains("tsconfig.json") ? "typescript" : "javascript" }
        else if !names.isDisjoint(with: ["pom.xml", "build.gradle", "build.gradle.kts"]) { language = "java" }
        else { language = nil }
        languageByTree[treeID] = language
        return language
    }
}
