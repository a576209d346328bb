import Foundation
import Sample
import Store
import XCTest

/// Four `forge validate` processes at once on one fresh workspace (one environment cache, one uv
/// cache, one runs folder): two shards of the sample and two of a fixture whose pull requests
/// need three different environments, two tasks each, so that processes race to build the same
/// keys. Each key must be built once and reused by the others, every environment must be whole,
/// and the verdicts must be those of one process per repository.
final class SharedWorkspaceStressTests: XCTestCase {
    func testFourConcurrentValidatorsShareOneWorkspaceSafely() throws {
        let (sampleClone, sampleMined) = try ClusterSupport.sample.get()
        let sampleBaseline = try ClusterSupport.baseline.get()
        let folder = ClusterSupport.base + "/stress-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let fixture = try Self.makeFixture(in: folder + "/multienv")
        try ClusterSupport.forge(["mine", fixture, "--repo", "forge-tests/multienv", "--db", "fixture-mined.db"], in: folder)

        // One process, its own workspace: the fixture's reference verdicts.
        try FileManager.default.copyItem(atPath: folder + "/fixture-mined.db", toPath: folder + "/fixture-one.db")
        try ClusterSupport.forge(["validate", "--clone", fixture, "--reruns", "0", "--db", "fixture-one.db",
                                  "--workspace", "ws-one"], in: folder)

        // Four at once on one workspace.
        let jobs: [(clone: String, mined: String, db: String, shard: String)] = [
            (sampleClone, sampleMined, "sample-1.db", "1/2"), (sampleClone, sampleMined, "sample-2.db", "2/2"),
            (fixture, folder + "/fixture-mined.db", "fixture-1.db", "1/2"), (fixture, folder + "/fixture-mined.db", "fixture-2.db", "2/2"),
        ]
        var processes: [(Process, String)] = []
        for job in jobs {
            try FileManager.default.copyItem(atPath: job.mined, toPath: folder + "/" + job.db)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: ClusterSupport.forge)
            process.arguments = ["validate", "--clone", job.clone, "--reruns", "0", "--shard", job.shard, "--db", job.db,
                                 "--workspace", "ws-shared"]
            process.currentDirectoryURL = URL(fileURLWithPath: folder)
            let log = folder + "/" + job.db + ".log"
            try Data().write(to: URL(fileURLWithPath: log))
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
            process.standardOutput = handle
            process.standardError = handle
            processes.append((process, log))
        }
        for (process, _) in processes { try process.run() }
        for (process, log) in processes {
            process.waitUntilExit()
            XCTAssertEqual(process.terminationStatus, 0, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
        }

        try ClusterSupport.forge(["store", "merge", "--db", "sample-all.db", "sample-1.db", "sample-2.db"], in: folder)
        try ClusterSupport.forge(["store", "merge", "--db", "fixture-all.db", "fixture-1.db", "fixture-2.db"], in: folder)
        XCTAssertEqual(try ClusterSupport.outcomes(folder + "/sample-all.db"), try ClusterSupport.outcomes(sampleBaseline))
        let fixtureOutcomes = try ClusterSupport.outcomes(folder + "/fixture-all.db")
        XCTAssertEqual(fixtureOutcomes, try ClusterSupport.outcomes(folder + "/fixture-one.db"))
        XCTAssertEqual(fixtureOutcomes.count, 6)
        XCTAssertTrue(fixtureOutcomes.values.allSatisfy { $0.hasPrefix("verdict valid") }, "\(fixtureOutcomes)")

        // Every key built once: the processes that used it all recorded the one build's time.
        var builds: [String: Set<Date>] = [:]
        for job in jobs {
            for environment in try TaskStore(path: folder + "/" + job.db).environments() {
                builds[environment.key, default: []].insert(environment.createdAt)
            }
        }
        XCTAssertGreaterThanOrEqual(builds.count, 4, "the sample's environment and the fixture's three: \(builds)")
        for (key, times) in builds { XCTAssertEqual(times.count, 1, "environment \(key) was built \(times.count) times") }

        // Every environment whole: its record, a working interpreter with pytest; nothing half-built left.
        let envs = folder + "/ws-shared/envs/envs"
        let entries = try FileManager.default.contentsOfDirectory(atPath: envs)
        XCTAssertEqual(entries.filter { $0.hasPrefix(".stale-") }, [])
        for key in builds.keys {
            XCTAssertTrue(entries.contains(key))
            XCTAssertTrue(FileManager.default.fileExists(atPath: "\(envs)/\(key)/environment.json"), key)
            let python = try ClusterSupport.run("\(envs)/\(key)/venv/bin/python", ["-c", "import pytest"])
            XCTAssertEqual(python.status, 0, "\(key): \(python.output)")
        }
        let directories = entries.filter { !$0.hasSuffix(".lock") && !$0.hasPrefix(".") }
        XCTAssertEqual(Set(directories), Set(builds.keys), "no environment folder beyond the keys used")
    }

