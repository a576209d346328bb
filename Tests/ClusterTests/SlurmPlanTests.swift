import Foundation
import Store
import XCTest

/// The generated Slurm scripts submitted to a real single-node Slurm with accounting (munge,
/// MariaDB, slurmdbd, slurmctld and slurmd on this machine, all started and configured in a temp
/// folder by the test), and what became of every job read back with `sacct`.
///
/// Slurm 22.05 (Debian 12) keeps accounting only through slurmdbd, and slurmdbd only in MySQL or
/// MariaDB: there is no file-backed accounting storage for `sacct` to read. So the test runs its
/// own MariaDB server, the way a cluster's accounting does. Without those programs it skips.
final class SlurmPlanTests: XCTestCase {
    func testValidateArrayOfFourShardsThenMergeEqualsOneValidateRun() throws {
        let slurm = try LocalSlurm.start()
        defer { slurm.stop() }
        let baseline = try ClusterSupport.baseline.get()
        let shared = try plannedFolder()

        let submitted = try ClusterSupport.run(shared + "/plan/submit.sh", [], in: shared, environment: slurm.environment)
        XCTAssertEqual(submitted.status, 0, submitted.output)
        let (array, merge) = try Self.jobIDs(submitted.output)
        try slurm.waitUntilFinished([array, merge], timeout: 600)

        let rows = try slurm.accounting([array, merge], rows: 5)
        let tasks = rows.filter { $0.jobID == array }
        XCTAssertEqual(tasks.compactMap(\.arrayTaskID).sorted(), [1, 2, 3, 4], "sacct: \(rows)")
        XCTAssertEqual(Set(tasks.map(\.state)), ["COMPLETED"], "sacct: \(rows)")
        XCTAssertEqual(rows.filter { $0.jobID == merge }.map(\.state), ["COMPLETED"], "sacct: \(rows)")
        for task in 1...4 {
            XCTAssertTrue(FileManager.default.fileExists(atPath: "\(shared)/cluster/forge/logs/01-validate-\(array)_\(task).out"),
                          "one log per array task")
        }
        XCTAssertEqual(try ClusterSupport.outcomes(shared + "/Workspace/forge.db"), try ClusterSupport.outcomes(baseline))
    }

