import ArgumentParser
import Foundation
import Git
import Mining
#if canImport(Glibc)
import Glibc
#endif

/// Mining a large repository: Forge's libgit2 miner against the git CLI baseline and, in the
/// large modes, a one-thread C program on libgit2.
struct MiningBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mining",
        abstract: "Mine a generated repository (or a clone) with Forge and with baselines; print time, peak memory and ratios.",
        discussion: """
        Default: a generated 20,000-commit / 2,000-PR repository, Forge in this process against the \
        git-CLI baseline. With --large (a generated 60,000-commit / 10,000-PR repository whose PRs \
        change a file in four places) or --clone PATH (any local clone, e.g. sympy/sympy with its \
        refs/pull/*), three miners run one after the other as child processes, each measured for \
        wall time and peak resident memory: `forge mine` (the release binary beside forge-bench), \
        the git-CLI baseline, and Benchmarks/baselines/libgit2_miner.c (compiled here with cc \
        -lgit2; a first-parent walk, merge and squash PRs, base commit, one diff printed per PR). \
        --repeat runs the three in turn that many times and reports medians, so machine noise \
        hits all of them alike.
        """)

    @Option(help: "Commits in the generated repository.") var commits = 20_000
    @Option(help: "Merged pull requests in it.") var pullRequests = 2_000
    @Option(help: "Where to generate it (reused when it already holds this size).") var directory = "Workspace/bench/mining"
    @Flag(help: "Generate a 60,000-commit, 10,000-PR repository with realistic patches and run all three miners as child processes.")
    var large = false
    @Option(help: ArgumentHelp("Mine this local clone instead of a generated one (all three miners, as child processes).", valueName: "path"))
    var clone: String?
    @Option(help: "Runs of each miner in the large modes (the median is reported).") var `repeat` = 1
    @Flag(help: "Skip the git-CLI baseline (it takes minutes on a large repository).") var skipGit = false

    func validate() throws {
        if large && clone != nil { throw ValidationError("--large and --clone exclude each other") }
        if `repeat` < 1 { throw ValidationError("--repeat must be at least 1") }
        if let clone, !FileManager.default.fileExists(atPath: clone) { throw ValidationError("--clone: no such folder: \(clone)") }
    }

    func run() throws {
        if let clone { return try compare(repository: clone) }
        let (commits, pulls) = large ? (max(commits, 60_000), max(pullRequests, 10_000)) : (commits, pullRequests)
        let repository = "\(directory)/repo-\(commits)-\(pulls)" + (large ? "-large" : "")
        if !FileManager.default.fileExists(atPath: repository + "/.git/refs") {
            try generate(repository, commits: commits, pulls: pulls)
        }
        if large { return try compare(repository: repository) }

        let commitCount = try GitCLIBaseline.git(["rev-list", "--all", "--count"], in: repository)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let forgeStart = Date()
        let result = try Miner(repository: try Repository.open(repository), repo: "bench/synthetic").mine()
        let forgeSeconds = Date().timeIntervalSince(forgeStart)
        let forgePeak = peakResidentMiB()

        let baselineStart = Date()
        let baseline = try GitCLIBaseline.mine(repository: repository)
        let baselineSeconds = Date().timeIntervalSince(baselineStart)

        var styles: [String: Int] = [:]
        for task in result.tasks { styles[task.mergeStyle?.rawValue ?? "?", default: 0] += 1 }
        print("repository: \(commitCount) commits; Forge found \(result.tasks.count) tasks \(styles.sorted { $0.key < $1.key })")
        printTable(["miner", "PRs", "seconds", "PRs/s", "peak RSS MiB", "speed-up"], [
            ["git CLI baseline (1 log + 1 diff per PR)", "\(baseline.pullRequests)", String(format: "%.2f", baselineSeconds),
             String(format: "%.0f", Double(baseline.pullRequests) / baselineSeconds), "-", "1.0×"],
            ["Forge (libgit2, full tasks)", "\(result.tasks.count)", String(format: "%.2f", forgeSeconds),
             String(format: "%.0f", Double(result.tasks.count) / forgeSeconds), String(format: "%.0f", forgePeak),
             String(format: "%.1f×", baselineSeconds / forgeSeconds)],
        ])
    }

    /// Streams the synthetic history into `git fast-import`, then packs it as a fetched clone is.
    private func generate(_ repository: String, commits: Int, pulls: Int) throws {
        try? FileManager.default.removeItem(atPath: repository)
        try FileManager.default.createDirectory(atPath: repository, withIntermediateDirectories: true)
        var history = SyntheticHistory(commits: commits, pullRequests: pulls)
        if large { history.modules = 1_000; history.hunks = 4; history.linesPerHunk = 10 }
        let started = Date()
        _ = try GitCLIBaseline.git(["init", "-q", "-b", "main"], in: repository)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/git")
        process.arguments = ["-C", repository, "fast-import", "--quiet"]
        let input = Pipe()
        process.standardInput = input
        try process.run()
        let writer = input.fileHandleForWriting
        let styles = try history.render { writer.write(Data($0.utf8)) }
        try writer.close()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw BenchError("git fast-import exited \(process.terminationStatus)") }
        if large { _ = try GitCLIBaseline.git(["repack", "-adq"], in: repository) }
        print("generated \(repository): \(styles) in \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
    }

    /// The three miners on one repository, as child processes, `repeat` rounds.
    private func compare(repository: String) throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("forge-bench-mining-\(getpid())").path
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let bench = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        let forge = try forgeBesideBench()
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("baselines/libgit2_miner.c").path
        let cBaseline = "\(work)/libgit2_miner"
        _ = try ChildRun.measure(["/usr/bin/cc", "-O2", "-o", cBaseline, source, "-lgit2"], in: work)
        let commitCount = try GitCLIBaseline.git(["rev-list", "--all", "--count"], in: repository)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let pullRefs = try GitCLIBaseline.git(["for-each-ref", "--format=x", "refs/pull"], in: repository)
            .split(separator: "\n").count
        print("repository: \(repository): \(commitCount) commits, \(pullRefs) pull request refs")

        let db = "\(work)/forge.db"
        var miners: [(name: String, argv: [String])] = [
            ("forge mine (release)", [forge, "mine", repository, "--repo", "bench/mined", "--db", db, "--full"]),
            ("libgit2 baseline (C, one thread)", [cBaseline, repository]),
        ]
        if !skipGit { miners.append(("git CLI baseline", [bench.path, "mining-git-baseline", repository])) }
        var runs: [String: [ChildRun]] = [:]
        for round in 1...`repeat` {
            for miner in miners {
                for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: db + suffix) }
                // The C baseline prints every patch: to /dev/null, as nobody reads them.
                let run = try ChildRun.measure(miner.argv, in: work, stdout: miner.argv[0] == cBaseline ? "/dev/null" : nil)
                runs[miner.name, default: []].append(run)
                print("round \(round): \(miner.name): \(String(format: "%.1f", run.seconds)) s, CPU \(String(format: "%.1f", run.cpuSeconds)) s, \(String(format: "%.0f", run.peakMiB)) MiB — \(run.summary)")
            }
        }
        let cSeconds = median(runs[miners[1].name]!.map(\.seconds))
        let gitSeconds = skipGit ? nil : median(runs[miners[2].name]!.map(\.seconds))
        printTable(["miner", "median s", "runs (s)", "median CPU s", "peak RSS MiB", "vs C baseline", "vs git CLI"], miners.map { miner in
            let list = runs[miner.name]!
            let seconds = median(list.map(\.seconds))
            return [miner.name, String(format: "%.1f", seconds), list.map { String(format: "%.1f", $0.seconds) }.joined(separator: " "),
                    String(format: "%.1f", median(list.map(\.cpuSeconds))),
                    String(format: "%.0f", list.map(\.peakMiB).max() ?? 0),
                    String(format: "%.2f×", cSeconds / seconds), gitSeconds.map { String(format: "%.1f×", $0 / seconds) } ?? "-"]
        })
    }
}

