import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Why a file that sandboxed code could have touched was not read or written.
public enum SafeFileError: Error, Sendable, Hashable, CustomStringConvertible {
    case notFound(String)
    /// A component is a symbolic link, and links are refused here.
    case symbolicLink(String)
    /// A symbolic link (or `..`) leads outside the folder.
    case escapes(String)
    case isDirectory(String)
    /// A FIFO, socket or device: never opened for its data.
    case notRegularFile(String)
    case tooLarge(String, limit: Int)
    case system(String, errno: Int32)

    public var description: String {
        switch self {
        case .notFound(let path): return "\(path): no such file"
        case .symbolicLink(let path): return "\(path): a symbolic link, not followed"
        case .escapes(let path): return "\(path): leads outside its folder"
        case .isDirectory(let path): return "\(path): is a directory"
        case .notRegularFile(let path): return "\(path): not a regular file"
        case .tooLarge(let path, let limit): return "\(path): larger than \(limit) bytes"
        case .system(let path, let code): return "\(path): \(String(cString: strerror(code)))"
        }
    }
}

/// Files that sandboxed code produced (logs, JUnit XML, helper output) or could have replaced
/// (an agent's workspace) are data, never paths to follow: each component is opened from the
/// descriptor of the folder above it with `O_NOFOLLOW`, so no check-then-reopen race can swap a
/// symbolic link in, and only regular files are read, up to a size cap. The folder itself is
/// trusted (Forge made it; sandboxed code cannot rename a mount point).
public enum SafeFile {
    /// The default cap on bytes read (logs are capped at 16 MiB when written; JUnit XML of a big suite can be larger).
    public static let defaultMaxBytes = 128 << 20

    /// What a symbolic link met on the way means.
    public enum Links: Sendable, Hashable {
        /// Any link is refused (`SafeFileError.symbolicLink`).
        case refuse
        /// Links are followed while they stay beneath the folder, as `openat2`'s `RESOLVE_IN_ROOT`
        /// would: `..` never climbs above it, and an absolute target counts only when it lies under
        /// `mountedAt`, the folder's path as sandboxed code sees it.
        case followBeneath(mountedAt: String)
    }

    /// Reads the regular file `relative` beneath `folder`.
    public static func read(_ relative: String, beneath folder: String, maxBytes: Int = defaultMaxBytes,
                            links: Links = .refuse) throws(SafeFileError) -> Data {
        let directory = try openDirectory(folder)
        defer { close(directory) }
        let fd = try open(relative, beneath: directory, flags: O_RDONLY | O_NONBLOCK, links: links)
        defer { close(fd) }
        return try readAll(fd, name: relative, maxBytes: maxBytes)
    }

    /// Reads a regular file whose folder is trusted but whose name sandboxed code could have
    /// replaced (a run folder's `test.log`).
    public static func read(atPath path: String, maxBytes: Int = defaultMaxBytes) throws(SafeFileError) -> Data {
        let fd = try openRegular(atPath: path)
        defer { close(fd) }
        return try readAll(fd, name: path, maxBytes: maxBytes)
    }

    /// Opens such a file for reading, checked to be a regular file; the caller closes it.
    public static func openRegular(atPath path: String) throws(SafeFileError) -> Int32 {
        let url = URL(fileURLWithPath: path)
        let directory = try openDirectory(url.deletingLastPathComponent().path)
        defer { close(directory) }
        let fd = try open(url.lastPathComponent, beneath: directory, flags: O_RDONLY | O_NONBLOCK)
        do { try requireRegular(fd, name: path) } catch { close(fd); throw error }
        return fd
    }

