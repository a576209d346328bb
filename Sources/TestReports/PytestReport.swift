import Foundation

/// Maps pytest's JUnit `classname`/`name`/`file` back to node ids.
///
/// pytest derives `classname` from the node id: the path with `/` → `.` and `.py` dropped, then
/// the classes; `name` is the function with its parameter id. So with `file="tests/test_x.py"`
/// the classname `tests.test_x.TestA.Inner` means `tests/test_x.py::TestA::Inner::name`.
public enum PytestNodeID {
    /// The node id for one JUnit testcase, and a warning if it had to be guessed.
    public static func fromJUnit(file: String?, classname: String, name: String,
                                 root: String? = nil) -> (id: String?, warning: String?) {
        // Collection errors: `classname=""`, `name` the dotted module (or empty), `file` the module.
        if classname.isEmpty {
            if let file, !file.isEmpty { return (file, nil) }
            if name.isEmpty { return (nil, nil) }
            let path = dottedModuleToPath(name)
            if let root, FileManager.default.fileExists(atPath: root + "/" + path) { return (path, nil) }
            return (path, "collection error without file attribute; guessed path \(path) from \(name)")
        }
        if let file, file.hasSuffix(".py") {
            let module = dotted(file)
            if classname == module { return (join(file, [], name), nil) }
            if classname.hasPrefix(module + ".") {
                let classes = classname.dropFirst(module.count + 1).split(separator: ".").map(String.init)
                return (join(file, classes, name), nil)
            }
        }
        // No usable `file` (xunit2, or a test inherited from a class in another file): split the
        // dotted classname into a module path and classes.
        let segments = classname.split(separator: ".").map(String.init)
        if let root {
            for split in stride(from: segments.count, through: 1, by: -1) {
                let path = segments[0..<split].joined(separator: "/") + ".py"
                if FileManager.default.fileExists(atPath: root + "/" + path) {
                    return (join(path, Array(segments[split...]), name), nil)
                }
            }
        }
        // pytest collects classes named Test* by default: trailing Test* segments are classes.
        var split = segments.count
        while split > 1, segments[split - 1].hasPrefix("Test") { split -= 1 }
        let path = segments[0..<split].joined(separator: "/") + ".py"
        let reason = file == nil ? "no file attribute (run pytest with -o junit_family=xunit1)"
            : "classname \(classname) does not start with file \(file!)"
        return (join(path, Array(segments[split...]), name), "\(reason); guessed node id from classname")
    }

    static func dotted(_ file: String) -> String {
        String(file.dropLast(3)).replacingOccurrences(of: "/", with: ".")
    }

    static func dottedModuleToPath(_ module: String) -> String {
        module.replacingOccurrences(of: ".", with: "/") + ".py"
    }

    private static func join(_ file: String, _ classes: [String], _ name: String) -> String {
        ([file] + classes + (name.isEmpty ? [] : [name])).joined(separator: "::")
    }
}

/// Parses pytest's console output: `-rA` short test summary lines and, when present, `-v`
/// progress lines (which name skipped tests, unlike the summary).
///
/// Summary lines: `PASSED id`, `FAILED id - msg`, `ERROR id[ - msg]` (a bare path is a collection
/// error), `XFAIL id - reason` and `XPASS id - reason` (both → passed, see `TestStatus`), and
/// `SKIPPED [N] file:line: reason` (no node id: `unnamedSkips` keeps the ones `-v` did not name).
/// Verbose lines: `id STATUS [ NN%]`, `id SKIPPED (reason) [ NN%]`, xdist's `[gw0] [ NN%] STATUS id`.
/// Lines are recognised anywhere in the log (like SWE-bench's parser), so a log cut short still
/// yields what it reached; a test reported twice (PASSED call, ERROR teardown) keeps the worse.
/// Run pytest with `-rA` (and `-v` to name skips) for this fallback to be complete.
public enum PytestLog {
    static let statusWords: [String: TestStatus] = [
        "PASSED": .passed, "FAILED": .failed, "ERROR": .error, "SKIPPED": .skipped,
        "XFAIL": .passed, "XPASS": .passed,
    ]

