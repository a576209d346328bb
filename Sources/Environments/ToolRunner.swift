import Foundation
import Sandbox

/// The few ways Environments runs programs, on top of Sandbox's `CommandRunner`: capture a short
/// output (versions, listings), or run a build step into a log, optionally under bubblewrap.
struct ToolRunner: Sendable {
    let runner: CommandRunner
    /// Folder for the temporary logs of captured commands.
    let scratch: String

    struct Captured {
        var status: Int32
        var stdout: String
        var stderr: String
        var timedOut: Bool
    }

    /// Runs a command and returns its output (each stream capped at 4 MiB).
    func capture(_ argv: [String], environment: [String: String], workingDirectory: String? = nil,
                 timeout: Double) throws -> Captured {
        let base = "\(scratch)/capture-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: base + ".out"); try? FileManager.default.removeItem(atPath: base + ".err") }
        let command = Command(argv[0], Array(argv.dropFirst()), logPath: base + ".out", environment: environment,
                              inheritEnvironment: true, workingDirectory: workingDirectory, timeout: timeout,
                              killGracePeriod: 2, streams: .separate(stderrLogPath: base + ".err"), outputCap: 4 << 20)
        let result = try runner.run(command)
        let read = { (path: String) in (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
        return Captured(status: result.exitCode ?? -1, stdout: read(base + ".out"), stderr: read(base + ".err"),
                        timedOut: result.timedOut)
    }

    /// Runs one build step, output to `logPath`, inside `sandbox` when given (with only the
    /// host variables `BuildEnvironment` allows, and HOME on the sandbox's own /tmp).
    func run(_ argv: [String], environment: [String: String], workingDirectory: String, timeout: Double,
             logPath: String, sandbox: Sandbox?) throws -> CommandResult {
        let variables = sandbox == nil ? environment
            : BuildEnvironment.scrubbed(ProcessInfo.processInfo.environment).merging(["HOME": "/tmp"]) { _, own in own }
                .merging(environment) { _, own in own }
        let command = Command(argv[0], Array(argv.dropFirst()), logPath: logPath, environment: variables,
                              inheritEnvironment: sandbox == nil, workingDirectory: workingDirectory, timeout: timeout,
                              killGracePeriod: 5, outputCap: 8 << 20)
        if let sandbox { return try sandbox.run(command) }
        return try runner.run(command)
    }

    /// Absolute path of `name` in the caller's PATH, skipping pyenv shims (they resolve through
    /// pyenv's own state, which differs between shells and sandboxes).
    static func locate(_ name: String) -> String? {
        let manager = FileManager.default
        if name.contains("/") { return manager.isExecutableFile(atPath: name) ? name : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") where !directory.hasSuffix("/shims") {
            let candidate = "\(directory)/\(name)"
            if manager.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// uv: `$FORGE_UV`, then PATH without shims, then any pyenv version's `bin/uv`.
    static func locateUV() -> String? {
        let environment = ProcessInfo.processInfo.environment
        if let explicit = environment["FORGE_UV"], FileManager.default.isExecutableFile(atPath: explicit) { return explicit }
        if let found = locate("uv") { return found }
        let versions = (environment["PYENV_ROOT"] ?? NSHomeDirectory() + "/.pyenv") + "/versions"
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: versions)) ?? []).sorted().reversed()
        for name in names {
            let candidate = "\(versions)/\(name)/bin/uv"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}

/// Finds the ecosystem of a checkout from marker files at its root.
public enum ProjectDetector {
    /// Markers used when no recipe is loaded for an ecosystem (common layouts).
    static let builtIn: [(Ecosystem, [String], Int)] = [
        (.swift, ["Package.swift"], 20),
        (.rust, ["Cargo.toml"], 20),
        (.python, ["pyproject.toml", "setup.py", "setup.cfg", "tox.ini", "requirements.txt", "Pipfile"], 10),
    ]

    /// The ecosystem whose markers are present, the highest priority first; a repository recipe
    /// that names an ecosystem wins. nil when nothing matches.
    public static func detect(directory: URL, recipes: RecipeBook?, repo: String? = nil, version: String? = nil) -> Ecosystem? {
        if let repo, let forced = recipes?.forcedEcosystem(repo: repo, version: version) { return forced }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        var best: (Ecosystem, Int)?
        for (ecosystem, builtInMarkers, builtInPriority) in builtIn {
            let recipe = try? recipes?.recipe(for: ecosystem)
            let markers = recipe?.markers ?? builtInMarkers
            let priority = recipe?.priority ?? builtInPriority
            guard names.contains(where: { name in markers.contains { globMatches($0, name) } }) else { continue }
            if best == nil || priority > best!.1 { best = (ecosystem, priority) }
        }
        return best?.0
    }

    /// Files under `directory` (root and one folder down, hidden folders and build outputs
    /// skipped) matching any of `patterns`, read into memory.
    static func collectManifests(in directory: URL, patterns: [String]) -> [String: Data] {
        let manager = FileManager.default
        let skipped: Set<String> = [".git", "node_modules", ".build", "target", ".venv", "venv", ".tox", "__pycache__", "build", "dist"]
        var result: [String: Data] = [:]
        func consider(_ relative: String) {
            guard patterns.contains(where: { globMatches($0, relative) }) else { return }
            var isDirectory: ObjCBool = false
            let path = directory.appendingPathComponent(relative).path
            guard manager.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
                  let data = manager.contents(atPath: path) else { return }
            result[relative] = data
        }
        for name in (try? manager.contentsOfDirectory(atPath: directory.path)) ?? [] {
            consider(name)
            guard !name.hasPrefix("."), !skipped.contains(name) else { continue }
            var isDirectory: ObjCBool = false
            guard manager.fileExists(atPath: directory.appendingPathComponent(name).path, isDirectory: &isDirectory),
                  isDirectory.boolValue else { continue }
            for child in (try? manager.contentsOfDirectory(atPath: directory.appendingPathComponent(name).path)) ?? [] {
                consider("\(name)/\(child)")
            }
        }
        return result
    }
}

/// What a sandboxed build step sees of the host's environment variables: only these names (the
/// ones a build needs to reach a package index: locale, proxies, CA bundles, index settings), plus
/// those named in `FORGE_BUILD_ENV` (comma-separated). Everything else (tokens, cloud
/// credentials, SSH agents) stays out of code that setup.py files run.
public enum BuildEnvironment {
    public static let allowed: Set<String> = [
        "PATH", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "TZ", "TERM", "SOURCE_DATE_EPOCH",
        "http_proxy", "https_proxy", "no_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY",
        "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
        "PIP_CERT", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_TRUSTED_HOST", "PIP_DEFAULT_TIMEOUT",
        "UV_INDEX_URL", "UV_EXTRA_INDEX_URL", "UV_DEFAULT_INDEX", "UV_INDEX", "UV_FIND_LINKS", "UV_HTTP_TIMEOUT",
        "UV_NATIVE_TLS", "UV_INSECURE_HOST", "UV_CONCURRENT_DOWNLOADS",
    ]

    /// The allowed subset of `host`.
    public static func scrubbed(_ host: [String: String]) -> [String: String] {
        let extra = (host["FORGE_BUILD_ENV"] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let names = allowed.union(extra)
        return host.filter { names.contains($0.key) }
    }
}
