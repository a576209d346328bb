import Foundation

/// Writes a `git fast-import` stream for a large synthetic repository: `pullRequests` merged PRs
/// (half merge commits, 30% squash merges, 20% rebase merges with `refs/pull/N/head`) among filler
/// commits, `commits` commits in all. Each PR changes one source file in `hunks` places
/// (`linesPerHunk` new lines each) and adds a test to its test file, so every PR is a minable
/// task with a patch of realistic shape. The stream is deterministic and handed to `emit` in
/// pieces (one per commit), so a 60,000-commit history never exists in memory as one string.
struct SyntheticHistory {
    let commits: Int
    let pullRequests: Int
    var modules = 200
    var hunks = 1
    var linesPerHunk = 2

    private var files: [String: [String]] = [:]
    private var mark = 0
    private var clock = 1_600_000_000
    private var written = 0

    init(commits: Int, pullRequests: Int) {
        self.commits = commits
        self.pullRequests = pullRequests
    }

    /// Emits the stream; returns the number of PRs of each style.
    mutating func render(_ emit: (String) throws -> Void) throws -> [String: Int] {
        for module in 0..<modules {
            // Functions spread through the file, so later hunks land between earlier ones.
            files["src/mod_\(module).py"] = (0..<max(1, hunks)).flatMap { ["def f_\(module)_base_\($0)():", "    return \($0)", ""] }
            files["tests/test_mod_\(module).py"] = ["from src.mod_\(module) import f_\(module)_base_0", "def test_0():", "    assert f_\(module)_base_0() == 0"]
        }
        var tip = try commit(emit, branch: "refs/heads/main", parents: [], message: "Initial commit", changed: Array(files.keys))
        var styles: [String: Int] = ["merge": 0, "squash": 0, "rebase": 0]
        let perPR = max(0, (commits - 1 + pullRequests - 1) / max(1, pullRequests))
        for number in 1...pullRequests {
            let style = number % 10 < 5 ? "merge" : number % 10 < 8 ? "squash" : "rebase"
            styles[style, default: 0] += 1
            let module = number % modules
            let source = "src/mod_\(module).py", test = "tests/test_mod_\(module).py"
            let testLines = ["def test_\(number)():", "    assert True"]
            let body = "Change module \(module)\n\nFixes #\(number + 100_000)"
            let base = files
            // The PR branch: one commit for the fix, one for its test.
            files[source] = edited(files[source] ?? [], number: number)
            let first = try commit(emit, branch: "refs/pull/\(number)/head", parents: [tip], message: "Fix module \(module)", changed: [source])
            files[test, default: []] += testLines
            let head = try commit(emit, branch: "refs/pull/\(number)/head", parents: [first], message: "Test module \(module)", changed: [test])
            let afterPR = files
            files = base
            // Filler commits on main while the PR is open; they never touch the PR's files.
            var used = 3 + (style == "rebase" ? 1 : 0)
            while used < perPR {
                let note = "docs/notes_\(written % 500).md"
                files[note, default: []].append("note \(written)")
                tip = try commit(emit, branch: "refs/heads/main", parents: [tip], message: "Update notes \(written)", changed: [note])
                used += 1
            }
            let docs = files.filter { $0.key.hasPrefix("docs/") }
            files = afterPR.merging(docs) { _, new in new }
            switch style {
            case "merge":
                tip = try commit(emit, branch: "refs/heads/main", parents: [tip, head],
                                 message: "Merge pull request #\(number) from dev/branch-\(number)\n\n\(body)", changed: [source, test])
            case "squash":
                tip = try commit(emit, branch: "refs/heads/main", parents: [tip],
                                 message: "Fix module \(module) (#\(number))\n\n\(body)", changed: [source, test])
            default:
                let testOnly = files[test]
                files[test] = base[test]
                tip = try commit(emit, branch: "refs/heads/main", parents: [tip], message: "Fix module \(module)", changed: [source])
                files[test] = testOnly
                tip = try commit(emit, branch: "refs/heads/main", parents: [tip], message: "Test module \(module)", changed: [test])
            }
        }
        return styles
    }

    /// The source with `hunks` blocks of `linesPerHunk` new lines, one after each base function.
    private func edited(_ lines: [String], number: Int) -> [String] {
        var result: [String] = []
        var hunk = 0
        for line in lines {
            result.append(line)
            guard line.hasPrefix("def "), line.contains("_base_"), hunk < max(1, hunks) else { continue }
            hunk += 1
            // Inside the function, right after its `def` line: a block of statements.
            for index in 0..<max(1, linesPerHunk) {
                result.append("    value_\(number)_\(hunk)_\(index) = \(number * 31 + index) % \(hunk + 7)  # PR \(number)")
            }
        }
        return result
    }

    @discardableResult
    private mutating func commit(_ emit: (String) throws -> Void, branch: String, parents: [Int], message: String,
                                 changed: [String]) throws -> Int {
        mark += 1
        clock += 60
        written += 1
        var stream = "commit \(branch)\nmark :\(mark)\nauthor Bench <bench@forge.invalid> \(clock) +0000\n"
        stream += "committer Bench <bench@forge.invalid> \(clock) +0000\n"
        stream += "data \(message.utf8.count)\n\(message)\n"
        if let first = parents.first { stream += "from :\(first)\n" }
        for other in parents.dropFirst() { stream += "merge :\(other)\n" }
        for path in changed.sorted() {
            let content = (files[path] ?? []).joined(separator: "\n") + "\n"
            stream += "M 100644 inline \(path)\ndata \(content.utf8.count)\n\(content)\n"
        }
        stream += "\n"
        try emit(stream)
        return mark
    }
}
