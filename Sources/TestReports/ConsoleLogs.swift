import Foundation

/// Parses `cargo test` output: `test path::name ... ok|FAILED|ignored[, reason]` lines from every
/// test binary (unit tests, `tests/*.rs`, binaries, doc-tests), ids `module::path::name` as
/// libtest prints them (doc-tests: `src/lib.rs - add (line 3)`).
///
/// `#[should_panic]` tests print `name - should panic ... ok`; the suffix is dropped. `bench:` → passed.
/// Under `--nocapture` a result may land on a later line of its own; that is matched up too.
public enum CargoTestLog {
    static let outcomes: [String: TestStatus] = ["ok": .passed, "FAILED": .failed, "ignored": .skipped]

    public static func parse(_ log: String) -> TestReport {
        var report = TestReport()
        var binary = "?"
        var binaryOf: [String: String] = [:]
        var pending: String?
        var sawFailedTarget = false
        var runsAfterFailure = false
        var finalSummary = false

        func record(_ name: String, _ status: TestStatus) {
            if let other = binaryOf[name], other != binary {
                report.warn("cargo test id \(name) reported by two test binaries (\(other), \(binary)); the worse outcome is kept")
            }
            binaryOf[name] = binary
            report.record(name, status)
        }

        for rawLine in log.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            let line = String(rawLine).strippingANSIEscapes
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("Running ") || trimmed.hasPrefix("Doc-tests ") {
                binary = trimmed
                if sawFailedTarget { runsAfterFailure = true }
                pending = nil
                continue
            }
            if trimmed.hasPrefix("error: test failed, to rerun pass") { sawFailedTarget = true; continue }
            if trimmed.hasPrefix("error: ") && trimmed.contains("target") && trimmed.hasSuffix("failed:") {
                finalSummary = true  // --no-fail-fast's closing list
                continue
            }
            if trimmed.hasPrefix("error: could not compile") {
                report.warn("cargo: \(trimmed)")
                continue
            }
            if let name = pending, let status = outcomes[trimmed] {
                record(name, status)
                pending = nil
                continue
            }
            guard line.hasPrefix("test "), let separator = line.range(of: " ... ") else {
                if line.hasPrefix("test "), line.hasSuffix(" ..."), !line.hasPrefix("test result:") {
                    pending = cleanName(String(line.dropFirst(5).dropLast(4)))
                }
                continue
            }
            let name = cleanName(String(line[line.index(line.startIndex, offsetBy: 5)..<separator.lowerBound]))
            let verdict = line[separator.upperBound...].trimmingCharacters(in: .whitespaces)
            let word = verdict.prefix { $0 != "," && $0 != " " }
            if let status = outcomes[String(word)] {
                record(name, status)
            } else if word == "bench:" {
                record(name, .passed)
            } else if verdict.isEmpty {
                pending = name
            }
        }
        if sawFailedTarget && !runsAfterFailure && !finalSummary {
            report.warn("cargo stopped after a failing test binary; later binaries may not have run (use cargo test --no-fail-fast)")
        }
        return report
    }

    private static func cleanName(_ name: String) -> String {
        var name = name.trimmingCharacters(in: .whitespaces)
        if name.hasSuffix(" - should panic") { name = String(name.dropLast(" - should panic".count)) }
        return name
    }
}

/// Parses XCTest console output: `Test Case 'Suite.test' passed|failed|skipped (0.1 seconds)`
/// (Linux) and `Test Case '-[Module.Suite test]' passed (0.1 seconds).` (Darwin); ids `Suite.test`.
public enum XCTestLog {
    static let outcomes: [String: TestStatus] = ["passed": .passed, "failed": .failed, "skipped": .skipped]

    public static func parse(_ log: String) -> TestReport {
        var report = TestReport()
        for rawLine in log.split(whereSeparator: \.isNewline) {
            let line = String(rawLine).strippingANSIEscapes
            guard let start = line.range(of: "Test Case '") else { continue }
            let afterName = line[start.upperBound...]
            guard let close = afterName.range(of: "' ") else { continue }
            let word = afterName[close.upperBound...].prefix { $0.isLetter }
            guard let status = outcomes[String(word)] else { continue }  // "started"
            report.record(suiteTestID(String(afterName[..<close.lowerBound])), status)
        }
        return report
    }

    /// `-[Module.Suite test]` → `Suite.test`; `Suite.test` stays.
    static func suiteTestID(_ raw: String) -> String {
        guard raw.hasPrefix("-["), raw.hasSuffix("]") else { return raw }
        let inner = raw.dropFirst(2).dropLast()
        let parts = inner.split(separator: " ", maxSplits: 1)
        guard parts.count == 2 else { return String(inner) }
        let suite = parts[0].split(separator: ".").last.map(String.init) ?? String(parts[0])
        return "\(suite).\(parts[1])"
    }
}
