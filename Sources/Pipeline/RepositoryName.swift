import Git

public enum RepositoryName {
    /// owner/name from the clone's `origin` remote (read through libgit2): the last two path
    /// components of an https, ssh or scp-style URL, without `.git`.
    public static func fromOrigin(of repository: Repository, clone: String) throws -> String {
        if let url = try repository.remoteURL(named: "origin"), let name = fromURL(url) { return name }
        throw PipelineError("cannot tell the repository's name from \(clone) (no origin remote): pass --repo owner/name")
    }

    /// `https://github.com/owner/name.git`, `git@github.com:owner/name`, `ssh://host/owner/name` → owner/name.
    public static func fromURL(_ url: String) -> String? {
        let parts = url.replacingOccurrences(of: ":", with: "/").split(separator: "/").suffix(2)
        guard parts.count == 2, var name = parts.last, let owner = parts.first else { return nil }
        if name.hasSuffix(".git") { name = name.dropLast(4) }
        return name.isEmpty ? nil : "\(owner)/\(name)"
    }
}
