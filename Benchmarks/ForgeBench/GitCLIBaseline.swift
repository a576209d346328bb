import Foundation

/// The baseline Forge's miner is measured against: what PyDriller-style tools do with the `git`
/// CLI — one `git log` over all refs, then one `git diff` process per pull request.
enum GitCLIBaseline {
    struct Result {
        var pullRequests = 0; var patchBytes = 0
        /// Diffs git could not make: objects missing from the clone (sympy's mirror lacks some
        /// PR refs' objects), skipped as Forge skips those PRs.
        var failed = 0
    }

    static func mine(repository: String) throws -> Result {
        let log = try git(["log", "--all", "--format=%H%x1f%P%x1f%s%x1e"], in: repository)
        var diffs: [(String, String)] = []   // (from, to) per PR
        var landed = Set<Int>()
        for record in log.split(separator: "\u{1e}") {
            let fields = record.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "\u{1f}", omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            let commit = String(fields[0]), parents = fields[1].split(separator: " ").map(String.init)
            let subject = String(fields[2])
            if subject.hasPrefix("Merge pull request #"), parents.count == 2,
               let number = Int(subject.dropFirst(20).prefix { $0.isNumber }) {
                landed.insert(number); diffs.append(("\(parents[0])...\(parents[1])", ""))
            } else if parents.count == 1, subject.hasSuffix(")"), let open = subject.range(of: "(#", options: .backwards),
                      let number = Int(subject[open.upperBound...].dropLast()) {
                landed.insert(number); diffs.append((parents[0], commit))
            }
        }
        // Rebase merges: every PR ref not landed by a merge or squash, diffed against the default branch.
        let main = try git(["symbolic-ref", "--short", "HEAD"], in: repository).trimmingCharacters(in: .whitespacesAndNewlines)
        let refs = try git(["for-each-ref", "--format=%(refname)", "refs/pull"], in: repository)
        for ref in refs.split(separator: "\n") {
            let parts = ref.split(separator: "/")
            guard parts.count == 4, let number = Int(parts[2]), !landed.contains(number) else { continue }
            diffs.append(("\(main)...\(ref)", ""))
        }
        var result = Result()
        for (from, to) in diffs {
            guard let patch = try? git(["diff", from] + (to.isEmpty ? [] : [to]), in: repository) else {
                result.failed += 1
                continue
            }
            result.pullRequests += 1
            result.patchBytes += patch.utf8.count
        }
        return result
    }

    static func git(_ arguments: [String], in directory: String, input: String? = nil) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/git")
        process.arguments = ["-C", directory] + arguments
        let output = Pipe()
        process.standardOutput = output
        let inputPipe = Pipe()
        if input != nil { process.standardInput = inputPipe }
        try process.run()
        if let input {
            let writer = inputPipe.fileHandleForWriting
            DispatchQueue.global().async {
                writer.write(Data(input.utf8)); try? writer.close()
            }
        }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw BenchError("git \(arguments.prefix(3).joined(separator: " ")) exited \(process.terminationStatus)")
        }
        return String(decoding: data, as: UTF8.self)
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Peak resident memory of this process so far (VmHWM), in MiB.
func peakResidentMiB() -> Double {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
          let kib = Double(line.split(separator: " ").dropFirst().first ?? "") else { return .nan }
    return kib / 1024
}
