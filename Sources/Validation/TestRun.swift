import Environments
import Foundation
import Git
import PathRules
import Sandbox
import Store
import TestReports

/// One test run of a task in one state: a fresh work dir holding the base tree (no `.git`, so no
/// future history), the patches applied, the environment's test command run in the sandbox, and
/// the per-test results parsed from JUnit XML (or the log when the runner writes none).
public struct TestRunSpec: Sendable {
    public var task: TaskRecord
    public var phase: RunPhase
    public var attempt: Int
    /// Patches applied in order on top of `base_commit` (e.g. test patch, then gold patch).
    public var patches: [(name: String, text: String)]
    /// Where this run's folder goes: `<runsDirectory>/<purpose>/<instance_id>/<phase>-<attempt>/`.
    public var runsDirectory: String
    public var purpose: String
    /// Test files to run instead of those `test_patch` touches (nil: the test patch decides).
    /// Evaluation narrows runs to the files holding FAIL_TO_PASS and PASS_TO_PASS.
    public var testFiles: [String]?
    /// Applies the patches instead of plain `git apply` (nil: `git apply`).
    public var patchApplier: (any PatchApplying)?
    /// Rewrites the environment's test argv before it runs (nil: as the recipe says). Synthesis
    /// runs pytest through its helper this way, to record failure evidence and a call map.
    public var wrapCommand: (@Sendable (_ argv: [String]) -> [String])?
    /// More paths the sandboxed run must see, read-only, at the same place (e.g. that helper).
    public var extraReadOnlyPaths: [String] = []

    public init(task: TaskRecord, phase: RunPhase, attempt: Int, patches: [(name: String, text: String)],
                runsDirectory: String, purpose: String) {
        self.task = task; self.phase = phase; self.attempt = attempt; self.patches = patches
        // Absolute, because patches are applied from inside the run's work dir: a relative
        // `--workspace ws` made `git apply ws/runs/…/patch-0.diff` miss its file.
        self.runsDirectory = URL(fileURLWithPath: runsDirectory).standardizedFileURL.path; self.purpose = purpose
    }

    public var folder: String {
        "\(runsDirectory)/\(purpose)/\(Identifier.pathComponent(task.instanceID))/\(phase.rawValue)-\(attempt)"
    }
}

/// What came out of one run.
public struct TestRunOutcome: Sendable {
    public enum Failure: Sendable, Hashable {
        /// The named patch did not apply; the message is `git apply`'s.
        case patchDidNotApply(name: String, message: String)
    }
    public var record: TestRunRecord
    public var report: TestReport
    public var failure: Failure?
    public var timedOut: Bool { record.timedOut }
}

/// Runs tests for tasks. Holds the repository (exports), the sandbox choice and the patch tools.
public final class TestRunner: Sendable {
    public let repository: SharedRepository
    public let useSandbox: Bool
    private let runner = CommandRunner()

    /// Where a sandboxed run sees its tree and its run folder (logs, JUnit XML).
    public static let sandboxTestbed = "/tmp/testbed"
    public static let sandboxRunFolder = "/tmp/forge-run"

    public init(repository: SharedRepository, useSandbox: Bool) {
        self.repository = repository; self.useSandbox = useSandbox
    }

    public convenience init(repository: sending Repository, useSandbox: Bool) {
        self.init(repository: SharedRepository(repository), useSandbox: useSandbox)
    }

