import Foundation
import Sandbox

/// Every recipe in a `Recipes/` folder, validated at load: `<ecosystem>.yaml` files and
/// `repos/<owner>__<name>.yaml` overrides (keyed by their `repo:` and optional `versions:` range).
public struct RecipeBook: Sendable {
    /// Where the recipes came from: a folder's path, or `Recipes (built in)`.
    public let origin: String
    private var ecosystemNodes: [Ecosystem: RecipeNode] = [:]
    private var repositoryNodes: [String: RecipeNode] = [:]

    /// Reads and validates every recipe file of a folder; the first problem is thrown as
    /// `RecipeError` (`Recipes/python.yaml:12: unknown key 'instal'`).
    public init(directory: URL) throws {
        let directory = directory.standardizedFileURL
        let prefix = directory.lastPathComponent
        guard let top = try? FileManager.default.contentsOfDirectory(atPath: directory.path) else {
            throw RecipeError(file: prefix, line: nil, message: "recipe folder \(directory.path) cannot be read")
        }
        let repos = (try? FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent("repos").path)) ?? []
        var files: [String: String] = [:]
        for relative in top + repos.map({ "repos/" + $0 }) where Self.isRecipeFile(relative) {
            let display = "\(prefix)/\(relative)"
            var isDirectory: ObjCBool = false
            let path = directory.appendingPathComponent(relative).path
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
            guard let data = FileManager.default.contents(atPath: path) else {
                throw RecipeError(file: display, line: nil, message: "cannot be read")
            }
            guard let text = String(data: data, encoding: .utf8) else {
                throw RecipeError(file: display, line: nil, message: "is not UTF-8")
            }
            files[relative] = text
        }
        try self.init(files: files, origin: directory.path, displayPrefix: prefix)
    }

    /// The recipes compiled into Forge when it was built (the package's `Recipes/`), so a binary
    /// copied anywhere has them; `$FORGE_RECIPES` names a folder to use instead.
    public static func bundled() throws -> RecipeBook {
        if let path = ProcessInfo.processInfo.environment["FORGE_RECIPES"], !path.isEmpty {
            return try RecipeBook(directory: URL(fileURLWithPath: path))
        }
        return try RecipeBook(files: EmbeddedFiles.contents, origin: "Recipes (built in)", displayPrefix: "Recipes")
    }

    /// The given folder (`--recipes`) when there is one, else the built-in recipes.
    public static func load(directory: String?) throws -> RecipeBook {
        try directory.map { try RecipeBook(directory: URL(fileURLWithPath: $0)) } ?? bundled()
    }

    /// The package's `Recipes/` folder in the checkout Forge was built from: for tests and tools
    /// that need the files themselves.
    public static func bundledDirectory() -> URL {
        URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Recipes")
    }

    private static func isRecipeFile(_ relative: String) -> Bool {
        relative.hasSuffix(".yaml") || relative.hasSuffix(".yml")
    }

    /// Recipes from file texts keyed by their path relative to the recipes folder
    /// (`python.yaml`, `repos/psf__requests.yaml`); files are shown as `displayPrefix/path`.
    init(files: [String: String], origin: String, displayPrefix: String) throws {
        self.origin = origin
        for (relative, text) in files.sorted(by: { $0.key < $1.key }) where Self.isRecipeFile(relative) {
            let display = "\(displayPrefix)/\(relative)"
            if !relative.contains("/") {
                let node = try RecipeParser.parse(text, file: display, schema: RecipeSchema.ecosystemFile)
                guard let ecosystemText = node["ecosystem"]?.string, let ecosystem = Ecosystem(rawValue: ecosystemText) else {
                    throw node.error("missing key 'ecosystem'")
                }
                if ecosystemNodes[ecosystem] != nil {
                    throw node["ecosystem"]!.error("a second recipe for ecosystem '\(ecosystem.rawValue)'")
                }
                ecosystemNodes[ecosystem] = node
                _ = try Self.decode(node) // a base recipe must be complete on its own
            } else if relative.hasPrefix("repos/"), relative.dropFirst("repos/".count).contains("/") == false {
                let node = try RecipeParser.parse(text, file: display, schema: RecipeSchema.repositoryFile)
                guard let repo = node["repo"]?.string, repo.split(separator: "/").count == 2 else {
                    throw node.error(node["repo"] == nil ? "missing key 'repo' (owner/name)"
                                                         : "'repo' must be owner/name")
                }
                for rangeNode in [node["versions"]].compactMap({ $0 }) + (node["variants"].map(Self.listItems) ?? [])
                    .compactMap({ $0["versions"] }) {
                    do { _ = try VersionSpecifierSet(rangeNode.string ?? "") } catch {
                        throw rangeNode.error("\(error)")
                    }
                }
                if repositoryNodes[repo.lowercased()] != nil {
                    throw node.error("a second recipe for repository '\(repo)'")
                }
                repositoryNodes[repo.lowercased()] = node
            }
        }
    }

    /// Ecosystems with a base recipe.
    public var ecosystems: [Ecosystem] { Ecosystem.allCases.filter { ecosystemNodes[$0] != nil } }

    /// Repositories with an override file (lowercased `owner/name`).
    public var repositories: [String] { repositoryNodes.keys.sorted() }

    /// The base recipe of an ecosystem.
    public func recipe(for ecosystem: Ecosystem) throws -> Recipe {
        guard let node = ecosystemNodes[ecosystem] else {
            throw RecipeError(file: origin, line: nil,
                              message: "no recipe for ecosystem '\(ecosystem.rawValue)'")
        }
        return try Self.decode(node)
    }

    /// The ecosystem a repository's override forces, if it names one for this version.
    public func forcedEcosystem(repo: String, version: String?) -> Ecosystem? {
        guard let override = repositoryOverride(repo: repo, version: version),
              let text = override["ecosystem"]?.string else { return nil }
        return Ecosystem(rawValue: text)
    }

    /// The ecosystem recipe with the repository's matching override (and variant) merged on top.
    public func recipe(for ecosystem: Ecosystem, repo: String?, version: String?) throws -> Recipe {
        guard let base = ecosystemNodes[ecosystem] else { return try recipe(for: ecosystem) }
        guard let repo, let override = repositoryOverride(repo: repo, version: version) else {
            return try Self.decode(base)
        }
        return try Self.decode(RecipeNode.merge(base, override))
    }

    /// The repository file's top-level keys plus its first variant whose range holds `version`;
    /// nil when there is no file or its top-level range excludes the version.
    private func repositoryOverride(repo: String, version: String?) -> RecipeNode? {
        guard let node = repositoryNodes[repo.lowercased()] else { return nil }
        let parsedVersion = version.flatMap(PythonVersion.init)
        func holds(_ range: RecipeNode?) -> Bool {
            guard let text = range?.string else { return true }
            guard let parsedVersion, let set = try? VersionSpecifierSet(text) else { return false }
            return set.contains(parsedVersion)
        }
        guard holds(node["versions"]) else { return nil }
        var merged = node.removing(["repo", "versions", "variants"])
        for variant in node["variants"].map(Self.listItems) ?? [] where holds(variant["versions"]) {
            merged = RecipeNode.merge(merged, variant.removing(["versions"]))
            break
        }
        return merged
    }

    private static func listItems(_ node: RecipeNode) -> [RecipeNode] {
        if case .list(let items) = node.value { return items }
        return []
    }

    /// Turns a merged, validated tree into a `Recipe`, checking what only the whole can tell.
    static func decode(_ node: RecipeNode) throws -> Recipe {
        func required(_ path: [String]) throws -> RecipeNode {
            var current = node
            for (index, key) in path.enumerated() {
                guard let next = current[key] else {
                    throw current.error("missing key '\(path[...index].joined(separator: "."))'")
                }
                current = next
            }
            return current
        }
        func number(_ value: RecipeNode) -> Double { Double(value.string ?? "") ?? 0 }
        // A recipe that names no limit of a kind gets Forge's standard one, never "unlimited".
        func resourceLimits(_ node: RecipeNode?) -> ResourceLimits {
            let standard = ResourceLimits.standard
            func value(_ key: String, _ fallback: Int?) -> Int? { node?[key].map { Int(number($0)) } ?? fallback }
            return ResourceLimits(processes: value("processes", standard.processes), memoryMB: value("memory_mb", standard.memoryMB),
                                  fileSizeMB: value("file_size_mb", standard.fileSizeMB), tmpfsMB: value("tmpfs_mb", standard.tmpfsMB),
                                  cpuSeconds: value("cpu_seconds", standard.cpuSeconds), openFiles: value("open_files", standard.openFiles))
        }

        let ecosystem = Ecosystem(rawValue: try required(["ecosystem"]).string ?? "")!
        var sources: [String] = []
        func collectSources(_ n: RecipeNode) {
            if !sources.contains(n.file) { sources.append(n.file) }
            switch n.value {
            case .list(let items): items.forEach(collectSources)
            case .map(let pairs): pairs.forEach { collectSources($0.value) }
            case .scalar: break
            }
        }
        collectSources(node)

        let interpreterNode = node["interpreter"]
        let interpreter = Recipe.InterpreterPolicy(
            requires: interpreterNode?["requires"]?.string,
            fallbackRequires: interpreterNode?["fallback_requires"]?.string,
            releaseMarginDays: Int(interpreterNode?["release_margin_days"]?.string ?? "") ?? 0,
            minimum: interpreterNode?["minimum"]?.string)
        for key in ["requires", "fallback_requires", "minimum"] {
            guard let value = interpreterNode?[key] else { continue }
            do { _ = try VersionSpecifierSet(key == "minimum" ? ">=" + (value.string ?? "") : value.string ?? "") }
            catch { throw value.error("\(error)") }
        }

        var toolchain: Recipe.ToolchainSpec?
        if let toolNode = node["toolchain"] {
            toolchain = Recipe.ToolchainSpec(
                program: try required(["toolchain", "program"]).string ?? "",
                versionArguments: toolNode["version_args"]?.strings ?? ["--version"],
                checks: toolNode["checks"].map(listItems)?.map(\.strings) ?? [])
        } else if ecosystem != .python {
            throw node.error("missing key 'toolchain' (a \(ecosystem.rawValue) recipe checks a toolchain)")
        }

        let installNode = node["install"]
        let install = Recipe.InstallSpec(
            ladder: (installNode?["ladder"]?.strings ?? []).compactMap(InstallStrategy.init(rawValue:)),
            extras: installNode?["extras"]?.strings ?? [],
            requirementFiles: installNode?["requirement_files"]?.strings ?? [],
            packages: installNode?["packages"]?.strings ?? [],
            runnerPackages: installNode?["runner_packages"]?.strings ?? [],
            runnerPlugins: installNode?["runner_plugins"]?.strings ?? [],
            devTools: installNode?["dev_tools"]?.strings ?? [],
            env: installNode?["env"]?.stringMap ?? [:],
            timeout: installNode?["timeout"].map(number) ?? 1800,
            limits: resourceLimits(installNode?["limits"]))
        if ecosystem == .python && install.ladder.isEmpty {
            throw (installNode ?? node).error("missing key 'install.ladder' (a python recipe needs at least one strategy)")
        }

        let testNode = try required(["test"])
        let runnersNode = try required(["test", "runners"])
        var runners: [String: TestRunnerSpec] = [:]
        if case .map(let pairs) = runnersNode.value {
            for (name, spec) in pairs {
                let commandNode = try requiredChild(spec, "command", path: "test.runners.\(name)")
                let command = commandNode.strings
                if command.isEmpty { throw commandNode.error("'test.runners.\(name).command' is empty") }
                try checkPlaceholders(command, node: commandNode, runner: name, key: "command")
                let report = TestReportKind(rawValue: spec["report"]?.string ?? "log") ?? .log
                let reports = spec["reports"]?.strings ?? (report == .junit ? ["{junit}"] : [])
                if let reportsNode = spec["reports"] {
                    try checkPlaceholders(reports, node: reportsNode, runner: name, key: "reports")
                }
                // The script is read from and run inside the checkout: a path that leaves it is refused.
                if let scriptNode = spec["script"], let script = scriptNode.string,
                   script.isEmpty || script.hasPrefix("/") || script.split(separator: "/").contains(where: { $0 == ".." || $0 == "." }) {
                    throw scriptNode.error("'test.runners.\(name).script' must be a path inside the project, got '\(script)'")
                }
                runners[name] = TestRunnerSpec(
                    command: command,
                    report: report,
                    reports: reports,
                    logFormat: spec["log_format"]?.string ?? name,
                    script: spec["script"]?.string,
                    invokedBy: spec["invoked_by"]?.strings,
                    env: spec["env"]?.stringMap,
                    packages: spec["packages"]?.strings)
            }
        }
        let runnerChoice = testNode["runner"]?.string ?? "auto"
        if runnerChoice != "auto" && runners[runnerChoice] == nil {
            throw testNode["runner"]!.error("'test.runner' is '\(runnerChoice)', which is not a key of 'test.runners' (\(runners.keys.sorted().joined(separator: ", ")))")
        }
        if runners.isEmpty { throw runnersNode.error("'test.runners' is empty") }
        var test = Recipe.TestSpec(runner: runnerChoice, runners: runners, evidence: testNode["evidence"]?.strings ?? [],
                                   env: testNode["env"]?.stringMap ?? [:],
                                   timeout: testNode["timeout"].map(number) ?? 1800,
                                   limits: resourceLimits(testNode["limits"]))
        if let servicesNode = testNode["services"], case .map(let pairs) = servicesNode.value, !pairs.isEmpty {
            var services: [String: ServiceSpec] = [:]
            for (name, spec) in pairs { services[name] = try decodeService(name, spec) }
            test.services = services
        }

        return Recipe(ecosystem: ecosystem,
                      markers: try required(["detect", "markers"]).strings,
                      priority: Int(node["detect"]?["priority"]?.string ?? "") ?? 0,
                      manifests: node["manifests"]?.strings ?? [],
                      interpreter: interpreter, toolchain: toolchain, install: install, test: test,
                      sources: sources)
    }

    /// One `test.services.<name>` entry, checked: a name usable in file names, a command with
    /// known placeholders, a port and a timeout that make sense, a valid Python range.
    private static func decodeService(_ name: String, _ spec: RecipeNode) throws -> ServiceSpec {
        let path = "test.services.\(name)"
        guard !name.isEmpty, name.count <= 64,
              name.unicodeScalars.allSatisfy({ CharacterSet.alphanumerics.contains($0) && $0.isASCII || "-_".unicodeScalars.contains($0) }) else {
            throw spec.error("service name '\(name)' must be letters, digits, '-' or '_'")
        }
        let commandNode = try requiredChild(spec, "command", path: path)
        let command = commandNode.strings
        if command.isEmpty { throw commandNode.error("'\(path).command' is empty") }
        try checkServicePlaceholders(command, known: ServiceSpec.commandPlaceholders, node: commandNode, key: "\(path).command")
        let env = spec["env"]?.stringMap ?? [:]
        if let envNode = spec["env"] {
            try checkServicePlaceholders(env.keys.sorted().map { env[$0]! }, known: ServiceSpec.envPlaceholders,
                                         node: envNode, key: "\(path).env")
        }
        var port: Int?
        if let portNode = spec["port"] {
            guard let value = Int(portNode.string ?? ""), (1...65535).contains(value) else {
                throw portNode.error("'\(path).port' must be between 1 and 65535")
            }
            port = value
        }
        let readyTimeout = Double(spec["ready_timeout"]?.string ?? "") ?? 60
        if readyTimeout <= 0 { throw spec["ready_timeout"]!.error("'\(path).ready_timeout' must be positive") }
        if let pythonNode = spec["python"] {
            do { _ = try VersionSpecifierSet(pythonNode.string ?? "") } catch { throw pythonNode.error("\(error)") }
        }
        return ServiceSpec(packages: spec["packages"]?.strings ?? [], python: spec["python"]?.string, command: command,
                           port: port, readyTimeout: readyTimeout, env: env)
    }

    private static func checkServicePlaceholders(_ values: [String], known: [String], node: RecipeNode, key: String) throws {
        for value in values {
            var rest = Substring(value)
            while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
                let name = String(rest[rest.index(after: open)..<close])
                if !known.contains(name) {
                    throw node.error("unknown placeholder '{\(name)}' in '\(key)' (known: \(known.joined(separator: ", ")))")
                }
                rest = rest[rest.index(after: close)...]
            }
        }
    }

    private static func requiredChild(_ node: RecipeNode, _ key: String, path: String) throws -> RecipeNode {
        guard let child = node[key] else { throw node.error("missing key '\(path).\(key)'") }
        return child
    }

    /// Every `{name}` in a command template must be a known placeholder.
    private static func checkPlaceholders(_ command: [String], node: RecipeNode, runner: String, key: String) throws {
        let known = Set(TestRunnerSpec.scalarPlaceholders + TestRunnerSpec.listPlaceholders)
        let items = listItems(node)
        for (index, argument) in command.enumerated() {
            var rest = Substring(argument)
            var listCount = 0
            while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
                let name = String(rest[rest.index(after: open)..<close])
                let line = index < items.count ? items[index].line : node.line
                if !known.contains(name) {
                    throw RecipeError(file: node.file, line: line,
                                      message: "unknown placeholder '{\(name)}' in 'test.runners.\(runner).\(key)' (known: \(known.sorted().joined(separator: ", ")))")
                }
                if TestRunnerSpec.listPlaceholders.contains(name) { listCount += 1 }
                rest = rest[rest.index(after: close)...]
            }
            if listCount > 1 {
                throw RecipeError(file: node.file, line: index < items.count ? items[index].line : node.line,
                                  message: "one argument of 'test.runners.\(runner).\(key)' holds two list placeholders")
            }
        }
    }
}