    /// One array task killed after it stored a task and resubmitted alone: the merged store equals
    /// the unsharded run, with each task validated once (same number of stored test runs).
    func testKilledArrayTaskResubmittedLosesNothingAndRepeatsNothing() throws {
        let slurm = try LocalSlurm.start()
        defer { slurm.stop() }
        let baseline = try ClusterSupport.baseline.get()
        let shared = try plannedFolder()
        let plan = shared + "/plan"

        // The shard with the most tasks, so that the kill can land between two of them.
        let ids = try TaskStore(path: try ClusterSupport.sample.get().mined).instanceIDs()
        let sizes = Dictionary(grouping: ids) { Shard.index(of: $0, count: 4) }.mapValues(\.count)
        let victim = sizes.max { ($0.value, -$0.key) < ($1.value, -$1.key) }!.key
        let victimTasks = sizes[victim]!

        let submitted = try ClusterSupport.run(plan + "/submit.sh", [], in: shared, environment: slurm.environment)
        XCTAssertEqual(submitted.status, 0, submitted.output)
        let (array, merge) = try Self.jobIDs(submitted.output)

        // Kill it mid-run: after its first task is stored when it has several, else once it started.
        let shardDB = "\(shared)/cluster/forge/01-validate/shard-\(victim).db"
        let deadline = Date().addingTimeInterval(300)
        var storedBeforeKill: [String: Date?] = [:]
        while Date() < deadline {
            if victimTasks > 1 {
                if FileManager.default.fileExists(atPath: shardDB),
                   let verdicts = try? TaskStore(path: shardDB).verdicts(kind: .validation), !verdicts.isEmpty {
                    storedBeforeKill = Dictionary(uniqueKeysWithValues: verdicts.map { ($0.instanceID, $0.finishedAt) })
                    break
                }
            } else if FileManager.default.fileExists(atPath: shardDB + ".seed.log") {
                break
            }
            usleep(100_000)
        }
        XCTAssertEqual(try slurm.control(["scancel", "\(array)_\(victim)"]).status, 0)
        try slurm.waitUntilFinished([array], timeout: 600)
        // The merge waited on every task succeeding: it can never start now. Cancel it, resubmit
        // the killed task alone and the merge after it, as README says.
        XCTAssertEqual(try slurm.control(["scancel", merge]).status, 0)
        if victimTasks > 1 { XCTAssertLessThan(storedBeforeKill.count, victimTasks, "killed before the shard finished") }

        let again = try slurm.control(["sbatch", "--parsable", "--array=\(victim)", plan + "/01-validate.sbatch"])
        XCTAssertEqual(again.status, 0, again.output)
        let resubmitted = Self.parsableID(again.output)
        let newMerge = try slurm.control(["sbatch", "--parsable", "--dependency=afterok:\(resubmitted)", plan + "/01-validate-merge.sbatch"])
        XCTAssertEqual(newMerge.status, 0, newMerge.output)
        let newMergeID = Self.parsableID(newMerge.output)
        try slurm.waitUntilFinished([resubmitted, newMergeID], timeout: 600)

        // sacct tells the whole story: the killed task CANCELLED, its siblings COMPLETED, the first
        // merge CANCELLED without running, the resubmitted task and the new merge COMPLETED.
        let rows = try slurm.accounting([array, merge, resubmitted, newMergeID], rows: 7)
        let first = rows.filter { $0.jobID == array }
        XCTAssertEqual(first.compactMap(\.arrayTaskID).sorted(), [1, 2, 3, 4], "sacct: \(rows)")
        XCTAssertEqual(first.first { $0.arrayTaskID == victim }?.state, "CANCELLED", "sacct: \(rows)")
        XCTAssertEqual(Set(first.filter { $0.arrayTaskID != victim }.map(\.state)), ["COMPLETED"], "sacct: \(rows)")
        XCTAssertEqual(rows.filter { $0.jobID == merge }.map(\.state), ["CANCELLED"], "sacct: \(rows)")
        // A one-task array's record may reach the database before Slurm splits it into its task:
        // sacct then lists it under the bare job id (`6`, not `6_1`).
        XCTAssertEqual(rows.filter { $0.jobID == resubmitted }.map { "\($0.arrayTaskID ?? victim) \($0.state)" }, ["\(victim) COMPLETED"],
                       "sacct: \(rows)")
        XCTAssertEqual(rows.filter { $0.jobID == newMergeID }.map(\.state), ["COMPLETED"], "sacct: \(rows)")

        // What the killed task stored was kept, not done again; the rest was done once.
        let log = try String(contentsOfFile: "\(shared)/cluster/forge/logs/01-validate-\(resubmitted)_\(victim).out", encoding: .utf8)
        XCTAssertEqual(Self.summaryValue("skipped (already validated)", in: log), "\(storedBeforeKill.count)", log)
        XCTAssertEqual(Self.summaryValue("tasks tried", in: log), "\(victimTasks - storedBeforeKill.count)", log)
        let shard = try TaskStore(path: shardDB)
        for (id, finishedAt) in storedBeforeKill {
            XCTAssertEqual(try shard.verdict(instanceID: id, kind: .validation)?.finishedAt, finishedAt, "\(id) was validated again")
        }
        XCTAssertEqual(try ClusterSupport.outcomes(shared + "/Workspace/forge.db"), try ClusterSupport.outcomes(baseline))
    }

    // MARK: - Helpers

    /// A fresh shared folder holding the mined sample as its main store, and the plan under `plan/`.
    private func plannedFolder() throws -> String {
        let shared = ClusterSupport.base + "/slurm-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: shared + "/Workspace", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: try ClusterSupport.sample.get().mined, toPath: shared + "/Workspace/forge.db")
        // The baseline's workspace: its environment is warm, and sharing it is what a cluster does.
        try ClusterSupport.forge(["cluster", "plan", "--engine", "slurm", "--shards", "4", "--throttle", "4",
                                  "--cpus", "1", "--memory", "512M", "--time", "20",
                                  "--shared", shared, "--workspace", ClusterSupport.base + "/baseline-ws",
                                  "--forge", ClusterSupport.forge, "--out", shared + "/plan",
                                  try ClusterSupport.validateStep], in: shared)
        return shared
    }

