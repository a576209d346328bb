import ArgumentParser
import Sample

struct SampleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample",
        abstract: "Work with Forge's embedded sample project.",
        subcommands: [Create.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the sample repository and its GitHub metadata into a directory.",
            discussion: """
            Creates DIR/textkit, a git repository of a small Python project whose history holds \
            merged pull requests of every kind Forge mines (merge commit, squash, rebase with a \
            refs/pull ref), a never-merged PR ref and linked issues, and DIR/metadata.jsonl with \
            the matching GitHub REST API objects. The history is deterministic: the same commit \
            ids on every machine.
            """)

        @Argument(help: "Directory to create the sample in.")
        var directory: String

        func run() async throws {
            let created = try await SampleRepository.create(in: directory)
            print("repository: \(created.repository)")
            print("metadata:   \(created.metadata)")
        }
    }
}
