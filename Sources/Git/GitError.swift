import CGit2

/// A libgit2 failure, naming what Forge was doing (path, object id) and libgit2's own message.
public struct GitError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The broad kind of failure, from libgit2's error code.
    public enum Code: Equatable, Sendable {
        case notFound            // GIT_ENOTFOUND: object, path or reference missing
        case notARepository      // the path does not hold a git repository
        case exists              // GIT_EEXISTS
        case ambiguous           // GIT_EAMBIGUOUS
        case invalid             // GIT_EINVALID or a malformed argument
        case corrupt             // unreadable or malformed object data
        case other(Int32)
    }

    public let code: Code
    /// What was being done, e.g. `looking up commit 1a2b…` or `opening /tmp/repo`.
    public let operation: String
    /// libgit2's message (or Forge's, when the failure was detected in Swift).
    public let message: String

    public init(code: Code, operation: String, message: String) {
        self.code = code; self.operation = operation; self.message = message
    }

    public var description: String { message.isEmpty ? operation : "\(operation): \(message)" }
}

/// Initializes libgit2 exactly once per process and keeps user/system configuration out, so every
/// repository is read the same way on every machine.
let libgit2Ready: Void = {
    git_libgit2_init()
    _ = forge_git_set_search_path_none()
    // libgit2 caches only trees under 4 KiB; directories with a few hundred entries are bigger and
    // would be inflated again for every diff that touches them.
    _ = forge_git_set_cache_object_limit(GIT_OBJECT_TREE, 1 << 20)
    // Re-hashing every object on read (libgit2's default, unlike git) doubles the cost of a walk;
    // damaged objects still fail to inflate or parse, with an error naming them.
    _ = forge_git_enable_strict_hash_verification(0)
    // Memory that does not grow with the repository. libgit2 maps pack files in windows of 1 GiB
    // (up to 8 GiB mapped) and keeps 256 MiB of parsed objects: on a large history the mapped pack
    // pages alone count hundreds of MiB against the process. Smaller windows under a mapped limit
    // are unmapped least-recently-used first; the object cache (shared by every handle) keeps
    // the trees and commits that neighbouring diffs reuse.
    _ = forge_git_set_mwindow_size(32 << 20)
    _ = forge_git_set_mwindow_mapped_limit(128 << 20)
    _ = forge_git_set_cache_max_size(96 << 20)
}()

/// Throws a `GitError` when a libgit2 call returned a negative code.
@inline(__always)
func check(_ rc: Int32, _ operation: @autoclosure () -> String) throws {
    if rc < 0 { throw lastError(rc, operation()) }
}

/// Builds a `GitError` from libgit2's thread-local last error (which may be NULL).
func lastError(_ rc: Int32, _ operation: String) -> GitError {
    var message = "libgit2 error \(rc)"
    var klass: Int32 = 0
    if let err = git_error_last() {
        klass = err.pointee.klass
        if let text = err.pointee.message { message = String(cString: text) }
    }
    let code: GitError.Code
    switch rc {
    case GIT_ENOTFOUND.rawValue: code = .notFound
    case GIT_EEXISTS.rawValue: code = .exists
    case GIT_EAMBIGUOUS.rawValue: code = .ambiguous
    case GIT_EINVALID.rawValue, GIT_EINVALIDSPEC.rawValue: code = .invalid
    default:
        code = (klass == GIT_ERROR_ODB.rawValue || klass == GIT_ERROR_ZLIB.rawValue
                || klass == GIT_ERROR_OBJECT.rawValue) ? .corrupt : .other(rc)
    }
    git_error_clear()
    return GitError(code: code, operation: operation, message: message)
}