    public static func parse(_ log: String) -> TestReport {
        var report = TestReport()
        let lines = log.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
            .map { String($0).strippingANSIEscapes }
        var summarySkips = TestReport()
        for line in lines {
            if parseSummaryLine(line, into: &report, skips: &summarySkips) { continue }
            parseVerboseLine(line, into: &report)
        }
        // Summary SKIPPED lines carry no node id; those the verbose lines did not name stay counted.
        report.addUnnamedSkips(max(0, summarySkips.unnamedSkips - report.ids(.skipped).count))
        return report
    }

    /// `STATUS id[ - message]` or `SKIPPED [N] location: reason`.
    @discardableResult
    static func parseSummaryLine(_ line: String, into report: inout TestReport, skips: inout TestReport) -> Bool {
        guard let space = line.firstIndex(of: " ") else { return false }
        let word = String(line[..<space])
        let rest = String(line[line.index(after: space)...])
        if word == "SKIPPED" || word == "SKIP" {
            if rest.hasPrefix("["), let close = rest.firstIndex(of: "]"), let count = Int(rest[rest.index(after: rest.startIndex)..<close]) {
                skips.addUnnamedSkips(count)
                return true
            }
            if let id = nodeID(inSummaryRest: rest) { report.record(id, .skipped); return true }
            return false
        }
        guard let status = statusWords[word], let id = nodeID(inSummaryRest: rest) else { return false }
        report.record(id, status)
        return true
    }

    /// The node id at the start of a summary line's remainder: up to the first ` - ` outside
    /// brackets (parameter ids may contain ` - `, spaces and `::`).
    static func nodeID(inSummaryRest rest: String) -> String? {
        var depth = 0
        var index = rest.startIndex
        while index < rest.endIndex {
            let character = rest[index]
            if character == "[" { depth += 1 }
            if character == "]" { depth = max(0, depth - 1) }
            if depth == 0, rest[index...].hasPrefix(" - ") { break }
            index = rest.index(after: index)
        }
        let id = rest[..<index].trimmingCharacters(in: .whitespaces)
        return looksLikeNodeID(id) ? id : nil
    }

    static func looksLikeNodeID(_ text: String) -> Bool {
        guard !text.isEmpty, !text.hasPrefix("["), !text.hasPrefix("(") else { return false }
        let path = text.components(separatedBy: "::")[0]
        return path.hasSuffix(".py") || text.contains("::")
    }

    /// `id STATUS[ (reason)][ [ NN%]]` or `[gwN] [ NN%] STATUS id`.
    static func parseVerboseLine(_ line: String, into report: inout TestReport) {
        var text = line.trimmingCharacters(in: .whitespaces)
        if text.hasPrefix("[gw"), let close = text.firstIndex(of: "]") {
            text = String(text[text.index(after: close)...]).trimmingCharacters(in: .whitespaces)
            if text.hasPrefix("["), let percent = text.firstIndex(of: "]") {
                text = String(text[text.index(after: percent)...]).trimmingCharacters(in: .whitespaces)
            }
            guard let space = text.firstIndex(of: " "), let status = statusWords[String(text[..<space])] else { return }
            let id = String(text[text.index(after: space)...]).trimmingCharacters(in: .whitespaces)
            if looksLikeNodeID(id) { report.record(id, status) }
            return
        }
        // Drop a trailing progress marker "[ 42%]".
        if text.hasSuffix("%]"), let open = text.lastIndex(of: "[") {
            text = String(text[..<open]).trimmingCharacters(in: .whitespaces)
        }
        // Drop a trailing "(reason)" after SKIPPED/XFAIL/XPASS.
        for (word, status) in statusWords {
            guard let range = text.range(of: " " + word, options: .backwards) else { continue }
            let tail = text[range.upperBound...]
            guard tail.isEmpty || (tail.hasPrefix(" (") && tail.hasSuffix(")")) else { continue }
            let id = String(text[..<range.lowerBound])
            guard !id.contains(" ") || id.contains("["), looksLikeNodeID(id), id.contains("::") || id.hasSuffix(".py")
            else { continue }
            report.record(id, status)
            return
        }
    }
}