    public func run(_ spec: TestRunSpec, environment: PreparedEnvironment) throws -> TestRunOutcome {
        let folder = spec.folder
        let work = folder + "/work"
        let fileManager = FileManager.default
        try? fileManager.removeItem(atPath: folder)
        try fileManager.createDirectory(atPath: work, withIntermediateDirectories: true)
        guard let base = ObjectID(hex: spec.task.baseCommit) else {
            throw ValidationError.badTask(spec.task.instanceID, "base_commit is not a commit id: '\(spec.task.baseCommit)'")
        }
        // Files whose objects the clone lacks are left out of the tree (and listed in the run
        // folder): a test that needs one fails before and after alike, so it decides nothing.
        let missing = try repository.withRepository { try $0.exportTree(of: base, to: work, skippingMissingObjects: true) }
        if !missing.isEmpty {
            try ("objects missing from the clone; left out of this tree:\n" + missing.joined(separator: "\n") + "\n")
                .write(toFile: folder + "/missing-objects.txt", atomically: true, encoding: .utf8)
        }
        if let files = environment.generatedFiles, let overlay = environment.generatedDirectory {
            GeneratedFiles.apply(files, from: overlay, to: work)
        }

        var record = TestRunRecord(instanceID: spec.task.instanceID, purpose: spec.purpose, phase: spec.phase,
                                   attempt: spec.attempt, command: [], exitStatus: nil, wallSeconds: 0,
                                   timedOut: false, logPath: folder + "/test.log", junitPath: nil,
                                   environmentKey: environment.key, results: [:])
        for (index, patch) in spec.patches.enumerated() where !patch.text.isEmpty {
            if let applier = spec.patchApplier {
                // A custom applier (e.g. the evaluator's repair ladder) keeps its own log.
                if let message = try applier.apply(patch.text, named: patch.name, in: work, scratch: folder, index: index) {
                    try? fileManager.removeItem(atPath: work)
                    return TestRunOutcome(record: record, report: TestReport(),
                                          failure: .patchDidNotApply(name: patch.name, message: message))
                }
            } else if let failed = try PatchApplier.apply(patch.text, in: work, scratch: folder, index: index, runner: runner) {
                // The run's record is git apply's: its command, status and log.
                record.command = failed.command
                record.exitStatus = failed.exitStatus
                record.wallSeconds = failed.wallSeconds
                record.logPath = failed.logPath
                try? fileManager.removeItem(atPath: work)
                return TestRunOutcome(record: record, report: TestReport(),
                                      failure: .patchDidNotApply(name: patch.name, message: failed.message))
            }
        }

        // Inside the sandbox every run sees its tree at one fixed path, as SWE-bench's /testbed:
        // test ids that embed paths (pytest parametrised on __file__) then match across reruns
        // and between validation and evaluation. /tmp is the sandbox's own tmpfs, so the mount
        // points can be created there under the read-only root.
        let (testbed, runFolder) = useSandbox ? (Self.sandboxTestbed, Self.sandboxRunFolder) : (work, folder)
        let junit = folder + "/junit.xml"
        let testFiles = spec.testFiles ?? TestFiles.selected(from: spec.task.testPatch, ecosystem: environment.ecosystem)
        let recipeArgv = environment.testCommand(for: testFiles, junitPath: runFolder + "/junit.xml", projectDirectory: testbed)
        let testArgv = spec.wrapCommand.map { $0(recipeArgv) } ?? recipeArgv
        // Services start inside the same sandbox (its network namespace: only this run reaches them).
        let services = environment.services ?? []
        let argv = try ServiceLauncher.prepare(services, testArgv: testArgv, hostFolder: folder, runFolder: runFolder,
                                               workingDirectory: testbed)
        guard let executable = argv.first else {
            throw ValidationError.badEnvironment(environment.key, "the recipe's test command is empty")
        }
        var environmentVariables = environment.testEnvironment(projectDirectory: testbed)
        environmentVariables["HOME"] = runFolder
        environmentVariables["TMPDIR"] = "/tmp"
        if environmentVariables["PATH"] == nil {
            environmentVariables["PATH"] = (environment.venvPath.map { "\($0)/bin:" } ?? "") + "/usr/local/bin:/usr/bin:/bin"
        }
        let command = Command(executable, Array(argv.dropFirst()), logPath: folder + "/test.log",
                              environment: environmentVariables, workingDirectory: testbed,
                              timeout: environment.testTimeout, killGracePeriod: 3)
        let result: CommandResult
        if useSandbox {
            let readOnly = (environment.readOnlyPaths + [environment.builtFrom] + spec.extraReadOnlyPaths + services.flatMap(\.readOnlyPaths))
                .filter { fileManager.fileExists(atPath: $0) }.map { BindMount($0) }
            // Hidden: every run folder (this one is bound back), the clone with its later history
            // and the other cached environments.
            let clone = (repository.gitDirectory as NSString).standardizingPath
            let hidden = [spec.runsDirectory, clone.hasSuffix("/.git") ? (clone as NSString).deletingLastPathComponent : clone]
                + environment.neighbouringEnvironments
            let sandbox = try Sandbox(policy: .bubblewrap(
                workDirectory: folder, readOnly: readOnly,
                readWrite: [BindMount(folder, at: runFolder), BindMount(work, at: testbed)],
                hidden: hidden, limits: environment.sandboxLimits))
            result = try sandbox.run(command)
        } else {
            result = try runner.run(command)
        }
        record.command = argv
        if let failure = ServiceLauncher.failure(exitStatus: result.timedOut ? nil : result.exitCode, hostFolder: folder,
                                                 services: services) {
            try? fileManager.removeItem(atPath: work)
            throw failure
        }
        // A killed run has no exit status of its own: under the sandbox bwrap outlives its killed
        // child and exits 128+signal, which would read as the tests' exit status.
        record.exitStatus = result.timedOut || result.cancelled ? nil : result.exitCode.map(Int.init)
        record.wallSeconds = result.wallSeconds
        record.timedOut = result.timedOut
        record.resourceLimit = result.resourceLimit?.description
        let report = Self.parseReport(junitPath: junit, logPath: result.logPath, environment: environment, projectDirectory: testbed)
        record.junitPath = [junit, JUnitReport.swiftTestingPath(forXUnitPath: junit)].first { SafeFile.isRegularFile(atPath: $0) }
        record.results = report.statuses.mapValues(\.rawValue)
        try? fileManager.removeItem(atPath: work) // the tree is reproducible; keep logs only
        return TestRunOutcome(record: record, report: report, failure: nil)
    }

