import Foundation
import GRDB

/// One of `count` disjoint slices of the tasks, for spreading a batch over several machines.
///
/// Shards are written `i/N` with a **1-based** index: `1/4`, `2/4`, `3/4`, `4/4` together cover
/// every task exactly once. A task's shard depends only on its instance id (FNV-1a 64 of the id's
/// UTF-8 bytes, modulo N), so every machine and every run agrees without coordination.
public struct Shard: Hashable, Sendable, CustomStringConvertible {
    /// 1-based: `1...count`.
    public let index: Int
    public let count: Int

    /// The single shard that holds everything (`1/1`).
    public static let all = Shard(uncheckedIndex: 1, count: 1)

    /// Throws `StoreError.invalidShard` unless `count >= 1` and `1 <= index <= count`.
    public init(index: Int, count: Int) throws {
        let spec = "\(index)/\(count)"
        guard count >= 1 else { throw StoreError.invalidShard(spec: spec, reason: "shard count must be at least 1") }
        guard (1...count).contains(index) else {
            throw StoreError.invalidShard(spec: spec, reason: index == 0
                ? "shard index is 1-based: expected 1...\(count)"
                : "shard index must be in 1...\(count)")
        }
        self.init(uncheckedIndex: index, count: count)
    }

    /// Parses `"i/N"` (1-based, e.g. `"3/8"`); surrounding spaces are ignored.
    public init(parsing spec: String) throws {
        let parts = spec.split(separator: "/", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.count == 2 else {
            throw StoreError.invalidShard(spec: spec, reason: "expected INDEX/COUNT such as 1/4 (1-based)")
        }
        guard let index = Int(parts[0]), let count = Int(parts[1]) else {
            throw StoreError.invalidShard(spec: spec, reason: "INDEX and COUNT must be whole numbers, as in 1/4")
        }
        try self.init(index: index, count: count)
    }

    private init(uncheckedIndex: Int, count: Int) {
        self.index = uncheckedIndex
        self.count = count
    }

    /// Whether this shard owns the task with this instance id.
    public func contains(_ instanceID: String) -> Bool {
        Shard.index(of: instanceID, count: count) == index
    }

    /// The 1-based shard that owns `instanceID` when tasks are split `count` ways.
    public static func index(of instanceID: String, count: Int) -> Int {
        precondition(count >= 1, "shard count must be at least 1")
        return Int(fnv1a64(instanceID) % UInt64(count)) + 1
    }

    public var description: String { "\(index)/\(count)" }

    /// FNV-1a, 64-bit, over the UTF-8 bytes: stable across processes, machines and Swift
    /// versions, unlike `Hashable`, which is seeded per process.
    public static func fnv1a64(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return hash
    }

    /// SQL `forge_shard(instance_id, count)` → the 1-based shard, so shard filters and limits
    /// compose inside one query.
    static let sqlFunction = DatabaseFunction("forge_shard", argumentCount: 2, pure: true) { values in
        guard let id = String.fromDatabaseValue(values[0]),
              let count = Int.fromDatabaseValue(values[1]), count >= 1 else { return nil }
        return Shard.index(of: id, count: count)
    }
}