/// The git-CLI baseline in a process of its own, so its time and memory are measured alone.
struct MiningGitBaseline: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mining-git-baseline", abstract: "Run only the git-CLI mining baseline on a repository (used by `mining`).",
        shouldDisplay: false)
    @Argument(help: "The repository.") var repository: String
    func run() throws {
        let result = try GitCLIBaseline.mine(repository: repository)
        print("git CLI baseline: \(result.pullRequests) PRs diffed, \(result.patchBytes) patch bytes, \(result.failed) diffs failed")
    }
}

/// One child process: wall time and peak resident memory (`wait4`'s rusage, so the child's own).
struct ChildRun {
    let seconds: Double
    /// User + system CPU of the child and the children it waited for (the git CLI's processes):
    /// on a shared machine this, unlike wall time, does not depend on the load.
    let cpuSeconds: Double
    let peakMiB: Double
    /// The last line the child printed (stdout, else stderr).
    let summary: String

    /// Runs `argv` (stdout to `stdout`, default a file read back for the summary).
    static func measure(_ argv: [String], in directory: String, stdout: String? = nil) throws -> ChildRun {
        let outPath = stdout ?? "\(directory)/child.out", errPath = "\(directory)/child.err"
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        var cArgs = argv.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        var pid: pid_t = 0
        let started = monotonic()
        let rc = posix_spawn(&pid, argv[0], &actions, nil, &cArgs, environ)
        guard rc == 0 else { throw BenchError("cannot start \(argv[0]): \(String(cString: strerror(rc)))") }
        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) < 0 && errno == EINTR {}
        let seconds = monotonic() - started
        let output = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        let errors = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        guard status == 0 else {
            throw BenchError("\(argv.prefix(2).joined(separator: " ")) failed (status \(status)): \(errors.suffix(500))")
        }
        let lines = (output + errors).split(separator: "\n")
        let summary = lines.first { $0.hasPrefix("tasks:") } ?? lines.last
        if stdout == nil { try? FileManager.default.removeItem(atPath: outPath) }
        func cpu(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return ChildRun(seconds: seconds, cpuSeconds: cpu(usage.ru_utime) + cpu(usage.ru_stime),
                        peakMiB: Double(usage.ru_maxrss) / 1024, summary: summary.map(String.init) ?? "")
    }
}
