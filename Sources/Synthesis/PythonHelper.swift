import Environments
import Foundation
import Sandbox
import Validation

/// One place in a Python file where a mutation applies: a byte span and its replacement text,
/// found by `forge_synth.py sites` with Python's own `ast`.
public struct MutationSite: Codable, Hashable, Sendable {
    /// `flip_comparison`, `flip_boolean`, `off_by_one`, `change_constant`, `swap_arguments`,
    /// `drop_statement`, `drop_branch`, `invert_condition`, `remove_return`.
    public var kind: String
    /// Byte offsets into the file: `start..<end` is replaced.
    public var start: Int
    public var end: Int
    public var replacement: String
    public var line: Int
    /// The enclosing `Class.function`, if any.
    public var function: String?
    /// The enclosing function's first line (its first decorator's, as Python's `co_firstlineno`):
    /// with the file, the key of the call map's per-function entries.
    public var scopeLine: Int?
    public var description: String

    enum CodingKeys: String, CodingKey {
        case kind, start, end, replacement, line, function, scopeLine = "scope_line", description
    }

    public init(kind: String, start: Int, end: Int, replacement: String, line: Int, function: String?,
                scopeLine: Int? = nil, description: String) {
        self.kind = kind; self.start = start; self.end = end; self.replacement = replacement
        self.line = line; self.function = function; self.scopeLine = scopeLine; self.description = description
    }
}

/// What the helper's pytest plugin saw in one run.
public struct RunEvidence: Codable, Sendable {
    public struct Test: Codable, Sendable {
        public var outcome: String
        public var duration: Double
        public var message: String?
        public var traceback: String?
        /// Project file → fewest call frames from the test function to a call into it
        /// (64: reached only from fixtures). Only in traced runs.
        public var files: [String: Int]
        /// `path:first line` of each project function called → fewest frames, as `files`.
        public var functions: [String: Int]?
    }
    public struct CollectionError: Codable, Sendable {
        public var nodeid: String
        public var message: String
    }
    public var exitStatus: Int
    public var seconds: Double
    public var tests: [String: Test]
    public var collectionErrors: [CollectionError]

    enum CodingKeys: String, CodingKey {
        case exitStatus = "exit_status", seconds, tests, collectionErrors = "collection_errors"
    }
}

public enum SynthesisError: Error, CustomStringConvertible, Sendable {
    case helperFailed(String, String)
    case badSelection(String)
    case noSourceCommit(String)

    public var description: String {
        switch self {
        case .helperFailed(let what, let log): return "synthesis helper (\(what)) failed: \(log)"
        case .badSelection(let message): return message
        case .noSourceCommit(let message): return message
        }
    }
}

/// Runs `forge_synth.py` (compiled into this module) with an environment's interpreter, in the
/// sandbox when asked, seeing one tree read-only.
struct PythonHelper: Sendable {
    let environment: PreparedEnvironment
    let useSandbox: Bool

    /// The helper's folder (bound read-only into sandboxes) and its path: a fresh private folder
    /// per process (mkdtemp, so nobody else's file can stand in for it), readable by the
    /// sandbox's unprivileged user.
    static let directory: String = {
        var template = Array((NSTemporaryDirectory() + "/forge-helper-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { fatalError("cannot create a folder for forge_synth.py: \(String(cString: strerror(errno)))") }
        let folder = String(cString: made)
        let script = folder + "/forge_synth.py"
        guard let text = EmbeddedFiles.contents["forge_synth.py"],
              FileManager.default.createFile(atPath: script, contents: Data(text.utf8), attributes: [.posixPermissions: 0o644]) else {
            fatalError("cannot write \(script)")
        }
        chmod(folder, 0o755)
        return folder
    }()
    static var script: String { directory + "/forge_synth.py" }

    var python: String? { environment.venvPath.map { $0 + "/bin/python" } }

    /// Mutation sites per file (paths relative to `tree`). The helper's output files, like every
    /// file a sandboxed run leaves, are read through `SafeFile`: never through a link it planted.
    func sites(in files: [String], tree: String, scratch: String) throws -> [String: [MutationSite]] {
        struct FileSites: Decodable { var error: String?; var sites: [MutationSite] }
        let out = scratch + "/sites.json"
        try run(["sites", out] + files, tree: tree, scratch: scratch, what: "listing mutation sites")
        let decoded = try JSONDecoder().decode([String: FileSites].self, from: SafeFile.read(atPath: out))
        return decoded.mapValues(\.sites)
    }

    /// Compiles every `.py` under `folder`: relative path → error (nil when it compiles).
    func compileErrors(in folder: String, scratch: String) throws -> [String: String?] {
        let out = scratch + "/check.json"
        try run(["check", out, folder], tree: folder, scratch: scratch, what: "compiling mutants")
        return try JSONDecoder().decode([String: String?].self, from: SafeFile.read(atPath: out))
    }

    private func run(_ arguments: [String], tree: String, scratch: String, what: String) throws {
        guard let python else { throw SynthesisError.helperFailed(what, "the environment has no Python interpreter") }
        let fileManager = FileManager.default
        try fileManager.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        let command = Command(python, [Self.script] + arguments, logPath: scratch + "/helper.log",
                              environment: ["PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": scratch,
                                            "PYTHONDONTWRITEBYTECODE": "1"],
                              workingDirectory: tree, timeout: 600)
        let result: CommandResult
        if useSandbox {
            let readOnly = (environment.readOnlyPaths + [environment.builtFrom, Self.directory, tree])
                .filter { fileManager.fileExists(atPath: $0) }.map { BindMount($0) }
            result = try Sandbox(policy: .bubblewrap(workDirectory: scratch, readOnly: readOnly,
                                                     hidden: environment.neighbouringEnvironments,
                                                     limits: environment.sandboxLimits)).run(command)
        } else {
            result = try CommandRunner().run(command)
        }
        guard result.succeeded else {
            throw SynthesisError.helperFailed(what, result.logTail(maxBytes: 2000).trimmingCharacters(in: .whitespacesAndNewlines))
        }
    }

    /// A test argv rewritten to run pytest through the helper's plugin, writing evidence to
    /// `evidencePath` (as the run sees it). Non-pytest commands are left as they are.
    static func wrap(_ argv: [String], evidencePath: String, trace: Bool) -> [String] {
        guard argv.count >= 3, argv[1] == "-m", argv[2] == "pytest" else { return argv }
        return [argv[0], script, "run", "--out", evidencePath] + (trace ? ["--trace"] : []) + ["--"] + argv.dropFirst(3)
    }

    /// What the plugin wrote at `path`; nil when it wrote nothing usable (or left a link there).
    static func evidence(at path: String) -> RunEvidence? {
        guard let data = try? SafeFile.read(atPath: path) else { return nil }
        return try? JSONDecoder().decode(RunEvidence.self, from: data)
    }
}
