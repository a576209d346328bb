import Environments
import Evaluation
import Foundation
import Git
import Sample
import SampleFixtures
import Store
import Validation
import Synchronization
import XCTest
@testable import Synthesis

/// The embedded sample, mined and validated once per test process, then synthesised from once
/// (every strategy, real uv environment, real pytest in bubblewrap).
final class SynthesizedSample: @unchecked Sendable {
    static let shared: Result<SynthesizedSample, Error> = Result { try SynthesizedSample() }

    let root: URL
    let clone: String
    let store: TaskStore
    let builder: EnvironmentBuilder
    let synthesizer: Synthesizer
    let source: TaskRecord
    let history: [TaskRecord]
    let summary: SynthesisSummary
    let kept: [TaskRecord]

    static func options(_ root: URL) -> SynthesisOptions {
        SynthesisOptions(maxCandidates: 30, jobs: 2, reruns: 0, runsDirectory: root.appendingPathComponent("runs").path,
                         workDirectory: root.appendingPathComponent("synth").path)
    }

    private init() throws {
        // A validated sample of its own: synthesis adds tasks to its store.
        let validated = try ValidatedSample(label: "synthesis")
        (root, clone, store, builder) = (validated.root, validated.clone, validated.store, validated.builder)
        let valid = Set(try store.verdicts(kind: .validation, status: "valid").map(\.instanceID))
        history = validated.allTasks
        source = history.filter { valid.contains($0.instanceID) }.max { $0.createdAt < $1.createdAt }!
        synthesizer = try Synthesizer(clone: clone, environments: builder, options: Self.options(root))
        summary = try synthesizer.run(repo: SampleRepository.repoName, sources: [source], history: history, store: store)
        kept = try store.tasks().filter { $0.statementSource == .synthetic }
    }

    func sourceState() throws -> SynthesisSource {
        try SynthesisSource(template: source, commit: ObjectID(hex: source.baseCommit)!, validator: synthesizer.validator,
                            runner: synthesizer.runner, repository: synthesizer.repository, options: synthesizer.options)
    }
}

final class SynthesisTests: XCTestCase {
    func sample() throws -> SynthesizedSample { try SynthesizedSample.shared.get() }

    func testEveryStrategyYieldsValidTasksRecordedAsSynthetic() throws {
        let sample = try sample()
        print(sample.summary.table)
        for strategy in SynthesisStrategy.allCases {
            XCTAssertGreaterThan(sample.summary.byStrategy[strategy]?.kept ?? 0, 0, "\(strategy) kept nothing:\n\(sample.summary.table)")
        }
        XCTAssertEqual(sample.kept.count, sample.summary.kept)
        let candidates = try sample.store.synthesisCandidates(repo: SampleRepository.repoName)
        XCTAssertEqual(candidates.count, sample.summary.tried)
        XCTAssertTrue(candidates.filter { $0.testsRun > 0 }.allSatisfy { $0.seconds > 0 }, "every run candidate records its time")
        for task in sample.kept {
            XCTAssertTrue(task.instanceID.hasPrefix("forge-sample__textkit.synth-"), task.instanceID)
            XCTAssertFalse(task.failToPass.isEmpty)
            XCTAssertTrue(Set(task.failToPass).isDisjoint(with: task.passToPass))
            XCTAssertFalse(task.passToPass.isEmpty, "the sample's other tests still pass")
            XCTAssertTrue(task.testPatch.isEmpty)
            XCTAssertNotNil(task.difficultyLevel.map { Difficulty.levels.contains($0) })
            XCTAssertNotNil(task.synthesisStrategy)
            XCTAssertEqual(task.environmentSetupCommit, sample.source.environmentSetupCommit)
            // The statement names a failing test and never shows the restored code.
            XCTAssertTrue(task.failToPass.contains { task.problemStatement.contains($0) }, task.problemStatement)
            for line in task.patch.split(separator: "\n") where line.hasPrefix("+") && !line.hasPrefix("+++") {
                let restored = line.dropFirst().trimmingCharacters(in: .whitespaces)
                if restored.count >= 12 { XCTAssertFalse(task.problemStatement.contains(restored), "\(task.instanceID) leaks \(restored)") }
            }
            // The mutant is a parentless commit kept alive by a ref.
            let repository = try Repository.open(sample.clone)
            XCTAssertEqual(try repository.commitInfo(ObjectID(hex: task.baseCommit)!).parentIDs, [])
            XCTAssertNotNil(try repository.reference(named: "refs/forge/synth/\(task.instanceID)"))
            XCTAssertEqual(try sample.store.verdict(instanceID: task.instanceID, kind: .validation)?.status, "valid")
        }
        // Single mutations are minimal: the gold patch changes one file.
        for task in sample.kept where task.synthesisStrategy?.hasPrefix("mutation:") == true {
            XCTAssertEqual(TestFiles.changed(in: task.patch).count, 1, task.patch)
        }
    }

