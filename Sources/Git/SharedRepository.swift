import Synchronization

/// A repository used from several threads. A libgit2 repository handle (and the objects read
/// through it) must not be used by two threads at once, so every use holds the one lock.
public final class SharedRepository: Sendable {
    /// The repository's `.git` folder (with a trailing slash), readable without the lock.
    public let gitDirectory: String
    private let repository: Mutex<Repository>

    public init(_ repository: sending Repository) {
        gitDirectory = repository.gitDirectory
        self.repository = Mutex(repository)
    }

    /// Runs `body` with the repository, holding the lock.
    public func withRepository<T: Sendable, E: Error>(_ body: (Repository) throws(E) -> T) throws(E) -> T {
        try repository.withLock { (repository: inout Repository) throws(E) -> T in try body(repository) }
    }
}
