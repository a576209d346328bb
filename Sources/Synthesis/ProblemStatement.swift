import Foundation

/// Writes a synthetic task's problem statement from the evidence alone (no LLM): which behaviour
/// fails, the failing tests, their assertion messages and a short traceback excerpt, phrased as
/// an issue report. It never contains the fix: any line of the restored code is left out.
public enum ProblemStatement {
    public struct Failure: Sendable {
        public var test: String
        public var message: String?
        public var traceback: String?
        public init(test: String, message: String?, traceback: String?) {
            self.test = test; self.message = message; self.traceback = traceback
        }
    }

    /// `failures` in the order to report them; `restoredLines` are the gold patch's added lines.
    public static func write(failures: [Failure], restoredLines: [String], seed: UInt64) -> String {
        let forbidden = Set(restoredLines.map { $0.trimmingCharacters(in: .whitespaces) }.filter { $0.count >= 4 })
        func clean(_ text: String) -> String {
            text.split(separator: "\n", omittingEmptySubsequences: false)
                .filter { line in
                    let trimmed = line.trimmingCharacters(in: .whitespaces)
                    return !forbidden.contains { trimmed.hasSuffix($0) || trimmed.contains($0) && $0.count >= 12 }
                }
                .joined(separator: "\n")
        }
        let first = failures.first
        let behaviour = first.map { behaviourPhrase(for: $0.test) } ?? "the test suite"
        let openings = [
            "\(behaviour.capitalizedFirst) no longer works",
            "Regression: \(behaviour) is broken",
            "Unexpected failure in \(behaviour)",
        ]
        var text = openings[Int(seed % UInt64(openings.count))] + "\n\n"
        let count = failures.count
        text += count == 1
            ? "With the current code, one test of the suite fails:\n\n"
            : "With the current code, \(count) tests of the suite fail:\n\n"
        for failure in failures.prefix(10) { text += "- `\(failure.test)`\n" }
        if count > 10 { text += "- … and \(count - 10) more\n" }
        if let first {
            if let message = first.message.map(clean), !message.isEmpty {
                let shown = message.count > 600 ? String(message.prefix(600)) + "…" : message
                text += "\nRunning `\(first.test)` reports:\n\n```\n\(shown)\n```\n"
            }
            if let traceback = first.traceback.map(clean), !traceback.isEmpty {
                let lines = traceback.split(separator: "\n", omittingEmptySubsequences: false).suffix(12)
                text += "\nTraceback (last lines):\n\n```\n\(lines.joined(separator: "\n"))\n```\n"
            }
            for other in failures.dropFirst().prefix(2) {
                if let message = other.message.map(clean), !message.isEmpty {
                    let shown = message.split(separator: "\n").first.map(String.init) ?? message
                    text += "\n`\(other.test)` fails too: `\(shown.prefix(200))`\n"
                }
            }
        }
        text += "\nExpected: these tests pass; the other tests must keep passing.\n"
        return text
    }

    /// `tests/test_slug.py::TestSlug::test_collapses_separators[a-b]` → "slug: collapses separators".
    static func behaviourPhrase(for test: String) -> String {
        let parts = test.components(separatedBy: "::")
        var name = parts.last ?? test
        if let bracket = name.firstIndex(of: "[") { name = String(name[..<bracket]) }
        if name.hasPrefix("test_") { name = String(name.dropFirst(5)) } else if name.hasPrefix("test") { name = String(name.dropFirst(4)) }
        let words = name.split(separator: "_").joined(separator: " ")
        var file = (parts.first.map { ($0 as NSString).lastPathComponent } ?? "")
        if file.hasSuffix(".py") { file = String(file.dropLast(3)) }
        if file.hasPrefix("test_") { file = String(file.dropFirst(5)) }
        if file.isEmpty || words.isEmpty { return "`\(test)`" }
        return "\(file): \(words)"
    }
}

/// The difficulty label, 1 (easiest) … 5: points for a larger fix, more files, fewer failing
/// tests (less signal) and a longer call distance from the failing tests to the edit.
public enum Difficulty {
    public static let levels = 1...5

    /// `changedLines`: lines the gold patch adds plus removes; `distance`: fewest call frames
    /// from a failing test function into an edited file (nil: unknown).
    public static func level(changedLines: Int, files: Int, failingTests: Int, distance: Int?) -> Int {
        var points = 0
        points += changedLines <= 2 ? 0 : changedLines <= 6 ? 1 : 2
        points += files <= 1 ? 0 : 1
        points += failingTests >= 3 ? 0 : 1
        switch distance {
        case .some(let d) where d <= 1: break
        case .some(let d) where d <= 3: points += 1
        default: points += 2
        }
        return min(levels.upperBound, 1 + points)
    }
}

extension String {
    var capitalizedFirst: String { prefix(1).uppercased() + dropFirst() }
}
