import Foundation

/// Parses the verbose output of SymPy-style runner scripts (`bin/test -C --verbose FILES`): each
/// file announced as `path/test_x.py[N] `, then one line per test function, `test_name STATUS`,
/// where STATUS is `ok`, `F` (failed), `E` (exception; `T` when it timed out), `f` (expected
/// failure), `X` (unexpected pass), or a skip — `s`, `w` (slow), `K` — after an optional reason
/// (`test_plot requires matplotlib s`). The file's verdict `[OK]`/`[FAIL]` is written on the line
/// of its last test and is stripped.
///
/// Ids are bare function names (`test_issue_1234`), the form SWE-bench's `parse_log_sympy` reads
/// and its datasets hold. Two files of one run defining the same name share an id; the worse
/// outcome is kept and a warning names it. `f` and `X` count as passed (as pytest's XFAIL and
/// non-strict XPASS do, see `TestStatus`); SWE-bench leaves both out, which grades the same,
/// because a test absent before and after is in no list.
///
/// A test that prints leaves its status on a later line: a line holding only a status word, before
/// the next test starts, completes the pending test (SWE-bench's parser loses such tests).
public enum BinTestLog {
    static let statuses: [String: TestStatus] = [
        "ok": .passed, "F": .failed, "E": .error, "T": .error, "f": .passed, "X": .passed,
        "s": .skipped, "w": .skipped, "K": .skipped,
    ]

    public static func parse(_ log: String) -> TestReport {
        var report = TestReport()
        var fileOf: [String: String] = [:]
        var file = "?"
        var pending: String?

        func record(_ name: String, _ status: TestStatus) {
            if let other = fileOf[name], other != file {
                report.warn("test \(name) reported by two files (\(other), \(file)); the worse outcome is kept")
            }
            fileOf[name] = file
            report.record(name, status)
            pending = nil
        }

        for rawLine in log.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            var line = String(rawLine).strippingANSIEscapes.trimmingCharacters(in: .whitespaces)
            if line.hasSuffix("[OK]") || line.hasSuffix("[FAIL]") {
                line = String(line[..<line.lastIndex(of: "[")!]).trimmingCharacters(in: .whitespaces)
            }
            if let open = line.range(of: ".py["), line[open.upperBound...].contains("]") {
                // `sympy/core/tests/test_basic.py[24]` starts a file (its result may follow on the line).
                file = String(line[..<open.lowerBound]) + ".py"
                pending = nil
                continue
            }
            // unittest's `name (module.Class) ... ok` is another runner's line, not this one's.
            if line.contains(" ... ") { pending = nil; continue }
            let words = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let first = words.first else { continue }
            if first.hasPrefix("test_"), first.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) {
                let name = String(first)
                if words.count >= 2, let status = statuses[String(words.last!)] {
                    record(name, status)
                } else {
                    pending = name
                }
                continue
            }
            if let name = pending, words.count == 1, let status = statuses[String(first)] {
                record(name, status)
            }
        }
        return report
    }
}

/// Parses unittest's verbose output, which Django's `tests/runtests.py --verbosity 2`, nose's
/// `nosetests -v` and `python -m unittest -v` all write: `ID ... ok|FAIL|ERROR|skipped 'why'|
/// expected failure|unexpected success`. The id is the text before ` ... `, as SWE-bench's
/// `parse_log_django` takes it: `test_x (module.Class)` (Python 3.11+: `test_x
/// (module.Class.test_x)`), a nose function test's `package.module.test_f`, or — for a test with
/// a docstring — the docstring's first line, which unittest prints on its own line in place of
/// the name.
///
/// Output a test prints moves its verdict to a later line (`ID ... some output` then `ok`): a
/// line starting with a verdict word completes the last pending test. `FAIL: ID` / `ERROR: ID`
/// headers of the failure details mark that test failed (also when the run died before the
/// verdict was printed). Expected failures count as passed, unexpected successes as failed
/// (unittest's own `wasSuccessful` since Python 3.4).
public enum UnittestLog {
    static let verdicts: [(suffix: String, status: TestStatus)] = [
        ("ok", .passed), ("OK", .passed), ("FAIL", .failed), ("ERROR", .error),
        ("expected failure", .passed), ("unexpected success", .failed),
    ]

    public static func parse(_ log: String) -> TestReport {
        var report = TestReport()
        var pending: String?
        for rawLine in log.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            let line = String(rawLine).strippingANSIEscapes.trimmingCharacters(in: .whitespaces)
            for (header, status) in [("FAIL: ", TestStatus.failed), ("ERROR: ", TestStatus.error)] where line.hasPrefix(header) {
                let id = String(line.dropFirst(header.count)).trimmingCharacters(in: .whitespaces)
                if !id.isEmpty { report.record(id, status) }
            }
            if line.hasPrefix("FAIL: ") || line.hasPrefix("ERROR: ") { pending = nil; continue }
            if let separator = line.range(of: " ... ") {
                let id = String(line[..<separator.lowerBound]).trimmingCharacters(in: .whitespaces)
                let verdict = line[separator.upperBound...].trimmingCharacters(in: .whitespaces)
                guard !id.isEmpty else { continue }
                if let status = status(of: verdict) {
                    report.record(id, status)
                    pending = nil
                } else {
                    pending = id
                }
                continue
            }
            if line.hasSuffix(" ...") {
                pending = String(line.dropLast(4)).trimmingCharacters(in: .whitespaces)
                continue
            }
            if let id = pending, let status = status(of: line) {
                report.record(id, status)
                pending = nil
            }
        }
        return report
    }

    /// The outcome a verdict text states: a verdict word alone, or `skipped 'reason'`.
    static func status(of verdict: String) -> TestStatus? {
        if verdict == "skipped" || verdict.hasPrefix("skipped ") || verdict.hasPrefix("SKIP") { return .skipped }
        return verdicts.first { verdict == $0.suffix }?.status
    }
}