    func testGoldPatchResolvesAndEmptyPatchDoesNotForEveryKeptTask() throws {
        let sample = try sample()
        XCTAssertFalse(sample.kept.isEmpty)
        let evaluator = try Evaluator(clones: [SampleRepository.repoName: sample.clone], environments: sample.builder,
                                      options: EvaluationOptions(runID: "synth-check", evaluationsDirectory: sample.root.appendingPathComponent("evals").path,
                                                                 jobs: 2, useSandbox: true))
        let noOp = "diff --git a/NOTES.txt b/NOTES.txt\nnew file mode 100644\n--- /dev/null\n+++ b/NOTES.txt\n@@ -0,0 +1 @@\n+notes\n"
        let failures = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: sample.kept.count) { index in
            let task = sample.kept[index]
            let gold = evaluator.evaluate(Prediction(instanceID: task.instanceID, model: "gold", patch: task.patch), task: task)
            let empty = evaluator.evaluate(Prediction(instanceID: task.instanceID, model: "empty", patch: ""), task: task)
            let unchanged = evaluator.evaluate(Prediction(instanceID: task.instanceID, model: "noop", patch: noOp), task: task)
            failures.withLock { failures in
                if gold.result.status != .resolved { failures.append("\(task.instanceID) gold: \(gold.result.status) \(gold.result.reason)") }
                if empty.result.status == .resolved { failures.append("\(task.instanceID) empty patch resolved") }
                if unchanged.result.status != .unresolved {
                    failures.append("\(task.instanceID) no-op patch: \(unchanged.result.status) \(unchanged.result.reason)")
                }
            }
        }
        XCTAssertEqual(failures.withLock { $0 }, [])
    }

    func testMutationThatBreaksNoTestIsDiscarded() throws {
        let sample = try sample()
        let source = try sample.sourceState()
        let path = "textkit/slug.py"
        let original = Array(try Data(contentsOf: URL(fileURLWithPath: "\(source.tree)/\(path)")))
        // A comment inside slugify: the tests that call it still pass.
        let text = String(decoding: original, as: UTF8.self)
        let mutated = text.replacingOccurrences(of: "    ascii_text =", with: "    # harmless\n    ascii_text =")
        XCTAssertNotEqual(mutated, text)
        let candidate = Candidate(strategy: .mutation, kinds: ["comment"], description: "a comment", files: [path: Array(mutated.utf8)],
                                  insideFunctions: true)
        let trial = try sample.synthesizer.attempt(try sample.synthesizer.prepare(candidate, source: source), source: source)
        XCTAssertNil(trial.task)
        XCTAssertTrue(trial.reason?.hasPrefix("no test fails") == true, trial.reason ?? "nil")
        XCTAssertGreaterThan(trial.testsRun, 0)
    }

    func testMutationThatBreaksTheBuildIsDiscardedWithTheReason() throws {
        let sample = try sample()
        let source = try sample.sourceState()
        // Does not compile: caught by the helper's compile check before any test runs.
        let broken = Candidate(strategy: .mutation, kinds: ["syntax"], description: "syntax error",
                               files: ["textkit/slug.py": Array("def slugify(text:\n".utf8)], insideFunctions: true)
        let prepared = try sample.synthesizer.prepare(broken, source: source)
        let errors = try sample.synthesizer.compileCheck([prepared], source: source)
        XCTAssertTrue(errors[prepared.key]?.contains("SyntaxError") == true, "\(errors)")
        // Compiles but cannot be imported: every test module errors at collection.
        let initPath = "textkit/__init__.py"
        let initText = try String(contentsOfFile: "\(source.tree)/\(initPath)", encoding: .utf8)
        let unimportable = Candidate(strategy: .mutation, kinds: ["import"], description: "import of a missing module",
                                     files: [initPath: Array(initText.replacingOccurrences(of: "from .slug import slugify",
                                                                                             with: "from .missing import slugify").utf8)],
                                     insideFunctions: false)
        let trial = try sample.synthesizer.attempt(try sample.synthesizer.prepare(unimportable, source: source), source: source)
        XCTAssertNil(trial.task)
        XCTAssertTrue(trial.reason?.hasPrefix("breaks the build") == true, trial.reason ?? "nil")
        XCTAssertTrue(trial.reason?.contains("missing") == true, trial.reason ?? "nil")
        // The run's own discards carry reasons too.
        let discarded = try sample.store.synthesisCandidates(repo: SampleRepository.repoName).filter { $0.status == .discarded }
        XCTAssertTrue(discarded.allSatisfy { !($0.reason ?? "").isEmpty })
    }

    func testRerunResumesAndSkipsTriedCandidates() throws {
        let sample = try sample()
        let again = try Synthesizer(clone: sample.clone, environments: sample.builder, options: SynthesizedSample.options(sample.root))
        let summary = try again.run(repo: SampleRepository.repoName, sources: [sample.source], history: sample.history, store: sample.store)
        XCTAssertGreaterThanOrEqual(summary.skippedAlreadyTried, sample.summary.tried)
        // Only candidates beyond the first run's limit are new; none of the old ones ran again.
        let candidates = try sample.store.synthesisCandidates(repo: SampleRepository.repoName)
        XCTAssertEqual(Set(candidates.map(\.key)).count, candidates.count)
    }

    func testLevelFilterAndJSONLFields() throws {
        let sample = try sample()
        let levels = Set(sample.kept.compactMap(\.difficultyLevel))
        let level = try XCTUnwrap(levels.min())
        let filtered = try sample.store.tasks(matching: TaskFilter(levels: level...level))
        XCTAssertEqual(Set(filtered.map(\.instanceID)), Set(sample.kept.filter { $0.difficultyLevel == level }.map(\.instanceID)))
        let line = TaskJSONL.line(for: try XCTUnwrap(filtered.first))
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        XCTAssertEqual(object["statement_source"] as? String, "synthetic")
        XCTAssertEqual(object["difficulty_level"] as? Int, level)
        XCTAssertNotNil(object["synthesis_strategy"] as? String)
    }

    func testHelperSitesAreSplicesOfTheOriginalBytes() throws {
        let sample = try sample()
        let source = try sample.sourceState()
        let helper = PythonHelper(environment: source.environment, useSandbox: true)
        let sites = try helper.sites(in: ["textkit/wrap.py", "textkit/duration.py"], tree: source.tree, scratch: source.scratch + "/test-sites")
        let kinds = Set(sites.values.flatMap { $0 }.map(\.kind))
        for kind in ["flip_comparison", "drop_statement", "invert_condition", "remove_return", "off_by_one"] {
            XCTAssertTrue(kinds.contains(kind), "no \(kind) site in \(kinds)")
        }
        for (file, fileSites) in sites {
            let original = Array(try Data(contentsOf: URL(fileURLWithPath: "\(source.tree)/\(file)")))
            for site in fileSites {
                let mutated = CandidateBuilder.splice(original, [site])
                // Bytes before and after the span are untouched.
                XCTAssertEqual(Array(mutated.prefix(site.start)), Array(original.prefix(site.start)))
                XCTAssertEqual(Array(mutated.suffix(original.count - site.end)), Array(original.suffix(original.count - site.end)))
            }
        }
    }

    func testSwiftTokenMutatorSkipsStringsAndComments() {
        let source = Array("""
        // a < b in a comment
        let s = "x == y \\(a < b)"
        /* nested /* a && b */ */
        let t = #"raw " == "#
        if count < limit && ok == true { return values[0..<3] }
        """.utf8)
        let sites = SwiftTokenMutator.sites(in: source)
        let edits = sites.map { String(decoding: source[$0.start..<$0.end], as: UTF8.self) + "→" + $0.replacement }
        XCTAssertEqual(Set(edits), ["<→>=", "&&→||", "==→!=", "true→false", "0→1", "..<→...", "3→4", "3→2"])
        XCTAssertTrue(sites.allSatisfy { $0.line == 5 }, "\(sites.map(\.line))")
    }
}
