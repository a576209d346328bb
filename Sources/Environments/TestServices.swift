import Foundation
import Sandbox

/// A recipe's service with its environment built: what a test run needs to start it.
public struct PreparedService: Codable, Hashable, Sendable {
    public var name: String
    /// argv with `{python}` and `{venv}` resolved; `{port}` is filled in by each run.
    public var command: [String]
    /// A fixed port; nil: each run picks a free one.
    public var port: Int?
    public var readyTimeout: Double
    /// Environment for the tests, `{port}` unresolved.
    public var env: [String: String]
    public var venvPath: String
    public var interpreter: PythonInterpreter
    /// Cache key (`service-…`): the folder under `envs/`.
    public var key: String
    public var buildLogPath: String
    public var buildSeconds: Double
    /// True when found in the cache instead of built.
    public var reused: Bool

    /// Paths a sandboxed run must see read-only: the venv and the installation of its interpreter
    /// (pyenv's sits in root's home, which every sandbox hides).
    public var readOnlyPaths: [String] {
        [venvPath] + (PreparedEnvironment.installationPrefix(of: interpreter.path).map { [$0] } ?? [])
    }
}

/// A service that could not be made ready. Infrastructure, never a verdict on the task: a run
/// without the service its tests need would misjudge them.
public struct ServiceFailure: Error, Hashable, Sendable, CustomStringConvertible {
    public var service: String
    public var reason: String
    public var logPath: String?

    public init(service: String, reason: String, logPath: String? = nil) {
        self.service = service; self.reason = reason; self.logPath = logPath
    }

    public var description: String {
        "service '\(service)' \(reason)" + (logPath.map { " (log: \($0))" } ?? "")
    }
}

/// Service environments: a uv venv per (packages, interpreter), cached under `envs/service-<key>/`
/// like task environments (`service.json` is the commit point, the key's lock serialises builds).
/// Packages come from PyPI as they are now, not as of the task date: a service is test
/// infrastructure standing in for a network host, and old releases of it need not build at all.
extension EnvironmentBuilder {
    /// The recipe's services, each with a ready environment (sorted by name).
    public func prepareServices(for recipe: Recipe) throws -> [PreparedService] {
        let specs = recipe.test.services ?? [:]
        return try specs.keys.sorted().map { try prepareService($0, specs[$0]!, limits: recipe.install.limits) }
    }

