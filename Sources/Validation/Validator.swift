import Environments
import Foundation
import Git
import PathRules
import Sandbox
import Store
import TestReports

/// Settings for a validation batch.
public struct ValidationOptions: Sendable {
    /// Extra runs of each state to detect flaky tests (each state runs `1 + reruns` times).
    public var reruns: Int
    /// Parallel tasks.
    public var jobs: Int
    public var useSandbox: Bool
    /// Root of run folders (logs, JUnit XML).
    public var runsDirectory: String

    public init(reruns: Int = 1, jobs: Int = 1, useSandbox: Bool = true, runsDirectory: String = "Workspace/runs") {
        self.reruns = reruns; self.jobs = jobs; self.useSandbox = useSandbox; self.runsDirectory = runsDirectory
    }
}

/// The result of validating one task: the updated task, its verdict and every run, ready to be
/// written to the store in one transaction.
public struct TaskValidation: Sendable {
    public var task: TaskRecord
    public var verdict: VerdictRecord
    public var runs: [TestRunRecord]
    public var environment: EnvironmentRecord?

    public var status: ValidationStatus { ValidationStatus(rawValue: verdict.status) ?? .error }
    public var reason: ValidationReason? { verdict.reason.flatMap { ValidationReason(rawValue: $0.components(separatedBy: ": ").first ?? "") } }
}

/// Confirms gold patches: before (test patch) and after (test + gold patch) runs, with reruns.
public final class Validator: Sendable {
    public let options: ValidationOptions
    private let runner: TestRunner
    private let environments: EnvironmentBuilder
    /// Shared with `runner`: one lock for every use of the libgit2 handle.
    private let repository: SharedRepository
    private let environmentLock = NSLock()
    private let checkoutsDirectory: String

    public init(repository: sending Repository, environments: EnvironmentBuilder, options: ValidationOptions) {
        let shared = SharedRepository(repository)
        self.repository = shared
        self.environments = environments
        self.options = options
        self.runner = TestRunner(repository: shared, useSandbox: options.useSandbox)
        self.checkoutsDirectory = environments.root.appendingPathComponent("checkouts").path
    }

    /// Validates one task. Task-level problems become a verdict; only a bug in Forge itself throws.
    public func validate(_ task: TaskRecord) -> TaskValidation {
        var runs: [TestRunRecord] = []
        let prepared: PreparedEnvironment
        do {
            prepared = try environment(for: task)
        } catch let failure as EnvironmentFailure {
            return finish(task, .invalid, .environmentFailed, detail: "\(failure)", runs: [], outcomes: nil,
                          environment: failure.storeRecord)
        } catch {
            return finish(task, .error, .infrastructure, detail: "\(error)", runs: [], outcomes: nil, environment: nil)
        }
        let environmentRecord = prepared.storeRecord
        do {
            var before: [TestReport] = [], after: [TestReport] = []
            for attempt in 0...options.reruns {
                for (phase, patches) in [(RunPhase.before, [("test_patch", task.testPatch)]),
                                         (RunPhase.after, [("test_patch", task.testPatch), ("patch", task.patch)])] {
                    let spec = TestRunSpec(task: task, phase: phase, attempt: attempt, patches: patches,
                                           runsDirectory: options.runsDirectory, purpose: "validate")
                    let outcome = try runner.run(spec, environment: prepared)
                    runs.append(outcome.record)
                    if case .patchDidNotApply(let name, let message)? = outcome.failure {
                        let reason: ValidationReason = name == "patch" ? .patchDidNotApply : .testPatchDidNotApply
                        return finish(task, .invalid, reason, detail: message, runs: runs, outcomes: nil, environment: environmentRecord)
                    }
                    if outcome.timedOut {
                        return finish(task, .invalid, .timeout, detail: "\(phase.rawValue) run \(attempt) hit \(Int(prepared.testTimeout)) s",
                                      runs: runs, outcomes: nil, environment: environmentRecord)
                    }
                    if let limit = outcome.record.resourceLimit {
                        return finish(task, .invalid, .resourceLimit, detail: "\(phase.rawValue) run \(attempt): \(limit)",
                                      runs: runs, outcomes: nil, environment: environmentRecord)
                    }
                    if phase == .before { before.append(outcome.report) } else { after.append(outcome.report) }
                }
            }
            if after.allSatisfy(\.isEmpty) {
                return finish(task, .invalid, .noTestsRan, detail: "no test results in the after runs (see \(runs.last?.logPath ?? "log"))",
                              runs: runs, outcomes: nil, environment: environmentRecord)
            }
            let outcomes = TestOutcomes.classify(before: before, after: after)
            var (status, reason) = outcomes.verdict
            var detail = ""
            if status == .valid {
                // Invariants: the gold patch scores 1 in every after run, the empty patch 0 in every before run.
                if !after.allSatisfy(outcomes.resolves) || before.contains(where: outcomes.resolves) {
                    (status, reason) = (.invalid, .invariant)
                    detail = "gold patch must resolve every after run and no before run"
                }
            } else if reason == .passToFail {
                detail = outcomes.passToFail.prefix(3).joined(separator: ", ")
            } else if reason == .noFailToPass,
                      let evidence = runs.filter({ $0.phase == .after }).lazy.compactMap({ $0.logPath.flatMap(NetworkFailures.evidence(inLogAt:)) }).first {
                (reason, detail) = (.needsNetwork, evidence)
            }
            return finish(task, status, reason, detail: detail, runs: runs, outcomes: outcomes, environment: environmentRecord)
        } catch {
            return finish(task, .error, .infrastructure, detail: "\(error)", runs: runs, outcomes: nil, environment: environmentRecord)
        }
    }

