import Foundation
import Store
import XCTest

/// The generated Slurm scripts submitted to a real single-node Slurm (slurmctld and slurmd on
/// this machine, munge for authentication, everything configured in a temp folder by the test).
///
/// Without slurmdbd, `sacct` has no accounting storage to read ("Slurm accounting storage is
/// disabled"), and 22.05's `sacct --completion` cannot parse array records. So the controller
/// writes `jobcomp/filetxt` — one record per finished job and array task, the records `sacct
/// --completion` reads — and the test reads that file.
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

        let records = try slurm.completions()
        let tasks = records.filter { $0.arrayJobID == array }
        XCTAssertEqual(tasks.compactMap(\.arrayTaskID).sorted(), [1, 2, 3, 4], "\(records)")
        XCTAssertEqual(Set(tasks.map(\.state)), ["COMPLETED"], "\(records)")
        XCTAssertEqual(records.first { $0.jobID == merge }?.state, "COMPLETED", "\(records)")
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
        let resubmitted = String(again.output.split(separator: "\n").last ?? "").split(separator: ";")[0]
        let newMerge = try slurm.control(["sbatch", "--parsable", "--dependency=afterok:\(resubmitted)", plan + "/01-validate-merge.sbatch"])
        XCTAssertEqual(newMerge.status, 0, newMerge.output)
        let newMergeID = String(newMerge.output.split(separator: "\n").last ?? "").split(separator: ";")[0]
        try slurm.waitUntilFinished([String(resubmitted), String(newMergeID)], timeout: 600)

        let records = try slurm.completions()
        let first = records.filter { $0.arrayJobID == array }
        XCTAssertEqual(first.first { $0.arrayTaskID == victim }?.state, "CANCELLED", "\(records)")
        XCTAssertEqual(Set(first.filter { $0.arrayTaskID != victim }.map(\.state)), ["COMPLETED"], "\(records)")
        XCTAssertEqual(records.filter { $0.arrayJobID == String(resubmitted) }.map(\.state), ["COMPLETED"], "\(records)")
        XCTAssertEqual(records.first { $0.jobID == String(newMergeID) }?.state, "COMPLETED", "\(records)")

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

    /// A value of `forge validate`'s summary table (`label<spaces>value`).
    private static func summaryValue(_ label: String, in log: String) -> String? {
        log.split(separator: "\n").first { $0.hasPrefix(label + " ") }
            .map { String($0.dropFirst(label.count)).trimmingCharacters(in: .whitespaces) }
    }
}

/// munged, slurmctld and slurmd as daemons on loopback ports picked free, state and logs in a
/// temp folder, one partition of one node with this machine's CPUs.
final class LocalSlurm {
    let directory: String
    var environment: [String: String] { ["SLURM_CONF": directory + "/slurm.conf"] }

    struct Completion: CustomStringConvertible {
        var jobID: String, arrayJobID: String?, arrayTaskID: Int?, state: String
        var description: String { "\(jobID)[\(arrayJobID ?? "-")_\(arrayTaskID.map(String.init) ?? "-")]=\(state)" }
    }

    private init(directory: String) { self.directory = directory }

