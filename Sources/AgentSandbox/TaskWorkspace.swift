import Foundation
import Sandbox
import Store
#if canImport(Glibc)
import Glibc
#endif

/// Why a workspace could not be made.
public struct WorkspaceError: Error, CustomStringConvertible, Sendable {
    public var description: String
}

/// A task's workspace: a fresh git repository whose only history is `base_commit` and its
/// ancestors (fetched by id from the clone, so no ref and no object of a later commit exists in
/// it), checked out on branch `main`. No test patch, no gold patch, no remote.
struct TaskWorkspace: Sendable {
    /// The host folder (the sandbox sees it at `AgentSandbox.workspacePath`).
    let path: String

    static func create(at path: String, task: TaskRecord, clone: String) throws -> TaskWorkspace {
        guard task.baseCommit.count == 40, task.baseCommit.allSatisfy(\.isHexDigit) else {
            throw WorkspaceError(description: "task \(task.instanceID): base_commit '\(task.baseCommit)' is not a commit id")
        }
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let parent = (path as NSString).deletingLastPathComponent
        // Fetching an unadvertised commit by id needs the serving side to allow it.
        let uploadPack = "git -c uploadpack.allowAnySHA1InWant=true upload-pack"
        let steps: [[String]] = [
            ["init", "-q", "--initial-branch=main"],
            ["fetch", "-q", "--no-tags", "--no-write-fetch-head", "--update-head-ok", "--upload-pack=\(uploadPack)", clone, "\(task.baseCommit):refs/heads/main"],
            ["reset", "-q", "--hard", "main"],
            ["config", "user.name", "Forge agent"],
            ["config", "user.email", "agent@forge.invalid"],
        ]
        for arguments in steps {
            let log = parent + "/.git-\(UUID().uuidString.prefix(8)).log"
            defer { unlink(log) }
            let command = Command("git", arguments, logPath: log,
                                  environment: ["PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": parent, "GIT_CONFIG_NOSYSTEM": "1",
                                                "GIT_CEILING_DIRECTORIES": parent, "LC_ALL": "C"],
                                  workingDirectory: path, timeout: 300, outputCap: 1 << 16)
            let result = try CommandRunner().run(command)
            guard result.succeeded else {
                throw WorkspaceError(description: "task \(task.instanceID): git \(arguments.prefix(2).joined(separator: " ")) failed in the workspace: "
                    + result.logTail(maxBytes: 1000).trimmingCharacters(in: .whitespacesAndNewlines))
            }
        }
        return TaskWorkspace(path: path)
    }

    /// The host path of a path the agent names: absolute under `sandboxRoot`, or relative to it.
    /// Symbolic links are followed on the host only as far as they stay inside the workspace.
    func hostPath(for requested: String, sandboxRoot: String, mustExist: Bool) throws(RexError) -> String {
        let relative: String
        if requested.hasPrefix("/") {
            let normalized = (requested as NSString).standardizingPath
            if normalized == sandboxRoot { relative = "" }
            else if normalized.hasPrefix(sandboxRoot + "/") { relative = String(normalized.dropFirst(sandboxRoot.count + 1)) }
            else { throw .permission("[Errno 13] Permission denied: \(pythonRepr(requested)): outside the workspace \(sandboxRoot)") }
        } else {
            relative = requested
        }
        let components = relative.split(separator: "/").map(String.init)
        if components.contains("..") {
            throw .permission("[Errno 13] Permission denied: \(pythonRepr(requested)): '..' may not leave the workspace \(sandboxRoot)")
        }
        let candidate = ([path] + components).joined(separator: "/")
        // Resolve links in the longest existing prefix and check it stays inside.
        var existing = candidate
        while !FileManager.default.fileExists(atPath: existing), existing.count > path.count {
            existing = (existing as NSString).deletingLastPathComponent
        }
        let root = Self.realPath(path) ?? path
        guard let resolved = Self.realPath(existing), resolved == root || resolved.hasPrefix(root + "/") else {
            throw .permission("[Errno 13] Permission denied: \(pythonRepr(requested)): it resolves outside the workspace \(sandboxRoot)")
        }
        if mustExist && existing != candidate { throw .fileNotFound("[Errno 2] No such file or directory: \(pythonRepr(requested))") }
        return existing == candidate ? resolved : resolved + String(candidate.dropFirst(existing.count))
    }

    func read(_ requested: String, sandboxRoot: String, lossy: Bool) throws(RexError) -> String {
        let file = try hostPath(for: requested, sandboxRoot: sandboxRoot, mustExist: true)
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory), isDirectory.boolValue {
            throw .isADirectory("[Errno 21] Is a directory: \(pythonRepr(requested))")
        }
        guard let data = FileManager.default.contents(atPath: file) else { throw .permission("[Errno 13] Permission denied: \(pythonRepr(requested))") }
        if lossy { return String(decoding: data, as: UTF8.self) }
        guard let text = String(data: data, encoding: .utf8) else {
            throw .invalidValue("'utf-8' codec can't decode \(pythonRepr(requested)): not UTF-8 text (pass errors='replace' to read it anyway)")
        }
        return text
    }

    /// Writes `data`, creating parent folders; never through a symbolic link.
    func write(_ data: Data, to requested: String, sandboxRoot: String) throws(RexError) {
        let file = try hostPath(for: requested, sandboxRoot: sandboxRoot, mustExist: false)
        let parent = (file as NSString).deletingLastPathComponent
        do { try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true) } catch {
            throw .permission("[Errno 13] cannot create the folder of \(pythonRepr(requested)): \(error.localizedDescription)")
        }
        _ = try hostPath(for: requested, sandboxRoot: sandboxRoot, mustExist: false) // the folders made are still inside
        let fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            if errno == EISDIR { throw .isADirectory("[Errno 21] Is a directory: \(pythonRepr(requested))") }
            throw .permission("[Errno \(errno)] \(String(cString: strerror(errno))): \(pythonRepr(requested))")
        }
        defer { close(fd) }
        let written = data.withUnsafeBytes { buffer -> Bool in
            var offset = 0
            while offset < buffer.count {
                let n = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return false }
                offset += n
            }
            return true
        }
        if !written { throw .runtime("could not write \(pythonRepr(requested)): \(String(cString: strerror(errno)))") }
    }

    static func realPath(_ path: String) -> String? {
        guard let resolved = Glibc.realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
