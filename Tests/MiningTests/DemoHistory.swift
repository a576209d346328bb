import Foundation
import GitFixtures
@testable import Git

/// A small Python project whose history holds every kind of pull request the miner must handle.
///
/// | PR | how it lands | notable |
/// |----|--------------|---------|
/// | 1  | merge commit, two commits, ref | `Fixes #10`, changelog entry |
/// | 2  | squash `(#2)`, no ref | rename + edit, deletion, binary change; `Closes: #11`, `resolves forge/demo#12` |
/// | 3  | rebase (cherry-picked), ref | `fix #13` in a commit message; deps bumped on main meanwhile |
/// | 4  | ref only | never merged |
/// | 5  | merge commit, Latin-1 message | non-UTF-8 file name; links #14 and #15 (URL), ignores other/repo#99 |
/// | 6  | squash `(#6)` on branch `release`, ref | not on the default branch |
/// | 7  | merge commit | docs only |
/// | 8  | merge commit | no issue link |
struct DemoHistory {
    let fixture: Fixture
    var commits: [String: String] = [:]   // name → commit id

    static let repo = "forge/demo"

    static func numbered(_ n: Int, _ word: String) -> String {
        (1...n).map { "\(word)_\($0) = \($0)  # a line long enough to look like code\n" }.joined()
    }

    static func png(_ seed: UInt8, count: Int = 900) -> [UInt8] {
        var state = UInt32(seed) &* 2654435761
        return [0x89, 0x50, 0x4E, 0x47, 0, 0] + (0..<count).map { _ in
            state = state &* 1103515245 &+ 12345
            return UInt8(truncatingIfNeeded: state >> 16)
        }
    }

