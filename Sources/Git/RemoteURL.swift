import CGit2

extension Repository {
    /// The fetch URL of the remote `name` as the repository's own config spells it (libgit2
    /// reads the config; user and system configuration stay out), or nil when there is no
    /// such remote or it has no URL.
    public func remoteURL(named name: String) throws -> String? {
        var remote: OpaquePointer?
        let rc = git_remote_lookup(&remote, pointer, name)
        if rc == GIT_ENOTFOUND.rawValue {
            git_error_clear()
            return nil
        }
        try check(rc, "reading remote \(name) of \(gitDirectory)")
        defer { git_remote_free(remote) }
        return git_remote_url(remote).map { String(cString: $0) }
    }
}
