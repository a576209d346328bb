import Foundation

/// The outcome of one test.
///
/// Runner-specific outcomes are folded into these four:
/// - pytest XFAIL (expected failure happened) and non-strict XPASS count as `passed`: the suite is
///   green either way and SWE-bench counts XFAIL as passing too. A strict XPASS is reported by pytest
///   itself as FAILED.
/// - cargo `ignored`, pytest `SKIPPED`, XCTest `XCTSkip`, Swift Testing `.disabled` → `skipped`.
/// - `error` is a failure outside the test body (fixture setup/teardown, collection/import error,
///   an XCTest that threw); `failed` is an assertion failure.
public enum TestStatus: String, Sendable, Hashable, Codable, CaseIterable {
    case passed, failed, error, skipped

    /// Which status wins when one test is reported twice (e.g. pytest prints PASSED for the call and
    /// ERROR for a failing teardown): failed > error > passed > skipped.
    var precedence: Int {
        switch self {
        case .skipped: return 0
        case .passed: return 1
        case .error: return 2
        case .failed: return 3
        }
    }

    /// failed or error.
    public var isFailure: Bool { self == .failed || self == .error }
}

/// Per-test outcomes of one run, keyed by the runner's own test id (pytest node id,
/// `Suite.test` for XCTest/Swift Testing, `module::path::test` for cargo).
public struct TestReport: Sendable, Hashable, Codable {
    /// Test id → outcome.
    public private(set) var statuses: [String: TestStatus]
    /// Things the parser could not map cleanly, one line each (never silently dropped).
    public private(set) var warnings: [String]
    /// Skips the log reported without naming the test (pytest's `SKIPPED [N] file:line: reason`
    /// summary lines give a location, not a node id).
    public private(set) var unnamedSkips: Int

    public init(statuses: [String: TestStatus] = [:], warnings: [String] = [], unnamedSkips: Int = 0) {
        self.statuses = statuses
        self.warnings = warnings
        self.unnamedSkips = unnamedSkips
    }

    /// Records an outcome; if the test was already recorded the more severe status wins.
    public mutating func record(_ id: String, _ status: TestStatus) {
        if let existing = statuses[id], existing.precedence >= status.precedence { return }
        statuses[id] = status
    }

    /// Adds a parse warning.
    public mutating func warn(_ message: String) {
        warnings.append(message)
    }

    mutating func addUnnamedSkips(_ count: Int) {
        unnamedSkips += count
    }

    /// Both reports' outcomes (worst wins per test) and warnings.
    public func merging(_ other: TestReport) -> TestReport {
        var merged = self
        for (id, status) in other.statuses { merged.record(id, status) }
        merged.warnings += other.warnings
        merged.unnamedSkips += other.unnamedSkips
        return merged
    }

    /// The outcome of `id`, if reported.
    public subscript(id: String) -> TestStatus? { statuses[id] }

    /// Ids with the given outcome, sorted.
    public func ids(_ status: TestStatus) -> [String] {
        statuses.filter { $0.value == status }.map(\.key).sorted()
    }

    /// Number of tests with an outcome.
    public var count: Int { statuses.count }

    /// True if nothing at all was reported.
    public var isEmpty: Bool { statuses.isEmpty && unnamedSkips == 0 }
}

/// A report file that could not be read or parsed.
public enum TestReportError: Error, Sendable, Hashable, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case malformedXML(source: String, line: Int, column: Int, reason: String)
    case notJUnit(source: String, rootElement: String)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason):
            return "cannot read test report \(path): \(reason)"
        case .malformedXML(let source, let line, let column, let reason):
            return "malformed JUnit XML \(source):\(line):\(column): \(reason)"
        case .notJUnit(let source, let root):
            return "\(source) is not JUnit XML (root element <\(root)>, expected <testsuites> or <testsuite>)"
        }
    }
}

extension String {
    /// The text with ANSI colour/cursor escape sequences removed (pytest --color=yes, cargo).
    var strippingANSIEscapes: String {
        guard contains("\u{1B}") else { return self }
        var result = ""
        var iterator = unicodeScalars.makeIterator()
        while let scalar = iterator.next() {
            guard scalar == "\u{1B}" else { result.unicodeScalars.append(scalar); continue }
            // CSI: ESC [ params final-byte(0x40–0x7E)
            guard iterator.next() == "[" else { continue }
            while let next = iterator.next(), !(0x40...0x7E).contains(next.value) {}
        }
        return result
    }
}
