import Foundation
import GRDB

extension TaskStore {
    /// Writes the tasks matching `filter` to `path` as SWE-bench JSONL, ordered by instance id,
    /// one `\n`-terminated line each. The file appears complete or not at all (written to a
    /// temporary file beside it, then renamed). Returns how many tasks were written.
    @discardableResult
    public func exportJSONL(to path: String, matching filter: TaskFilter = TaskFilter()) throws -> Int {
        let temporary = path + ".partial-\(UUID().uuidString)"
        guard FileManager.default.createFile(atPath: temporary, contents: nil) else {
            throw StoreError.io(path: path, reason: "cannot create \(temporary)")
        }
        do {
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: temporary))
            let count = try exportJSONL(to: handle, matching: filter, naming: path)
            try handle.close()
            guard rename(temporary, path) == 0 else {
                throw StoreError.io(path: path, reason: "cannot rename \(temporary): \(String(cString: strerror(errno)))")
            }
            return count
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            if error is StoreError { throw error }
            throw StoreError.io(path: path, reason: oneLine(error))
        }
    }

    /// Streams the tasks matching `filter` to an open handle (e.g. standard output) as JSONL.
    @discardableResult
    public func exportJSONL(to handle: FileHandle, matching filter: TaskFilter = TaskFilter()) throws -> Int {
        try exportJSONL(to: handle, matching: filter, naming: "output")
    }

    /// Reads a SWE-bench-style dataset (JSONL or a JSON array, see `TaskJSONL.read(contentsOf:)`)
    /// and upserts every task in one transaction: a malformed entry anywhere imports nothing.
    /// Tasks without `statement_source` are marked `imported`.
    @discardableResult
    public func importJSONL(from path: String) throws -> UpsertCounts {
        let tasks = try TaskJSONL.read(contentsOf: path)
        return try upsert(tasks)
    }

    private func exportJSONL(to handle: FileHandle, matching filter: TaskFilter, naming name: String) throws -> Int {
        try read { db in
            var count = 0
            var buffer = Data()
            let rows = try filter.request().fetchCursor(db)
            while let row = try rows.next() {
                buffer.append(contentsOf: TaskJSONL.lineBytes(for: row.task))
                buffer.append(UInt8(ascii: "\n"))
                count += 1
                if buffer.count >= 1 << 20 {
                    try write(buffer, to: handle, naming: name)
                    buffer.removeAll(keepingCapacity: true)
                }
            }
            try write(buffer, to: handle, naming: name)
            return count
        }
    }

    private func write(_ data: Data, to handle: FileHandle, naming name: String) throws {
        do { try handle.write(contentsOf: data) } catch {
            throw StoreError.io(path: name, reason: "cannot write: \(oneLine(error))")
        }
    }
}
