import Foundation
import GRDB

/// Forge's SQLite database: tasks, mining state, environments, test runs and verdicts.
///
/// One file in WAL mode (a `DatabasePool`), so several processes can read while one writes.
/// Every public write runs in one transaction: it happens entirely or not at all.
public final class TaskStore: Sendable {
    /// The database file this store opened.
    public let path: String
    let pool: DatabasePool

    /// Opens the database at `path`, creating it (and its parent folders) if needed, and brings
    /// its schema up to date. Throws `StoreError.newerSchema` for a database written by a newer
    /// Forge, `StoreError.cannotOpen` for anything else that prevents opening it.
    public init(path: String) throws {
        self.path = path
        let folder = (path as NSString).deletingLastPathComponent
        do {
            if !folder.isEmpty {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            }
        } catch {
            throw StoreError.cannotOpen(path: path, reason: "cannot create folder \(folder): \(oneLine(error))")
        }
        var config = Configuration()
        config.busyMode = .timeout(30)  // other processes (shard workers, the CLI) may hold the lock
        config.prepareDatabase { db in db.add(function: Shard.sqlFunction) }
        let migrator = Schema.migrator
        do {
            pool = try DatabasePool(path: path, configuration: config)
            let unknown = try pool.read { db in
                try migrator.appliedIdentifiers(db).subtracting(migrator.migrations)
            }
            guard unknown.isEmpty else {
                throw StoreError.newerSchema(path: path, unknownMigrations: unknown.sorted())
            }
            try migrator.migrate(pool)
            // The reader that checked the migrations above knew the schema before them: close it,
            // or the first read of a migrated table would miss the columns the migration added.
            pool.releaseMemory()
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError.cannotOpen(path: path, reason: oneLine(error))
        }
    }

    // MARK: - Tasks

    /// Inserts new tasks and updates changed ones, in one transaction. A task identical to the
    /// stored one counts as unchanged and keeps its `updated_at`. Throws `StoreError.invalidTask`
    /// (and writes nothing) if any task has an empty id or a `created_at` that is not ISO-8601.
    @discardableResult
    public func upsert(_ tasks: [TaskRecord]) throws -> UpsertCounts {
        try write { db in try Self.upsert(tasks, in: db) }
    }

    /// The task with this instance id, if stored.
    public func task(id instanceID: String) throws -> TaskRecord? {
        try read { db in try TaskRow.fetchOne(db, key: instanceID)?.task }
    }

    /// The tasks matching `filter`, ordered by instance id.
    public func tasks(matching filter: TaskFilter = TaskFilter()) throws -> [TaskRecord] {
        try read { db in try filter.request().fetchAll(db).map(\.task) }
    }

    /// Only the instance ids matching `filter` (cheap: no patches are loaded).
    public func instanceIDs(matching filter: TaskFilter = TaskFilter()) throws -> [String] {
        try read { db in try filter.request().select(Column("instance_id"), as: String.self).fetchAll(db) }
    }

    /// How many tasks match `filter`.
    public func taskCount(matching filter: TaskFilter = TaskFilter()) throws -> Int {
        try read { db in try filter.request().fetchCount(db) }
    }

    /// Deletes these tasks (runs and verdicts stay); returns how many existed.
    @discardableResult
    public func deleteTasks(ids: [String]) throws -> Int {
        try write { db in try TaskRow.deleteAll(db, keys: ids) }
    }

    // MARK: - Several tables in one transaction

    /// Writes tasks (upsert), runs, verdicts and environments (insert or replace by key) in one
    /// transaction, e.g. a validated task together with the runs and verdict that validated it.
    @discardableResult
    public func save(tasks: [TaskRecord] = [], runs: [TestRunRecord] = [], verdicts: [VerdictRecord] = [],
                     environments: [EnvironmentRecord] = [], miningStates: [MiningStateRecord] = []) throws -> UpsertCounts {
        try write { db in
            let counts = try Self.upsert(tasks, in: db)
            for run in runs { try run.upsert(db) }
            for verdict in verdicts { try verdict.upsert(db) }
            for environment in environments { try environment.upsert(db) }
            for state in miningStates { try state.upsert(db) }
            return counts
        }
    }

    // MARK: - Mining state

    /// Inserts or replaces the repository's mining state.
    public func saveMiningState(_ state: MiningStateRecord) throws { try save(miningStates: [state]) }

    public func miningState(repo: String) throws -> MiningStateRecord? {
        try read { db in try MiningStateRecord.fetchOne(db, key: repo) }
    }

    /// Deletes the state so the next mining pass walks everything again; returns whether it existed.
    @discardableResult
    public func deleteMiningState(repo: String) throws -> Bool {
        try write { db in try MiningStateRecord.deleteOne(db, key: repo) }
    }

    // MARK: - Environments

