/// Every failure the Store reports: one line that names the culprit (path, file:line, task id).
public enum StoreError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The database file could not be opened or created.
    case cannotOpen(path: String, reason: String)
    /// The database was migrated by a newer Forge: this build does not know its schema.
    case newerSchema(path: String, unknownMigrations: [String])
    /// A database read or write failed after opening.
    case database(path: String, reason: String)
    /// `merge(from:)` was given a path with no database.
    case missingDatabase(path: String)
    /// `merge(from:)` was given the store's own file.
    case mergeIntoItself(path: String)
    /// A task cannot be stored as given (e.g. `created_at` is not ISO-8601).
    case invalidTask(instanceID: String, field: String, reason: String)
    /// A filter argument is malformed (a date that is not ISO-8601, a negative limit).
    case invalidFilter(String)
    /// A JSONL line (1-based) could not be read as a task.
    case malformedLine(file: String, line: Int, field: String?, reason: String)
    /// An element (1-based) of a JSON-array dataset could not be read as a task.
    case malformedElement(file: String, index: Int, field: String?, reason: String)
    /// A dataset file could not be read, or an export file could not be written.
    case io(path: String, reason: String)
    /// A shard spec such as "2/8" is malformed.
    case invalidShard(spec: String, reason: String)

    public var description: String {
        switch self {
        case let .cannotOpen(path, reason):
            return "cannot open task store \(path): \(reason)"
        case let .newerSchema(path, unknown):
            return "task store \(path) was written by a newer Forge (unknown schema migrations: "
                + unknown.sorted().joined(separator: ", ") + "); upgrade Forge to open it"
        case let .database(path, reason):
            return "task store \(path): \(reason)"
        case let .missingDatabase(path):
            return "no task store at \(path)"
        case let .mergeIntoItself(path):
            return "cannot merge task store \(path) into itself"
        case let .invalidTask(id, field, reason):
            return "task \(id): \(field): \(reason)"
        case let .invalidFilter(reason):
            return "invalid task filter: \(reason)"
        case let .malformedLine(file, line, field, reason):
            return "\(file):\(line): " + (field.map { "field \($0): " } ?? "") + reason
        case let .malformedElement(file, index, field, reason):
            return "\(file): element \(index): " + (field.map { "field \($0): " } ?? "") + reason
        case let .io(path, reason):
            return "\(path): \(reason)"
        case let .invalidShard(spec, reason):
            return "invalid shard '\(spec)': \(reason)"
        }
    }
}

/// One line for any error, without the multi-line dumps some Foundation errors carry.
func oneLine(_ error: any Error) -> String {
    String(describing: error).split(whereSeparator: \.isNewline).joined(separator: " ")
}
