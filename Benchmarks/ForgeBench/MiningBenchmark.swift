import ArgumentParser
import Foundation
import Git
import Mining

/// Mining a large generated repository: Forge's libgit2 miner against the git CLI baseline.
struct MiningBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mining",
        abstract: "Mine a generated repository with Forge and with a git-CLI baseline; print the ratio.")

    @Option(help: "Commits in the generated repository.") var commits = 20_000
    @Option(help: "Merged pull requests in it.") var pullRequests = 2_000
    @Option(help: "Where to generate it (reused when it already holds this size).") var directory = "Workspace/bench/mining"

    func run() throws {
        let repository = "\(directory)/repo-\(commits)-\(pullRequests)"
        if !FileManager.default.fileExists(atPath: repository + "/.git/refs") {
            try? FileManager.default.removeItem(atPath: repository)
            try FileManager.default.createDirectory(atPath: repository, withIntermediateDirectories: true)
            var history = SyntheticHistory(commits: commits, pullRequests: pullRequests)
            let started = Date()
            let (stream, styles) = history.render()
            _ = try GitCLIBaseline.git(["init", "-q", "-b", "main"], in: repository)
            _ = try GitCLIBaseline.git(["fast-import", "--quiet"], in: repository, input: stream)
            print("generated \(repository): \(styles) in \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
        }
        let commitCount = try GitCLIBaseline.git(["rev-list", "--all", "--count"], in: repository)
            .trimmingCharacters(in: .whitespacesAndNewlines)

        let forgeStart = Date()
        let result = try Miner(repository: try Repository.open(repository), repo: "bench/synthetic").mine()
        let forgeSeconds = Date().timeIntervalSince(forgeStart)
        let forgePeak = peakResidentMiB()

        let baselineStart = Date()
        let baseline = try GitCLIBaseline.mine(repository: repository)
        let baselineSeconds = Date().timeIntervalSince(baselineStart)

        var styles: [String: Int] = [:]
        for task in result.tasks { styles[task.mergeStyle?.rawValue ?? "?", default: 0] += 1 }
        print("repository: \(commitCount) commits; Forge found \(result.tasks.count) tasks \(styles.sorted { $0.key < $1.key })")
        printTable(["miner", "PRs", "seconds", "PRs/s", "peak RSS MiB", "speed-up"], [
            ["git CLI baseline (1 log + 1 diff per PR)", "\(baseline.pullRequests)", String(format: "%.2f", baselineSeconds),
             String(format: "%.0f", Double(baseline.pullRequests) / baselineSeconds), "-", "1.0×"],
            ["Forge (libgit2, full tasks)", "\(result.tasks.count)", String(format: "%.2f", forgeSeconds),
             String(format: "%.0f", Double(result.tasks.count) / forgeSeconds), String(format: "%.0f", forgePeak),
             String(format: "%.1f×", baselineSeconds / forgeSeconds)],
        ])
    }
}
