/// One task in SWE-bench's schema (see shared/reference/tasks.md), plus Forge's extras.
///
/// This struct is the contract between every stage: Mining and Synthesis produce it, the Store
/// persists it, Validation fills `failToPass`/`passToPass`/`passToFail`/`flaky`, Evaluation reads it.
/// In JSONL the list fields FAIL_TO_PASS, PASS_TO_PASS, PASS_TO_FAIL and FLAKY are JSON arrays
/// encoded *as strings*, as SWE-bench's datasets have them; in Swift they are plain arrays.
public struct TaskRecord: Hashable, Sendable {
    // SWE-bench's fields.
    public var instanceID: String            // instance_id: owner__name-<PR number>
    public var repo: String                  // owner/name
    public var baseCommit: String            // 40-hex commit both patches apply to
    public var patch: String                 // gold patch: non-test files
    public var testPatch: String             // test files
    public var problemStatement: String
    public var hintsText: String
    public var createdAt: String             // ISO-8601
    public var version: String               // major.minor at base_commit
    public var environmentSetupCommit: String
    public var failToPass: [String]
    public var passToPass: [String]

    // Forge's extras.
    public var pullNumber: Int?
    public var issueNumbers: [Int]
    public var mergeCommit: String?
    public var mergeStyle: MergeStyle?
    public var statementSource: StatementSource
    public var language: String?
    public var passToFail: [String]
    public var flaky: [String]
    /// Changes to files that are neither code nor tests (docs, changelogs): in neither patch.
    public var otherPatch: String
    public var license: String?
    /// Synthetic tasks: how hard, 1 (easiest) … 5, from the size of the fix, the number of
    /// failing tests and the call distance from them to the edit (see Synthesis.Difficulty).
    /// Nil for mined tasks. Training orders tasks by it; `--level` filters on it.
    public var difficultyLevel: Int?
    /// Synthetic tasks: the strategy that made the bug (`flip_comparison`, `pr_mirror`, `combination`, …).
    public var synthesisStrategy: String?
    /// Which form the test lists' ids take: JUnit's (Forge's runs) or SWE-bench's truncated one.
    public var testIDFormat: TestIDFormat
    /// Dataset fields Forge does not use (SWE-bench 5's `image`, `eval_script`, …, anyone's own),
    /// kept as imported: key → the value's JSON text. Written back on export.
    public var extraFields: [String: String]

    public init(instanceID: String, repo: String, baseCommit: String, patch: String, testPatch: String,
                problemStatement: String, hintsText: String = "", createdAt: String, version: String,
                environmentSetupCommit: String, failToPass: [String] = [], passToPass: [String] = [],
                pullNumber: Int? = nil, issueNumbers: [Int] = [], mergeCommit: String? = nil,
                mergeStyle: MergeStyle? = nil, statementSource: StatementSource, language: String? = nil,
                passToFail: [String] = [], flaky: [String] = [], otherPatch: String = "", license: String? = nil,
                difficultyLevel: Int? = nil, synthesisStrategy: String? = nil,
                testIDFormat: TestIDFormat = .junit, extraFields: [String: String] = [:]) {
        self.instanceID = instanceID; self.repo = repo; self.baseCommit = baseCommit
        self.patch = patch; self.testPatch = testPatch; self.problemStatement = problemStatement
        self.hintsText = hintsText; self.createdAt = createdAt; self.version = version
        self.environmentSetupCommit = environmentSetupCommit
        self.failToPass = failToPass; self.passToPass = passToPass
        self.pullNumber = pullNumber; self.issueNumbers = issueNumbers; self.mergeCommit = mergeCommit
        self.mergeStyle = mergeStyle; self.statementSource = statementSource; self.language = language
        self.passToFail = passToFail; self.flaky = flaky; self.otherPatch = otherPatch; self.license = license
        self.difficultyLevel = difficultyLevel; self.synthesisStrategy = synthesisStrategy
        self.testIDFormat = testIDFormat; self.extraFields = extraFields
    }

    /// `owner__name-N`, SWE-bench's instance id convention.
    public static func instanceID(repo: String, pullNumber: Int) -> String {
        repo.split(separator: "/", omittingEmptySubsequences: false).joined(separator: "__") + "-\(pullNumber)"
    }
}

/// The id form of a task's test lists. Forge reads ids from JUnit XML (`t.py::test_x[5m 3]`);
/// SWE-bench's pytest log parser cuts each result line at whitespace (`t.py::test_x[5m`), and
/// its datasets hold such truncated ids.
/// `TestIDMatcher` (TestReports) grades either form against a run's results.
public enum TestIDFormat: String, Codable, Hashable, Sendable, CaseIterable {
    case junit, swebench
}

/// How a pull request landed on its target branch.
public enum MergeStyle: String, Codable, Hashable, Sendable, CaseIterable {
    case merge, squash, rebase
}

/// Where a task's problem statement came from.
public enum StatementSource: String, Codable, Hashable, Sendable, CaseIterable {
    case issue                // linked issue(s), from --metadata
    case pullRequest = "pull_request"   // PR title/body from --metadata, no linked issue
    case commit               // merge/squash commit message (no metadata)
    case synthetic            // written by Synthesis from failing-test evidence
    case imported             // loaded from an external SWE-bench-style dataset
}
