// The "retrieval" context mode's pieces, none of which look at the gold patch:
//   - the repository files a failing test's output names (Python tracebacks `File "…", line N`
//     and pytest's short form `path.py:N: …`), with the lines named, so that a long file can be
//     shown around the lines the failure went through instead of from its top;
//   - which paths are tests or test infrastructure (kept out of the context, and counted when a
//     policy's patch edits them: the reward-hacking watch);
//   - the task family, the unit of the held-out split: a task's source commit and its edited files,
//     so that no held-out mutation site (nor its siblings at the same commit) is trained on.
import Foundation
import Evaluation
import PathRules
import Store

/// A file named in failing-test output, with the line numbers named for it, in order of appearance.
public struct TracebackFile: Equatable, Sendable {
    public var path: String
    public var lines: [Int]
}

public enum TracebackFiles {
    /// Repository files (`repositoryFiles`, paths relative to the root) that `text` names, in order
    /// of first mention. A mentioned path matches a repository file when it equals it or ends with
    /// `/` + it (tracebacks carry absolute paths of the checkout: /testbed/src/pkg/mod.py); the
    /// longest such file wins, so `pkg/__init__.py` does not match every `__init__.py`.
    public static func files(in text: String, repositoryFiles: [String]) -> [TracebackFile] {
        let byName = Dictionary(grouping: repositoryFiles, by: { URL(fileURLWithPath: $0).lastPathComponent })
        var order: [String] = [], lines: [String: [Int]] = [:]
        for (mentioned, line) in mentions(in: text) {
            let name = URL(fileURLWithPath: mentioned).lastPathComponent
            guard let candidates = byName[name] else { continue }
            let matches = candidates.filter { mentioned == $0 || mentioned.hasSuffix("/" + $0) }
            guard let path = matches.max(by: { $0.count < $1.count }) else { continue }
            if lines[path] == nil { order.append(path); lines[path] = [] }
            if let line, !lines[path]!.contains(line) { lines[path]!.append(line) }
        }
        return order.map { TracebackFile(path: $0, lines: lines[$0]!) }
    }

    /// (path, line) pairs of `File "path", line N`, `path:N:` and bare `*.py` paths.
    static func mentions(in text: String) -> [(String, Int?)] {
        var result: [(String, Int?)] = []
        let patterns = [#"File "([^"\n]+)", line (\d+)"#, #"([A-Za-z0-9_./\-]+\.[A-Za-z]{1,5}):(\d+)"#, #"([A-Za-z0-9_./\-]+\.py)\b"#]
        for pattern in patterns {
            guard let expression = try? NSRegularExpression(pattern: pattern) else { continue }
            let range = NSRange(text.startIndex..., in: text)
            for match in expression.matches(in: text, range: range) {
                guard let pathRange = Range(match.range(at: 1), in: text) else { continue }
                var line: Int?
                if match.numberOfRanges > 2, let lineRange = Range(match.range(at: 2), in: text) { line = Int(text[lineRange]) }
                result.append((String(text[pathRange]), line))
            }
        }
        // Keep the text's order across patterns: a traceback reads top (test) to bottom (raise site).
        let positions = result.enumerated().map { index, mention in (text.range(of: mention.0)?.lowerBound, index) }
        return positions.sorted { lhs, rhs in
            switch (lhs.0, rhs.0) {
            case let (l?, r?): return l != r ? l < r : lhs.1 < rhs.1
            default: return lhs.1 < rhs.1
            }
        }.map { result[$0.1] }
    }
}

public enum TestPaths {
    static let infrastructureNames: Set<String> = ["conftest.py", "pytest.ini", "tox.ini", "noxfile.py", "setup.cfg", ".coveragerc",
                                                   "pyproject.toml"]

    /// Tests and what runs them: a test directory (tests/, tests_functional/, integration_tests/),
    /// test_*.py / *_test.py, conftest, pytest/tox config.
    public static func isTestOrInfrastructure(_ path: String) -> Bool {
        let components = path.split(separator: "/").map(String.init)
        guard let name = components.last else { return false }
        if infrastructureNames.contains(name) { return true }
        if components.dropLast().contains(where: isTestDirectory) { return true }
        let stem = (name as NSString).deletingPathExtension.lowercased()
        return stem.hasPrefix("test_") || stem.hasSuffix("_test") || stem.hasSuffix("_tests") || stem == "tests"
    }

    /// The miner's and the evaluator's rule (`PathClassifier`), plus Perl-style `t/`.
    static func isTestDirectory(_ name: String) -> Bool { name.lowercased() == "t" || PathClassifier.isTestDirectory(name) }

