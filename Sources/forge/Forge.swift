import ArgumentParser
import Environments
import Foundation
import CStdio

@main
struct Forge: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forge",
        abstract: "Turn software repositories into verified training tasks for code agents.",
        version: "forge 0.5.0 (environment builder revision \(EnvironmentBuilder.revision))",
        subcommands: [
            SampleCommand.self, MineCommand.self, TasksCommand.self, ExportCommand.self, ImportCommand.self,
            StoreCommand.self, ValidateCommand.self, EvalCommand.self, ReportCommand.self, DemoCommand.self,
            TokenizerCommand.self, ServeCommand.self, TrainCommand.self, AgentCommand.self,
            SandboxCommand.self, SynthCommand.self, ClusterCommand.self,
        ]
    )

    static func main() async {
        // Line-buffer stdout so results interleave sensibly with the progress bar on stderr.
        forge_line_buffer_stdout()
        let parsed: ParsableCommand
        do {
            // Usage mistakes (unknown flags, bad values, `validate()` rules): message and usage, 64.
            parsed = try parseAsRoot()
        } catch {
            exit(withError: error)
        }
        do {
            if var asyncCommand = parsed as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                var command = parsed
                try command.run()
            }
        } catch let error where isArgumentParserError(error) {
            // `--help` and `forge help` come back from `run()` as swift-argument-parser's own
            // (internal) error types, as do ExitCode and CleanExit: it prints those itself.
            exit(withError: error)
        } catch {
            // A failure while running is never a usage mistake: one line naming the culprit, status 1.
            FileHandle.standardError.write(Data("Error: \(oneLine(message(for: error)))\n".utf8))
            exit(withError: ExitCode.failure)
        }
    }

    static func isArgumentParserError(_ error: Error) -> Bool {
        error is ExitCode || error is CleanExit || String(reflecting: type(of: error)).hasPrefix("ArgumentParser.")
    }

    /// Messages that span lines (a tool's output quoted in an error) kept to one.
    static func oneLine(_ message: String) -> String {
        message.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            .joined(separator: "; ")
    }
}
