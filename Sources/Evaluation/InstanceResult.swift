import Foundation

/// How one prediction scored. Model failures (unresolved, patch failed, empty) are kept apart
/// from infrastructure errors, which say nothing about the model.
public enum EvaluationStatus: String, Codable, Hashable, Sendable, CaseIterable {
    /// Every FAIL_TO_PASS and PASS_TO_PASS test passed.
    case resolved
    /// The tests ran and at least one of them did not pass.
    case unresolved
    /// No patch (`null`, "" or whitespace): not run, as in SWE-bench.
    case emptyPatch = "empty_patch"
    /// The model patch applied with none of the methods tried.
    case patchFailed = "patch_failed"
    /// The model patch changed the tests or their infrastructure in a way that affects the run
    /// (`TestInfrastructure.affectsRun`): reward 0, tests not run. Never under SWE-bench semantics.
    case testsModified = "tests_modified"
    /// Infrastructure: environment missing or failed, sandbox failure, timeout, test patch did
    /// not apply, task not evaluable, no clone.
    case error
}

/// Passing and failing tests of one list, as SWE-bench's per-instance report writes them.
public struct TestListStatus: Codable, Hashable, Sendable {
    public var success: [String] = []
    public var failure: [String] = []
    public init(success: [String] = [], failure: [String] = []) { self.success = success; self.failure = failure }
}

/// One prediction's result: SWE-bench's per-instance `report.json` fields plus Forge's.
public struct InstanceResult: Codable, Hashable, Sendable {
    public var instanceID: String
    public var model: String
    public var status: EvaluationStatus
    /// One line: why (error, patch failure, failing tests); empty when resolved.
    public var reason: String
    public var applyMethod: ApplyMethod?
    public var patchFixes: [PatchText.Fix]
    /// Paths of the model patch that look like tests (flagged; kept, as SWE-bench keeps them).
    public var testPathsTouched: [String]
    /// Files the model patch changed that `test_patch` also changes: `test_patch`'s version wins
    /// (SWE-bench resets them before applying it).
    public var replacedByTestPatch: [String]
    /// Every test or test-infrastructure file the model patch changed, put back to base +
    /// `test_patch` before the tests ran (those of `replacedByTestPatch` included).
    public var restoredTestFiles: [String]
    public var failToPass: TestListStatus
    public var passToPass: TestListStatus
    public var environmentKey: String?
    public var testCommand: [String]
    public var exitStatus: Int?
    public var timedOut: Bool
    public var wallSeconds: Double
    /// Files in the instance folder (relative names), when written.
    public var logFile: String?
    public var junitFile: String?

    public init(instanceID: String, model: String, status: EvaluationStatus, reason: String = "",
                applyMethod: ApplyMethod? = nil, patchFixes: [PatchText.Fix] = [], testPathsTouched: [String] = [],
                replacedByTestPatch: [String] = [], restoredTestFiles: [String] = [], failToPass: TestListStatus = .init(), passToPass: TestListStatus = .init(),
                environmentKey: String? = nil, testCommand: [String] = [], exitStatus: Int? = nil, timedOut: Bool = false,
                wallSeconds: Double = 0, logFile: String? = nil, junitFile: String? = nil) {
        self.instanceID = instanceID; self.model = model; self.status = status; self.reason = reason
        self.applyMethod = applyMethod; self.patchFixes = patchFixes; self.testPathsTouched = testPathsTouched
        self.replacedByTestPatch = replacedByTestPatch; self.restoredTestFiles = restoredTestFiles; self.failToPass = failToPass; self.passToPass = passToPass
        self.environmentKey = environmentKey; self.testCommand = testCommand; self.exitStatus = exitStatus
        self.timedOut = timedOut; self.wallSeconds = wallSeconds; self.logFile = logFile; self.junitFile = junitFile
    }

    public var resolved: Bool { status == .resolved }
    public var touchesTests: Bool { !testPathsTouched.isEmpty }

    enum CodingKeys: String, CodingKey {
        // SWE-bench's keys.
        case patchIsNone = "patch_is_None", patchExists = "patch_exists"
        case patchApplied = "patch_successfully_applied", resolved, testsStatus = "tests_status"
        case infraFailure = "infra_failure"
        // Forge's.
        case instanceID = "instance_id", model = "model_name_or_path", status, reason
        case applyMethod = "apply_method", patchFixes = "patch_fixes", testPathsTouched = "touches_tests"
        case replacedByTestPatch = "replaced_by_test_patch", restoredTestFiles = "restored_test_files", environmentKey = "environment_key"
        case testCommand = "test_command", exitStatus = "exit_status", timedOut = "timed_out"
        case wallSeconds = "wall_seconds", logFile = "log_file", junitFile = "junit_file"
    }