    /// JUnit XML first; the runner's log format when there is no usable XML.
    /// `projectDirectory` (still present) resolves pytest ids of inherited tests and collection errors.
    /// The tested code could replace both files with links to host files: they are read through
    /// `SafeFile`, so a link reads as no file.
    static func parseReport(junitPath: String, logPath: String, environment: PreparedEnvironment,
                            projectDirectory: String? = nil) -> TestReport {
        if environment.testRunner.logFormat == "xctest" {
            // `swift test` writes XCTest's xunit only with --parallel and Swift Testing's results to a
            // sibling file: merge whichever exist with the XCTest console log.
            let log = SafeFile.text(atPath: logPath) ?? ""
            if environment.writesJUnit, let report = try? JUnitReport.parseSwiftTest(xunitPath: junitPath, xctestLog: log),
               !report.isEmpty {
                return report
            }
            return XCTestLog.parse(log)
        }
        if environment.writesJUnit, SafeFile.isRegularFile(atPath: junitPath),
           let report = try? JUnitReport.parse(fileAt: junitPath, pytestRoot: projectDirectory), !report.isEmpty {
            return report
        }
        let log = SafeFile.text(atPath: logPath) ?? ""
        return parseLog(log, format: environment.testRunner.logFormat)
    }

    /// Python log parsers by `log_format`; `pytest` for unknown names.
    static let pythonLogParsers: [(format: String, parse: @Sendable (String) -> TestReport)] = [
        ("pytest", PytestLog.parse), ("unittest", UnittestLog.parse), ("bin-test", BinTestLog.parse),
    ]

    /// The log read with its runner's format. A Python log that format finds no test in is read
    /// with the other Python formats, first non-empty wins, with a warning: a runner script chosen
    /// from a project's CI may print another runner's output (a script that runs unittest).
    static func parseLog(_ log: String, format: String) -> TestReport {
        if format == "cargo" { return CargoTestLog.parse(log) }
        let own = pythonLogParsers.first { $0.format == format } ?? pythonLogParsers[0]
        let report = own.parse(log)
        guard report.isEmpty else { return report }
        for other in pythonLogParsers where other.format != own.format {
            var fallback = other.parse(log)
            guard !fallback.isEmpty else { continue }
            fallback.warn("no \(own.format) results in the log; read as \(other.format) output")
            return fallback
        }
        return report
    }
}

/// Applies one patch of a run to its work directory (a plain folder, no `.git`).
public protocol PatchApplying: Sendable {
    /// Returns nil when the patch applied, else why not (the tool's message). `scratch` is the
    /// run folder, for the patch file and logs; `index` is the patch's position in the run.
    func apply(_ patch: String, named name: String, in workDirectory: String, scratch: String, index: Int) throws -> String?
}

/// Applies unified diffs to a plain directory with `git apply` (which needs no repository).
enum PatchApplier {
    struct Failure {
        /// git's message.
        var message: String
        var command: [String]
        var exitStatus: Int?
        var wallSeconds: Double
        var logPath: String
    }

    /// Returns nil on success.
    static func apply(_ patch: String, in directory: String, scratch: String, index: Int, runner: CommandRunner) throws -> Failure? {
        let file = "\(scratch)/patch-\(index).diff"
        try patch.write(toFile: file, atomically: true, encoding: .utf8)
        // The ceiling keeps git from treating an enclosing repository (e.g. Forge's own) as the target.
        let parent = (directory as NSString).deletingLastPathComponent
        let arguments = ["apply", "--whitespace=nowarn", "--binary", file]
        let command = Command("git", arguments, logPath: "\(scratch)/patch-\(index).log",
                              environment: ["GIT_CEILING_DIRECTORIES": parent, "PATH": "/usr/local/bin:/usr/bin:/bin",
                                            "HOME": scratch],
                              workingDirectory: directory, timeout: 60)
        let result = try runner.run(command)
        if result.succeeded { return nil }
        return Failure(message: result.logTail(maxBytes: 2000).trimmingCharacters(in: .whitespacesAndNewlines),
                       command: ["git"] + arguments, exitStatus: result.exitCode.map(Int.init),
                       wallSeconds: result.wallSeconds, logPath: result.logPath)
    }
}

/// Which test files a task's test patch touches: SWE-bench runs those, not the whole suite.
public enum TestFiles {
    /// The files the patch leaves behind, named as `git apply` names them (`PatchPaths`).
    public static func changed(in patch: String) -> [String] { PatchPaths.written(patch) }

    /// Runnable test files for the ecosystem; empty means "run the whole suite".
    public static func selected(from testPatch: String, ecosystem: Ecosystem) -> [String] {
        let files = changed(in: testPatch)
        guard ecosystem == .python else { return files }
        return files.filter { path in
            let name = (path as NSString).lastPathComponent
            return name.hasSuffix(".py") && name != "conftest.py" && name != "__init__.py"
                && (name.hasPrefix("test") || name.hasSuffix("_test.py") || path.contains("test"))
        }
    }
}

public enum ValidationError: Error, CustomStringConvertible, Sendable {
    case badTask(String, String)
    case badEnvironment(String, String)

    public var description: String {
        switch self {
        case .badTask(let id, let message): return "task \(id): \(message)"
        case .badEnvironment(let key, let message): return "environment \(key): \(message)"
        }
    }
}
