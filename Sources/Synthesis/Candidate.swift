import Foundation
import Basics
import Store

/// How a synthetic bug was made; recorded on the task as `synthesis_strategy`.
public enum SynthesisStrategy: String, Codable, Hashable, Sendable, CaseIterable {
    /// One AST (Python) or token (Swift) mutation.
    case mutation
    /// Two or three mutations in one file.
    case combination
    /// A historic merged PR's code change re-applied in reverse at a later commit (SWE-smith's "PR mirror").
    case prMirror = "pr_mirror"
}

/// One synthetic bug, before it is tried: the files it changes at the source commit.
public struct Candidate: Sendable {
    public var strategy: SynthesisStrategy
    /// The mutation kinds (or `pr_mirror`), for the task's `synthesis_strategy` and the summary.
    public var kinds: [String]
    /// Human-readable, e.g. `textkit/slug.py:7 comparison == flipped to !=`.
    public var description: String
    /// Path → mutated bytes (nil deletes the file).
    public var files: [String: [UInt8]?]
    /// The enclosing functions of the edits as `path:first line` (the call map's keys), when
    /// known: tests are then selected by the functions they call, not just the files.
    public var functions: [String]
    /// True when every edit is inside a function body, so the call map finds every test it can
    /// affect; PR mirrors may change module-level code and are confirmed on the whole suite.
    public var insideFunctions: Bool

    public init(strategy: SynthesisStrategy, kinds: [String], description: String, files: [String: [UInt8]?],
                functions: [String] = [], insideFunctions: Bool) {
        self.strategy = strategy; self.kinds = kinds; self.description = description; self.files = files
        self.functions = functions; self.insideFunctions = insideFunctions
    }

    /// The label stored on the task: `mutation:flip_comparison`, `combination:drop_statement+off_by_one`, `pr_mirror:#12`.
    public var label: String {
        "\(strategy.rawValue):" + kinds.joined(separator: "+")
    }
}

/// Builds candidates from mutation sites: byte splices of the original file.
public enum CandidateBuilder {
    /// `data` with each site's span replaced (sites must not overlap).
    public static func splice(_ data: [UInt8], _ sites: [MutationSite]) -> [UInt8] {
        var result = data
        for site in sites.sorted(by: { $0.start > $1.start }) {
            result.replaceSubrange(site.start..<site.end, with: Array(site.replacement.utf8))
        }
        return result
    }

    public static func single(path: String, original: [UInt8], site: MutationSite) -> Candidate {
        Candidate(strategy: .mutation, kinds: [site.kind], description: "\(path):\(site.line) \(site.description)",
                  files: [path: splice(original, [site])], functions: site.scopeLine.map { ["\(path):\($0)"] } ?? [],
                  insideFunctions: true)
    }

    /// Up to `count` combinations of 2 or 3 non-overlapping sites in one file, in different
    /// functions where the file has several, chosen by a seeded generator (deterministic).
    public static func combinations(path: String, original: [UInt8], sites: [MutationSite], count: Int,
                                    seed: UInt64) -> [Candidate] {
        guard sites.count >= 2, count > 0 else { return [] }
        var generator = SplitMix64(seed: seed)
        var result: [Candidate] = []
        var seen = Set<[Int]>()
        var attempts = 0
        while result.count < count && attempts < count * 20 {
            attempts += 1
            let size = sites.count >= 3 && generator.next() % 2 == 0 ? 3 : 2
            var chosen: [Int] = []
            var tries = 0
            while chosen.count < size && tries < 50 {
                tries += 1
                let index = Int(generator.next() % UInt64(sites.count))
                let site = sites[index]
                let overlaps = chosen.contains { other in
                    let o = sites[other]
                    return site.start < o.end + 1 && o.start < site.end + 1
                }
                if !overlaps && !chosen.contains(index) { chosen.append(index) }
            }
            guard chosen.count == size, seen.insert(chosen.sorted()).inserted else { continue }
            let picked = chosen.sorted().map { sites[$0] }
            result.append(Candidate(strategy: .combination, kinds: picked.map(\.kind),
                                    description: "\(path): " + picked.map { "line \($0.line) \($0.description)" }.joined(separator: "; "),
                                    files: [path: splice(original, picked)],
                                    functions: picked.compactMap { $0.scopeLine.map { "\(path):\($0)" } },
                                    insideFunctions: true))
        }
        return result
    }
}