    static func start() throws -> LocalSlurm {
        let binaries = ["/usr/sbin/munged", "/usr/sbin/slurmctld", "/usr/sbin/slurmd", "/usr/bin/sbatch", "/usr/bin/squeue",
                        "/usr/bin/scancel", "/usr/bin/sinfo"]
        let missing = binaries.filter { !FileManager.default.isExecutableFile(atPath: $0) }
        guard missing.isEmpty else {
            throw XCTSkip("Slurm is not installed (missing \(missing.joined(separator: ", "))): apt-get install slurm-wlm munge")
        }
        guard getuid() == 0 else { throw XCTSkip("a local slurmd must run as root (it starts jobs as their owners)") }
        let slurm = LocalSlurm(directory: ClusterSupport.base + "/slurm-daemons-\(UUID().uuidString.prefix(8))")
        let dir = slurm.directory
        let manager = FileManager.default
        for folder in ["munge", "state", "spool", "log"] {
            try manager.createDirectory(atPath: "\(dir)/\(folder)", withIntermediateDirectories: true)
        }
        try manager.setAttributes([.posixPermissions: 0o700], ofItemAtPath: dir + "/munge")
        var key = [UInt8](repeating: 0, count: 1024)
        for index in key.indices { key[index] = UInt8.random(in: 0...255) }
        manager.createFile(atPath: dir + "/munge/munge.key", contents: Data(key), attributes: [.posixPermissions: 0o400])
        let hostname = try ClusterSupport.run("/bin/hostname", ["-s"]).output.trimmingCharacters(in: .whitespacesAndNewlines)
        let ports = try (0..<2).map { _ in try freePort() }
        let cpus = ProcessInfo.processInfo.activeProcessorCount
        try """
        ClusterName=forgetest
        SlurmctldHost=\(hostname)(127.0.0.1)
        SlurmctldPort=\(ports[0])
        SlurmdPort=\(ports[1])
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
        AccountingStorageType=accounting_storage/none
        JobAcctGatherType=jobacct_gather/none
        JobCompType=jobcomp/filetxt
        JobCompLoc=\(dir)/jobcomp.txt
        ReturnToService=2
        KillWait=5
        NodeName=forgenode NodeHostname=\(hostname) NodeAddr=127.0.0.1 CPUs=\(cpus) RealMemory=8000 State=UNKNOWN
        PartitionName=forge Nodes=forgenode Default=YES MaxTime=INFINITE State=UP

        """.write(toFile: dir + "/slurm.conf", atomically: true, encoding: .utf8)

        let started = [
            try spawnDaemon(["/usr/sbin/munged", "--force", "--key-file=\(dir)/munge/munge.key", "--socket=\(dir)/munge/munge.sock",
                             "--pid-file=\(dir)/munge/munged.pid", "--log-file=\(dir)/munge/munged.log", "--seed-file=\(dir)/munge/seed"],
                            log: dir + "/log/munged.out"),
            try spawnDaemon(["/usr/sbin/slurmctld", "-f", dir + "/slurm.conf"], log: dir + "/log/slurmctld.out"),
            try spawnDaemon(["/usr/sbin/slurmd", "-f", dir + "/slurm.conf", "-N", "forgenode"], log: dir + "/log/slurmd.out"),
        ]
        for result in started where result.status != 0 {
            slurm.stop()
            throw ClusterSupport.Failure(description: "a Slurm daemon did not start (exit \(result.status))\n\(slurm.logs())")
        }
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if let state = try? slurm.control(["sinfo", "-h", "-o", "%t"]).output, state.hasPrefix("idle") { return slurm }
            usleep(250_000)
        }
        slurm.stop()
        throw ClusterSupport.Failure(description: "the local Slurm node never became idle\n\(slurm.logs())")
    }

    /// Runs a Slurm client (`sbatch`, `scancel`, ...) against this cluster.
    func control(_ argv: [String]) throws -> (status: Int32, output: String) {
        try ClusterSupport.run("/usr/bin/env", argv, in: directory, environment: environment)
    }

    /// Polls `squeue` until none of `jobs` (array tasks included) is pending or running.
    func waitUntilFinished(_ jobs: [String], timeout: TimeInterval) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let queue = try control(["squeue", "-h", "-j", jobs.joined(separator: ","), "-o", "%i %T %r"])
            if queue.status == 0, queue.output.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { return }
            sleep(1)
        }
        throw ClusterSupport.Failure(description: "jobs \(jobs) still queued after \(Int(timeout)) s\n\(logs())")
    }

    /// The job completion records (`JobId=… JobState=… ArrayJobId=… ArrayTaskId=…` per line).
    func completions() throws -> [Completion] {
        let text = (try? String(contentsOfFile: directory + "/jobcomp.txt", encoding: .utf8)) ?? ""
        return text.split(separator: "\n").map { line in
            var fields: [String: String] = [:]
            for word in line.split(separator: " ") {
                let pair = word.split(separator: "=", maxSplits: 1)
                if pair.count == 2 { fields[String(pair[0])] = String(pair[1]) }
            }
            return Completion(jobID: fields["JobId"] ?? "", arrayJobID: fields["ArrayJobId"],
                              arrayTaskID: fields["ArrayTaskId"].flatMap { Int($0) }, state: fields["JobState"] ?? "")
        }
    }

    func logs() -> String {
        ["log/slurmctld.log", "log/slurmd.log", "munge/munged.log", "log/munged.out", "log/slurmctld.out", "log/slurmd.out"].map {
            "== \($0)\n" + ((try? String(contentsOfFile: "\(directory)/\($0)", encoding: .utf8))?.suffix(1500) ?? "")
        }.joined(separator: "\n")
    }

    /// Stops the daemons this test started (by their pid files), slurmd first.
    func stop() {
        for pidFile in ["slurmd.pid", "slurmctld.pid", "munge/munged.pid"] {
            guard let text = try? String(contentsOfFile: "\(directory)/\(pidFile)", encoding: .utf8),
                  let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 1 else { continue }
            kill(pid, SIGTERM)
            for _ in 0..<50 where kill(pid, 0) == 0 { usleep(100_000) }
        }
    }

    /// Starts a daemon that forks into the background and waits for the foreground part to exit.
    /// Not through `Process`: the daemon inherits the descriptor `Process` watches for the child's
    /// end, so `waitUntilExit` would wait for the daemon itself.
    private static func spawnDaemon(_ argv: [String], log: String) throws -> (status: Int32, Void) {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var pid = pid_t()
        let arguments = argv.map { strdup($0) } + [nil]
        defer { arguments.forEach { free($0) } }
        let spawned = posix_spawn(&pid, argv[0], &actions, nil, arguments, environ)
        guard spawned == 0 else { throw ClusterSupport.Failure(description: "cannot start \(argv[0]): \(String(cString: strerror(spawned)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return ((status >> 8) & 0xff, ())
    }

    private static func freePort() throws -> Int {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
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