    func prepareService(_ name: String, _ spec: ServiceSpec, limits: ResourceLimits) throws -> PreparedService {
        guard let uv = uvPath else {
            throw ServiceFailure(service: name, reason: "cannot be built: uv not found in PATH, $FORGE_UV or pyenv versions")
        }
        let range = spec.python.flatMap { try? VersionSpecifierSet($0) }
        let oldest = PythonVersion("3.6")!
        let fitting = interpreters().interpreters.filter { $0.version >= oldest && (range?.contains($0.version) ?? true) }
        guard let interpreter = fitting.max(by: { $0.version < $1.version }) else {
            throw ServiceFailure(service: name, reason: "cannot be built: no installed Python satisfies \(spec.python ?? ">=3.6")")
        }
        let packages = spec.packages.sorted()
        let key = "service-" + SHA256.hex("forge-service-v1\nbuilder \(Self.revision)\npython \(interpreter.version) \(interpreter.path)\n"
            + packages.map { "package \($0)\n" }.joined()).prefix(24)
        let directory = environmentDirectory(key)
        let venv = directory.appendingPathComponent("venv").path
        let logPath = directory.appendingPathComponent("build.log").path
        let marker = directory.appendingPathComponent("service.json")
        func prepared(seconds: Double, reused: Bool) -> PreparedService {
            let values = ["python": venv + "/bin/python", "venv": venv]
            return PreparedService(name: name, command: spec.command.map { PreparedEnvironment.substitute($0, values) }, port: spec.port,
                                   readyTimeout: spec.readyTimeout, env: spec.env, venvPath: venv, interpreter: interpreter,
                                   key: key, buildLogPath: logPath, buildSeconds: seconds, reused: reused)
        }

        let lock: FileLock
        do { lock = try FileLock.acquire(root.appendingPathComponent("envs/\(key).lock").path) } catch {
            throw ServiceFailure(service: name, reason: "cannot be built: \(error)")
        }
        defer { lock.release() }
        let manager = FileManager.default
        if let built = readJSON(PreparedService.self, marker), manager.isExecutableFile(atPath: venv + "/bin/python") {
            return prepared(seconds: built.buildSeconds, reused: true)
        }
        // A build that died half-way leaves a folder without the marker: start from nothing.
        try? manager.removeItem(at: directory)
        do { try manager.createDirectory(at: directory, withIntermediateDirectories: true) } catch {
            throw ServiceFailure(service: name, reason: "cannot be built: cannot create \(directory.path): \(error)")
        }
        _ = manager.createFile(atPath: logPath, contents: nil)
        try? manager.createDirectory(at: uvCache, withIntermediateDirectories: true)
        let started = Date()
        let sandbox: Sandbox?
        do {
            sandbox = try installSandbox(projectDirectory: directory, environmentDirectory: directory,
                                         interpreter: interpreter.path, limits: limits)
        } catch {
            throw ServiceFailure(service: name, reason: "cannot be built: cannot sandbox the install: \(error)", logPath: logPath)
        }
        let environment = ["UV_CACHE_DIR": uvCache.path, "UV_PYTHON_DOWNLOADS": "never", "UV_NO_CONFIG": "1",
                           "UV_NO_PROGRESS": "1", "NO_COLOR": "1", "UV_LINK_MODE": "copy"]
        Self.appendLog("# service environment \(key) for '\(name)': \(interpreter); packages: \(packages.joined(separator: " "))\n"
                       + "# not date-pinned: a service is infrastructure, not the code under test\n", to: logPath)
        var steps = [[uv, "venv", "--clear", "--python", interpreter.path, venv]]
        if !packages.isEmpty { steps.append([uv, "pip", "install", "--python", venv + "/bin/python"] + packages) }
        for (index, argv) in steps.enumerated() {
            let stepLog = directory.appendingPathComponent("step-\(index).log").path
            Self.appendLog("\n$ \(argv.joined(separator: " "))\n", to: logPath)
            let result: CommandResult
            do {
                result = try tools.run(argv, environment: environment, workingDirectory: directory.path, timeout: 900,
                                       logPath: stepLog, sandbox: sandbox)
            } catch {
                throw ServiceFailure(service: name, reason: "cannot be built: cannot run uv: \(error)", logPath: logPath)
            }
            let output = Self.readLog(stepLog)
            Self.appendLog(output, to: logPath)
            guard result.succeeded else {
                let why = result.timedOut ? "ran past 900 s" : Self.decisiveLine(output)
                throw ServiceFailure(service: name, reason: "cannot be built: \(argv[1...2].joined(separator: " ")) failed: \(why)",
                                     logPath: logPath)
            }
        }
        let ready = prepared(seconds: Date().timeIntervalSince(started), reused: false)
        Self.appendLog("# ready in \(String(format: "%.1f", ready.buildSeconds)) s\n", to: logPath)
        do { try writeJSON(ready, to: marker) } catch {
            throw ServiceFailure(service: name, reason: "cannot be built: cannot write \(marker.path): \(error)", logPath: logPath)
        }
        return ready
    }
}

/// How a test run starts its services: the sandboxed command becomes `python -I forge-services.py
/// services.json -- <test argv>`, run by the first service's interpreter. The script starts each
/// service in the background (its output to `service-<name>.log` in the run folder), waits until
/// its port on 127.0.0.1 accepts connections, gives the tests the service's variables, runs the
/// tests, stops the services and exits with the tests' status. A service that exits or is not
/// ready in time ends the run before any test, with `failureStatus` and `failureFile` saying why.
public enum ServiceLauncher {
    public static let scriptName = "forge-services.py"
    public static let specName = "services.json"
    public static let failureFile = "service-failure.txt"
    /// The wrapper's exit status when a service did not become ready (with `failureFile` written).
    public static let failureStatus: Int32 = 97