    /// `multienv`: six pull requests, each fixing one function and adding its test; #2 and #4
    /// also change pyproject.toml, so tasks 1-2, 3-4 and 5-6 each need their own environment.
    static func makeFixture(in path: String) throws -> String {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        var clock = 1_600_000_000
        func git(_ arguments: [String]) throws {
            let date = "\(clock) +0000"
            let result = try ClusterSupport.run("/usr/bin/env", ["git"] + arguments, in: path, environment: [
                "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null", "LC_ALL": "C",
                "GIT_AUTHOR_NAME": "Ada", "GIT_AUTHOR_EMAIL": "ada@example.com", "GIT_AUTHOR_DATE": date,
                "GIT_COMMITTER_NAME": "Ada", "GIT_COMMITTER_EMAIL": "ada@example.com", "GIT_COMMITTER_DATE": date,
            ])
            guard result.status == 0 else { throw ClusterSupport.Failure(description: "git \(arguments): \(result.output)") }
        }
        func write(_ files: [String: String]) throws {
            for (relative, text) in files {
                let url = URL(fileURLWithPath: path).appendingPathComponent(relative)
                try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                try text.write(to: url, atomically: true, encoding: .utf8)
            }
            clock += 3600
            try git(["add", "-A"])
            try git(["commit", "-q", "-m", "change"])
        }
        func pyproject(_ generation: Int) -> String {
            "# environment generation \(generation)\n" + SampleFiles.pythonProject(name: "multienv", version: "0.1.\(generation)")
        }
        // f<n>(x) should return x + n; each starts off by one and PR n fixes it.
        func module(fixed: Int) -> String {
            (1...6).map { n in "def f\(n)(x):\n    return x + \(n <= fixed ? n : n - 1)\n" }.joined(separator: "\n\n")
        }
        func tests(upTo: Int) -> String {
            "from multienv.core import " + (1...6).map { "f\($0)" }.joined(separator: ", ") + "\n\n\n"
                + "def test_import():\n    assert f1 is not None\n"
                + (0..<upTo).map { "\n\ndef test_f\($0 + 1)():\n    assert f\($0 + 1)(10) == \(10 + $0 + 1)\n" }.joined()
        }
        try git(["init", "-q", "-b", "main"])
        try write(["pyproject.toml": pyproject(1), "multienv/__init__.py": "", "multienv/core.py": module(fixed: 0),
                   "tests/test_core.py": tests(upTo: 0)])
        var generation = 1
        for number in 1...6 {
            try git(["checkout", "-q", "-b", "fix-\(number)", "main"])
            var files = ["multienv/core.py": module(fixed: number), "tests/test_core.py": tests(upTo: number)]
            if number == 2 || number == 4 { generation += 1; files["pyproject.toml"] = pyproject(generation) }
            try write(files)
            try git(["update-ref", "refs/pull/\(number)/head", "HEAD"])
            try git(["checkout", "-q", "main"])
            clock += 3600
            try git(["merge", "-q", "--no-ff", "fix-\(number)", "-m", "Merge pull request #\(number) from ada/fix-\(number)\n\nFix f\(number)"])
            try git(["branch", "-q", "-D", "fix-\(number)"])
        }
        return path
    }
}
