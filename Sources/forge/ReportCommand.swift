import ArgumentParser
import Foundation
import Reports
import Store

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write one self-contained HTML page about a mining/validation or evaluation run.",
        discussion: """
        Headline numbers, verdicts and reasons, yield per repository, test-run and environment-build \
        times, and every task with its patches and links to its run logs (relative to the page).
        """)

    @OptionGroup var store: StoreOptions

    @Option(help: ArgumentHelp("Output page; defaults to report.html beside the store.", valueName: "file.html"))
    var out: String?

    @Option(help: ArgumentHelp("Which verdicts: validation or eval:<run id>.", valueName: "kind"))
    var kind: String = "validation"

    func validate() throws {
        do { _ = try VerdictKind.parse(kind) } catch { throw ValidationError("--kind: \(error)") }
    }

    func run() throws {
        guard FileManager.default.fileExists(atPath: store.db) else {
            throw CommandFailure("no task store at \(store.db)")
        }
        let report = try RunReport(store: try store.open(), kind: try VerdictKind.parse(kind))
        if report.tasks.allSatisfy({ $0.verdict == nil }) {
            FileHandle.standardError.write(Data("warning: no verdicts of kind \(kind) in \(store.db)\n".utf8))
        }
        let file = out ?? ((store.db as NSString).deletingLastPathComponent as NSString).appendingPathComponent("report.html")
        try ReportPage.write(report, to: file)
        let counts = report.statusCounts.map { "\($0.count) \($0.status)" }.joined(separator: ", ")
        print("wrote \(file): \(report.tasks.count) task(s)\(counts.isEmpty ? "" : " (\(counts))"), \(report.runs.count) run(s)")
    }
}
