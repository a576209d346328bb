import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An exclusive `flock` on a file, for processes on one host or on many hosts sharing a file
/// system (Linux maps `flock` on NFS to POSIX locks, which the server or lease manager holds).
///
/// The kernel (or the NFS server, when the client's lease lapses) drops the lock when its holder
/// dies, however it dies, so a crashed holder never leaves a stale lock behind. The holder writes
/// `host pid` into the file, which is only ever read for messages about who is being waited on.
public final class FileLock {
    public let path: String
    private var descriptor: Int32

    private init(path: String, descriptor: Int32) {
        self.path = path
        self.descriptor = descriptor
    }

    deinit { release() }

    /// Blocks until the lock is held. `waiting` is called once, with the holder's `host pid`,
    /// when another process has it. Throws when the file cannot be opened or the file system
    /// cannot lock (an NFS mount with `nolock`, say): running unlocked would let two builders
    /// write one environment.
    public static func acquire(_ path: String, waiting: (String) -> Void = { _ in }) throws -> FileLock {
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw LockError(path: path, reason: "cannot open: \(String(cString: strerror(errno)))") }
        let lock = FileLock(path: path, descriptor: descriptor)
        if flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else { throw lock.failure() }
            waiting(lock.holder())
            while flock(descriptor, LOCK_EX) != 0 {
                guard errno == EINTR else { throw lock.failure() }
            }
        }
        let me = "\(ProcessInfo.processInfo.hostName) \(getpid())\n"
        _ = ftruncate(descriptor, 0)
        _ = me.withCString { pwrite(descriptor, $0, strlen($0), 0) }
        return lock
    }

    /// Who holds (or last held) the lock, as written in the file.
    private func holder() -> String {
        let text = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        return text.isEmpty ? "another process" : text
    }

    private func failure() -> LockError {
        LockError(path: path, reason: "cannot lock (\(String(cString: strerror(errno)))): the file system must support flock/POSIX locks for shared use")
    }

    public func release() {
        guard descriptor >= 0 else { return }
        flock(descriptor, LOCK_UN)
        close(descriptor)
        descriptor = -1
    }

    public struct LockError: Error, CustomStringConvertible {
        public let path: String
        public let reason: String
        public var description: String { "\(path): \(reason)" }
    }
}
