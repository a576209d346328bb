import Foundation

/// Files that requirement files, tox `deps` and nox sessions pull in by reference
/// (`-r requirements/tests`, `-c constraints.txt`, `--requirement=../base.txt`), followed to any
/// depth. The environment is built from copies of the manifests, so a copy without what it
/// includes cannot install; and what they include changes the environment, so it keys the cache.
enum RequirementIncludes {
    /// At most this many files are added, each at most `maximumBytes`: a hostile repository must
    /// not make the builder read without end.
    static let maximumFiles = 64
    static let maximumBytes = 1 << 20

    /// `manifests` plus every file they include that `read` (a path relative to the project root →
    /// its bytes) can supply, and the paths that were reached as includes (requirement-file
    /// format, whatever their names). Paths that leave the project root, URLs and templated paths
    /// are not followed.
    static func follow(_ manifests: [String: Data], read: (String) -> Data?) -> (manifests: [String: Data], included: Set<String>) {
        var result = manifests
        var included = Set<String>()
        var queue = manifests.keys.sorted()
        while let path = queue.first {
            queue.removeFirst()
            guard let data = result[path], let text = String(data: data, encoding: .utf8) else { continue }
            let directory = path.split(separator: "/").dropLast().map(String.init)
            for reference in references(in: text) {
                guard let target = resolve(reference, from: directory) else { continue }
                if result[target] != nil { continue }
                guard included.count < maximumFiles, let bytes = read(target), bytes.count <= maximumBytes else { continue }
                result[target] = bytes
                included.insert(target)
                queue.append(target)
            }
        }
        return (result, included)
    }

    /// Files whose lines are pip requirement lines: `*.txt`, `*.in`.
    static func isRequirementFormat(_ path: String) -> Bool {
        path.hasSuffix(".txt") || path.hasSuffix(".in")
    }

    /// The file arguments of `-r`/`-c` options in requirement lines, tox `deps`
    /// (`-r{toxinidir}/x`) and nox calls (`session.install("-r", "x")`).
    static func references(in text: String) -> [String] {
        var found: [String] = []
        // At a line's start, after tox's `deps =` and after a tox factor condition (`py27: `).
        let option = #"(?m)^\s*(?:deps\s*[=:]\s*)?(?:[\w{},.!-]+:\s+)?(?:-r|-c|--requirement|--constraint)(?:\s*=\s*|\s+|(?=[^\s=-]))["']?([^\s"'#;]+)"#
        found += PythonProject.matches(option, in: text)
        let nox = #"["'](?:-r|-c|--requirement|--constraint)["']\s*,\s*["']([^"']+)["']"#
        found += PythonProject.matches(nox, in: text)
        return found.map { $0.replacingOccurrences(of: "{toxinidir}/", with: "") }
    }

    /// `reference` relative to the including file's folder, normalized; nil when it is absolute,
    /// a URL, templated, or leaves the project root.
    static func resolve(_ reference: String, from directory: [String]) -> String? {
        guard !reference.isEmpty, !reference.hasPrefix("/"), !reference.contains("://"),
              !reference.contains("{"), !reference.contains("$") else { return nil }
        var parts = directory
        for component in reference.split(separator: "/", omittingEmptySubsequences: true) {
            switch component {
            case ".": continue
            case "..":
                guard !parts.isEmpty else { return nil }
                parts.removeLast()
            default: parts.append(String(component))
            }
        }
        guard !parts.isEmpty, !parts.contains(".git") else { return nil }
        return parts.joined(separator: "/")
    }

    /// Reads a regular file under `root` (symbolic links that leave it are refused).
    static func reader(root: URL) -> (String) -> Data? {
        let base = root.standardizedFileURL.resolvingSymlinksInPath().path
        return { relative in
            let url = root.appendingPathComponent(relative).standardizedFileURL.resolvingSymlinksInPath()
            guard url.path.hasPrefix(base + "/") else { return nil }
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), !isDirectory.boolValue,
                  let attributes = try? FileManager.default.attributesOfItem(atPath: url.path),
                  (attributes[.size] as? Int ?? .max) <= maximumBytes else { return nil }
            return FileManager.default.contents(atPath: url.path)
        }
    }
}
