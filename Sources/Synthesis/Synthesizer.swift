import Environments
import Foundation
import Git
import Basics
import Sandbox
import Store
import Synchronization
import TestReports
import Validation
import Workers

/// Settings for a synthesis run.
public struct SynthesisOptions: Sendable {
    public var strategies: Set<SynthesisStrategy>
    /// Stop once this many tasks are kept (nil: try every candidate).
    public var maxTasks: Int?
    /// Stop once this many candidates are tried (nil: no limit).
    public var maxCandidates: Int?
    /// Candidates tried in parallel.
    public var jobs: Int
    /// Extra clean-suite runs, and reruns of a mutant's failing tests, to find flaky tests.
    public var reruns: Int
    public var useSandbox: Bool
    /// Run only the tests that call into the mutated files (from the call map); false runs the
    /// whole suite per candidate (the benchmark's baseline).
    public var testSelection: Bool
    /// Combinations per file, relative to its number of sites (0.5: half as many).
    public var combinationsPerSite: Double
    public var shard: Shard
    public var runsDirectory: String
    /// Trees and scratch files per source commit.
    public var workDirectory: String

    public init(strategies: Set<SynthesisStrategy> = Set(SynthesisStrategy.allCases), maxTasks: Int? = nil,
                maxCandidates: Int? = nil, jobs: Int = 1, reruns: Int = 1, useSandbox: Bool = true,
                testSelection: Bool = true, combinationsPerSite: Double = 0.5, shard: Shard = .all,
                runsDirectory: String = "Workspace/runs", workDirectory: String = "Workspace/synth") {
        self.strategies = strategies; self.maxTasks = maxTasks; self.maxCandidates = maxCandidates
        self.jobs = jobs; self.reruns = reruns; self.useSandbox = useSandbox; self.testSelection = testSelection
        self.combinationsPerSite = combinationsPerSite; self.shard = shard
        self.runsDirectory = URL(fileURLWithPath: runsDirectory).standardizedFileURL.path
        self.workDirectory = URL(fileURLWithPath: workDirectory).standardizedFileURL.path
    }
}

/// What a run did, per strategy.
public struct SynthesisSummary: Sendable {
    public struct Counts: Sendable { public var tried = 0; public var kept = 0 }
    public var byStrategy: [SynthesisStrategy: Counts] = [:]
    public var discardReasons: [String: Int] = [:]
    public var skippedAlreadyTried = 0
    public var duplicates = 0
    public var sourceCommits: [String] = []
    public var testsRun = 0
    public var seconds = 0.0
    /// Of `seconds`, the time spent preparing source commits (environment, clean suite runs,
    /// sites, mutant commits): the same with and without test selection.
    public var preparationSeconds = 0.0
    public var interrupted = false
    public var kept: Int { byStrategy.values.reduce(0) { $0 + $1.kept } }
    public var tried: Int { byStrategy.values.reduce(0) { $0 + $1.tried } }

    public init() {}

    public var table: String {
        var rows: [(String, String)] = [("source commits", sourceCommits.joined(separator: ", "))]
        for strategy in SynthesisStrategy.allCases {
            let counts = byStrategy[strategy] ?? Counts()
            rows.append(("\(strategy.rawValue): tried / kept", "\(counts.tried) / \(counts.kept)"))
        }
        rows.append(("candidates tried", "\(tried)"))
        rows.append(("tasks kept", "\(kept)"))
        for (reason, count) in discardReasons.sorted(by: { $0.value > $1.value }) {
            rows.append(("  discarded: \(reason)", "\(count)"))
        }
        rows.append(("skipped (tried before)", "\(skippedAlreadyTried)"))
        rows.append(("duplicates (same tree)", "\(duplicates)"))
        rows.append(("tests run", "\(testsRun)"))
        rows.append(("wall time", String(format: "%.1f s (%.1f s preparing source commits)", seconds, preparationSeconds)))
        if seconds > 0 { rows.append(("tasks per hour", String(format: "%.0f", Double(kept) * 3600 / seconds))) }
        if interrupted { rows.append(("interrupted", "resume with the same command")) }
        let width = rows.map(\.0.count).max() ?? 0
        return rows.map { $0.0.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + $0.1 }.joined(separator: "\n")
    }
}

/// Makes verified tasks from a validated commit: mutants of its code (Python `ast` sites, Swift
/// tokens), combinations of them, and reverted historic PRs, each written as a commit, tried
/// against the tests that call into the edited files, and kept iff some clean-passing test fails
/// on it while the others still pass. Every try is saved as it finishes, so runs resume.
public final class Synthesizer: Sendable {
    public let options: SynthesisOptions
    /// Mutant commits are written here; the test runs read their own handles.
    let repository: SharedRepository
    let runner: TestRunner
    let validator: Validator

    public init(clone: String, environments: EnvironmentBuilder, options: SynthesisOptions) throws {
        self.options = options
        repository = SharedRepository(try Repository.open(clone))
        runner = TestRunner(repository: try Repository.open(clone), useSandbox: options.useSandbox)
        validator = Validator(repository: try Repository.open(clone), environments: environments,
                              options: ValidationOptions(reruns: options.reruns, jobs: options.jobs,
                                                         useSandbox: options.useSandbox, runsDirectory: options.runsDirectory))
    }