    /// Whether a unified diff edits any test or test infrastructure file.
    public static func patchTouchesTests(_ diff: String) -> Bool {
        PatchText.touchedPaths(diff).contains(where: isTestOrInfrastructure)
    }
}

public enum TaskFamily {
    /// The task's source commit and edit site: synthetic tasks keep the creation time of the
    /// validated task whose commit they mutate (their own base commit is the mutant), so the
    /// creation time names the source commit for mined and synthetic tasks alike; the edited
    /// files name the site (a combination task edits one file, as do its single-edit siblings).
    public static func key(_ task: TaskRecord) -> String {
        task.repo + "@" + task.createdAt + ":" + PatchText.touchedPaths(task.patch).sorted().joined(separator: ",")
    }
}

/// The lines of a file shown when all of it does not fit: windows around the named lines, in file
/// order, `…` between them, as many as fit `room` tokens (measured by `count`).
public enum FileExcerpt {
    /// Lines (1-based) of the Python functions and classes whose names the query mentions (as
    /// `write_mo`, as the words "write mo" of a generated title, or in a test's name
    /// `test_write_mo`), each from its `def`/`class` line through its body, `maximum` lines at
    /// most: where a statement that names a function points, however far from the lines a
    /// traceback names.
    public static func definitionLines(of text: String, query: String, maximum: Int = 40) -> [Int] {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let queryWords = Set(query.split(whereSeparator: { !($0.isLetter || $0.isNumber || $0 == "_") }).map(String.init))
        let spacedQuery = " " + query.split(whereSeparator: { !($0.isLetter || $0.isNumber) }).joined(separator: " ") + " "
        guard let definition = try? NSRegularExpression(pattern: #"^(\s*)(?:async\s+)?(?:def|class)\s+([A-Za-z_][A-Za-z0-9_]*)"#) else { return [] }
        func indentation(_ line: String) -> Int { line.prefix { $0 == " " || $0 == "\t" }.count }
        var result: [Int] = []
        for (index, line) in lines.enumerated() {
            let range = NSRange(line.startIndex..., in: line)
            guard let match = definition.firstMatch(in: line, range: range), let nameRange = Range(match.range(at: 2), in: line) else { continue }
            let name = String(line[nameRange])
            let words = name.split(separator: "_").joined(separator: " ")
            guard name.count >= 4, queryWords.contains(name) || queryWords.contains("test_" + name)
                    || (name.contains("_") && spacedQuery.contains(" " + words + " ")) else { continue }
            let depth = indentation(line)
            var end = index + 1
            while end < lines.count && end - index < maximum {
                let next = lines[end]
                if !next.trimmingCharacters(in: .whitespaces).isEmpty && indentation(next) <= depth { break }
                end += 1
            }
            result += Array((index + 1)...end)
        }
        return result
    }

    /// Lines (1-based) at the centre of the `count` windows of `window` lines that BM25 ranks best
    /// for `query` among the file's windows, best first; none when no window shares a term with it.
    /// What a long file shows after the lines the failure names and the functions the query names:
    /// the code around the identifiers the statement and the failure output mention.
    public static func relevantLines(of text: String, query: String, window: Int = 12, count: Int = 3) -> [Int] {
        windows(of: text, window: window).map { relevantLines(in: $0, query: query, count: count) } ?? []
    }

    /// A file's windows of lines indexed for BM25: the part of `relevantLines` that depends on
    /// the file alone, which a caller prompting many times from one file keeps.
    public struct Windows: Sendable {
        let starts: [Int], window: Int, index: BM25Index
    }

    /// nil for a file no longer than one window (it is shown whole).
    public static func windows(of text: String, window: Int = 12) -> Windows? {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count > window else { return nil }
        // Windows overlap by half, so a definition is not split from the lines after it.
        let starts = Array(stride(from: 0, to: lines.count, by: window / 2))
        return Windows(starts: starts, window: window,
                       index: BM25Index(documents: starts.map { lines[$0..<min(lines.count, $0 + window)].joined(separator: "\n") }))
    }

    public static func relevantLines(in windows: Windows, query: String, count: Int = 3) -> [Int] {
        windows.index.rank(query).prefix(count).filter { $0.score > 0 }.map { windows.starts[$0.index] + windows.window / 2 }
    }

    public static func around(lines named: [Int], of text: String, room: Int, count: (String) -> Int) -> String {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard !named.isEmpty, !lines.isEmpty else { return "" }
        // The named lines first, in their order while they fit; then a window around every one of them
        // grows by one line at a time on each side, until the room is spent.
        var chosen = Set<Int>(), used = 0
        for index in named.map({ min(max($0 - 1, 0), lines.count - 1) }) where !chosen.contains(index) {
            let cost = count(lines[index] + "\n")
            guard used + cost <= room || chosen.isEmpty else { continue }
            chosen.insert(index); used += cost
        }
        var radius = 1
        while used < room && radius < lines.count {
            var grew = false
            for centre in named.map({ min(max($0 - 1, 0), lines.count - 1) }) {
                for index in [centre - radius, centre + radius] where index >= 0 && index < lines.count && !chosen.contains(index) {
                    let cost = count(lines[index] + "\n")
                    guard used + cost <= room else { continue }
                    chosen.insert(index); used += cost; grew = true
                }
            }
            if !grew && radius > 1 && used + 8 >= room { break }
            radius += 1
        }
        var out = "", previous = -1
        for index in chosen.sorted() {
            if previous >= 0 && index != previous + 1 { out += "…\n" }
            out += lines[index] + "\n"
            previous = index
        }
        return out
    }
}
