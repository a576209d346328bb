import Foundation
import Synchronization
import PathRules
import Sandbox
import Validation

/// How a model patch got applied, recorded per instance (`apply_method` in the report).
public enum ApplyMethod: String, Codable, Hashable, Sendable, CaseIterable {
    /// `git apply` (after the CRLF / final-newline repairs).
    case gitApply = "git_apply"
    /// `git apply --recount --inaccurate-eof`: hunk headers with wrong line counts.
    case gitApplyRecount = "git_apply_recount"
    /// `patch -p1 --fuzz=3` (GNU patch): context that drifted a little.
    case patchFuzz = "patch_fuzz"
    /// `git apply` on the patch exactly as submitted, CRLF kept: for files that really use CRLF.
    case gitApplyOriginal = "git_apply_original"
}

/// Applies a run's patches: the model's patch with SWE-bench-style forgiveness — repairs first,
/// then ever looser tools until one works — then the tests put back, then `test_patch` with
/// plain `git apply`. Every attempt is logged to `<scratch>/apply.log`. One instance per run: it remembers what worked.
final class ModelPatchApplier: PatchApplying, Sendable {
    static let modelPatchName = "model_patch"

    private let runner = CommandRunner()
    /// What this run's application found, read by the evaluator after the run.
    private struct Findings {
        var method: ApplyMethod?
        var fixes: [PatchText.Fix] = []
        var restored: [TestInfrastructureGuard.Change] = []
    }
    private let findings = Mutex(Findings())

    /// What applied the model patch, once it has.
    var appliedWith: ApplyMethod? { findings.withLock { $0.method } }
    /// The repairs the model patch needed.
    var repairs: [PatchText.Fix] { findings.withLock { $0.fixes } }

    /// The files `test_patch` touches, put back after the model patch.
    private let testPatchPaths: Set<String>
    /// The test files the run executes (nil: the whole suite).
    private let runTestFiles: Set<String>?
    /// SWE-bench's exact semantics: only `test_patch`'s files are put back, and nothing stops the run.
    private let swebenchSemantics: Bool

    /// Guarded files the model patch changed, put back before `test_patch` was applied.
    var restoredPaths: [String] { findings.withLock { $0.restored.map(\.path) } }
    /// Those changes that affect the run (`TestInfrastructure.affectsRun`); never any under SWE-bench semantics.
    var runAffectingChanges: [String] {
        findings.withLock { findings in
            swebenchSemantics ? [] : findings.restored.filter {
                TestInfrastructure.affectsRun($0.path, kind: $0.kind, runTestFiles: runTestFiles, testPatchPaths: testPatchPaths)
            }.map(\.path)
        }
    }

    init(testPatchPaths: Set<String>, runTestFiles: Set<String>?, swebenchSemantics: Bool) {
        self.testPatchPaths = testPatchPaths; self.runTestFiles = runTestFiles; self.swebenchSemantics = swebenchSemantics
    }

    /// Applies the model patch (first, on the base tree, as the model saw it) and puts the tests
    /// back; then `test_patch` over them. A model patch whose changes to the tests affect the run
    /// stops it here (Forge's semantics): the message names them and `runAffectingChanges` says so.
    func apply(_ patch: String, named name: String, in workDirectory: String, scratch: String, index: Int) throws -> String? {
        guard name == Self.modelPatchName else {
            return try applyPlain(patch, named: name, in: workDirectory, scratch: scratch)
        }
        let guardian = TestInfrastructureGuard(work: workDirectory, testPatchPaths: testPatchPaths, allInfrastructure: !swebenchSemantics)
        if let failure = try applyModelPatch(patch, in: workDirectory, scratch: scratch) { return failure }
        let changes = try guardian.restore()
        findings.withLock { $0.restored = changes }
        let affecting = runAffectingChanges
        return affecting.isEmpty ? nil : "the patch changes the tests or their infrastructure: " + affecting.joined(separator: ", ")
    }

