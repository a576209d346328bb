/// The sample's history, one pull request at a time. Each step mirrors how GitHub lands a PR.
struct SampleHistory {
    let git: SampleGit
    typealias Files = SampleFiles

    func write() async throws {
        try await git.run(["init", "-q", "-b", "main"])
        git.setAuthor("Maintainer")
        try await git.commit("Initial import of textkit", files: [
            "pyproject.toml": Files.pyproject,
            "README.md": Files.readme,
            "textkit/__init__.py": Files.initModule(version: "0.1.0"),
            "textkit/slug.py": Files.slugBuggy,
            "textkit/wrap.py": Files.wrapBuggy,
            "textkit/duration.py": Files.durationBuggy,
            "textkit/stats.py": Files.stats,
            "tests/conftest.py": Files.conftest,
            "tests/test_slug.py": Files.slugTests,
            "tests/test_wrap.py": Files.wrapTests,
            "tests/test_duration.py": Files.durationTests,
            "tests/test_stats.py": Files.statsTests,
        ])
        try await git.run(["tag", "v0.1.0"])

        // PR #1, merge commit: fix and test in two commits on a branch.
        try await branch("fix-slug", author: "Alice")
        try await git.commit("Collapse runs of separators in slugify", files: ["textkit/slug.py": Files.slugFixed])
        try await git.commit("Test slugify on punctuation and padding",
                             files: ["tests/test_slug.py": Files.slugTestsAfterPR1])
        try await mergeCommit(pull: 1, branch: "fix-slug", owner: "alice",
                              body: "Collapse runs of separators in slugify\n\nFixes #10")

        // PR #2, squash merge.
        try await branch("wrap-empty", author: "Bob")
        try await git.commit("Handle empty text in wrap", files: ["textkit/wrap.py": Files.wrapFixed])
        try await git.commit("Add tests for empty and blank text",
                             files: ["tests/test_wrap.py": Files.wrapTestsAfterPR2])
        try await squash(pull: 2, branch: "wrap-empty",
                         message: "Return no lines when wrapping empty text (#2)\n\nCloses: #11")

        // PR #3 opens now but lands later by rebase, after the release below.
        try await branch("duration-garbage", author: "Carol")
        try await git.commit("Reject trailing garbage in durations\n\nResolves forge-sample/textkit#12", files: [
            "textkit/duration.py": Files.durationFixed,
            "tests/test_duration.py": Files.durationTestsAfterPR3,
        ])
        try await git.run(["update-ref", "refs/pull/3/head", "HEAD"])
        try await git.run(["checkout", "-q", "main"])

        git.setAuthor("Maintainer")
        try await git.commit("Release 0.2.0", files: [
            "pyproject.toml": Files.pyproject.replacingOccurrences(of: "version = \"0.1.0\"", with: "version = \"0.2.0\""),
            "textkit/__init__.py": Files.initModule(version: "0.2.0"),
        ])
        try await git.run(["tag", "v0.2.0"])

        // PR #4 is never merged: only its ref exists.
        try await branch("experiment", author: "Eve")
        try await git.commit("Experiment: wrap on hyphens too", files: [
            "textkit/wrap.py": Files.wrapFixed.replacingOccurrences(of: "text.split()", with: "text.replace('-', ' ').split()"),
            "tests/test_wrap.py": Files.wrapTestsAfterPR2 + "\n\ndef test_hyphens():\n    assert wrap(\"a-b\") == [\"a b\"]\n",
        ])
        try await git.run(["update-ref", "refs/pull/4/head", "HEAD"])
        try await git.run(["checkout", "-q", "main"])
        try await git.run(["branch", "-q", "-D", "experiment"])

        // PR #3 lands as a rebase merge: same patch, new commit on main.
        git.setAuthor("Carol")
        try await git.run(["cherry-pick", "--allow-empty", "refs/pull/3/head"], advancesClock: true)
        try await git.run(["branch", "-q", "-D", "duration-garbage"])

        // PR #5: documentation only — no tests, so no task.
        try await branch("docs", author: "Carol")
        try await git.commit("Document how to run the tests", files: [
            "README.md": Files.readme + "Install the test extra first: `pip install -e .[test]`.\n",
        ])
        try await mergeCommit(pull: 5, branch: "docs", owner: "carol", body: "Document how to run the tests")

        // PR #6: a test that already passes before the change — mined, then invalid (no FAIL_TO_PASS).
        try await branch("word-count-docs", author: "Dave")
        try await git.commit("Clarify what word_count counts", files: [
            "textkit/stats.py": Files.statsDocumented,
            "tests/test_stats.py": Files.statsTestsAfterPR6,
        ])
        try await mergeCommit(pull: 6, branch: "word-count-docs", owner: "dave",
                              body: "Clarify what word_count counts\n\nfixes #13")

        // PR #7: fixes its issue but breaks an older test — mined, then invalid (PASS_TO_FAIL).
        try await branch("first-appearance", author: "Bob")
        try await git.commit("Keep first-appearance order for tied words", files: [
            "textkit/stats.py": Files.statsFirstAppearance,
            "tests/test_stats.py": Files.statsTestsAfterPR7,
        ])
        try await squash(pull: 7, branch: "first-appearance",
                         message: "Keep first-appearance order for tied words (#7)\n\nResolves https://github.com/forge-sample/textkit/issues/14")
    }

    private func branch(_ name: String, author: String) async throws {
        try await git.run(["checkout", "-q", "-b", name, "main"])
        git.setAuthor(author)
    }

    private func mergeCommit(pull: Int, branch: String, owner: String, body: String) async throws {
        try await git.run(["update-ref", "refs/pull/\(pull)/head", "HEAD"])
        try await git.run(["checkout", "-q", "main"])
        git.setAuthor("Maintainer")
        try await git.run(["merge", "-q", "--no-ff", branch, "-m",
                           "Merge pull request #\(pull) from \(owner)/\(branch)\n\n\(body)"], advancesClock: true)
        try await git.run(["branch", "-q", "-D", branch])
    }

    private func squash(pull: Int, branch: String, message: String) async throws {
        try await git.run(["update-ref", "refs/pull/\(pull)/head", "HEAD"])
        try await git.run(["checkout", "-q", "main"])
        git.setAuthor("Maintainer")
        try await git.run(["merge", "-q", "--squash", branch])
        try await git.run(["commit", "-q", "-m", message], advancesClock: true)
        try await git.run(["branch", "-q", "-D", branch])
    }
}
