import ArgumentParser
import Environments
import Foundation
import Git
import Sample
import Store
import Synthesis
import Validation

/// Synthesis throughput with call-map test selection (each candidate runs only the passing
/// tests that call into its files) against the whole suite per candidate, on the same candidates
/// from the same source commit, rounds alternating. Each round starts from a fresh copy of the
/// store, so nothing is skipped as tried; the kept tasks of both modes are compared.
struct SynthBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synth",
        abstract: "Synthesise with and without test selection on the same candidates; print candidates per minute and the ratio.")

    @Option(help: "Candidates tried per round.") var candidates = 24
    @Option(help: "Rounds of each mode (alternating).") var rounds = 1
    @Option(help: "Candidates tried in parallel.") var jobs = 2
    @Option(help: ArgumentHelp("A clone with a validated store (--db) instead of the embedded sample.", valueName: "path")) var clone: String?
    @Option(help: ArgumentHelp("The store holding validated tasks of --repo (with --clone).", valueName: "path")) var db: String?
    @Option(help: "The repository (with --clone).") var repo: String?
    @Option(help: ArgumentHelp("Strategies (comma-separated).", valueName: "list")) var strategies = "mutation,combination"
    @Option(help: "Working folder (sample, store and environments are reused between runs).") var directory = "Workspace/bench/synth"

    func run() throws {
        let root = URL(fileURLWithPath: directory).standardizedFileURL
        let fileManager = FileManager.default
        try fileManager.createDirectory(at: root, withIntermediateDirectories: true)
        let (clonePath, storePath, repoName) = try prepareSample(root: root)
        let builder = EnvironmentBuilder(root: root.appendingPathComponent("envs"), recipes: try RecipeBook.bundled())
        let store = try TaskStore(path: storePath)
        let valid = Set(try store.verdicts(kind: .validation, status: "valid").map(\.instanceID))
        let history = try store.tasks(matching: TaskFilter(repo: repoName))
        guard let source = history.filter({ valid.contains($0.instanceID) && $0.statementSource != .synthetic })
            .max(by: { $0.createdAt < $1.createdAt }) else {
            throw ValidationError("no validated task of \(repoName) in \(storePath)")
        }
        // Tasks the source store already holds are not this benchmark's: compare only new ones.
        let existing = Set(history.map(\.instanceID))
        let chosen = Set(strategies.split(separator: ",").compactMap { SynthesisStrategy(rawValue: String($0)) })

        var rows: [(selection: Bool, summary: SynthesisSummary, kept: Set<String>)] = []
        for round in 1...rounds {
            for selection in [true, false] {
                let folder = root.appendingPathComponent("round-\(round)-\(selection ? "selected" : "full")")
                try? fileManager.removeItem(at: folder)
                try fileManager.createDirectory(at: folder, withIntermediateDirectories: true)
                let copy = folder.appendingPathComponent("forge.db").path
                let scratch = try TaskStore(path: copy)
                try scratch.merge(from: storePath)
                let options = SynthesisOptions(strategies: chosen, maxCandidates: candidates, jobs: jobs, reruns: 0,
                                               testSelection: selection,
                                               runsDirectory: folder.appendingPathComponent("runs").path,
                                               workDirectory: folder.appendingPathComponent("synth").path)
                let synthesizer = try Synthesizer(clone: clonePath, environments: builder, options: options)
                let summary = try synthesizer.run(repo: repoName, sources: [source], history: history, store: scratch)
                let kept = Set(try scratch.tasks(matching: TaskFilter(repo: repoName)).filter { $0.statementSource == .synthetic && !existing.contains($0.instanceID) }.map(\.instanceID))
                rows.append((selection, summary, kept))
                try? fileManager.removeItem(at: folder.appendingPathComponent("runs"))
            }
        }
        func total(_ selection: Bool, _ value: (SynthesisSummary) -> Double) -> Double {
            rows.filter { $0.selection == selection }.reduce(0) { $0 + value($1.summary) }
        }
        let tried = { (s: Bool) in total(s) { Double($0.tried) } }
        let kept = { (s: Bool) in total(s) { Double($0.kept) } }
        let trying = { (s: Bool) in total(s) { $0.seconds - $0.preparationSeconds } }
        let wall = { (s: Bool) in total(s) { $0.seconds } }
        let tests = { (s: Bool) in total(s) { Double($0.testsRun) } }
        let agree = Set(rows.filter(\.selection).map(\.kept)) == Set(rows.filter { !$0.selection }.map(\.kept))
        print("source: \(repoName) @ \(source.baseCommit.prefix(10)); \(candidates) candidates × \(rounds) round(s) per mode; jobs \(jobs)")
        print("newly kept tasks identical in both modes: \(agree ? "yes" : "no (see the per-mode counts)")")
        func row(_ selection: Bool) -> [String] {
            [selection ? "call-map selection" : "full suite per candidate",
             String(format: "%.0f / %.0f", tried(selection), kept(selection)), String(format: "%.0f", tests(selection)),
             String(format: "%.1f", trying(selection)), String(format: "%.1f", tried(selection) / trying(selection) * 60),
             String(format: "%.0f", kept(selection) / wall(selection) * 3600),
             String(format: "%.2f", (tried(selection) / trying(selection)) / (tried(false) / trying(false)))]
        }
        printTable(["mode", "tried / kept", "tests run", "trying s", "candidates/min", "tasks/hour (incl. prep)", "rate ÷ full-suite rate"],
                   [row(true), row(false)])
    }

    private func prepareSample(root: URL) throws -> (String, String, String) {
        if let clone {
            guard let db, let repo else { throw ValidationError("--clone needs --db and --repo") }
            return (clone, db, repo)
        }
        let (clonePath, storePath) = try BenchSample.mined(in: root, removingStaleFolder: false)
        let store = try TaskStore(path: storePath)
        let builder = EnvironmentBuilder(root: root.appendingPathComponent("envs"), recipes: try RecipeBook.bundled())
        let validator = Validator(repository: try Repository.open(clonePath), environments: builder,
                                  options: ValidationOptions(reruns: 0, jobs: 2, runsDirectory: root.appendingPathComponent("runs").path))
        _ = try BatchValidation.run(tasks: try store.tasks(), validator: validator, store: store)
        return (clonePath, storePath, SampleRepository.repoName)
    }
}
