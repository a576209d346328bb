import Environments
import Foundation
import Git
import Store
import TestReports
import Validation

/// The outcome of trying one candidate: a task (with its verdict and runs) or a discard reason.
struct Trial {
    var prepared: Synthesizer.Prepared
    var task: TaskRecord?
    var verdict: VerdictRecord?
    var runs: [TestRunRecord] = []
    var reason: String?
    var testsRun = 0
    var seconds = 0.0

    init(prepared: Synthesizer.Prepared, reason: String) {
        self.prepared = prepared; self.reason = reason
    }

    init(prepared: Synthesizer.Prepared) { self.prepared = prepared }
}

extension Synthesizer {
    /// Runs the tests that call into the edited files on the mutant, then reruns the failing ones
    /// to rule out flakiness. Edits the call map cannot vouch for (outside function bodies, as PR
    /// mirrors may be), runs without a call map and runs with selection off use the whole suite.
    func attempt(_ prepared: Synthesizer.Prepared, source: SynthesisSource) throws -> Trial {
        var trial = Trial(prepared: prepared)
        let files = prepared.candidate.files.keys.sorted()
        let covering = source.covering(files: files, functions: prepared.candidate.functions)
        let selective = options.testSelection && source.supportsSelection && prepared.candidate.insideFunctions
        var selected: [String] = []
        if selective {
            selected = covering.keys.sorted()
            if selected.isEmpty {
                let scope = prepared.candidate.functions.isEmpty ? files : prepared.candidate.functions
                trial.reason = "no test fails: no passing test calls \(scope.joined(separator: ", "))"
                return trial
            }
        }
        let task = mutantTask(prepared, source: source)
        // A mutant may loop forever: allow a generous multiple of the clean time, not the recipe's 30 minutes.
        let budget = selective ? source.duration(of: selected) : source.cleanSeconds
        var environment = source.environment
        environment.testTimeout = min(environment.testTimeout, max(60, budget * 10 + 30))

        let first = try run(task, tests: selected, attempt: 0, environment: environment, source: source)
        trial.runs.append(first.record)
        trial.testsRun += first.report.count
        if first.timedOut {
            trial.reason = "timeout: the mutant's tests ran past \(Int(environment.testTimeout)) s"
            return trial
        }
        if let evidence = first.evidence, let error = evidence.collectionErrors.first {
            let line = error.message.split(separator: "\n").last.map(String.init) ?? error.message
            trial.reason = "breaks the build: collection error in \(error.nodeid.isEmpty ? "the suite" : error.nodeid): \(line)"
            return trial
        }
        if first.report.isEmpty {
            trial.reason = "breaks the build: no test results (see \(first.record.logPath ?? "the log"))"
            return trial
        }
        let considered = selective ? Set(selected) : source.passing
        var failing = considered.filter { source.passing.contains($0) && first.report[$0] != .passed }.sorted()
        if failing.isEmpty {
            trial.reason = "no test fails: \(first.report.count) test(s) ran, all passed"
            return trial
        }
        // Reruns: a failing test that passes in any rerun is flaky, not FAIL_TO_PASS.
        var flaky = Set<String>()
        let failureEvidence = first.evidence
        for attempt in 0..<options.reruns {
            let rerun = try run(task, tests: failing, attempt: attempt + 1, environment: environment, source: source)
            trial.runs.append(rerun.record)
            trial.testsRun += rerun.report.count
            for test in failing where rerun.report[test] == .passed { flaky.insert(test) }
        }
        failing.removeAll { flaky.contains($0) }
        if failing.isEmpty {
            trial.reason = "flaky: every failing test passed on a rerun (\(flaky.sorted().prefix(3).joined(separator: ", ")))"
            return trial
        }
        let failToPass = failing
        let passToPass = source.passing.subtracting(failToPass).subtracting(flaky).sorted()

        let gold = try repository.withRepository { repository in
            String(decoding: try repository.diff(from: prepared.commit, to: source.commit).patchBytes(), as: UTF8.self)
        }
        let patchLines = gold.split(separator: "\n", omittingEmptySubsequences: false)
        let changed = patchLines.filter { ($0.hasPrefix("+") && !$0.hasPrefix("+++")) || ($0.hasPrefix("-") && !$0.hasPrefix("---")) }
        let restored = patchLines.filter { $0.hasPrefix("+") && !$0.hasPrefix("+++") }.map { String($0.dropFirst()) }
        let distance = failToPass.compactMap { test in
            (prepared.candidate.functions.compactMap { source.evidence?.tests[test]?.functions?[$0] }
                + files.compactMap { source.evidence?.tests[test]?.files[$0] }).min()
        }.min()
        let failures = failToPass.map { test in
            ProblemStatement.Failure(test: test, message: failureEvidence?.tests[test]?.message,
                                     traceback: failureEvidence?.tests[test]?.traceback)
        }
        var synthetic = task
        synthetic.patch = gold
        synthetic.problemStatement = ProblemStatement.write(failures: failures, restoredLines: restored,
                                                            seed: Shard.fnv1a64(prepared.instanceID))
        synthetic.failToPass = failToPass
        synthetic.passToPass = passToPass
        synthetic.flaky = flaky.sorted()
        synthetic.difficultyLevel = Difficulty.level(changedLines: changed.count, files: files.count,
                                                     failingTests: failToPass.count, distance: distance)
        trial.task = synthetic
        trial.verdict = VerdictRecord(instanceID: prepared.instanceID, kind: .validation, status: ValidationStatus.valid.rawValue,
                                      failToPass: failToPass, passToPass: passToPass, flaky: flaky.sorted(),
                                      runIDs: (source.cleanRuns + trial.runs).map(\.id))
        return trial
    }