    private func applyPlain(_ patch: String, named name: String, in workDirectory: String, scratch: String) throws -> String? {
        let file = "\(scratch)/\(name).diff"
        try patch.write(toFile: file, atomically: true, encoding: .utf8)
        return try run(["git", "apply", "--whitespace=nowarn", "--binary", file], label: "\(name): git apply",
                       in: workDirectory, log: "\(scratch)/apply.log")
    }

    private func applyModelPatch(_ patch: String, in workDirectory: String, scratch: String) throws -> String? {
        let log = "\(scratch)/apply.log"
        let (text, repairs) = PatchText.normalized(patch)
        findings.withLock { $0.fixes = repairs }
        let file = "\(scratch)/model_patch.normalized.diff"
        try text.write(toFile: file, atomically: true, encoding: .utf8)

        var attempts: [(ApplyMethod, [String])] = [
            (.gitApply, ["git", "apply", "--whitespace=nowarn", "--binary", file]),
            (.gitApplyRecount, ["git", "apply", "--whitespace=nowarn", "--binary", "--recount", "--inaccurate-eof", file]),
        ]
        if !PatchText.hasBinaryData(text) {
            attempts.append((.patchFuzz, ["patch", "--batch", "--forward", "-p1", "--fuzz=3", "--no-backup-if-mismatch",
                                          "--reject-file=-", "--input=\(file)"]))
        }
        if repairs.contains(.crlf) {
            let original = "\(scratch)/model_patch.original.diff"
            try Data(patch.utf8).write(to: URL(fileURLWithPath: original))
            attempts.append((.gitApplyOriginal, ["git", "apply", "--whitespace=nowarn", "--binary", original]))
        }
        var messages: [String] = []
        for (method, argv) in attempts {
            // patch(1) applies hunk by hunk and leaves a half-patched tree behind when one fails, so
            // it runs dry first; git apply is all-or-nothing by itself.
            if method == .patchFuzz,
               let message = try run(argv + ["--dry-run"], label: "model_patch: \(method.rawValue) (dry run)", in: workDirectory, log: log) {
                messages.append("\(method.rawValue): \(message)")
                continue
            }
            if let message = try run(argv, label: "model_patch: \(method.rawValue)", in: workDirectory, log: log) {
                messages.append("\(method.rawValue): \(message)")
                continue
            }
            findings.withLock { $0.method = method }
            return nil
        }
        return messages.joined(separator: "\n")
    }

    /// Runs one tool; nil when it succeeded, else the last lines of its output.
    private func run(_ argv: [String], label: String, in directory: String, log: String) throws -> String? {
        let output = log + ".part"
        // The ceiling keeps git from treating an enclosing repository (e.g. Forge's own) as the target.
        let parent = (directory as NSString).deletingLastPathComponent
        let command = Command(argv[0], Array(argv.dropFirst()), logPath: output,
                              environment: ["GIT_CEILING_DIRECTORIES": parent, "PATH": "/usr/local/bin:/usr/bin:/bin",
                                            "HOME": (log as NSString).deletingLastPathComponent, "LC_ALL": "C"],
                              workingDirectory: directory, timeout: 60)
        let result = try runner.run(command)
        let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(atPath: output)
        let entry = "$ \(label)\n\(text)\(text.isEmpty || text.hasSuffix("\n") ? "" : "\n")-> \(result.succeeded ? "applied" : "failed (\(result.termination))")\n\n"
        Self.append(entry, to: log)
        if result.succeeded { return nil }
        let lines = text.split(separator: "\n").suffix(8).joined(separator: "\n")
        return lines.isEmpty ? "\(argv[0]) failed (\(result.termination))" : lines
    }

    private static func append(_ text: String, to path: String) {
        if let handle = FileHandle(forWritingAtPath: path) {
            handle.seekToEndOfFile()
            handle.write(Data(text.utf8))
            handle.closeFile()
        } else {
            _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        }
    }
}
