import Foundation
import Synchronization
import Sandbox
#if canImport(Glibc)
import Glibc
#endif

/// Builds (or finds in its cache) the environment a project's tests run in.
///
/// Cache layout under `root`: `uv-cache/` (shared by every environment), `envs/<key>/` holding
/// `venv/`, `manifests/` (the bytes the key was computed from), `build.log`, one log per install
/// rung, and `environment.json` (ready) or `failure.json` (failed). A build holds
/// `envs/<key>.lock` (flock, see `FileLock`), so concurrent requests for one key, from any
/// process on any host sharing `root`, build it once and reuse it after.
public final class EnvironmentBuilder: Sendable {
    public struct Options: Sendable {
        /// uv's path; nil finds it in PATH or pyenv's versions.
        public var uvPath: String?
        /// Shared uv cache; nil means `root/uv-cache`.
        public var uvCacheDirectory: URL?
        /// Run install steps (which execute project code such as setup.py) under bubblewrap with
        /// the network kept, writable only in the project, its own environment folder and the uv
        /// cache, and a scrubbed environment (`BuildEnvironment`). A build whose sandbox cannot
        /// be made fails with the reason; only `false` (the CLI's --no-sandbox) runs unconfined.
        public var sandboxInstalls: Bool
        /// Rebuild keys whose last build failed instead of returning the recorded failure.
        public var retryFailures: Bool
        /// Interpreters to choose from; nil discovers them on first use.
        public var interpreters: InterpreterCatalog?

        public init(uvPath: String? = nil, uvCacheDirectory: URL? = nil, sandboxInstalls: Bool = true,
                    retryFailures: Bool = false, interpreters: InterpreterCatalog? = nil) {
            self.uvPath = uvPath; self.uvCacheDirectory = uvCacheDirectory; self.sandboxInstalls = sandboxInstalls
            self.retryFailures = retryFailures; self.interpreters = interpreters
        }
    }

    public let root: URL
    public let recipes: RecipeBook
    public let options: Options
    let tools: ToolRunner
    /// Discovered once per builder, on first use (a discovery runs `uv python list`).
    private let catalog: Mutex<InterpreterCatalog?>

    public init(root: URL, recipes: RecipeBook, runner: CommandRunner = CommandRunner(), options: Options = Options()) {
        self.root = root.standardizedFileURL
        self.recipes = recipes
        self.options = options
        self.catalog = Mutex(options.interpreters)
        // An init cannot report; a root that cannot be created fails the first build, naming the folder.
        try? FileManager.default.createDirectory(at: root.appendingPathComponent("envs"), withIntermediateDirectories: true)
        try? FileManager.default.createDirectory(at: root.appendingPathComponent("scratch"), withIntermediateDirectories: true)
        self.tools = ToolRunner(runner: runner, scratch: root.appendingPathComponent("scratch").path)
    }

    var uvCache: URL { options.uvCacheDirectory ?? root.appendingPathComponent("uv-cache") }
    var uvPath: String? { options.uvPath ?? ToolRunner.locateUV() }

    /// Bumped whenever a change to how environments are built changes what gets installed or can
    /// turn a failure into a success: it is part of every cache key, and failures recorded by
    /// another revision are built again, not served from the cache.
    public static let revision = 8

    /// The interpreters on this machine (discovered once per builder).
    public func interpreters() -> InterpreterCatalog {
        catalog.withLock { catalog in
            if let catalog { return catalog }
            let found = InterpreterCatalog.discover(uv: uvPath, tools: tools)
            catalog = found
            return found
        }
    }

    /// Discovers the interpreters again (after uv installed one); a catalog given in the options
    /// stays as given.
    func rediscoverInterpreters() -> InterpreterCatalog {
        if let given = options.interpreters { return given }
        return catalog.withLock { catalog in
            let found = InterpreterCatalog.discover(uv: uvPath, tools: tools)
            catalog = found
            return found
        }
    }

