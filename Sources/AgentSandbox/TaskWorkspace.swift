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

    /// The path, relative to the workspace, of a path the agent names: absolute under
    /// `sandboxRoot`, or relative to it. Nothing is resolved here: `SafeFile` walks it from the
    /// workspace's descriptor, so links (and `..`) are followed only while they stay inside.
    func relativePath(for requested: String, sandboxRoot: String) throws(RexError) -> String {
        guard requested.hasPrefix("/") else { return requested }
        func components(_ path: String) -> [Substring] { path.split(separator: "/").filter { $0 != "." } }
        let (given, root) = (components(requested), components(sandboxRoot))
        guard given.starts(with: root) else {
            throw .permission("[Errno 13] Permission denied: \(pythonRepr(requested)): outside the workspace \(sandboxRoot)")
        }
        return given.dropFirst(root.count).joined(separator: "/")
    }

    /// Reads a file of the workspace. The agent controls every name in it and can swap a folder
    /// for a link while this runs: the file is opened component by component without following a
    /// link out of the workspace, and only a regular file is read.
    func read(_ requested: String, sandboxRoot: String, lossy: Bool, maxBytes: Int) throws(RexError) -> String {
        let relative = try relativePath(for: requested, sandboxRoot: sandboxRoot)
        let data: Data
        do { data = try SafeFile.read(relative, beneath: path, maxBytes: maxBytes, links: .followBeneath(mountedAt: sandboxRoot)) } catch {
            throw Self.rexError(error, requested: requested, sandboxRoot: sandboxRoot)
        }
        if lossy { return String(decoding: data, as: UTF8.self) }
        guard let text = String(data: data, encoding: .utf8) else {
            throw .invalidValue("'utf-8' codec can't decode \(pythonRepr(requested)): not UTF-8 text (pass errors='replace' to read it anyway)")
        }
        return text
    }

    /// Writes `data` to a regular file of the workspace, creating parent folders, opened as `read` opens.
    func write(_ data: Data, to requested: String, sandboxRoot: String) throws(RexError) {
        let relative = try relativePath(for: requested, sandboxRoot: sandboxRoot)
        do {
            try SafeFile.write(data, to: relative, beneath: path, links: .followBeneath(mountedAt: sandboxRoot), createFolders: true)
        } catch {
            throw Self.rexError(error, requested: requested, sandboxRoot: sandboxRoot)
        }
    }

    /// SWE-ReX's answers (Python's exceptions) for what `SafeFile` refused.
    private static func rexError(_ error: SafeFileError, requested: String, sandboxRoot: String) -> RexError {
        let name = pythonRepr(requested)
        switch error {
        case .notFound: return .fileNotFound("[Errno 2] No such file or directory: \(name)")
        case .isDirectory: return .isADirectory("[Errno 21] Is a directory: \(name)")
        case .escapes, .symbolicLink: return .permission("[Errno 13] Permission denied: \(name): it resolves outside the workspace \(sandboxRoot)")
        case .notRegularFile: return .permission("[Errno 13] Permission denied: \(name): not a regular file")
        case .tooLarge(_, let limit): return .invalidValue("\(name) is larger than \(limit) bytes")
        case .system(_, let code): return .permission("[Errno \(code)] \(String(cString: strerror(code))): \(name)")
        }
    }
}
