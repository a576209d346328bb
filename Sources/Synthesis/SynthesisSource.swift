import Environments
import Foundation
import Git
import PathRules
import Store
import TestReports
import Validation

/// One clean commit being mutated, prepared once: its environment, its tree on disk, and its
/// whole suite run `1 + reruns` times (the first traced), giving the tests that pass reliably,
/// their durations and the call map (which tests call into which files, and how deep).
final class SynthesisSource: Sendable {
    /// The validated task whose environment and metadata synthetic tasks inherit.
    let template: TaskRecord
    let commit: ObjectID
    let environment: PreparedEnvironment
    /// The clean tree, exported once: sites are listed and PR mirrors applied here.
    let tree: String
    let scratch: String
    /// Tests passing in every clean run.
    let passing: Set<String>
    /// Tests whose outcome changed between clean runs: never FAIL_TO_PASS or PASS_TO_PASS.
    let flaky: Set<String>
    /// The traced run's evidence (nil when the runner is not pytest: no call map, full-suite runs).
    let evidence: RunEvidence?
    /// Project file → passing tests that call into it, with the call depth.
    let callers: [String: [(test: String, depth: Int)]]
    /// `path:first line` of a function → passing tests that call it, with the call depth.
    let functionCallers: [String: [(test: String, depth: Int)]]
    let cleanRuns: [TestRunRecord]
    let cleanSeconds: Double

    var supportsSelection: Bool { evidence != nil }

    init(template: TaskRecord, commit: ObjectID, validator: Validator, runner: TestRunner, repository: SharedRepository,
         options: SynthesisOptions) throws {
        self.template = template
        self.commit = commit
        var environmentTask = template
        environmentTask.baseCommit = commit.hex
        environment = try validator.environment(for: environmentTask)
        let folder = "\(options.workDirectory)/\(Self.idPrefix(template.repo)).\(commit.abbreviated(12))"
        scratch = folder + "/scratch"
        tree = folder + "/tree"
        if !FileManager.default.fileExists(atPath: folder + "/tree.complete") {
            let tree = self.tree
            try? FileManager.default.removeItem(atPath: tree)
            _ = try repository.withRepository { try $0.exportTree(of: commit, to: tree) }
            try Data().write(to: URL(fileURLWithPath: folder + "/tree.complete"))
        }
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)

        let isPytest = environment.ecosystem == .python && environment.testRunnerName == "pytest"
        var cleanTask = template
        cleanTask.instanceID = "\(Self.idPrefix(template.repo)).synth-clean-\(commit.abbreviated(10))"
        cleanTask.baseCommit = commit.hex
        cleanTask.testPatch = ""
        cleanTask.patch = ""
        var reports: [TestReport] = []
        var runs: [TestRunRecord] = []
        var traced: RunEvidence?
        var seconds = 0.0
        for attempt in 0...options.reruns {
            var spec = TestRunSpec(task: cleanTask, phase: .after, attempt: attempt, patches: [],
                                   runsDirectory: options.runsDirectory, purpose: "synth")
            spec.testFiles = []   // the whole suite
            let evidencePath = (options.useSandbox ? TestRunner.sandboxRunFolder : spec.folder) + "/evidence.json"
            if isPytest {
                let trace = attempt == 0
                spec.wrapCommand = { PythonHelper.wrap($0, evidencePath: evidencePath, trace: trace) }
                spec.extraReadOnlyPaths = [PythonHelper.directory]
            }
            let outcome = try runner.run(spec, environment: environment)
            runs.append(outcome.record)
            seconds += outcome.record.wallSeconds
            if outcome.timedOut {
                throw SynthesisError.helperFailed("clean suite", "the clean suite at \(commit.abbreviated()) timed out (\(outcome.record.logPath ?? "log"))")
            }
            reports.append(outcome.report)
            if attempt == 0 && isPytest {
                traced = PythonHelper.evidence(at: spec.folder + "/evidence.json")
                if traced == nil {
                    throw SynthesisError.helperFailed("clean suite", "no evidence written; see \(outcome.record.logPath ?? "the log")")
                }
            }
        }
        let outcomes = TestOutcomes.classify(before: reports, after: reports)
        passing = Set(outcomes.passToPass)
        flaky = Set(outcomes.flaky)
        evidence = traced
        var callers: [String: [(test: String, depth: Int)]] = [:]
        var functionCallers: [String: [(test: String, depth: Int)]] = [:]
        let passingNow = Set(outcomes.passToPass)
        for (test, entry) in traced?.tests ?? [:] where passingNow.contains(test) {
            for (file, depth) in entry.files { callers[file, default: []].append((test, depth)) }
            for (function, depth) in entry.functions ?? [:] { functionCallers[function, default: []].append((test, depth)) }
        }
        self.callers = callers.mapValues { $0.sorted { $0.test < $1.test } }
        self.functionCallers = functionCallers
        cleanRuns = runs
        cleanSeconds = seconds / Double(max(1, runs.count))
        if passing.isEmpty {
            throw SynthesisError.helperFailed("clean suite", "no test passes at \(commit.abbreviated()) (see \(runs.first?.logPath ?? "the log"))")
        }
    }

    /// `owner__name`.
    static func idPrefix(_ repo: String) -> String {
        repo.split(separator: "/", omittingEmptySubsequences: false).joined(separator: "__")
    }

    /// Source files worth mutating: code (not tests) of the ecosystem's language that some
    /// passing test calls into (all code files when there is no call map).
    func mutableFiles() -> [String] {
        let ext = environment.ecosystem == .python ? ".py" : ".swift"
        var files: [String] = []
        let enumerator = FileManager.default.enumerator(atPath: tree)
        while let path = enumerator?.nextObject() as? String {
            guard path.hasSuffix(ext), !Self.isTestPath(path) else { continue }
            if supportsSelection && callers[path] == nil { continue }
            files.append(path)
        }
        return files.sorted()
    }

    /// Tests and test infrastructure (the shared rules), docs, examples and build scripts.
    static func isTestPath(_ path: String) -> Bool {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        return TestInfrastructure.kind(of: path) != nil || PathClassifier.category(of: path) != .code
            || path.hasPrefix("examples/") || name == "setup.py" || name == "noxfile.py" || name == "Package.swift"
    }

    /// Passing tests that call any of `functions` (`path:first line`) or, when the edits' functions
    /// are not known, into any of `files`; with the smallest depth each.
    func covering(files: [String], functions: [String]) -> [String: Int] {
        var result: [String: Int] = [:]
        let entries = functions.isEmpty ? files.flatMap { callers[$0] ?? [] } : functions.flatMap { functionCallers[$0] ?? [] }
        for (test, depth) in entries where !flaky.contains(test) {
            result[test] = Swift.min(result[test] ?? depth, depth)
        }
        return result
    }

    /// Mean clean duration of these tests (for a mutant run's timeout).
    func duration(of tests: [String]) -> Double {
        tests.reduce(0) { $0 + (evidence?.tests[$1]?.duration ?? 0) }
    }
}