    /// A candidate ready to try: its mutant commit and tree, and the instance id it would get.
    public struct Prepared: Sendable {
        public var candidate: Candidate
        public var commit: ObjectID
        public var tree: ObjectID
        public var instanceID: String
        public var key: String
    }

    /// Synthesises from each of `sources` (validated tasks; their `base_commit` is mutated) in turn.
    /// `history` are the repository's mined tasks, for PR mirrors.
    public func run(repo: String, sources: [TaskRecord], history: [TaskRecord], store: TaskStore, stop: StopFlag = StopFlag(),
                    progress: @escaping @Sendable (_ done: Int, _ total: Int) -> Void = { _, _ in }) throws -> SynthesisSummary {
        let started = Date()
        var summary = SynthesisSummary()
        var tried = try store.synthesisCandidateKeys(repo: repo)
        for template in sources {
            if stop.isStopped || reachedLimits(summary) { break }
            let preparing = Date()
            guard let commit = ObjectID(hex: template.baseCommit) else {
                throw SynthesisError.noSourceCommit("task \(template.instanceID): base_commit is not a commit id")
            }
            let source = try SynthesisSource(template: template, commit: commit, validator: validator, runner: runner,
                                             repository: repository, options: options)
            summary.sourceCommits.append(commit.abbreviated())
            let earlier = history.filter { $0.repo == repo && $0.createdAt < template.createdAt }
            let candidates = try generate(source: source, history: earlier)
            var pending: [Prepared] = []
            var seen = Set<String>()
            for candidate in candidates {
                let prepared = try prepare(candidate, source: source)
                if !seen.insert(prepared.key).inserted { summary.duplicates += 1; continue }
                if tried.contains(prepared.key) { summary.skippedAlreadyTried += 1; continue }
                guard options.shard.contains(prepared.instanceID) else { continue }
                pending.append(prepared)
            }
            summary.preparationSeconds += Date().timeIntervalSince(preparing)
            try tryAll(pending, source: source, store: store, stop: stop, summary: &summary, progress: progress)
            tried.formUnion(pending.map(\.key))
        }
        summary.interrupted = stop.isStopped
        summary.seconds = Date().timeIntervalSince(started)
        return summary
    }

    func reachedLimits(_ summary: SynthesisSummary) -> Bool {
        if let maxTasks = options.maxTasks, summary.kept >= maxTasks { return true }
        if let maxCandidates = options.maxCandidates, summary.tried >= maxCandidates { return true }
        return false
    }

    /// Every candidate for one source, strategies interleaved (PR mirrors first, then two
    /// single mutations per combination) so that `--max` gets a mix, then — with a call map —
    /// cheapest first by the clean duration of the tests each would run (in powers-of-two
    /// buckets, so the mix survives within a bucket): more tasks per hour. Deterministic.
    func generate(source: SynthesisSource, history: [TaskRecord]) throws -> [Candidate] {
        let isPython = source.environment.ecosystem == .python
        var singles: [Candidate] = [], combos: [Candidate] = []
        let files = source.mutableFiles()
        let sitesByFile: [String: [MutationSite]]
        if isPython {
            sitesByFile = try PythonHelper(environment: source.environment, useSandbox: options.useSandbox)
                .sites(in: files, tree: source.tree, scratch: source.scratch + "/sites")
        } else {
            var found: [String: [MutationSite]] = [:]
            for file in files {
                found[file] = SwiftTokenMutator.sites(in: Array(try Data(contentsOf: URL(fileURLWithPath: "\(source.tree)/\(file)"))))
            }
            sitesByFile = found
        }
        for file in sitesByFile.keys.sorted() {
            let sites = sitesByFile[file] ?? []
            guard !sites.isEmpty else { continue }
            let original = Array(try Data(contentsOf: URL(fileURLWithPath: "\(source.tree)/\(file)")))
            if options.strategies.contains(.mutation) {
                singles += sites.map { CandidateBuilder.single(path: file, original: original, site: $0) }
            }
            if options.strategies.contains(.combination) {
                let count = Int((Double(sites.count) * options.combinationsPerSite).rounded(.up))
                combos += CandidateBuilder.combinations(path: file, original: original, sites: sites, count: count,
                                                        seed: Shard.fnv1a64(source.commit.hex + file))
            }
        }
        let mirrors = options.strategies.contains(.prMirror)
            ? PRMirror.candidates(from: history, source: source, fileExtension: isPython ? ".py" : ".swift") : []
        var generator = SplitMix64(seed: Shard.fnv1a64(source.commit.hex))
        singles.shuffle(using: &generator)
        combos.shuffle(using: &generator)
        var ordered = mirrors
        var singleIndex = 0, comboIndex = 0
        while singleIndex < singles.count || comboIndex < combos.count {
            for _ in 0..<2 where singleIndex < singles.count { ordered.append(singles[singleIndex]); singleIndex += 1 }
            if comboIndex < combos.count { ordered.append(combos[comboIndex]); comboIndex += 1 }
        }
        // The order never depends on --no-test-selection: both modes try the same candidates.
        guard source.supportsSelection else { return ordered }
        let costs = ordered.map { candidate -> Int in
            let tests = Array(source.covering(files: Array(candidate.files.keys), functions: candidate.functions).keys)
            return Int(log2(source.duration(of: tests) * 10 + 1))
        }
        let single = ordered.count - mirrors.count
        let sorted = zip(ordered.suffix(single), costs.suffix(single)).enumerated()
            .sorted { ($0.element.1, $0.offset) < ($1.element.1, $1.offset) }.map(\.element.0)
        return mirrors + sorted
    }