    /// Inserts or replaces the environment with this key.
    public func saveEnvironment(_ environment: EnvironmentRecord) throws { try save(environments: [environment]) }

    public func environment(key: String) throws -> EnvironmentRecord? {
        try read { db in try EnvironmentRecord.fetchOne(db, key: key) }
    }

    /// All environments (optionally only those with `status`), ordered by key.
    public func environments(status: EnvironmentStatus? = nil) throws -> [EnvironmentRecord] {
        try read { db in
            var request = EnvironmentRecord.order(Column("key"))
            if let status { request = request.filter(Column("status") == status) }
            return try request.fetchAll(db)
        }
    }

    @discardableResult
    public func deleteEnvironment(key: String) throws -> Bool {
        try write { db in try EnvironmentRecord.deleteOne(db, key: key) }
    }

    // MARK: - Test runs

    /// Inserts or replaces the run with this id.
    public func saveRun(_ run: TestRunRecord) throws { try save(runs: [run]) }

    public func run(id: String) throws -> TestRunRecord? {
        try read { db in try TestRunRecord.fetchOne(db, key: id) }
    }

    /// Runs of one task (optionally of one purpose), oldest first.
    public func runs(instanceID: String, purpose: String? = nil) throws -> [TestRunRecord] {
        try read { db in
            var request = TestRunRecord.filter(Column("instance_id") == instanceID)
            if let purpose { request = request.filter(Column("purpose") == purpose) }
            return try request.order(Column("created_at"), Column("phase"), Column("attempt"), Column("id"))
                .fetchAll(db)
        }
    }

    /// Deletes every run of one task (optionally of one purpose); returns how many.
    @discardableResult
    public func deleteRuns(instanceID: String, purpose: String? = nil) throws -> Int {
        try write { db in
            var request = TestRunRecord.filter(Column("instance_id") == instanceID)
            if let purpose { request = request.filter(Column("purpose") == purpose) }
            return try request.deleteAll(db)
        }
    }

    // MARK: - Verdicts

    /// Inserts or replaces the verdict for (instance id, kind).
    public func saveVerdict(_ verdict: VerdictRecord) throws { try save(verdicts: [verdict]) }

    public func verdict(instanceID: String, kind: VerdictKind) throws -> VerdictRecord? {
        try read { db in
            try VerdictRecord.fetchOne(db, key: ["instance_id": instanceID, "kind": kind.rawValue])
        }
    }

    /// Verdicts of one kind (optionally with one status), ordered by instance id.
    public func verdicts(kind: VerdictKind, status: String? = nil) throws -> [VerdictRecord] {
        try read { db in
            var request = VerdictRecord.filter(Column("kind") == kind)
            if let status { request = request.filter(Column("status") == status) }
            return try request.order(Column("instance_id")).fetchAll(db)
        }
    }

    /// Instance ids whose verdict of this kind is finished: the tasks a resumed batch skips.
    public func finishedInstanceIDs(kind: VerdictKind) throws -> Set<String> {
        try read { db in
            try Set(String.fetchAll(db, sql: "SELECT instance_id FROM verdict WHERE kind = ? AND finished_at IS NOT NULL",
                                    arguments: [kind]))
        }
    }

    /// Deletes verdicts of one kind (all tasks, or only `instanceID`); returns how many.
    @discardableResult
    public func deleteVerdicts(kind: VerdictKind, instanceID: String? = nil) throws -> Int {
        try write { db in
            var request = VerdictRecord.filter(Column("kind") == kind)
            if let instanceID { request = request.filter(Column("instance_id") == instanceID) }
            return try request.deleteAll(db)
        }
    }

    // MARK: - Internals

    static func upsert(_ tasks: [TaskRecord], in db: Database) throws -> UpsertCounts {
        var counts = UpsertCounts()
        let now = Date()
        for task in tasks {
            do { try Identifier.checkInstanceID(task.instanceID) } catch {
                throw StoreError.invalidTask(instanceID: task.instanceID, field: "instance_id", reason: error.description)
            }
            let row = try TaskRow(task, updatedAt: now)
            if let stored = try TaskRow.fetchOne(db, key: task.instanceID) {
                if stored.task == task {
                    counts.unchanged += 1
                } else {
                    try row.update(db)
                    counts.updated += 1
                }
            } else {
                try row.insert(db)
                counts.inserted += 1
            }
        }
        return counts
    }

    /// One transaction; SQLite errors come back as `StoreError.database` naming the file.
    func write<T>(_ body: (Database) throws -> T) throws -> T {
        do { return try pool.write(body) } catch { throw wrap(error) }
    }

    func read<T>(_ body: (Database) throws -> T) throws -> T {
        do { return try pool.read(body) } catch { throw wrap(error) }
    }

    func wrap(_ error: any Error) -> any Error {
        if error is StoreError { return error }
        return StoreError.database(path: path, reason: oneLine(error))
    }
}
