import Foundation
import GRDB
import XCTest
@testable import Store

final class SchemaTests: StoreTestCase {
    func testMigrationsCreateEveryTableAndIndexInWALMode() throws {
        let store = try openStore()
        try store.pool.read { db in
            let tables = try Set(String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'"))
            XCTAssertTrue(tables.isSuperset(of: ["task", "mining_state", "environment", "test_run", "verdict", "grdb_migrations"]),
                          "tables: \(tables)")
            let taskColumns = try db.columns(in: "task").map(\.name)
            for column in ["instance_id", "repo", "base_commit", "patch", "test_patch", "problem_statement",
                           "hints_text", "created_at", "version", "environment_setup_commit", "fail_to_pass",
                           "pass_to_pass", "pull_number", "issue_numbers", "merge_commit", "merge_style",
                           "statement_source", "language", "pass_to_fail", "flaky", "other_patch", "license"] {
                XCTAssertTrue(taskColumns.contains(column), "task lacks \(column)")
            }
            XCTAssertEqual(try db.primaryKey("task").columns, ["instance_id"])
            XCTAssertEqual(try db.primaryKey("verdict").columns, ["instance_id", "kind"])
            let indexed = try db.indexes(on: "task").map(\.columns)
            XCTAssertTrue(indexed.contains(["repo"]), "indexes: \(indexed)")
            XCTAssertTrue(indexed.contains(["created_at_utc"]), "indexes: \(indexed)")
            XCTAssertEqual(try String.fetchOne(db, sql: "PRAGMA journal_mode"), "wal")
            XCTAssertEqual(try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations"),
                           Schema.migrator.migrations)
        }
    }

    func testReopeningKeepsDataAndDoesNotRemigrate() throws {
        try openStore().upsert([sampleTask(1)])
        let reopened = try openStore()
        XCTAssertEqual(try reopened.task(id: "psf__requests-1"), sampleTask(1))
        XCTAssertEqual(try reopened.pool.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM grdb_migrations") },
                       Schema.migrator.migrations.count)
    }

    func testFirstReadAfterAnUpgradeSeesTheMigratedColumns() throws {
        // A store as the previous release left it: the last migrations not applied yet.
        let store = try openStore()
        try store.upsert([sampleTask(1)])
        let latest = Array(Schema.migrator.migrations.suffix(2))
        try store.pool.write { db in
            try db.execute(sql: "ALTER TABLE task DROP COLUMN test_id_format")
            try db.execute(sql: "ALTER TABLE task DROP COLUMN extra_fields")
            try db.execute(sql: "ALTER TABLE test_run DROP COLUMN resource_limit")
            for identifier in latest { try db.execute(sql: "DELETE FROM grdb_migrations WHERE identifier = ?", arguments: [identifier]) }
        }
        // Opening migrates; the very first read must already decode the new columns.
        XCTAssertEqual(try openStore().tasks().map(\.instanceID), ["psf__requests-1"])
    }

    func testCreatesMissingParentFolders() throws {
        let store = try TaskStore(path: path("a/b/c/tasks.sqlite"))
        try store.upsert([sampleTask(2)])
        XCTAssertTrue(FileManager.default.fileExists(atPath: path("a/b/c/tasks.sqlite")))
    }

    func testRefusesDatabaseWrittenByNewerSchema() throws {
        let store = try openStore()
        try store.upsert([sampleTask(1)])
        try store.pool.write { db in
            try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v99-from-the-future')")
        }
        guard let error = storeError({ _ = try openStore() }) else { return }
        XCTAssertEqual(error, .newerSchema(path: path("tasks.sqlite"), unknownMigrations: ["v99-from-the-future"]))
        let message = error.description
        XCTAssertTrue(message.contains(path("tasks.sqlite")), message)
        XCTAssertTrue(message.contains("newer Forge") && message.contains("v99-from-the-future"), message)
        XCTAssertFalse(message.contains("\n"))
    }

    func testNonDatabaseFileIsRefusedNamingThePath() throws {
        let file = try write(String(repeating: "this is not sqlite\n", count: 100), to: "junk.sqlite")
        guard let error = storeError({ _ = try TaskStore(path: file) }) else { return }
        guard case .cannotOpen(let reported, _) = error else { return XCTFail("got \(error)") }
        XCTAssertEqual(reported, file)
        XCTAssertTrue(error.description.hasPrefix("cannot open task store \(file): "), error.description)
    }

    func testTimestampsNormalizeToUTC() {
        XCTAssertEqual(ISOTimestamp.canonical("2023-03-22T14:51:50Z"), "2023-03-22T14:51:50Z")
        XCTAssertEqual(ISOTimestamp.canonical("2023-03-22 14:51:50"), "2023-03-22T14:51:50Z")
        XCTAssertEqual(ISOTimestamp.canonical("2023-03-22T16:51:50.123+02:00"), "2023-03-22T14:51:50Z")
        XCTAssertEqual(ISOTimestamp.canonical("2023-03-01T01:00:00+0130"), "2023-02-28T23:30:00Z")
        XCTAssertEqual(ISOTimestamp.canonical("2024-02-29T23:00:00-05:00"), "2024-03-01T04:00:00Z")
        XCTAssertEqual(ISOTimestamp.canonical("1999-12-31"), "1999-12-31T00:00:00Z")
        XCTAssertEqual(ISOTimestamp.canonical("1970-01-01T00:00:00Z").flatMap(ISOTimestamp.secondsSinceEpoch), 0)
        XCTAssertEqual(ISOTimestamp.secondsSinceEpoch("2023-03-22T14:51:50Z"), 1_679_496_710)
        for bad in ["", "yesterday", "2023-02-29", "2023-13-01", "2023-03-22T25:00:00Z", "2023-03-22T14:51:50Q",
                    "2023/03/22", "1679496710"] {
            XCTAssertNil(ISOTimestamp.canonical(bad), bad)
        }
    }
}
