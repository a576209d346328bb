import ArgumentParser
import Store

/// `--db`, shared by every command that reads or writes the task store.
struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Task store (SQLite).", valueName: "path"))
    var db: String = "Workspace/forge.db"

    func open() throws -> TaskStore { try TaskStore(path: db) }
}

/// Which tasks a command works on; `--shard i/N` splits a batch across machines deterministically.
struct TaskSelection: ParsableArguments {
    @Option(help: "Only tasks of this repository (owner/name).")
    var repo: String?

    @Option(name: .customLong("tasks"), help: ArgumentHelp("Instance id glob, e.g. 'psf__requests-*'.", valueName: "glob"))
    var idGlob: String?

    @Option(help: ArgumentHelp("Only tasks created at or after this ISO-8601 date.", valueName: "date"))
    var since: String?

    @Option(help: ArgumentHelp("Only tasks created before this ISO-8601 date.", valueName: "date"))
    var until: String?

    @Option(help: ArgumentHelp("Take shard i of N (1-based), by a stable hash of the instance id.", valueName: "i/N"))
    var shard: String?

    @Option(help: "At most this many tasks.")
    var limit: Int?

    func validate() throws {
        if let shard { _ = try parsedShard(shard) }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
    }

    private func parsedShard(_ spec: String) throws -> Shard {
        do { return try Shard(parsing: spec) } catch { throw ValidationError("--shard: \(error)") }
    }

    var filter: TaskFilter {
        get throws {
            TaskFilter(repo: repo, idGlob: idGlob, createdSince: since, createdBefore: until,
                       shard: try shard.map(parsedShard), limit: limit)
        }
    }
}

/// A failure while running a command (not a usage mistake): printed as one line, exit status 1.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
