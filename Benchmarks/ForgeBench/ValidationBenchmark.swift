import ArgumentParser
import Environments
import Foundation
import Git
import Mining
import Sample
import Store
import Validation

/// Forge's own overhead per validated task — everything but the test command — against the bare
/// test command run by hand in prepared work dirs, with warm environments; and the environment
/// build time, cold (empty uv cache, from PyPI) and with a warm uv cache.
struct ValidationBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validation",
        abstract: "Validate the sample with warm environments and by hand; print Forge's overhead per task.")

    @Option(help: "Validation rounds over the sample's tasks.") var rounds = 3
    @Option(help: "Working folder (recreated).") var directory = "Workspace/bench/validation"

    func run() throws {
        let root = URL(fileURLWithPath: directory).standardizedFileURL
        try? FileManager.default.removeItem(at: root)
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let created = try SampleRepository.createSynchronously(in: root.path)
        let tasks = try Miner(repository: try Repository.open(created.repository), repo: SampleRepository.repoName)
            .mine(metadata: try Metadata.load(contentsOf: created.metadata)).tasks
        let book = try RecipeBook.bundled()

        // Environment builds: cold (fresh uv cache), then warm uv cache in a fresh environments root.
        var buildSeconds: [Double] = []
        for (name, cache) in [("cold", "uv-cache-cold"), ("warm", "uv-cache-cold")] {
            let builder = EnvironmentBuilder(root: root.appendingPathComponent("envs-\(name)"), recipes: book,
                                             options: .init(uvCacheDirectory: root.appendingPathComponent(cache)))
            let checkout = root.appendingPathComponent("checkout-\(name)")
            try FileManager.default.createDirectory(at: checkout, withIntermediateDirectories: true)
            try Repository.open(created.repository).exportTree(of: ObjectID(hex: tasks[0].environmentSetupCommit)!, to: checkout.path)
            let started = Date()
            _ = try builder.prepare(ProjectSnapshot(directory: checkout, repo: tasks[0].repo, version: tasks[0].version,
                                                    createdAt: ISODates.parse(tasks[0].createdAt) ?? Date()))
            buildSeconds.append(Date().timeIntervalSince(started))
        }

        // Warm validation: every task, before and after, no reruns; results saved to the store.
        let builder = EnvironmentBuilder(root: root.appendingPathComponent("envs-warm"), recipes: book,
                                         options: .init(uvCacheDirectory: root.appendingPathComponent("uv-cache-cold")))
        let store = try TaskStore(path: root.appendingPathComponent("forge.db").path)
        let validator = Validator(repository: try Repository.open(created.repository), environments: builder,
                                  options: ValidationOptions(reruns: 0, jobs: 1, runsDirectory: root.appendingPathComponent("runs").path))
        let environment = try validator.environment(for: tasks[0])
        let python = environment.venvPath! + "/bin/python"
        _ = try BatchValidation.run(tasks: tasks, validator: validator, store: store, force: true) // warm-up

        var forgeSeconds = 0.0, bareSeconds = 0.0, runs = 0
        for round in 1...rounds {
            let started = Date()
            _ = try BatchValidation.run(tasks: tasks, validator: validator, store: store, force: true)
            forgeSeconds += Date().timeIntervalSince(started)
            // By hand: the same test files, before and after, in work dirs prepared untimed.
            for task in tasks {
                for patches in [[task.testPatch], [task.testPatch, task.patch]] {
                    let work = root.appendingPathComponent("hand/\(round)/\(task.instanceID)-\(patches.count)").path
                    try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
                    try EvalBenchmark.shell("git -C \(created.repository) archive \(task.baseCommit) | tar -x -C \(work)", in: work)
                    for (index, patch) in patches.enumerated() {
                        try patch.write(toFile: work + "/../p\(index).diff", atomically: true, encoding: .utf8)
                        try EvalBenchmark.shell("git apply ../p\(index).diff", in: work)
                    }
                    let files = TestFiles.selected(from: task.testPatch, ecosystem: .python).joined(separator: " ")
                    let testStart = Date()
                    try EvalBenchmark.shell("\(python) -m pytest -p no:cacheprovider -q \(files)", in: work, check: false)
                    bareSeconds += Date().timeIntervalSince(testStart)
                    runs += 1
                }
            }
        }
        let taskCount = Double(tasks.count * rounds)
        print("sample: \(tasks.count) tasks × \(rounds) rounds, 2 test runs each (before, after), warm environment")
        printTable(["measure", "seconds", "per task"], [
            ["environment build, cold uv cache (PyPI)", String(format: "%.2f", buildSeconds[0]), "-"],
            ["environment build, warm uv cache", String(format: "%.2f", buildSeconds[1]), "-"],
            ["bare pytest by hand (\(runs) runs)", String(format: "%.2f", bareSeconds), String(format: "%.3f", bareSeconds / taskCount)],
            ["forge validate (export, patches, bwrap, JUnit, store)", String(format: "%.2f", forgeSeconds), String(format: "%.3f", forgeSeconds / taskCount)],
            ["Forge overhead (forge − bare)", String(format: "%.2f", forgeSeconds - bareSeconds),
             String(format: "%.3f", (forgeSeconds - bareSeconds) / taskCount)],
        ])
    }
}
