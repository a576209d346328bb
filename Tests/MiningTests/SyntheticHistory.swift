import Foundation
import GitFixtures

/// A GitHub-like history written with `git fast-import`, for scale tests and benchmarks.
///
/// 150 modules with tests; per PR `directCommitsPerPull` direct commits on main, then a three-
/// commit PR (`refs/pull/N/head`) that lands as a merge commit (60 %), a squash commit `(#N)`
/// (25 %) or a rebase (15 %, same author and dates, new committer times). Every 50th PR never
/// lands. pyproject.toml's version moves every 500 commits (its dependencies every 2000) and a
/// `v2.K.0` tag marks every 1000th commit. 2,000 PRs with 7 direct commits each is the
/// 20,000-commit benchmark repository.
struct SyntheticHistory {
    let pulls: Int
    let directCommitsPerPull: Int

    static func style(_ number: Int) -> String {
        number % 20 < 12 ? "merge" : (number % 20 < 17 ? "squash" : "rebase")
    }
    static func landed(_ number: Int) -> Bool { number % 50 != 0 }

    /// Writes the repository (branch `main`) into `directory`, which must be an empty git repo.
    func write(into directory: String) throws {
        let stream = makeStream()
        try Fixture.run(["git", "fast-import", "--quiet"], in: directory, input: stream)
        try Fixture.run(["git", "reset", "-q", "--hard", "main"], in: directory)
    }

    private func makeStream() -> [UInt8] {
        var out: [UInt8] = []
        var random: UInt64 = 7
        func next(_ bound: Int) -> Int {
            random = random &* 6364136223846793005 &+ 1442695040888963407
            return Int((random >> 33) % UInt64(bound))
        }
        var files: [String: [String]] = [:]
        for i in 0..<150 {
            files["pkg/mod\(i).py"] = (0..<30).map { "def f\(i)_\($0)(x):\n    return x + \($0)\n" }
            files["tests/test_mod\(i).py"] = (0..<15).map { "def test_\(i)_\($0)():\n    assert f\(i)_\($0)(1) == \($0 + 1)\n" }
        }
        files["pyproject.toml"] = ["[project]\n", "name = \"bench\"\n", "version = \"1.0.0\"\n", "dependencies = [\"attrs\"]\n"]
        var time = 1_500_000_000
        var mark = 0
        func write(_ text: String) { out.append(contentsOf: Array(text.utf8)) }
        func data(_ bytes: [UInt8]) { write("data \(bytes.count)\n"); out.append(contentsOf: bytes); write("\n") }
        func content(_ lines: [String]) -> [UInt8] { Array(lines.joined().utf8) }
        @discardableResult
        func commit(_ ref: String, _ message: String, _ parents: [Int], _ changes: [(String, [UInt8])],
                    author: String = "Dev <dev@x>", authorTime: Int? = nil) -> (mark: Int, time: Int) {
            mark += 1; time += 60
            write("commit \(ref)\nmark :\(mark)\nauthor \(author) \(authorTime ?? time) +0000\ncommitter Dev <dev@x> \(time) +0000\n")
            data(Array(message.utf8))
            if let first = parents.first { write("from :\(first)\n") }
            for parent in parents.dropFirst() { write("merge :\(parent)\n") }
            for (path, bytes) in changes { write("M 100644 inline \(path)\n"); data(bytes) }
            return (mark, time)
        }
        func edit(_ state: inout [String: [String]], _ path: String, _ tag: String) -> [UInt8] {
            var lines = state[path] ?? files[path]!
            let k = next(lines.count)
            lines[k] = String(lines[k].dropLast()) + "  # \(tag)\n"
            state[path] = lines
            return content(lines)
        }
        var main = commit("refs/heads/main", "Initial", [], files.sorted { $0.key < $1.key }.map { ($0.key, content($0.value)) }).mark
        var total = 1, version = 0
        for n in 1...pulls {
            for d in 0..<directCommitsPerPull {
                let path = "pkg/mod\(next(150)).py"
                var changes = [(path, edit(&files, path, "d\(n).\(d)"))]
                if total % 500 == 0 {
                    version += 1
                    files["pyproject.toml"]![2] = "version = \"1.\(version).0\"\n"
                    if version % 4 == 0 { files["pyproject.toml"]![3] = "dependencies = [\"attrs>=\(version)\"]\n" }
                    changes.append(("pyproject.toml", content(files["pyproject.toml"]!)))
                }
                main = commit("refs/heads/main", "Direct change \(n).\(d)", [main], changes).mark
                total += 1
                if total % 1000 == 0 { write("reset refs/tags/v2.\(total / 1000).0\nfrom :\(main)\n\n") }
            }
            let i = next(150)
            let code = "pkg/mod\(i).py", test = "tests/test_mod\(i).py"
            var branch: [String: [String]] = [:]
            var head = main
            var steps: [(path: String, bytes: [UInt8], message: String, time: Int)] = []
            for (k, path) in [code, test, code].enumerated() {
                let bytes = edit(&branch, path, "pr\(n).\(k)")
                let message = "PR \(n) step \(k)" + (k == 0 ? "\n\nFixes #\(10_000 + n)" : "")
                let made = commit("refs/pull/\(n)/head", message, [head], [(path, bytes)], author: "Author\(n) <a\(n)@x>")
                head = made.mark
                steps.append((path, bytes, message, made.time))
            }
            guard Self.landed(n) else { continue }
            for (path, lines) in branch { files[path] = lines }
            let final = branch.sorted { $0.key < $1.key }.map { ($0.key, content($0.value)) }
            switch Self.style(n) {
            case "merge":
                main = commit("refs/heads/main", "Merge pull request #\(n) from a\(n)/topic\n\nPR \(n)", [main, head], final).mark
                total += 4
            case "squash":
                main = commit("refs/heads/main", "PR \(n) (#\(n))\n\nFixes #\(10_000 + n)", [main], final).mark
                total += 1
            default:
                for step in steps {
                    main = commit("refs/heads/main", step.message, [main], [(step.path, step.bytes)],
                                  author: "Author\(n) <a\(n)@x>", authorTime: step.time).mark
                    total += 1
                }
            }
        }
        return out
    }
}