    /// Returns the project's environment, building it on the first request for its key.
    /// Throws `EnvironmentFailure` (recorded as `failure.json` when a key was computed).
    public func prepare(_ project: ProjectSnapshot) throws -> PreparedEnvironment {
        guard let ecosystem = ProjectDetector.detect(directory: project.directory, recipes: recipes,
                                                     repo: project.repo, version: project.version) else {
            throw EnvironmentFailure(kind: .noProjectDetected,
                                     reason: "no marker file of any recipe (\(recipes.ecosystems.map(\.rawValue).joined(separator: ", "))) at the root of \(project.directory.path)")
        }
        let recipe: Recipe
        do {
            recipe = try recipes.recipe(for: ecosystem, repo: project.repo, version: project.version)
        } catch {
            throw EnvironmentFailure(kind: .invalidRecipe, reason: "\(error)")
        }
        var manifests: [String: Data]
        let read: (String) -> Data?
        switch project.manifests {
        case .projectDirectory:
            manifests = ProjectDetector.collectManifests(in: project.directory, patterns: recipe.manifests)
            read = RequirementIncludes.reader(root: project.directory)
        case .directory(let url):
            manifests = ProjectDetector.collectManifests(in: url, patterns: recipe.manifests)
            read = RequirementIncludes.reader(root: url)
        case .files(let files):
            manifests = files
            read = { files[$0] }
        }
        var ready: PreparedEnvironment
        switch ecosystem {
        case .python:
            let followed = RequirementIncludes.follow(manifests, read: read)
            manifests = followed.manifests
            ready = try preparePython(project, recipe: recipe, manifests: manifests, requirementIncludes: followed.included)
        case .swift, .rust: ready = try prepareToolchain(project, recipe: recipe, manifests: manifests)
        }
        // Throws `ServiceFailure` (infrastructure), not `EnvironmentFailure`: the task's own
        // environment is fine, and a service that cannot be built says nothing about the task.
        if recipe.test.services?.isEmpty == false { ready.services = try prepareServices(for: recipe) }
        return ready
    }

    /// The recorded environment or failure for a key, if any.
    public func recorded(key: String) -> Result<PreparedEnvironment, EnvironmentFailure>? {
        let directory = environmentDirectory(key)
        if let ready = readJSON(PreparedEnvironment.self, directory.appendingPathComponent("environment.json")) {
            return .success(ready)
        }
        if let failure = readJSON(EnvironmentFailure.self, directory.appendingPathComponent("failure.json")) {
            return .failure(failure)
        }
        return nil
    }

    // MARK: - Cache plumbing shared by the ecosystems

    func environmentDirectory(_ key: String) -> URL {
        root.appendingPathComponent("envs").appendingPathComponent(key)
    }

    /// What a key is made of, stamped on failures so they can be stored like environments.
    static func identity(recipe: Recipe, runtime: String, manifests: [String: Data]) -> EnvironmentFailure.Identity {
        EnvironmentFailure.Identity(recipeName: recipe.sources.last ?? recipe.ecosystem.rawValue, recipeHash: recipe.contentHash,
                                    runtime: runtime, manifestsHash: manifestsHash(manifests.mapValues { SHA256.hex($0) }))
    }

    /// One hash over manifest path → content hash pairs.
    static func manifestsHash(_ hashes: [String: String]) -> String {
        SHA256.hex(hashes.keys.sorted().map { "\($0) \(hashes[$0]!)\n" }.joined())
    }

    /// SHA-256 over the recipe, the interpreter or toolchain identity and the manifests' bytes.
    static func cacheKey(ecosystem: Ecosystem, recipe: Recipe, runtime: String, manifests: [String: Data]) -> String {
        // The builder's revision keys the cache too: an environment built by an older builder
        // (without a rung that changes what gets installed) is not reused by a newer one.
        var text = "forge-environment-v1\nbuilder \(revision)\n\(ecosystem.rawValue)\nrecipe \(recipe.contentHash)\nruntime \(runtime)\n"
        for path in manifests.keys.sorted() { text += "manifest \(path) \(SHA256.hex(manifests[path]!))\n" }
        return String(SHA256.hex(text).prefix(24))
    }

