import AgentSandbox
import Environments
import Evaluation
import Foundation
import Sample
import SampleFixtures
import Sandbox
import Store
import XCTest
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Escapes tried from inside: an agent shell (`forge sandbox serve`'s sessions), a model patch's
/// code running in an evaluation's test run, and a project's setup.py running in an environment
/// build. Each must fail, and the host files it aims at must stay as they were.
final class ConfinementAttackTests: XCTestCase {
    // MARK: - Agent shells

    func testAgentShellCannotUnhideRemountOrLeaveItsNamespaces() async throws {
        let sample = try await ValidatedSample.shared()
        // The store's folder is hidden as `forge sandbox serve` hides its workspace and store.
        // Outside /tmp when root can write there (the sandbox's /tmp is its own anyway): hidden
        // because it is registered, as the CLI registers its workspace and store.
        let storeFolder = geteuid() == 0 ? "/srv/forge-attacks-shell-\(getpid())" : sample.root.path
        if geteuid() == 0 { SensitivePaths.register([storeFolder]) }
        defer { if geteuid() == 0 { try? FileManager.default.removeItem(atPath: storeFolder) } }
        let store = try Bait(in: storeFolder)
        let listener = try LoopbackListener()
        let shell = try await AgentShell.open(sample, task: sample.task(1))
        defer { Task { await shell.close() } }

        let whoami = try await shell.run("id -u; grep CapEff /proc/self/status")
        XCTAssertTrue(whoami.hasPrefix("\(SandboxIdentity.insideID)\n"), whoami)
        XCTAssertTrue(whoami.contains("CapEff:\t0000000000000000"), whoami)

        let attempts = [
            // Unhide the store: lazily unmount the tmpfs over it, or over every hidden path.
            "umount -l \(storeFolder); cat \(store.path)",
            "umount -l /root; umount -l /home; cat \(store.path)",
            // Write host files: remount the read-only root read-write.
            "mount -o remount,rw /; echo pwned > \(store.path); echo pwned > /usr/forge-pwned",
            "mount -t tmpfs none /mnt",
            // New namespaces in which it would be root.
            "unshare -Urm sh -c 'umount -l \(storeFolder); cat \(store.path)'",
            "python3 -c 'import os; os.unshare(0x10000000)' && echo unshared",
            // Join a namespace of another process (the host's network, to reach loopback servers).
            "for ns in /proc/[0-9]*/ns/net; do nsenter --net=$ns sh -c 'exec 3<>/dev/tcp/127.0.0.1/\(listener.port)' && echo joined; done",
            "python3 -c \"import socket; socket.create_connection(('127.0.0.1', \(listener.port)), timeout=3)\" && echo connected",
        ]
        for attempt in attempts {
            let output = try await shell.run(attempt)
            XCTAssertFalse(output.contains(store.content.trimmingCharacters(in: .newlines)), "\(attempt) read the store: \(output)")
            XCTAssertFalse(output.contains("joined") || output.contains("connected") || output.contains("unshared"), "\(attempt): \(output)")
        }
        store.assertUntouched()
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/usr/forge-pwned"))
        XCTAssertEqual(listener.acceptedConnections(), 0, "the host's loopback server was reached")
    }

    func testAgentShellCannotReadRootOnlyHostFiles() async throws {
        try XCTSkipUnless(geteuid() == 0, "as an unprivileged user the sandbox has that user's own file permissions")
        let sample = try await ValidatedSample.shared()
        // A root-only file in a place no hiding covers (a sandbox run as root could read it).
        let directory = "/opt/forge-adversarial-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let secret = try Bait(in: directory)
        chmod(secret.path, 0o600)
        let shell = try await AgentShell.open(sample, task: sample.task(1))
        defer { Task { await shell.close() } }
        let output = try await shell.run("cat \(secret.path); cat /etc/shadow | head -1; ls /root")
        XCTAssertFalse(output.contains(secret.content.trimmingCharacters(in: .newlines)), output)
        XCTAssertFalse(output.contains("root:"), "/etc/shadow was readable: \(output)")
        secret.assertUntouched()
    }

    func testForkBombsAndMemoryHogsStopAtTheLimits() async throws {
        let sample = try await ValidatedSample.shared()
        let shell = try await AgentShell.open(sample, task: sample.task(1))
        defer { Task { await shell.close() } }
        let limit = try XCTUnwrap(ResourceLimits.standard.processes)
        let seconds = 300 + Int.random(in: 0..<600)
        // Python rather than a shell loop: bash retries a failed fork with growing sleeps.
        let bomb = try await shell.run("""
            python3 -c "
            import os
            started = 0
            for _ in range(2000):
                try:
                    pid = os.fork()
                except OSError as error:
                    print('fork refused:', error)
                    break
                if pid == 0:
                    os.execvp('sleep', ['sleep', '\(seconds).5'])
                started += 1
            print('started', started)
            "
            """)
        XCTAssertTrue(bomb.contains("fork refused: [Errno 11] Resource temporarily unavailable"), bomb)
        let started = processes(mentioning: "sleep \(seconds).5").count
        XCTAssertGreaterThan(started, 10)
        XCTAssertLessThanOrEqual(started, limit, "more processes than the limit of \(limit)")
        _ = try await shell.run("pkill -f 'sleep \(seconds).5'; true")

        let hog = try await shell.run("python3 -c 'x = bytearray(\(ResourceLimits.standard.memoryMB! + 1024) << 20); print(\"allocated\")' 2>&1 | tail -1")
        XCTAssertTrue(hog.contains("MemoryError"), hog)
        XCTAssertFalse(hog.contains("allocated"), hog)
    }

    // MARK: - Test runs of a model patch

    func testModelPatchCodeInATestRunSeesNoStoreCloneOrOtherRuns() async throws {
        let sample = try await ValidatedSample.shared()
        let task = sample.task(1)
        let store = try Bait(in: sample.root.path)
        let otherEnvironment = try Bait(in: sample.root.appendingPathComponent("envs").path)
        let otherRun = try Bait(in: sample.root.appendingPathComponent("runs/validate").path)
        var targets = [store.path, sample.databasePath, sample.clone + "/.git/HEAD", otherEnvironment.path, otherRun.path]
        if FileManager.default.fileExists(atPath: NSHomeDirectory() + "/.bashrc") { targets.append(NSHomeDirectory() + "/.bashrc") }
        // A store outside /tmp (the sandbox's /tmp is its own anyway), hidden because the CLI
        // registers its workspace and store as this test does.
        var outside: Bait?
        if geteuid() == 0 {
            let directory = "/srv/forge-attacks-\(getpid())"
            outside = try Bait(in: directory)
            SensitivePaths.register([directory])
            targets.append(outside!.path)
        }
        defer { if let outside { try? FileManager.default.removeItem(atPath: (outside.path as NSString).deletingLastPathComponent) } }
        // At import time (every test imports textkit) the patched package looks around and
        // fails the import with its findings, which pytest prints in the log.
        let probe = """

        import os as _os, subprocess as _sp
        _seen = []
        for _path in \(pythonList(targets)):
            try:
                _seen.append("FORGE-PROBE %s VISIBLE %r" % (_path, sorted(_os.listdir(_path)) if _os.path.isdir(_path) else open(_path).read()))
            except OSError as _error:
                _seen.append("FORGE-PROBE %s HIDDEN %d" % (_path, _error.errno))
        for _line in ("umount -l \(sample.root.path)", "mount -o remount,rw /"):
            _seen.append("FORGE-PROBE %s %d" % (_line, _sp.run(_line, shell=True, capture_output=True).returncode))
        try:
            open(\(pythonLiteral(store.path)), "w").write("pwned")
        except OSError as _error:
            _seen.append("FORGE-PROBE write refused %d" % _error.errno)
        _seen.append("FORGE-PROBE uid %d euid %d" % (_os.getuid(), _os.geteuid()))
        raise RuntimeError("\\n".join(_seen))
        """
        let patch = try sample.makePatch(task) { try append(probe, to: "textkit/__init__.py", under: $0) }
        let evaluation = try await onThread {
            try sample.evaluator(runID: "confinement-\(UUID().uuidString.prefix(6))", jobs: 1)
                .evaluate(Prediction(instanceID: task.instanceID, model: "attacker", patch: patch), task: task)
        }
        let log = try XCTUnwrap(evaluation.runs.last?.logPath.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) })
        XCTAssertTrue(log.contains("FORGE-PROBE uid \(SandboxIdentity.insideID)"), "the probe did not run: \(log.suffix(2000))")
        for target in targets {
            XCTAssertTrue(log.contains("FORGE-PROBE \(target) HIDDEN"), "\(target) is visible to the tests: \(log.suffix(3000))")
        }
        for bait in [store, otherEnvironment, otherRun] + (outside.map { [$0] } ?? []) {
            XCTAssertFalse(log.contains(bait.content.trimmingCharacters(in: .newlines)))
            bait.assertUntouched()
        }
        XCTAssertFalse(log.contains("FORGE-PROBE umount -l \(sample.root.path) 0"), String(log.suffix(3000)))
        XCTAssertFalse(log.contains("FORGE-PROBE mount -o remount,rw / 0"), String(log.suffix(3000)))
        store.assertUntouched()
    }

    func testATestRunThatExhaustsMemoryEndsWithAResourceLimitVerdict() async throws {
        let sample = try await ValidatedSample.shared()
        let task = sample.task(1)
        let patch = try sample.makePatch(task, first: task.patch) {
            try append("\n_hog = bytearray(\(ResourceLimits.standard.memoryMB! + 1024) << 20)\n", to: "textkit/__init__.py", under: $0)
        }
        let evaluation = try await onThread {
            try sample.evaluator(runID: "limits-\(UUID().uuidString.prefix(6))", jobs: 1)
                .evaluate(Prediction(instanceID: task.instanceID, model: "hog", patch: patch), task: task)
        }
        XCTAssertNotEqual(evaluation.result.status, .resolved)
        XCTAssertEqual(evaluation.result.reason, "resource limit: memory", "\(evaluation.result)")
    }

    // MARK: - Environment builds

    func testABuildSeesOnlyItsOwnEnvironmentAndNoHostSecrets() throws {
        let root = ValidatedSample.base.appendingPathComponent("roots/\(getpid())-build-\(UUID().uuidString.prefix(8))")
        let builder = ValidatedSample.builder(root: root, recipes: try RecipeBook(directory: RecipeBook.bundledDirectory()))
        // Another environment already in the cache, which the build must not be able to change.
        let neighbour = try Bait(in: root.appendingPathComponent("envs/0123456789abcdef").path, name: "environment.json")
        let token = "forge-adversarial-token-\(UUID().uuidString)"
        setenv("FORGE_ADVERSARIAL_TOKEN", token, 1)
        defer { unsetenv("FORGE_ADVERSARIAL_TOKEN") }
        let project = root.appendingPathComponent("project")
        try FileManager.default.createDirectory(at: project, withIntermediateDirectories: true)
        // setup.py runs during the editable install: it reports what it sees into the project
        // (where a build may write) and tries the neighbour environment and the cache root.
        try """
        import os, sys
        from setuptools import setup
        report = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seen-by-setup.txt")
        lines = ["token=" + os.environ.get("FORGE_ADVERSARIAL_TOKEN", "absent")]
        for target in [\(pythonLiteral(neighbour.path)), \(pythonLiteral(root.appendingPathComponent("envs/planted").path))]:
            try:
                open(target, "w").write("pwned")
                lines.append("wrote " + target)
            except OSError as error:
                lines.append("refused %s %d" % (target, error.errno))
        open(report, "w").write("\\n".join(lines) + "\\n")
        setup(name="buildprobe", version="1.0", py_modules=["buildprobe"])
        """.write(to: project.appendingPathComponent("setup.py"), atomically: true, encoding: .utf8)
        try "X = 1\n".write(to: project.appendingPathComponent("buildprobe.py"), atomically: true, encoding: .utf8)

        let environment = try builder.prepare(ProjectSnapshot(directory: project, createdAt: Date(timeIntervalSinceNow: -30 * 86_400)))
        XCTAssertNotNil(environment.venvPath)
        let seen = try String(contentsOf: project.appendingPathComponent("seen-by-setup.txt"), encoding: .utf8)
        XCTAssertTrue(seen.contains("token=absent"), "the build saw the host's environment: \(seen)")
        neighbour.assertUntouched()
        XCTAssertFalse(FileManager.default.fileExists(atPath: root.appendingPathComponent("envs/planted").path))
    }
}

