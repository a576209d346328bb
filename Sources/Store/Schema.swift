import GRDB

/// The store's schema, one registered migration per change. Never edit a shipped migration:
/// append a new one. A database that lists a migration this build does not know was written
/// by a newer Forge and is refused (see `TaskStore.init`).
enum Schema {
    static let migrator: DatabaseMigrator = {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-tasks-runs-verdicts") { db in
            try db.create(table: "task") { t in
                t.primaryKey("instance_id", .text)
                t.column("repo", .text).notNull().indexed()
                t.column("base_commit", .text).notNull()
                t.column("patch", .text).notNull()
                t.column("test_patch", .text).notNull()
                t.column("problem_statement", .text).notNull()
                t.column("hints_text", .text).notNull()
                t.column("created_at", .text).notNull()       // as given (any ISO-8601 form)
                t.column("created_at_utc", .text).notNull()   // canonical UTC: sorts and filters
                t.column("version", .text).notNull()
                t.column("environment_setup_commit", .text).notNull()
                t.column("fail_to_pass", .text).notNull()     // JSON arrays from here on
                t.column("pass_to_pass", .text).notNull()
                t.column("pull_number", .integer)
                t.column("issue_numbers", .text).notNull()
                t.column("merge_commit", .text)
                t.column("merge_style", .text)
                t.column("statement_source", .text).notNull()
                t.column("language", .text)
                t.column("pass_to_fail", .text).notNull()
                t.column("flaky", .text).notNull()
                t.column("other_patch", .text).notNull()
                t.column("license", .text)
                t.column("updated_at", .datetime).notNull()   // last change in this store
            }
            try db.create(index: "task_on_created_at", on: "task", columns: ["created_at_utc"])

            try db.create(table: "mining_state") { t in
                t.primaryKey("repo", .text)
                t.column("walked_tips", .text).notNull()
                t.column("cache", .blob)
                t.column("updated_at", .datetime).notNull()
            }

            try db.create(table: "environment") { t in
                t.primaryKey("key", .text)
                t.column("recipe_name", .text).notNull()
                t.column("recipe_hash", .text).notNull()
                t.column("interpreter", .text).notNull()
                t.column("manifests_hash", .text).notNull()
                t.column("status", .text).notNull()
                t.column("strategy", .text)
                t.column("resolved_packages", .text).notNull()
                t.column("build_seconds", .double).notNull()
                t.column("log_path", .text)
                t.column("error", .text)
                t.column("created_at", .datetime).notNull()
            }

            try db.create(table: "test_run") { t in
                t.primaryKey("id", .text)
                t.column("instance_id", .text).notNull().indexed()
                t.column("purpose", .text).notNull()
                t.column("phase", .text).notNull()
                t.column("attempt", .integer).notNull()
                t.column("command", .text).notNull()
                t.column("exit_status", .integer)
                t.column("wall_seconds", .double).notNull()
                t.column("timed_out", .boolean).notNull()
                t.column("log_path", .text)
                t.column("junit_path", .text)
                t.column("environment_key", .text)
                t.column("results", .text).notNull()
                t.column("created_at", .datetime).notNull()
            }

            try db.create(table: "verdict") { t in
                t.column("instance_id", .text).notNull()
                t.column("kind", .text).notNull().indexed()
                t.primaryKey(["instance_id", "kind"])
                t.column("status", .text).notNull()
                t.column("reason", .text)
                t.column("fail_to_pass", .text).notNull()
                t.column("pass_to_pass", .text).notNull()
                t.column("pass_to_fail", .text).notNull()
                t.column("flaky", .text).notNull()
                t.column("run_ids", .text).notNull()
                t.column("finished_at", .datetime)
            }
        }
        // Synthesis: difficulty and strategy on tasks; every mutant tried (kept or not, and why),
        // keyed by repository and resulting tree, so runs resume and duplicates are skipped.
        migrator.registerMigration("v2-synthesis") { db in
            try db.alter(table: "task") { t in
                t.add(column: "difficulty_level", .integer)
                t.add(column: "synthesis_strategy", .text)
            }
            try db.create(table: "synthesis_candidate") { t in
                t.primaryKey("key", .text)                      // repo + ":" + mutant tree id
                t.column("repo", .text).notNull().indexed()
                t.column("source_commit", .text).notNull()      // the clean commit mutated
                t.column("strategy", .text).notNull()
                t.column("description", .text).notNull()
                t.column("status", .text).notNull()             // kept | discarded
                t.column("reason", .text)
                t.column("instance_id", .text)
                t.column("tests_run", .integer).notNull()
                t.column("seconds", .double).notNull()
                t.column("tried_at", .datetime).notNull()
            }
        }
        // The sandbox limit a test run hit, named in its verdict.
        migrator.registerMigration("v3-resource-limits") { db in
            try db.alter(table: "test_run") { t in t.add(column: "resource_limit", .text) }
        }
        // SWE-bench interop: the id form of a task's test lists, and the dataset fields Forge
        // does not use (kept from import, written back on export).
        migrator.registerMigration("v4-swebench-interop") { db in
            try db.alter(table: "task") { t in
                t.add(column: "test_id_format", .text).notNull().defaults(to: TestIDFormat.junit.rawValue)
                t.add(column: "extra_fields", .text).notNull().defaults(to: "{}")
            }
        }
        return migrator
    }()
}