    /// Runs `build` holding the key's lock; returns a cached result first when there is one.
    ///
    /// Many processes, on many hosts sharing `root`, may ask for one key at once: one builds,
    /// the others wait on the lock and then reuse what it recorded. A venv cannot be built in a
    /// temporary folder and renamed into place (its scripts and `pyvenv.cfg` hold absolute
    /// paths), so the commit point is `environment.json`, written by rename after the build:
    /// without it nothing uses the folder. A holder that died mid-build leaves a folder without
    /// it and a lock the kernel already released; the next builder moves that folder aside
    /// (one rename, so a crash here leaves no half-deleted environment at the key's path) and
    /// builds from nothing.
    func withKey(_ key: String, identity: EnvironmentFailure.Identity, build: (URL) throws -> PreparedEnvironment,
                 isUsable: (PreparedEnvironment) -> Bool) throws -> PreparedEnvironment {
        let lockPath = root.appendingPathComponent("envs").appendingPathComponent("\(key).lock").path
        let lock: FileLock
        do { lock = try FileLock.acquire(lockPath) } catch {
            throw EnvironmentFailure(kind: .internalError, reason: "\(error)", key: key)
        }
        defer { lock.release() }
        switch recorded(key: key) {
        case .success(var ready)? where isUsable(ready):
            ready.reused = true
            return ready
        case .failure(let failure)? where !options.retryFailures && failure.builderRevision == Self.revision:
            throw failure
        default:
            break
        }
        let directory = environmentDirectory(key)
        let manager = FileManager.default
        if manager.fileExists(atPath: directory.path) {
            let aside = root.appendingPathComponent("envs").appendingPathComponent(".stale-\(key)-\(UUID().uuidString)")
            do { try manager.moveItem(at: directory, to: aside) } catch {
                throw EnvironmentFailure(kind: .internalError, reason: "cannot move the unfinished build \(directory.path) aside: \(error)", key: key)
            }
            try? manager.removeItem(at: aside)
        }
        do {
            try manager.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw EnvironmentFailure(kind: .internalError, reason: "cannot create \(directory.path): \(error)", key: key)
        }
        do {
            let ready = try build(directory)
            try writeJSON(ready, to: directory.appendingPathComponent("environment.json"))
            return ready
        } catch let failure as EnvironmentFailure {
            var recordedFailure = failure
            recordedFailure.key = key
            recordedFailure.identity = identity
            // The failure thrown is what the caller needs; without its record the next request
            // only builds again instead of answering from the cache.
            try? writeJSON(recordedFailure, to: directory.appendingPathComponent("failure.json"))
            throw recordedFailure
        } catch {
            var failure = EnvironmentFailure(kind: .internalError, reason: "\(error)", key: key)
            failure.identity = identity
            try? writeJSON(failure, to: directory.appendingPathComponent("failure.json")) // as above: a cache record only
            throw failure
        }
    }

    /// Records a failure found before any build (e.g. no interpreter) without caching it as final:
    /// installing the missing piece must make the next request succeed.
    func recordPrebuildFailure(_ failure: EnvironmentFailure, key: String, identity: EnvironmentFailure.Identity) -> EnvironmentFailure {
        var keyed = failure
        keyed.key = key
        keyed.identity = identity
        let directory = environmentDirectory(key)
        let path = directory.appendingPathComponent("last-failure.json")
        keyed.logPath = keyed.logPath ?? path.path
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try writeJSON(keyed, to: path)
        } catch {
            // A diagnostic copy, never read back: the failure returned carries everything; it
            // only must not name a log that was not written.
            keyed.logPath = failure.logPath
        }
        return keyed
    }

    /// Writes JSON atomically (temporary file + rename), so readers never see half a record.
    func writeJSON<T: Encodable>(_ value: T, to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(value).write(to: url, options: .atomic)
    }

    func readJSON<T: Decodable>(_ type: T.Type, _ url: URL) -> T? {
        guard let data = FileManager.default.contents(atPath: url.path) else { return nil }
        return try? JSONDecoder().decode(type, from: data) // an unreadable record is a cache miss: the environment is built again
    }

    /// Appends a section to the environment's build log.
    static func appendLog(_ text: String, to logPath: String) {
        if !FileManager.default.fileExists(atPath: logPath) { _ = FileManager.default.createFile(atPath: logPath, contents: nil) }
        guard let handle = FileHandle(forWritingAtPath: logPath) else { return }
        handle.seekToEndOfFile()
        handle.write(Data(text.utf8))
        handle.closeFile()
    }

    /// Writes manifest bytes under `directory`, keeping relative paths (nested `-r` still resolve).
    static func materialize(_ manifests: [String: Data], in directory: URL) throws {
        for (path, data) in manifests {
            let url = directory.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try data.write(to: url)
        }
    }

    /// The sandbox for install steps, or nil to run them directly (`sandboxInstalls` off). It
    /// keeps the network; writes go only to the project, this environment's folder and the uv
    /// cache; every other environment under `root` is hidden; uv and the interpreter are bound
    /// read-only wherever they live (a hidden home, say).
    func installSandbox(projectDirectory: URL, environmentDirectory: URL, interpreter: String, limits: ResourceLimits) throws -> Sandbox? {
        guard options.sandboxInstalls else { return nil }
        let uvDirectory = uvPath.map { URL(fileURLWithPath: $0).resolvingSymlinksInPath().deletingLastPathComponent().path }
        let readOnly = [uvDirectory, PreparedEnvironment.installationPrefix(of: interpreter)].compactMap { $0 }
            .filter { !["/bin", "/usr/bin", "/usr/local/bin"].contains($0) }.map { BindMount($0) }
        let policy = SandboxPolicy.bubblewrap(
            workDirectory: projectDirectory.standardizedFileURL.path, readOnly: readOnly,
            readWrite: [BindMount(environmentDirectory.standardizedFileURL.path), BindMount(uvCache.standardizedFileURL.path)],
            allowNetwork: true, hidden: [root.path], limits: limits)
        return try Sandbox(policy: policy)
    }
}
