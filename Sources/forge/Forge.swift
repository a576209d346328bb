import ArgumentParser
import Environments
import Foundation

@main
struct Forge: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forge",
        abstract: "Turn software repositories into verified training tasks for code agents.",
        version: "forge 0.5.0 (environment builder revision \(EnvironmentBuilder.revision))",
        subcommands: [
            SampleCommand.self, MineCommand.self, TasksCommand.self, ExportCommand.self, ImportCommand.self,
            StoreCommand.self, ValidateCommand.self, EvalCommand.self, ReportCommand.self, DemoCommand.self,
            TokenizerCommand.self, ServeCommand.self, LMCommand.self, TrainCommand.self, AgentCommand.self,
            SandboxCommand.self, SynthCommand.self, ClusterCommand.self,
        ]
    )

    static func main() async {
        // Line-buffer stdout so results interleave sensibly with the progress bar on stderr.
        setvbuf(stdout, nil, _IOLBF, 0)
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}
