// The one place the stages are wired together: which store, which workspace folder, which
// recipes, sandboxed or not. Commands (and `forge demo`) describe a run with a `Workspace` and call
// `Pipeline`; nothing else builds recipe books, environment builders or evaluators for them.
import Environments
import Foundation
import Sandbox
import Store

/// Where a run keeps its state and how it runs tests.
public struct Workspace: Sendable {
    /// Environments (`envs/`), runs, evaluations, snapshots, synthesis trees.
    public var folder: String
    /// The task store (SQLite).
    public var database: String
    /// A recipes folder to use instead of the ones compiled into Forge.
    public var recipesDirectory: String?
    /// Tests (and environment installs) run in bubblewrap.
    public var useSandbox: Bool

    public init(folder: String = "Workspace", database: String = "Workspace/forge.db", recipesDirectory: String? = nil,
                useSandbox: Bool = true) {
        self.folder = folder; self.database = database; self.recipesDirectory = recipesDirectory; self.useSandbox = useSandbox
    }

    /// The same workspace with absolute, standardized paths: for servers, whose runs happen in
    /// other working directories.
    public var absolute: Workspace {
        var copy = self
        copy.folder = Self.absolutePath(folder)
        copy.database = Self.absolutePath(database)
        return copy
    }

    static func absolutePath(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.path }

    public var runsDirectory: String { folder + "/runs" }
    public var evaluationsDirectory: String { folder + "/evals" }

    /// What sandboxed code must never see: the workspace (other tasks' runs, clones kept there)
    /// and the store with SQLite's side files.
    public var hiddenPaths: [String] { [folder, database, database + "-wal", database + "-shm"] }

    /// Hides `hiddenPaths` from every sandbox this process makes, then opens (or creates) the store.
    public func openStore() throws -> TaskStore {
        SensitivePaths.register(hiddenPaths)
        return try TaskStore(path: database)
    }

    /// Fails with the probe's reason when tests are to run in bubblewrap and bubblewrap cannot
    /// run here; does nothing without the sandbox.
    public func checkSandbox() throws {
        guard useSandbox else { return }
        do { _ = try Sandbox.probe() } catch { throw PipelineError("\(error)") }
    }

    /// Environments from the recipes (`recipesDirectory` or the built-in ones), cached under `folder/envs`.
    public func environmentBuilder() throws -> EnvironmentBuilder {
        let book = try RecipeBook.load(directory: recipesDirectory)
        return EnvironmentBuilder(root: URL(fileURLWithPath: folder).appendingPathComponent("envs"), recipes: book,
                                  options: .init(sandboxInstalls: useSandbox))
    }

    /// owner/name → clone path for each repository: `--clone` entries (PATH, or owner/name=PATH),
    /// then the default places: `folder/clones/owner__name`, `folder/clones/name`, and `name`
    /// beside the store (the demo's layout).
    public func clones(_ entries: [String], for repositories: [String]) throws -> [String: String] {
        var map: [String: String] = [:]
        var bare: [String] = []
        for entry in entries {
            if let equals = entry.firstIndex(of: "="), entry[..<equals].split(separator: "/").count == 2 {
                map[String(entry[..<equals])] = String(entry[entry.index(after: equals)...])
            } else {
                bare.append(entry)
            }
        }
        if !bare.isEmpty {
            let unnamed = repositories.filter { map[$0] == nil }
            guard bare.count == 1, unnamed.count <= 1 else {
                throw PipelineError("the tasks come from \(repositories.count) repositories (\(repositories.joined(separator: ", "))): name each clone, --clone owner/name=PATH")
            }
            if let repo = unnamed.first { map[repo] = bare[0] }
        }
        let databaseFolder = (database as NSString).deletingLastPathComponent
        for repo in repositories where map[repo] == nil {
            let name = String(repo.split(separator: "/").last ?? "")
            let candidates = ["\(folder)/clones/\(repo.replacingOccurrences(of: "/", with: "__"))",
                              "\(folder)/clones/\(name)", "\(databaseFolder.isEmpty ? "." : databaseFolder)/\(name)"]
            guard let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
                throw PipelineError("no clone of \(repo): pass --clone \(repo)=PATH (looked in \(candidates.joined(separator: ", ")))")
            }
            map[repo] = found
        }
        return map
    }
}
