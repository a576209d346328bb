import Foundation
import Sandbox
import Store
import Validation

/// SWE-smith's "PR mirror": a merged PR's code change (its gold patch, no tests) applied in
/// reverse at a later commit brings its bug back — where the code still looks as the PR left it.
enum PRMirror {
    /// Candidates from the historic tasks whose patches reverse-apply to the source tree. Only
    /// patches that modify existing files of `fileExtension` qualify (no adds, deletes, renames,
    /// manifests), so the environment stays the same.
    static func candidates(from tasks: [TaskRecord], source: SynthesisSource, fileExtension: String) -> [Candidate] {
        var result: [Candidate] = []
        let runner = CommandRunner()
        for task in tasks where !task.patch.isEmpty && task.statementSource != .synthetic {
            let files = TestFiles.changed(in: task.patch)
            guard !files.isEmpty, files.allSatisfy({ $0.hasSuffix(fileExtension) && !SynthesisSource.isTestPath($0) }),
                  !task.patch.contains("\nnew file mode"), !task.patch.contains("\ndeleted file mode"),
                  !task.patch.contains("\nrename from") else { continue }
            let folder = "\(source.scratch)/pr-mirror/\(Identifier.pathComponent(task.instanceID))"
            try? FileManager.default.removeItem(atPath: folder)
            let work = folder + "/work"
            do {
                for file in files {
                    let target = "\(work)/\(file)"
                    try FileManager.default.createDirectory(atPath: (target as NSString).deletingLastPathComponent,
                                                            withIntermediateDirectories: true)
                    try FileManager.default.copyItem(atPath: "\(source.tree)/\(file)", toPath: target)
                }
                try task.patch.write(toFile: folder + "/gold.diff", atomically: true, encoding: .utf8)
                let command = Command("git", ["apply", "-R", "--whitespace=nowarn", folder + "/gold.diff"],
                                      logPath: folder + "/apply.log",
                                      environment: ["GIT_CEILING_DIRECTORIES": folder, "PATH": "/usr/local/bin:/usr/bin:/bin",
                                                    "HOME": folder],
                                      workingDirectory: work, timeout: 60)
                guard try runner.run(command).succeeded else { continue }
                var changed: [String: [UInt8]?] = [:]
                for file in files {
                    changed[file] = Array(try Data(contentsOf: URL(fileURLWithPath: "\(work)/\(file)")))
                }
                let label = task.pullNumber.map { "#\($0)" } ?? task.instanceID
                result.append(Candidate(strategy: .prMirror, kinds: ["pr_mirror"],
                                        description: "\(task.instanceID)'s fix reverted (\(label)): \(files.joined(separator: ", "))",
                                        files: changed, insideFunctions: false))
            } catch {
                continue   // a file the patch names is not in this tree
            }
        }
        return result
    }
}