    /// Writes the candidate's mutant commit (not yet referenced).
    func prepare(_ candidate: Candidate, source: SynthesisSource) throws -> Prepared {
        try repository.withRepository { repository in
            let (commit, tree) = try repository.writeCommit(replacing: candidate.files, in: source.commit,
                                                            message: "Forge synthetic task\n")
            let instanceID = "\(SynthesisSource.idPrefix(source.template.repo)).synth-\(tree.abbreviated(10))"
            return Prepared(candidate: candidate, commit: commit, tree: tree, instanceID: instanceID,
                            key: SynthesisCandidateRecord.key(repo: source.template.repo, tree: tree.hex))
        }
    }

    private func tryAll(_ pending: [Prepared], source: SynthesisSource, store: TaskStore, stop: StopFlag,
                        summary: inout SynthesisSummary,
                        progress: @escaping @Sendable (_ done: Int, _ total: Int) -> Void) throws {
        let compileErrors = try compileCheck(pending, source: source)
        // Candidates started (not only finished) count against --max-candidates, so parallel
        // jobs never overshoot it; --max (kept tasks) can be passed by at most jobs - 1.
        let shared = Mutex((summary: summary, started: summary.tried))
        defer { summary = shared.withLock { $0.summary } } // what finished is counted, whatever ends the loop
        // Progress is this source commit's: its candidates tried, or (with --max) its tasks kept
        // toward what the limit leaves; the summary's counts run over every source.
        let measure: KeyPath<SynthesisSummary, Int> = options.maxTasks == nil ? \.tried : \.kept
        let counted = summary[keyPath: measure]
        let total = options.maxTasks.map { min($0 - summary.kept, pending.count) } ?? pending.count
        progress(0, total)
        let claim = {
            shared.withLock { state in
                guard !self.reachedLimits(state.summary) else { return false }
                if let maxCandidates = self.options.maxCandidates, state.started >= maxCandidates { return false }
                state.started += 1
                return true
            }
        }
        try WorkerPool.forEach(pending, workers: options.jobs, stop: stop, claim: claim) { prepared in
            let began = Date()
            var trial: Trial
            if let error = compileErrors[prepared.key] {
                trial = Trial(prepared: prepared, reason: "does not compile: \(error)")
            } else {
                trial = try self.attempt(prepared, source: source)
            }
            trial.seconds = Date().timeIntervalSince(began)
            try self.save(trial, source: source, store: store)
            let done: Int = shared.withLock { state in
                var counts = state.summary.byStrategy[prepared.candidate.strategy] ?? .init()
                counts.tried += 1
                if trial.task != nil { counts.kept += 1 } else if let reason = trial.reason {
                    state.summary.discardReasons[Self.reasonCategory(reason), default: 0] += 1
                }
                state.summary.byStrategy[prepared.candidate.strategy] = counts
                state.summary.testsRun += trial.testsRun
                return state.summary[keyPath: measure] - counted
            }
            progress(done, total)
        }
    }

    /// The reason's kind, for the summary table ("does not compile", "no test fails", …).
    static func reasonCategory(_ reason: String) -> String {
        String(reason.prefix { $0 != ":" })
    }

    /// Compiles every Python mutant in one helper run: key → the compiler's message.
    func compileCheck(_ pending: [Prepared], source: SynthesisSource) throws -> [String: String] {
        guard source.environment.ecosystem == .python, !pending.isEmpty else { return [:] }
        let folder = source.scratch + "/check"
        try? FileManager.default.removeItem(atPath: folder)
        var owners: [String: String] = [:]
        for (index, prepared) in pending.enumerated() {
            for (path, data) in prepared.candidate.files {
                guard let data, path.hasSuffix(".py") else { continue }
                let relative = "\(index)/\(path)"
                let url = URL(fileURLWithPath: "\(folder)/files/\(relative)")
                try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                try Data(data).write(to: url)
                owners[relative] = prepared.key
            }
        }
        let errors = try PythonHelper(environment: source.environment, useSandbox: options.useSandbox)
            .compileErrors(in: folder + "/files", scratch: folder)
        try? FileManager.default.removeItem(atPath: folder + "/files")
        var result: [String: String] = [:]
        for (relative, error) in errors {
            guard let error, let key = owners[relative] else { continue }
            let path = relative.split(separator: "/", maxSplits: 1).last.map(String.init) ?? relative
            result[key] = "\(path): \(error)"
        }
        return result
    }
}