    init() throws {
        fixture = try Fixture("demo")
        let f = fixture
        try f.write("pyproject.toml", "[project]\nname = \"demo\"\nversion = \"1.4.2\"\ndependencies = [\"attrs\"]\n")
        try f.write("demo/__init__.py", "__version__ = \"1.4.2\"\n")
        try f.write("demo/core.py", "def add(a, b):\n    return a + b\n\n" + Self.numbered(30, "value"))
        try f.write("demo/helpers.py", Self.numbered(40, "helper"))
        try f.write("demo/old.py", "OLD = True\n")
        try f.write("demo/logo.png", Self.png(1))
        try f.write("tests/test_core.py", "from demo.core import add\n\ndef test_add():\n    assert add(1, 2) == 3\n")
        try f.write("README.md", "# demo\n")
        commits["initial"] = try f.commit("Initial import")
        try f.git("tag", "-a", "v1.4.2", "-m", "1.4.2")

        // PR 1: merge commit.
        try f.git("checkout", "-q", "-b", "fix-add")
        try f.write("demo/core.py", "def add(a, b):\n    return int(a) + int(b)\n\n" + Self.numbered(30, "value"))
        try f.write("CHANGELOG.md", "- add() accepts strings\n")
        try f.commit("Make add accept strings\n\nFixes #10")
        try f.write("tests/test_core.py", "from demo.core import add\n\ndef test_add():\n    assert add(1, 2) == 3\n\ndef test_strings():\n    assert add('1', '2') == 3\n")
        commits["pr1-head"] = try f.commit("Test add with strings")
        commits["pr1-merge"] = try Self.mergePullRequest(1, branch: "fix-add", author: "alice", subject: "Make add accept strings", in: f)

        // PR 2: squash with rename, deletion and a binary change; no PR ref.
        try f.git("mv", "demo/helpers.py", "demo/utils.py")
        try f.write("demo/utils.py", Self.numbered(40, "helper").replacingOccurrences(of: "helper_7 = 7", with: "helper_7 = 70"))
        try f.git("rm", "-q", "demo/old.py")
        var logo = Self.png(1); logo[300] ^= 0xFF
        try f.write("demo/logo.png", logo)
        try f.write("tests/test_utils.py", "from demo.utils import helper_7\n\ndef test_helper():\n    assert helper_7 == 70\n")
        commits["pr2-squash"] = try f.commit("Rename helpers to utils (#2)\n\nCloses: #11\nresolves forge/demo#12")

        // PR 3: opened now, lands later by rebase.
        try f.git("checkout", "-q", "-b", "empty-input")
        commits["pr3-fork"] = try f.head()
        try f.write("demo/core.py", "def add(a, b):\n    if a is None:\n        return b\n    return int(a) + int(b)\n\n" + Self.numbered(30, "value"))
        try f.commit("Handle empty input\n\nfix #13")
        try f.write("tests/test_empty.py", "from demo.core import add\n\ndef test_none():\n    assert add(None, 2) == 2\n")
        commits["pr3-head"] = try f.commit("Test empty input")
        try f.git("update-ref", "refs/pull/3/head", "HEAD")
        try f.git("checkout", "-q", "main")
        try f.write("pyproject.toml", "[project]\nname = \"demo\"\nversion = \"1.5.0\"\ndependencies = [\"attrs>=23\"]\n")
        try f.write("demo/__init__.py", "__version__ = \"1.5.0\"\n")
        commits["bump"] = try f.commit("Release 1.5.0 with newer attrs")

        // PR 4: never merged.
        try f.git("checkout", "-q", "-b", "experiment")
        try f.write("demo/core.py", "raise SystemExit\n")
        try f.write("tests/test_core.py", "def test_nothing():\n    pass\n")
        commits["pr4-head"] = try f.commit("Experiment")
        try f.git("update-ref", "refs/pull/4/head", "HEAD")
        try f.git("checkout", "-q", "main")
        try f.git("branch", "-q", "-D", "experiment")

        // PR 3 lands: both commits re-applied on main.
        try f.git("cherry-pick", commits["pr3-head"]! + "~1", commits["pr3-head"]!)
        commits["pr3-landing"] = try f.head()
        try f.git("branch", "-q", "-D", "empty-input")

        // PR 5: non-UTF-8 file name, Latin-1 merge message linking two issues.
        try f.git("checkout", "-q", "-b", "cafe")
        try f.sh("mkdir -p tests/data && printf 'caf\\xe9 data\\n' > $'tests/data/caf\\xe9.txt'")
        try f.write("demo/core.py", "def add(a, b):\n    if a is None:\n        return b\n    return int(a) + int(b)\n\n" + Self.numbered(30, "value") + "ENCODING = 'latin-1'\n")
        commits["pr5-head"] = try f.commit("Read latin-1 data")
        try f.git("update-ref", "refs/pull/5/head", "HEAD")
        try f.git("checkout", "-q", "main")
        try f.write("../merge-msg", Array("Merge pull request #5 from dora/caf".utf8) + [0xE9]
                    + Array("\n\nCaf".utf8) + [0xE9] + Array(" support. Fixes #14, closes https://github.com/forge/demo/issues/15, fixes other/repo#99\n".utf8))
        try f.git("-c", "i18n.commitEncoding=ISO-8859-1", "merge", "-q", "--no-ff", "cafe", "-F", "../merge-msg")
        commits["pr5-merge"] = try f.head()
        try f.git("branch", "-q", "-D", "cafe")

        // PR 6: squashed onto a release branch, with its ref.
        try f.git("checkout", "-q", "-b", "release", commits["bump"]!)
        try f.git("checkout", "-q", "-b", "backport")
        try f.write("demo/core.py", "def add(a, b):\n    return int(a) + int(b)  # 1.5 backport\n\n" + Self.numbered(30, "value"))
        try f.write("tests/test_core.py", "from demo.core import add\n\ndef test_add():\n    assert add(1, 2) == 3\n\ndef test_backport():\n    assert add('4', 5) == 9\n")
        commits["pr6-head"] = try f.commit("Backport the fix")
        try f.git("update-ref", "refs/pull/6/head", "HEAD")
        try f.git("checkout", "-q", "release")
        try f.git("merge", "-q", "--squash", "backport")
        commits["pr6-squash"] = try f.commit("Backport: accept strings in add (#6)\n\nFixes #16")
        try f.git("branch", "-q", "-D", "backport")
        try f.git("checkout", "-q", "main")

        // PR 7: documentation only.
        try f.git("checkout", "-q", "-b", "docs")
        try f.write("docs/usage.rst", "Usage\n=====\n")
        try f.write("README.md", "# demo\n\nSee docs/usage.rst\n")
        try f.commit("Document usage")
        try f.git("checkout", "-q", "main")
        try f.git("merge", "-q", "--no-ff", "docs", "-m", "Merge pull request #7 from erin/docs\n\nDocument usage")
        try f.git("branch", "-q", "-D", "docs")

        // PR 8: no issue link at all.
        try f.git("checkout", "-q", "-b", "speed")
        try f.write("demo/core.py", "def add(a, b):\n    if a is None:\n        return b\n    return int(a) + int(b)\n\n" + Self.numbered(30, "value") + "ENCODING = 'latin-1'\nFAST = True\n")
        try f.write("tests/test_speed.py", "from demo.core import FAST\n\ndef test_fast():\n    assert FAST\n")
        commits["pr8-head"] = try f.commit("Go faster")
        commits["pr8-merge"] = try Self.mergePullRequest(8, branch: "speed", author: "finn", subject: "Go faster", in: f)
    }

    /// Lands the checked-out `branch` on main GitHub's "merge commit" way, its pull request ref at
    /// its head; returns the merge commit.
    private static func mergePullRequest(_ number: Int, branch: String, author: String, subject: String, in f: Fixture) throws -> String {
        try f.git("update-ref", "refs/pull/\(number)/head", "HEAD")
        try f.git("checkout", "-q", "main")
        try f.git("merge", "-q", "--no-ff", branch, "-m", "Merge pull request #\(number) from \(author)/\(branch)\n\n\(subject)")
        let merge = try f.head()
        try f.git("branch", "-q", "-D", branch)
        return merge
    }

    func mergeBase(_ a: String, _ b: String) throws -> String {
        try fixture.git("merge-base", a, b).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