    /// `submit.sh` prints `01-validate: array 12, merge 13`.
    private static func jobIDs(_ output: String) throws -> (array: String, merge: String) {
        guard let line = output.split(separator: "\n").first(where: { $0.hasPrefix("01-validate: array ") }) else {
            throw ClusterSupport.Failure(description: "no job ids in submit.sh's output: \(output)")
        }
        let words = line.split(separator: " ")
        return (String(words[2].dropLast()), String(words[4]))
    }

    /// `sbatch --parsable` prints `id` or `id;cluster` as its last line.
    private static func parsableID(_ output: String) -> String {
        String(output.split(separator: "\n").last?.split(separator: ";").first ?? "")
    }

    /// A value of `forge validate`'s summary table (`label<spaces>value`).
    private static func summaryValue(_ label: String, in log: String) -> String? {
        log.split(separator: "\n").first { $0.hasPrefix(label + " ") }
            .map { String($0.dropFirst(label.count)).trimmingCharacters(in: .whitespaces) }
    }
}

/// A single-node Slurm with real accounting, every daemon this test's own: munged; a private
/// MariaDB (its own data folder and socket, a loopback port) holding slurmdbd's database;
/// slurmdbd; slurmctld and slurmd. Ports are picked free on 127.0.0.1, configs, state and logs
/// live in a temp folder; one partition of one node with this machine's CPUs.
final class LocalSlurm {
    let directory: String
    var environment: [String: String] { ["SLURM_CONF": directory + "/slurm.conf"] }
    /// mariadbd stays in the foreground, so it is this process's child; the Slurm daemons and
    /// munged fork away and are found by their pid files.
    private var database: pid_t?

    /// One row of `sacct -X`: an array task (`12_3`: job 12, task 3) or a plain job (`13`), and
    /// the first word of its state (`CANCELLED by 0` is CANCELLED).
    struct Accounting: CustomStringConvertible {
        var jobID: String, arrayTaskID: Int?, state: String
        var description: String { "\(jobID)\(arrayTaskID.map { "_\($0)" } ?? "")=\(state)" }
    }

    private static let finalStates: Set = ["COMPLETED", "CANCELLED", "FAILED", "TIMEOUT", "NODE_FAIL", "PREEMPTED",
                                           "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE"]

    private init(directory: String) { self.directory = directory }

    static func start() throws -> LocalSlurm {
        let binaries = ["/usr/sbin/munged", "/usr/sbin/slurmctld", "/usr/sbin/slurmd", "/usr/sbin/slurmdbd",
                        "/usr/sbin/mariadbd", "/usr/bin/mariadb-install-db", "/usr/bin/my_print_defaults",
                        "/usr/bin/sbatch", "/usr/bin/squeue", "/usr/bin/scancel", "/usr/bin/sinfo", "/usr/bin/sacct",
                        "/usr/bin/sacctmgr"]
        let missing = binaries.filter { !FileManager.default.isExecutableFile(atPath: $0) }
        guard missing.isEmpty else {
            throw XCTSkip("Slurm with accounting is not installed (missing \(missing.joined(separator: ", "))): "
                          + "apt-get install slurm-wlm slurmdbd munge mariadb-server-core mariadb-client-core")
        }
        guard getuid() == 0 else { throw XCTSkip("a local slurmd must run as root (it starts jobs as their owners)") }
        let slurm = LocalSlurm(directory: ClusterSupport.base + "/slurm-daemons-\(UUID().uuidString.prefix(8))")
        do {
            try slurm.boot()
        } catch {
            slurm.stop()
            throw error
        }
        return slurm
    }

