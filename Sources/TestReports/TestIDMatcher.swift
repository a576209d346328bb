/// Looks tests up in a run's results by either id form: JUnit's (`t.py::test_x[5m 3]`, what
/// Forge records) or SWE-bench's (`t.py::test_x[5m`: its pytest log parser cuts each `PASSED
/// <id>` line at whitespace, and its datasets hold such ids). Both name the same test, so a
/// task graded with either list reaches the same verdict.
public struct TestIDMatcher: Sendable {
    private let report: TestReport
    /// SWE-bench's form → the outcomes of the results that cut to it, for ids that do get cut.
    private let byCut: [String: [TestStatus]]

    public init(_ report: TestReport) {
        self.report = report
        var byCut: [String: [TestStatus]] = [:]
        for (id, status) in report.statuses {
            let cut = Self.swebenchForm(id)
            if cut != id { byCut[cut, default: []].append(status) }
        }
        self.byCut = byCut
    }

    /// The id as SWE-bench's `parse_log_pytest` reads it off a result line: up to the first
    /// whitespace.
    public static func swebenchForm(_ id: String) -> String {
        String(id.prefix { !$0.isWhitespace })
    }

    /// The outcome of `id`: its own result if there is one; for an id in SWE-bench's form, the
    /// results that cut to it (passed only if every one passed, else the first other outcome);
    /// for a JUnit id in results that were parsed from a log in SWE-bench's form, that result.
    public func status(of id: String) -> TestStatus? {
        if let exact = report[id] { return exact }
        if let statuses = byCut[id] {
            return statuses.first { $0 != .passed } ?? .passed
        }
        let cut = Self.swebenchForm(id)
        return cut == id ? nil : report[cut]
    }
}