// MARK: - Support

/// One agent sandbox of `forge sandbox serve` (its host hides the sample's whole folder, as the
/// CLI hides its workspace and store) with a session, driven over HTTP on loopback.
struct AgentShell: Sendable {
    let server: LoopbackServer
    let base: String

    static func open(_ sample: ValidatedSample, task: TaskRecord) async throws -> AgentShell {
        let name = String(UUID().uuidString.prefix(6))
        let host = try SandboxHost(root: sample.root.appendingPathComponent("sandboxes-\(name)").path, store: sample.store,
                                   clones: [SampleRepository.repoName: sample.clone], environments: sample.builder,
                                   evaluationsDirectory: sample.root.appendingPathComponent("evals-\(name)").path,
                                   options: AgentSandboxOptions(outputCap: 64 << 10, maxActionTimeout: 120, hiddenPaths: [sample.root.path]))
        _ = try await onThread { try host.open(instanceID: task.instanceID) }
        let server = try await AttackSandboxServer.start(host)
        let shell = AgentShell(server: server, base: "http://127.0.0.1:\(server.port)/sandboxes/\(task.instanceID)")
        _ = try await shell.post("/create_session", ["session": "default"])
        return shell
    }

    /// Runs `command` in the session; its output.
    func run(_ command: String) async throws -> String {
        let answer = try await post("/run_in_session", ["command": command, "session": "default", "check": "silent", "timeout": 110])
        return "\(answer["output"] ?? answer)"
    }