    private func boot() throws {
        let dir = directory
        let manager = FileManager.default
        for folder in ["munge", "state", "spool", "log"] {
            try manager.createDirectory(atPath: "\(dir)/\(folder)", withIntermediateDirectories: true)
        }
        try manager.setAttributes([.posixPermissions: 0o700], ofItemAtPath: dir)
        try manager.setAttributes([.posixPermissions: 0o700], ofItemAtPath: dir + "/munge")
        var key = [UInt8](repeating: 0, count: 1024)
        for index in key.indices { key[index] = UInt8.random(in: 0...255) }
        try Data(key).write(to: URL(fileURLWithPath: dir + "/munge/munge.key"))
        try manager.setAttributes([.posixPermissions: 0o400], ofItemAtPath: dir + "/munge/munge.key")
        let hostname = try ClusterSupport.run("/bin/hostname", ["-s"]).output.trimmingCharacters(in: .whitespacesAndNewlines)
        let ports = try Self.freePorts(4)
        let (controllerPort, nodePort, accountingPort, databasePort) = (ports[0], ports[1], ports[2], ports[3])
        let cpus = ProcessInfo.processInfo.activeProcessorCount
        let password = UUID().uuidString

        // slurmdbd refuses a slurmdbd.conf that others can read (it holds the database password).
        let written = manager.createFile(atPath: dir + "/slurmdbd.conf", contents: Data("""
        AuthType=auth/munge
        AuthInfo=socket=\(dir)/munge/munge.sock
        DbdHost=localhost
        DbdAddr=127.0.0.1
        DbdPort=\(accountingPort)
        SlurmUser=root
        PidFile=\(dir)/slurmdbd.pid
        LogFile=\(dir)/log/slurmdbd.log
        StorageType=accounting_storage/mysql
        StorageHost=127.0.0.1
        StoragePort=\(databasePort)
        StorageUser=slurm
        StoragePass=\(password)
        StorageLoc=slurm_acct_db

        """.utf8), attributes: [.posixPermissions: 0o600])
        guard written else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: dir + "/slurmdbd.conf"]) }
        // AccountingStoragePass is, with slurmdbd, the munge socket that the controller's and the
        // clients' connections to slurmdbd use; without it they would ask /run/munge's munged.
        try """
        ClusterName=forgetest
        SlurmctldHost=\(hostname)(127.0.0.1)
        SlurmctldPort=\(controllerPort)
        SlurmdPort=\(nodePort)
        SlurmUser=root
        AuthType=auth/munge
        AuthInfo=socket=\(dir)/munge/munge.sock
        CryptoType=crypto/munge
        StateSaveLocation=\(dir)/state
        SlurmdSpoolDir=\(dir)/spool
        SlurmctldPidFile=\(dir)/slurmctld.pid
        SlurmdPidFile=\(dir)/slurmd.pid
        SlurmctldLogFile=\(dir)/log/slurmctld.log
        SlurmdLogFile=\(dir)/log/slurmd.log
        ProctrackType=proctrack/pgid
        TaskPlugin=task/none
        SwitchType=switch/none
        MpiDefault=none
        SchedulerType=sched/backfill
        SelectType=select/cons_tres
        SelectTypeParameters=CR_CPU
        AccountingStorageType=accounting_storage/slurmdbd
        AccountingStorageHost=127.0.0.1
        AccountingStoragePort=\(accountingPort)
        AccountingStoragePass=\(dir)/munge/munge.sock
        JobAcctGatherType=jobacct_gather/none
        ReturnToService=2
        KillWait=5
        NodeName=forgenode NodeHostname=\(hostname) NodeAddr=127.0.0.1 CPUs=\(cpus) RealMemory=8000 State=UNKNOWN
        PartitionName=forge Nodes=forgenode Default=YES MaxTime=INFINITE State=UP

        """.write(toFile: dir + "/slurm.conf", atomically: true, encoding: .utf8)

        try spawnDaemon(["/usr/sbin/munged", "--force", "--key-file=\(dir)/munge/munge.key", "--socket=\(dir)/munge/munge.sock",
                         "--pid-file=\(dir)/munge/munged.pid", "--log-file=\(dir)/munge/munged.log", "--seed-file=\(dir)/munge/seed"],
                        log: dir + "/log/munged.out")

        // The database: system tables in a fresh data folder, then the server, which creates
        // slurmdbd's user (loopback only) from its init file before it accepts connections.
        let install = try ClusterSupport.run("/usr/bin/mariadb-install-db", [
            "--no-defaults", "--datadir=\(dir)/db", "--user=root", "--auth-root-authentication-method=normal",
            "--skip-test-db", "--innodb-log-file-size=8M",
        ], in: dir)
        guard install.status == 0 else {
            throw ClusterSupport.Failure(description: "mariadb-install-db exited \(install.status): \(install.output.suffix(2000))")
        }
        try """
        CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '\(password)';
        GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';

        """.write(toFile: dir + "/db-init.sql", atomically: true, encoding: .utf8)
        let server = try Self.spawn([
            "/usr/sbin/mariadbd", "--no-defaults", "--user=root", "--datadir=\(dir)/db", "--socket=\(dir)/mariadb.sock",
            "--bind-address=127.0.0.1", "--port=\(databasePort)", "--skip-name-resolve", "--init-file=\(dir)/db-init.sql",
            "--pid-file=\(dir)/mariadb.pid", "--log-error=\(dir)/log/mariadb.log",
            "--innodb-buffer-pool-size=64M", "--innodb-log-file-size=8M", "--innodb-lock-wait-timeout=900",
        ], log: dir + "/log/mariadb.out", environment: environment)
        database = server
        try waitFor("MariaDB to listen on port \(databasePort)", timeout: 180) {
            var status: Int32 = 0
            if waitpid(server, &status, WNOHANG) == server {
                database = nil
                throw ClusterSupport.Failure(description: "mariadbd exited (\(Self.describe(status)))\n\(logs())")
            }
            return Self.accepts(port: databasePort)
        }

        // slurmdbd creates its tables on first start; the cluster must be registered before the
        // controller starts, or the controller finds no TRES in the database and stops.
        try spawnDaemon(["/usr/sbin/slurmdbd"], log: dir + "/log/slurmdbd.out")
        try waitFor("slurmdbd to answer", timeout: 180) { try control(["sacctmgr", "-n", "-P", "list", "cluster"]).status == 0 }
        let added = try control(["sacctmgr", "-i", "add", "cluster", "forgetest"])
        guard added.status == 0 else {
            throw ClusterSupport.Failure(description: "sacctmgr add cluster exited \(added.status): \(added.output)\n\(logs())")
        }

        try spawnDaemon(["/usr/sbin/slurmctld", "-f", dir + "/slurm.conf"], log: dir + "/log/slurmctld.out")
        try spawnDaemon(["/usr/sbin/slurmd", "-f", dir + "/slurm.conf", "-N", "forgenode"], log: dir + "/log/slurmd.out")
        try waitFor("the local Slurm node to become idle", timeout: 120) {
            (try? control(["sinfo", "-h", "-o", "%t"]).output)?.hasPrefix("idle") == true
        }
    }

    /// Runs a Slurm client (`sbatch`, `scancel`, `sacct`, ...) against this cluster.
    func control(_ argv: [String]) throws -> (status: Int32, output: String) {
        try ClusterSupport.run("/usr/bin/env", argv, in: directory, environment: environment)
    }

    /// Polls `squeue` until none of `jobs` (array tasks included) is pending or running.
    func waitUntilFinished(_ jobs: [String], timeout: TimeInterval) throws {
        try waitFor("jobs \(jobs) to leave the queue", timeout: timeout) {
            let queue = try control(["squeue", "-h", "-j", jobs.joined(separator: ","), "-o", "%i %T %r"])
            return queue.status == 0 && queue.output.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
        }
    }

    /// What `sacct -X` says of `jobs` (one row per array task), once it shows `rows` rows all in a
    /// final state: slurmctld hands finished jobs to slurmdbd asynchronously, so a job gone from
    /// `squeue` can still read RUNNING for a moment. After `timeout`, the rows as they are.
    func accounting(_ jobs: [String], rows expected: Int, timeout: TimeInterval = 120) throws -> [Accounting] {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let sacct = try control(["sacct", "-j", jobs.joined(separator: ","), "-X", "-n", "-P", "--format=JobID,State"])
            guard sacct.status == 0 else {
                throw ClusterSupport.Failure(description: "sacct exited \(sacct.status): \(sacct.output)\n\(logs())")
            }
            let rows = sacct.output.split(separator: "\n").compactMap { line -> Accounting? in
                let fields = line.split(separator: "|", omittingEmptySubsequences: false)
                guard fields.count == 2 else { return nil }
                let id = fields[0].split(separator: "_", maxSplits: 1)
                return Accounting(jobID: String(id[0]), arrayTaskID: id.count == 2 ? Int(id[1]) : nil,
                                  state: String(fields[1].split(separator: " ").first ?? ""))
            }
            let settled = rows.count == expected && rows.allSatisfy { Self.finalStates.contains($0.state) }
            if settled || Date() >= deadline { return rows }
            sleep(1)
        }
    }

    func logs() -> String {
        ["log/slurmctld.log", "log/slurmd.log", "log/slurmdbd.log", "log/mariadb.log", "munge/munged.log", "log/munged.out",
         "log/slurmctld.out", "log/slurmd.out", "log/slurmdbd.out", "log/mariadb.out"].map {
            "== \($0)\n" + ((try? String(contentsOfFile: "\(directory)/\($0)", encoding: .utf8))?.suffix(1500) ?? "")
        }.joined(separator: "\n")
    }

    /// Stops what this test started, in order (jobs' daemons, accounting, database, munged last,
    /// since the others talk through it on their way out). The database's files go; logs stay.
    func stop() {
        let pidFile = { (name: String) -> pid_t? in
            (try? String(contentsOfFile: "\(self.directory)/\(name)", encoding: .utf8))
                .flatMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }.flatMap { $0 > 1 ? $0 : nil }
        }
        for pid in [pidFile("slurmd.pid"), pidFile("slurmctld.pid"), pidFile("slurmdbd.pid"), database, pidFile("munge/munged.pid")] {
            if let pid { Self.terminate(pid) }
        }
        database = nil
        try? FileManager.default.removeItem(atPath: directory + "/db")
    }

    /// SIGTERM, then SIGKILL if it is still there after 30 s: a slurmd that cannot reach its
    /// controller sits out SIGTERM for minutes. A zombie counts as gone (its parent reaps it).
    private static func terminate(_ pid: pid_t) {
        func gone() -> Bool {
            if waitpid(pid, nil, WNOHANG) == pid || kill(pid, 0) != 0 { return true }
            let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
            return stat.split(separator: ")").last?.split(separator: " ").first == "Z"
        }
        kill(pid, SIGTERM)
        for _ in 0..<300 where !gone() { usleep(100_000) }
        guard !gone() else { return }
        kill(pid, SIGKILL)
        for _ in 0..<50 where !gone() { usleep(100_000) }
    }

    /// Polls `ready` every 250 ms; throws with the daemons' logs after `timeout`.
    private func waitFor(_ what: String, timeout: TimeInterval, _ ready: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try ready() { return }
            usleep(250_000)
        }
        throw ClusterSupport.Failure(description: "timed out after \(Int(timeout)) s waiting for \(what)\n\(logs())")
    }

    /// Starts a daemon that forks into the background and waits for the foreground part to exit.
    /// Not through `Process`: the daemon inherits the descriptor `Process` watches for the child's
    /// end, so `waitUntilExit` would wait for the daemon itself.
    private func spawnDaemon(_ argv: [String], log: String) throws {
        let pid = try Self.spawn(argv, log: log, environment: environment)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        guard status == 0 else {
            throw ClusterSupport.Failure(description: "\(argv[0]) did not start (\(Self.describe(status)))\n\(logs())")
        }
    }

    /// Starts `argv` with stdin from /dev/null, stdout and stderr appended to `log`, and
    /// `environment` over this process's; returns its pid without waiting.
    private static func spawn(_ argv: [String], log: String, environment: [String: String]) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var pid = pid_t()
        let arguments = argv.map { strdup($0) } + [nil]
        let variables = ProcessInfo.processInfo.environment.merging(environment) { $1 }.map { strdup("\($0)=\($1)") } + [nil]
        defer { (arguments + variables).forEach { free($0) } }
        let spawned = posix_spawn(&pid, argv[0], &actions, nil, arguments, variables)
        guard spawned == 0 else { throw ClusterSupport.Failure(description: "cannot start \(argv[0]): \(String(cString: strerror(spawned)))") }
        return pid
    }

    /// A `waitpid` status in words: `exit 2` or `signal 9`.
    private static func describe(_ status: Int32) -> String {
        status & 0x7f == 0 ? "exit \((status >> 8) & 0xff)" : "signal \(status & 0x7f)"
    }

    /// `count` distinct free loopback ports (all bound at once, so none is picked twice).
    private static func freePorts(_ count: Int) throws -> [Int] {
        var sockets: [Int32] = []
        defer { sockets.forEach { close($0) } }
        return try (0..<count).map { _ in
            let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            sockets.append(socket)
            var address = loopback(port: 0)
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Bool in
                    bind(socket, pointer, length) == 0 && getsockname(socket, pointer, &length) == 0
                }
            }
            guard bound else { throw ClusterSupport.Failure(description: "cannot find a free port") }
            return Int(UInt16(bigEndian: address.sin_port))
        }
    }

    /// Whether something listens on 127.0.0.1:`port`.
    private static func accepts(port: Int) -> Bool {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(socket) }
        var address = loopback(port: port)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    private static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return address
    }
}