    /// The task as stored: the mutant commit is `base_commit`; the patch (filled in when kept)
    /// turns it back into the clean tree; the tests are already there, so `test_patch` is empty.
    func mutantTask(_ prepared: Synthesizer.Prepared, source: SynthesisSource) -> TaskRecord {
        let template = source.template
        return TaskRecord(instanceID: prepared.instanceID, repo: template.repo, baseCommit: prepared.commit.hex,
                          patch: "", testPatch: "", problemStatement: "", createdAt: template.createdAt,
                          version: template.version, environmentSetupCommit: template.environmentSetupCommit,
                          statementSource: .synthetic, language: template.language, license: template.license,
                          synthesisStrategy: prepared.candidate.label)
    }

    struct MutantRun {
        var record: TestRunRecord
        var report: TestReport
        var evidence: RunEvidence?
        var timedOut: Bool { record.timedOut }
    }

    func run(_ task: TaskRecord, tests: [String], attempt: Int, environment: PreparedEnvironment,
             source: SynthesisSource) throws -> MutantRun {
        var spec = TestRunSpec(task: task, phase: .before, attempt: attempt, patches: [],
                               runsDirectory: options.runsDirectory, purpose: "synth")
        spec.testFiles = tests
        let host = spec.folder + "/evidence.json"
        if source.supportsSelection {
            let evidencePath = (options.useSandbox ? TestRunner.sandboxRunFolder : spec.folder) + "/evidence.json"
            spec.wrapCommand = { PythonHelper.wrap($0, evidencePath: evidencePath, trace: false) }
            spec.extraReadOnlyPaths = [PythonHelper.directory]
        }
        let outcome = try runner.run(spec, environment: environment)
        return MutantRun(record: outcome.record, report: outcome.report,
                         evidence: source.supportsSelection ? PythonHelper.evidence(at: host) : nil)
    }

    /// Saves the trial in one transaction; a kept task's mutant commit gets a ref so `git gc`
    /// keeps it (`refs/forge/synth/<id>`).
    func save(_ trial: Trial, source: SynthesisSource, store: TaskStore) throws {
        let prepared = trial.prepared
        let candidate = SynthesisCandidateRecord(
            key: prepared.key, repo: source.template.repo, sourceCommit: source.commit.hex,
            strategy: prepared.candidate.label, description: prepared.candidate.description,
            status: trial.task == nil ? .discarded : .kept, reason: trial.reason,
            instanceID: trial.task?.instanceID, testsRun: trial.testsRun, seconds: trial.seconds)
        if let task = trial.task {
            try repository.withRepository { repository in
                try repository.setReference("refs/forge/synth/\(task.instanceID)", to: prepared.commit)
            }
            try store.saveSynthesis(candidate, task: task, verdict: trial.verdict, runs: source.cleanRuns + trial.runs)
        } else {
            try store.saveSynthesis(candidate)
        }
    }
}
