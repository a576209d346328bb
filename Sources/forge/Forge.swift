import ArgumentParser

@main
struct Forge: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forge",
        abstract: "Turn software repositories into verified training tasks for code agents.",
        subcommands: [
            SampleCommand.self, MineCommand.self, TasksCommand.self, ExportCommand.self, ImportCommand.self,
            StoreCommand.self, TokenizerCommand.self,
        ]
    )
}
