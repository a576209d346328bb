import Foundation
import Sandbox
import TestReports

/// How each test behaved across the before (test patch only) and after (test patch + gold patch)
/// runs of one task. Every state may run several times; a test whose pass/fail outcome differs
/// between runs of the same state is flaky and leaves every other list.
public struct TestOutcomes: Hashable, Sendable {
    public var failToPass: [String] = []
    public var passToPass: [String] = []
    public var passToFail: [String] = []
    public var failToFail: [String] = []
    public var flaky: [String] = []

    /// A test's outcome in one state, over all of that state's runs.
    enum Consistent { case passed, failed, skipped, flaky }

    public init(failToPass: [String] = [], passToPass: [String] = [], passToFail: [String] = [],
                failToFail: [String] = [], flaky: [String] = []) {
        self.failToPass = failToPass; self.passToPass = passToPass; self.passToFail = passToFail
        self.failToFail = failToFail; self.flaky = flaky
    }

    /// Classifies the union of test ids seen in any run. A test missing from a run counts as not
    /// passing there (SWE-bench's rule: e.g. a test file that failed to import before the fix).
    public static func classify(before: [TestReport], after: [TestReport]) -> TestOutcomes {
        var ids = Set<String>()
        for report in before + after { ids.formUnion(report.statuses.keys) }
        var outcomes = TestOutcomes()
        for id in ids.sorted() {
            let was = consistent(id, in: before), now = consistent(id, in: after)
            switch (was, now) {
            case (.flaky, _), (_, .flaky): outcomes.flaky.append(id)
            case (.failed, .passed): outcomes.failToPass.append(id)
            case (.passed, .passed): outcomes.passToPass.append(id)
            case (.passed, .failed): outcomes.passToFail.append(id)
            case (.failed, .failed): outcomes.failToFail.append(id)
            default: break // skipped in either state: says nothing about the patch
            }
        }
        return outcomes
    }

    static func consistent(_ id: String, in runs: [TestReport]) -> Consistent {
        var seen = Set<Consistent>()
        for run in runs {
            switch run[id] {
            case .passed?: seen.insert(.passed)
            case .skipped?: seen.insert(.skipped)
            case .failed?, .error?, nil: seen.insert(.failed)
            }
        }
        _ = seen.remove(.skipped)
        if seen.isEmpty { return .skipped }
        return seen.count == 1 ? seen.first! : .flaky
    }
}

/// Why a task is not valid. Raw values are what the store records and reports show.
public enum ValidationReason: String, Codable, Hashable, Sendable, CaseIterable {
    case environmentFailed = "env build failed"
    case testPatchDidNotApply = "test patch did not apply"
    case patchDidNotApply = "patch did not apply"
    case noTestsRan = "no tests ran"
    case noFailToPass = "no FAIL_TO_PASS"
    case passToFail = "PASS_TO_FAIL"
    case timeout = "timeout"
    /// No FAIL_TO_PASS, and the after runs failed on connection errors: the tests need the
    /// network, which sandboxed runs do not have (not a fault of the gold patch).
    case needsNetwork = "tests need the network"
    /// A run hit a sandbox limit (processes, memory, file size, disk, CPU time).
    case resourceLimit = "resource limit"
    case flaky = "flaky"
    case invariant = "invariant broken"
    case infrastructure = "infrastructure error"
}

/// The verdict's status: infrastructure errors are kept apart from task failures.
public enum ValidationStatus: String, Codable, Hashable, Sendable, CaseIterable {
    case valid, invalid, error
}

extension TestOutcomes {
    /// SWE-bench's and DeepSeek-V3.2's rule: valid iff FAIL_TO_PASS is non-empty and PASS_TO_FAIL empty.
    /// When FAIL_TO_PASS is empty only because its candidates were flaky, the reason says so.
    public var verdict: (status: ValidationStatus, reason: ValidationReason?) {
        if !passToFail.isEmpty { return (.invalid, .passToFail) }
        if failToPass.isEmpty { return (.invalid, flaky.isEmpty ? .noFailToPass : .flaky) }
        return (.valid, nil)
    }

    /// SWE-bench's resolution rule applied to one run: every FAIL_TO_PASS and PASS_TO_PASS passes.
    public func resolves(_ report: TestReport) -> Bool {
        (failToPass + passToPass).allSatisfy { report[$0] == .passed }
    }
}

/// Connection errors in a test log: what tests that need the network print when a sandboxed run
/// has none (no DNS, no route). Read from the log Forge captured, as data.
enum NetworkFailures {
    static let markers = [
        "Temporary failure in name resolution", "Name or service not known", "nodename nor servname provided",
        "Network is unreachable", "Failed to establish a new connection", "getaddrinfo failed",
        "[Errno -3]", "[Errno -2]", "[Errno 101]", "Could not resolve host",
    ]

    /// The first log line showing a connection error, trimmed; nil when none does.
    static func evidence(inLogAt path: String) -> String? {
        guard let text = SafeFile.text(atPath: path, maxBytes: 8 << 20) else { return nil }
        for line in text.split(separator: "\n") where markers.contains(where: { line.contains($0) }) {
            return String(line.trimmingCharacters(in: .whitespaces).prefix(200))
        }
        return nil
    }
}