    private enum TestsStatusKeys: String, CodingKey {
        case failToPass = "FAIL_TO_PASS", passToPass = "PASS_TO_PASS", failToFail = "FAIL_TO_FAIL", passToFail = "PASS_TO_FAIL"
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(status == .emptyPatch, forKey: .patchIsNone)
        try container.encode(status != .emptyPatch, forKey: .patchExists)
        try container.encode(applyMethod != nil, forKey: .patchApplied)
        try container.encode(resolved, forKey: .resolved)
        // SWE-bench 5's flag for failures of the infrastructure, not the model.
        try container.encode(status == .error, forKey: .infraFailure)
        var tests = container.nestedContainer(keyedBy: TestsStatusKeys.self, forKey: .testsStatus)
        try tests.encode(failToPass, forKey: .failToPass)
        try tests.encode(passToPass, forKey: .passToPass)
        try tests.encode(TestListStatus(), forKey: .failToFail)
        try tests.encode(TestListStatus(), forKey: .passToFail)
        try container.encode(instanceID, forKey: .instanceID)
        try container.encode(model, forKey: .model)
        try container.encode(status, forKey: .status)
        try container.encode(reason, forKey: .reason)
        try container.encodeIfPresent(applyMethod, forKey: .applyMethod)
        try container.encode(patchFixes, forKey: .patchFixes)
        try container.encode(testPathsTouched, forKey: .testPathsTouched)
        try container.encode(replacedByTestPatch, forKey: .replacedByTestPatch)
        try container.encode(restoredTestFiles, forKey: .restoredTestFiles)
        try container.encodeIfPresent(environmentKey, forKey: .environmentKey)
        try container.encode(testCommand, forKey: .testCommand)
        try container.encodeIfPresent(exitStatus, forKey: .exitStatus)
        try container.encode(timedOut, forKey: .timedOut)
        try container.encode(wallSeconds, forKey: .wallSeconds)
        try container.encodeIfPresent(logFile, forKey: .logFile)
        try container.encodeIfPresent(junitFile, forKey: .junitFile)
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let tests = try container.nestedContainer(keyedBy: TestsStatusKeys.self, forKey: .testsStatus)
        self.init(instanceID: try container.decode(String.self, forKey: .instanceID),
                  model: try container.decode(String.self, forKey: .model),
                  status: try container.decode(EvaluationStatus.self, forKey: .status),
                  reason: try container.decode(String.self, forKey: .reason),
                  applyMethod: try container.decodeIfPresent(ApplyMethod.self, forKey: .applyMethod),
                  patchFixes: try container.decode([PatchText.Fix].self, forKey: .patchFixes),
                  testPathsTouched: try container.decode([String].self, forKey: .testPathsTouched),
                  replacedByTestPatch: try container.decode([String].self, forKey: .replacedByTestPatch),
                  restoredTestFiles: try container.decodeIfPresent([String].self, forKey: .restoredTestFiles) ?? [],
                  failToPass: try tests.decode(TestListStatus.self, forKey: .failToPass),
                  passToPass: try tests.decode(TestListStatus.self, forKey: .passToPass),
                  environmentKey: try container.decodeIfPresent(String.self, forKey: .environmentKey),
                  testCommand: try container.decode([String].self, forKey: .testCommand),
                  exitStatus: try container.decodeIfPresent(Int.self, forKey: .exitStatus),
                  timedOut: try container.decode(Bool.self, forKey: .timedOut),
                  wallSeconds: try container.decode(Double.self, forKey: .wallSeconds),
                  logFile: try container.decodeIfPresent(String.self, forKey: .logFile),
                  junitFile: try container.decodeIfPresent(String.self, forKey: .junitFile))
    }
}

/// Reading and writing `<instance folder>/report.json`: `{"<instance_id>": {...}}`, as SWE-bench does.
enum InstanceReportFile {
    static func write(_ result: InstanceResult, to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try encoder.encode([result.instanceID: result]).write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    /// nil when missing or unreadable (then the prediction is evaluated again).
    static func read(_ path: String, instanceID: String) -> InstanceResult? {
        guard let data = FileManager.default.contents(atPath: path),
              let decoded = try? JSONDecoder().decode([String: InstanceResult].self, from: data) else { return nil }
        return decoded[instanceID]
    }
}