    /// Text of `read(atPath:)` (invalid UTF-8 repaired), or nil when the file is missing or refused.
    public static func text(atPath path: String, maxBytes: Int = defaultMaxBytes) -> String? {
        (try? read(atPath: path, maxBytes: maxBytes)).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Whether `path` names a regular file itself (not a link to one).
    public static func isRegularFile(atPath path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
    }

    /// Writes `data` to the regular file `relative` beneath `folder` (created or truncated),
    /// creating the folders above it when `createFolders`. Run as root, what it writes and makes
    /// is given to the folder's owner (a sandbox's unprivileged user keeps control of its files).
    public static func write(_ data: Data, to relative: String, beneath folder: String, links: Links = .refuse,
                             createFolders: Bool = false) throws(SafeFileError) {
        let directory = try openDirectory(folder)
        defer { close(directory) }
        // O_NONBLOCK: a FIFO without a reader fails (ENXIO) instead of blocking.
        let fd = try open(relative, beneath: directory, flags: O_WRONLY | O_CREAT | O_TRUNC | O_NONBLOCK, links: links,
                          createFolders: createFolders)
        defer { close(fd) }
        try requireRegular(fd, name: relative)
        try giveToOwner(of: directory, fd, name: relative)
        let failure: Int32? = data.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return n < 0 ? errno : EIO }
                offset += n
            }
            return nil
        }
        if let failure { throw .system(relative, errno: failure) }
    }

    /// Opens a trusted folder (links in its own path are followed).
    public static func openDirectory(_ path: String) throws(SafeFileError) -> Int32 {
        let fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw errno == ENOENT ? .notFound(path) : .system(path, errno: errno) }
        return fd
    }

    /// Opens `relative` beneath the folder open as `directory`, walking one component at a time
    /// from descriptors (`openat` with `O_NOFOLLOW`), so nothing outside the folder can be
    /// reached however the tree changes meanwhile. Returns a descriptor the caller closes.
    public static func open(_ relative: String, beneath directory: Int32, flags: Int32, mode: mode_t = 0o644,
                            links: Links = .refuse, createFolders: Bool = false) throws(SafeFileError) -> Int32 {
        let root = dup(directory)
        guard root >= 0 else { throw .system(relative, errno: errno) }
        var stack = [root] // descriptors of the folders walked, the root first
        defer { stack.forEach { close($0) } }
        var pending = Array(components(relative).reversed()) // the next component last
        var hops = 0
        var made: String? // the folder just created, to open next
        while let name = pending.popLast() {
            let justMade = made == name
            made = nil
            if name == ".." {
                guard stack.count > 1 else { throw .escapes(relative) }
                close(stack.removeLast())
                continue
            }
            let isLast = pending.isEmpty
            let fd = isLast ? openat(stack.last!, name, flags | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, mode)
                : openat(stack.last!, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if fd >= 0 {
                if isLast { return fd }
                stack.append(fd)
                if justMade { try giveToOwner(of: root, fd, name: relative) }
                continue
            }
            let code = errno
            if code == ENOENT && !isLast && createFolders {
                guard mkdirat(stack.last!, name, 0o755) == 0 || errno == EEXIST else { throw .system(relative, errno: errno) }
                made = name
                pending.append(name) // open what was made (or raced in) the same checked way
                continue
            }
            guard code == ELOOP || code == ENOTDIR, let target = linkTarget(name, in: stack.last!) else {
                switch code {
                case ENOENT: throw .notFound(relative)
                case EISDIR: throw .isDirectory(relative)
                case ENOTDIR: throw .notFound(relative)
                default: throw .system(relative, errno: code)
                }
            }
            guard case .followBeneath(let mountedAt) = links else { throw .symbolicLink(relative) }
            hops += 1
            guard hops <= 40 else { throw .system(relative, errno: ELOOP) }
            if target.hasPrefix("/") {
                // Absolute: as the sandbox sees it, from the root of the folder again.
                guard target == mountedAt || target.hasPrefix(mountedAt + "/") else { throw .escapes(relative) }
                while stack.count > 1 { close(stack.removeLast()) }
                pending += components(String(target.dropFirst(mountedAt.count))).reversed()
            } else {
                pending += components(target).reversed()
            }
        }
        // The path named the folder itself (empty, `.`, or ending in `..`).
        let fd = openat(stack.last!, ".", flags & ~O_CREAT & ~O_TRUNC | O_CLOEXEC)
        guard fd >= 0 else { throw errno == EISDIR ? .isDirectory(relative) : .system(relative, errno: errno) }
        return fd
    }

    /// Reads an open file: regular only, at most `maxBytes`.
    public static func readAll(_ fd: Int32, name: String, maxBytes: Int) throws(SafeFileError) -> Data {
        let size = try requireRegular(fd, name: name)
        guard size <= maxBytes else { throw .tooLarge(name, limit: maxBytes) }
        var data = Data(count: size + 1) // one byte more shows a file that grew past its size
        var total = 0
        while true {
            let room = data.count - total
            if room == 0 {
                guard data.count <= maxBytes else { throw .tooLarge(name, limit: maxBytes) }
                data.count = min(maxBytes + 1, data.count * 2)
                continue
            }
            let n = data.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + total, room) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw .system(name, errno: errno) }
            if n == 0 { break }
            total += n
        }
        guard total <= maxBytes else { throw .tooLarge(name, limit: maxBytes) }
        data.count = total
        return data
    }

    @discardableResult
    private static func requireRegular(_ fd: Int32, name: String) throws(SafeFileError) -> Int {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .system(name, errno: errno) }
        switch info.st_mode & S_IFMT {
        case S_IFREG: return Int(info.st_size)
        case S_IFDIR: throw .isDirectory(name)
        default: throw .notRegularFile(name)
        }
    }

    /// Run as root: `fd` now belongs to the owner of `directory`.
    private static func giveToOwner(of directory: Int32, _ fd: Int32, name: String) throws(SafeFileError) {
        guard geteuid() == 0 else { return }
        var folder = stat(), file = stat()
        guard fstat(directory, &folder) == 0, fstat(fd, &file) == 0 else { throw .system(name, errno: errno) }
        if (file.st_uid, file.st_gid) != (folder.st_uid, folder.st_gid) && fchown(fd, folder.st_uid, folder.st_gid) != 0 {
            throw .system(name, errno: errno)
        }
    }

    /// The target of `name` in `directory` when it is a symbolic link.
    private static func linkTarget(_ name: String, in directory: Int32) -> String? {
        var buffer = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlinkat(directory, name, &buffer, buffer.count - 1)
        guard n >= 0 else { return nil }
        return String(decoding: buffer[..<n], as: UTF8.self)
    }

    private static func components(_ path: String) -> [String] {
        path.split(separator: "/").map(String.init).filter { $0 != "." }
    }
}
