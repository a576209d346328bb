import Foundation
import Git
import Mining
import Sample
import Store

/// The embedded sample mined into a benchmark's folder: `textkit/` and `forge.db`, created once
/// and reused by later runs (their environments then stay warm).
enum BenchSample {
    /// The clone's path and the store; a folder without a finished clone is started afresh.
    static func mined(in root: URL, removingStaleFolder: Bool) throws -> (clone: String, storePath: String) {
        let clone = root.appendingPathComponent("textkit").path
        let storePath = root.appendingPathComponent("forge.db").path
        let fileManager = FileManager.default
        if !fileManager.fileExists(atPath: clone + "/.git") {
            if removingStaleFolder {
                try? fileManager.removeItem(at: root)
                try fileManager.createDirectory(at: root, withIntermediateDirectories: true)
            }
            let created = try SampleRepository.createSynchronously(in: root.path)
            let store = try TaskStore(path: storePath)
            let mined = try Miner(repository: try Repository.open(created.repository), repo: SampleRepository.repoName)
                .mine(metadata: try Metadata.load(contentsOf: created.metadata))
            try store.save(tasks: mined.tasks)
        }
        return (clone, storePath)
    }
}
