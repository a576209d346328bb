import ArgumentParser
import Pipeline
import Sandbox
import Store

/// `--db`, shared by every command that reads or writes the task store.
struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Task store (SQLite).", valueName: "path"))
    var db: String = "Workspace/forge.db"

    /// Opens the store and hides it (with SQLite's side files) from every sandbox this process makes.
    func open() throws -> TaskStore {
        SensitivePaths.register([db, db + "-wal", db + "-shm"])
        return try TaskStore(path: db)
    }

    /// The pipeline over this store and a workspace folder.
    func pipeline(workspace: String, recipes: String? = nil, sandbox: Bool = true) -> Pipeline {
        Pipeline(workspace: Workspace(folder: workspace, database: db, recipesDirectory: recipes, useSandbox: sandbox))
    }
}

/// Which tasks a command works on; `--shard i/N` splits a batch across machines deterministically.
struct TaskSelection: ParsableArguments {
    @Option(help: "Only tasks of this repository (owner/name).")
    var repo: String?

    @Option(name: .customLong("tasks"), help: ArgumentHelp("Instance id globs, comma-separated: 'psf__requests-*', or a list of ids 'a-1,b-2'.", valueName: "globs"))
    var idGlob: String?

    @Option(help: ArgumentHelp("Only tasks created at or after this ISO-8601 date.", valueName: "date"))
    var since: String?

    @Option(help: ArgumentHelp("Only tasks created before this ISO-8601 date.", valueName: "date"))
    var until: String?

    @Option(help: ArgumentHelp("Take shard i of N (1-based), by a stable hash of the instance id.", valueName: "i/N"))
    var shard: String?

    @Option(help: "At most this many tasks.")
    var limit: Int?

    @Option(help: ArgumentHelp("Only synthetic tasks of this difficulty level, or levels (1..5): 2, 1-3.", valueName: "level"))
    var level: String?

    func validate() throws {
        if let shard { _ = try parsedShard(shard) }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
        if let level { _ = try Self.parseLevels(level) }
    }

    /// `3` → 3...3, `1-3` → 1...3, within 1...5.
    static func parseLevels(_ text: String) throws -> ClosedRange<Int> {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard (1...2).contains(parts.count), let low = parts.first ?? nil, let high = parts.last ?? nil,
              low <= high, (1...5).contains(low), (1...5).contains(high) else {
            throw ValidationError("--level: expected a level 1..5 or a range such as 1-3, got '\(text)'")
        }
        return low...high
    }

    private func parsedShard(_ spec: String) throws -> Shard {
        do { return try Shard(parsing: spec) } catch { throw ValidationError("--shard: \(error)") }
    }

    var filter: TaskFilter {
        get throws {
            TaskFilter(repo: repo, idGlob: idGlob, createdSince: since, createdBefore: until,
                       shard: try shard.map(parsedShard), limit: limit, levels: try level.map(Self.parseLevels))
        }
    }
}

/// A failure while running a command (not a usage mistake): printed as one line, exit status 1.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
