import ArgumentParser
import Evaluation
import Foundation
import Store

extension TestIDFormat: ExpressibleByArgument {}

/// `forge export --format`: the one format there is, named so that scripts can say it.
enum ExportFormat: String, ExpressibleByArgument, CaseIterable {
    case jsonl
}

struct TasksCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tasks",
        abstract: "List and inspect the tasks in the store.",
        subcommands: [List.self, Show.self],
        defaultSubcommand: List.self)

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "One line per task: id, merge style, statement source, created_at, patch sizes.")
        @OptionGroup var store: StoreOptions
        @OptionGroup var selection: TaskSelection

        func run() throws {
            let tasks = try store.open().tasks(matching: selection.filter)
            for task in tasks {
                let lines = { (patch: String) in patch.split(separator: "\n", omittingEmptySubsequences: false).count }
                print([task.instanceID, task.mergeStyle?.rawValue ?? "-", task.statementSource.rawValue,
                       task.createdAt, "patch \(lines(task.patch))L", "tests \(lines(task.testPatch))L",
                       "F2P \(task.failToPass.count)"].joined(separator: "\t"))
            }
            FileHandle.standardError.write(Data("\(tasks.count) task(s)\n".utf8))
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print one task as a SWE-bench JSON record.")
        @OptionGroup var store: StoreOptions
        @Argument(help: "The task's instance id.") var id: String

        func run() throws {
            guard let task = try store.open().task(id: id) else {
                throw CommandFailure("no task with instance id '\(id)' in \(store.db)")
            }
            let line = TaskJSONL.line(for: task)
            let value = try JSONDecoder().decode(JSONValue.self, from: Data(line.utf8))
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            let pretty = try encoder.encode(value)
            print(String(decoding: pretty, as: UTF8.self))
        }
    }
}

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write tasks as a SWE-bench 5 dataset (JSONL) that swebench's harness takes unchanged.",
        discussion: """
        By default only gradable tasks: FAIL_TO_PASS non-empty, PASS_TO_FAIL empty, and valid \
        by Forge's validation (or imported and never validated here). --all writes every task \
        with status (valid, invalid, error, not_validated) and status_reason. Each row carries \
        SWE-bench 5's eval_script, log_parser, eval_type, image and image_assets (with a \
        Dockerfile for the image); fields a task was imported with are written back as they were.
        """)
    @OptionGroup var store: StoreOptions
    @OptionGroup var selection: TaskSelection
    @Option(help: "Output format.") var format: ExportFormat = .jsonl
    @Option(help: ArgumentHelp("Output file (written atomically); standard output if omitted.", valueName: "file"))
    var out: String?
    @Flag(help: "Every task, with a status field, not only the gradable ones.") var all = false
    @Option(help: ArgumentHelp("Test id form of the lists: swebench (cut at whitespace, as SWE-bench's pytest log parser reads them) or junit (as recorded).", valueName: "form"))
    var idFormat: TestIDFormat?

    func run() throws {
        let options = SWEBenchExport.Options(all: all, idFormat: idFormat)
        let count = try SWEBenchExport.export(store: try store.open(), matching: selection.filter, options: options, to: out)
        if let out { FileHandle.standardError.write(Data("exported \(count) task(s) to \(out)\n".utf8)) }
    }
}

struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Load a SWE-bench-style dataset (JSONL or a JSON list) into the store, all or nothing.")
    @OptionGroup var store: StoreOptions
    @Argument(help: "The dataset file.") var file: String

    func run() throws {
        let counts = try store.open().importJSONL(from: file)
        print("imported \(file): \(counts)")
    }
}

struct StoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Maintain task stores.",
        subcommands: [Merge.self])

    struct Merge: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Merge shard stores (from `--shard i/N` runs) into this one, in one transaction.")
        @OptionGroup var store: StoreOptions
        @Argument(help: "Shard databases to merge in.") var shards: [String]

        func run() throws {
            let target = try store.open()
            for shard in shards {
                let report = try target.merge(from: shard)
                print("\(shard): \(report)")
            }
        }
    }
}