    /// The task's environment, built once per key; builds are serialised, cached ones are instant.
    /// Throws `EnvironmentFailure` when it cannot be built. Evaluation prepares its runs with it.
    public func environment(for task: TaskRecord) throws -> PreparedEnvironment {
        guard let setup = ObjectID(hex: task.environmentSetupCommit) ?? ObjectID(hex: task.baseCommit) else {
            throw ValidationError.badTask(task.instanceID, "environment_setup_commit is not a commit id")
        }
        // A gold patch that adds a dependency (pylint's appdirs) needs it installed for the after
        // runs, as SWE-bench's environments at the version's last commit have it: the manifests
        // are built with the patch's changes to them applied.
        let manifestPatch = Self.dependencyManifestPart(of: task.patch)
        return try environmentLock.withLock {
            let checkout = "\(checkoutsDirectory)/\(setup.hex)"
                + (manifestPatch.isEmpty ? "" : "-deps-" + SHA256.hex(Data(manifestPatch.utf8)).prefix(12))
            // Other processes (validators sharing a workspace, on this host or others) export the
            // same checkout: one exports it while the rest wait, or a second one would remove the
            // folder under the first.
            try FileManager.default.createDirectory(atPath: checkoutsDirectory, withIntermediateDirectories: true)
            let exporting = try FileLock.acquire(checkout + ".lock")
            defer { exporting.release() }
            // The export's file list, written last, marks a complete checkout; one without it (cut
            // short, or from before lists were kept) is exported again, or what earlier builds
            // generated there would pass for the tree's own files.
            if !FileManager.default.fileExists(atPath: checkout + "/" + GeneratedFiles.exportListName) {
                // What an earlier, unfinished export left must not pass for the tree's files.
                if FileManager.default.fileExists(atPath: checkout) { try FileManager.default.removeItem(atPath: checkout) }
                try FileManager.default.createDirectory(atPath: checkout, withIntermediateDirectories: true)
                // Objects the clone lacks (a mirror without its largest blobs) are left out and listed.
                let missing = try repository.withRepository { try $0.exportTree(of: setup, to: checkout, skippingMissingObjects: true) }
                if !missing.isEmpty {
                    try (missing.joined(separator: "\n") + "\n").write(toFile: checkout + ".missing-objects.txt", atomically: true, encoding: .utf8)
                }
                if !manifestPatch.isEmpty {
                    // Where the manifests moved on between the setup commit and the base, the
                    // patch may not apply: the environment is then the setup commit's own.
                    let scratch = checkout + ".patch"
                    try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
                    _ = try? PatchApplier.apply(manifestPatch, in: checkout, scratch: scratch, index: 0, runner: CommandRunner())
                }
                try GeneratedFiles.recordExport(of: URL(fileURLWithPath: checkout))
            }
            let date = Self.parseDate(task.createdAt) ?? Date()
            return try environments.prepare(ProjectSnapshot(directory: URL(fileURLWithPath: checkout), repo: task.repo,
                                                            version: task.version, createdAt: date))
        }
    }

    /// The sections of `patch` that change dependency manifests (root or one folder down):
    /// packaging files, tox/nox files and requirement files.
    static func dependencyManifestPart(of patch: String) -> String {
        let lines = patch.split(separator: "\n", omittingEmptySubsequences: false)
        var part: [Substring] = []
        for section in PatchPaths.sections(of: patch) where !section.isTraditional && section.paths.contains(where: isDependencyManifest) {
            part += lines[section.lineRange]
        }
        guard !part.isEmpty else { return "" }
        let text = part.joined(separator: "\n")
        return text.hasSuffix("\n") ? text : text + "\n"
    }

    static func isDependencyManifest(_ path: String) -> Bool {
        let components = path.split(separator: "/")
        guard let name = components.last.map({ $0.lowercased() }), components.count <= 2 else { return false }
        if ["setup.py", "setup.cfg", "pyproject.toml", "tox.ini", "noxfile.py", "pipfile"].contains(name) { return true }
        let isRequirementsFolder = components.count == 2 && components[0].lowercased().hasPrefix("requirements")
        return (name.hasSuffix(".txt") || name.hasSuffix(".in")) && (name.contains("requirements") || isRequirementsFolder)
    }

    private func finish(_ task: TaskRecord, _ status: ValidationStatus, _ reason: ValidationReason?, detail: String,
                        runs: [TestRunRecord], outcomes: TestOutcomes?, environment: EnvironmentRecord?) -> TaskValidation {
        var updated = task
        if let outcomes {
            updated.failToPass = outcomes.failToPass
            updated.passToPass = outcomes.passToPass
            updated.passToFail = outcomes.passToFail
            updated.flaky = outcomes.flaky
        }
        // One line per reason (git apply and uv print several): reports and the summary stay readable.
        let oneLine = detail.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }.joined(separator: "; ")
        let reasonText = reason.map { oneLine.isEmpty ? $0.rawValue : "\($0.rawValue): \(oneLine)" }
        let verdict = VerdictRecord(instanceID: task.instanceID, kind: .validation, status: status.rawValue, reason: reasonText,
                                    failToPass: outcomes?.failToPass ?? [], passToPass: outcomes?.passToPass ?? [],
                                    passToFail: outcomes?.passToFail ?? [], flaky: outcomes?.flaky ?? [],
                                    runIDs: runs.map(\.id), finishedAt: Date())
        return TaskValidation(task: updated, verdict: verdict, runs: runs, environment: environment)
    }

    static func parseDate(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: text)
    }
}