    /// Writes the script and its spec into `hostFolder` (seen by the run at `runFolder`) and
    /// returns the argv that runs `testArgv` with the services up.
    public static func prepare(_ services: [PreparedService], testArgv: [String], hostFolder: String, runFolder: String,
                               workingDirectory: String) throws -> [String] {
        guard let first = services.first else { return testArgv }
        struct Entry: Encodable {
            var name: String, command: [String], port: Int?, ready_timeout: Double, env: [String: String]
            var service_env: [String: String], log: String
        }
        struct Spec: Encodable {
            var services: [Entry], failure_path: String, failure_status: Int32, cwd: String
        }
        let entries = services.map { service in
            Entry(name: service.name, command: service.command, port: service.port, ready_timeout: service.readyTimeout,
                  env: service.env,
                  // The service sees its own environment, not the tests' (PYTHONPATH to the tree under test).
                  service_env: ["PATH": service.venvPath + "/bin:/usr/local/bin:/usr/bin:/bin", "HOME": runFolder, "TMPDIR": "/tmp",
                                "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1"],
                  log: "\(runFolder)/service-\(service.name).log")
        }
        let spec = Spec(services: entries, failure_path: "\(runFolder)/\(failureFile)", failure_status: failureStatus,
                        cwd: workingDirectory)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(spec).write(to: URL(fileURLWithPath: "\(hostFolder)/\(specName)"))
        try script.write(toFile: "\(hostFolder)/\(scriptName)", atomically: true, encoding: .utf8)
        // -I: the wrapper ignores PYTHONPATH and user site-packages, which are the tests'.
        return [first.venvPath + "/bin/python", "-I", "\(runFolder)/\(scriptName)", "\(runFolder)/\(specName)", "--"] + testArgv
    }

    /// Why the services did not start, when the wrapper said so (its status and its file, naming
    /// one of `services`). The tests share the run folder and could write both; what they gain is
    /// an `error` verdict, which scores nothing either way.
    public static func failure(exitStatus: Int32?, hostFolder: String, services: [PreparedService]) -> ServiceFailure? {
        guard exitStatus == failureStatus,
              let text = SafeFile.text(atPath: "\(hostFolder)/\(failureFile)", maxBytes: 4096)?
                .trimmingCharacters(in: .whitespacesAndNewlines) else { return nil }
        // "NAME\tREASON" as the script writes it.
        let parts = text.split(separator: "\t", maxSplits: 1).map(String.init)
        guard let name = parts.first, services.contains(where: { $0.name == name }) else { return nil }
        return ServiceFailure(service: name, reason: parts.count > 1 ? String(parts[1].prefix(500)) : "did not start",
                              logPath: "\(hostFolder)/service-\(name).log")
    }

    /// Python 3.6+ (services may run on any interpreter uv drives).
    static let script = #"""
    # Forge: start the run's loopback services, wait for their ports, run the tests, stop the services.
    import json, os, socket, subprocess, sys, time

    with open(sys.argv[1]) as handle:
        SPEC = json.load(handle)
    STARTED = []


    def stop():
        for process in STARTED:
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + 5
        for process in STARTED:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


    def fail(name, reason):
        with open(SPEC["failure_path"], "w") as handle:
            handle.write("%s\t%s\n" % (name, reason))
        sys.stderr.write("forge: service '%s' %s\n" % (name, reason))
        stop()
        sys.exit(SPEC["failure_status"])


    def start(service, test_env):
        name = service["name"]
        port = service.get("port")
        if port is None:
            probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
            probe.close()
        fill = lambda text: text.replace("{port}", str(port))
        log = open(service["log"], "ab")
        try:
            # Same process group as the wrapper: a kill of the run's group reaches the services too.
            process = subprocess.Popen([fill(a) for a in service["command"]], env=service["service_env"], cwd=SPEC["cwd"],
                                       stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        except OSError as error:
            fail(name, "could not be started: %s" % error)
        STARTED.append(process)
        began = time.monotonic()
        while True:
            if process.poll() is not None:
                fail(name, "exited with status %s before accepting connections on 127.0.0.1:%d" % (process.returncode, port))
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                pass
            if time.monotonic() - began > service["ready_timeout"]:
                fail(name, "did not accept connections on 127.0.0.1:%d within %g s" % (port, service["ready_timeout"]))
            time.sleep(0.1)
        log.write(("forge: ready on 127.0.0.1:%d after %.1f s\n" % (port, time.monotonic() - began)).encode())
        log.flush()
        for key, value in service["env"].items():
            test_env[key] = fill(value)


    def main():
        test_argv = sys.argv[3:]
        test_env = dict(os.environ)
        for service in SPEC["services"]:
            try:
                start(service, test_env)
            except Exception as error:  # a bug here must read as the service's failure, not as the tests'
                fail(service["name"], "could not be started: %s: %s" % (type(error).__name__, error))
        try:
            tests = subprocess.Popen(test_argv, env=test_env)
        except OSError as error:
            sys.stderr.write("forge: cannot run %s: %s\n" % (test_argv[0], error))
            stop()
            sys.exit(127)
        status = tests.wait()
        stop()
        sys.exit(128 - status if status < 0 else status)


    main()

    """#
}