    func close() async { await server.stop() }

    private func post(_ path: String, _ object: [String: Any]) async throws -> [String: Any] {
        var request = URLRequest(url: URL(string: base + path)!)
        request.httpMethod = "POST"
        request.httpBody = try JSONSerialization.data(withJSONObject: object)
        request.timeoutInterval = 150
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.setValue("attack-key", forHTTPHeaderField: "X-API-Key")
        let (data, _) = try await URLSession.shared.data(for: request)
        return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
    }
}

/// A TCP listener on the host's loopback that counts the connections it was offered.
final class LoopbackListener {
    let fd: Int32
    let port: Int

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound, listen(fd, 16) == 0 else { throw NSError(domain: "listener", code: Int(errno)) }
        port = Int(UInt16(bigEndian: address.sin_port))
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    }

    deinit { close(fd) }

    /// Connections waiting to be accepted (each is accepted and closed).
    func acceptedConnections() -> Int {
        var count = 0
        while case let client = accept(fd, nil, nil), client >= 0 { close(client); count += 1 }
        return count
    }
}

/// Pids of live host processes whose command line contains `text`.
func processes(mentioning text: String) -> [Int32] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap(Int32.init).filter { pid in
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"),
              let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), !stat.contains(") Z ") else { return false }
        return String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self).contains(text)
    }
}

func pythonList(_ items: [String]) -> String { "[" + items.map(pythonLiteral).joined(separator: ", ") + "]" }
