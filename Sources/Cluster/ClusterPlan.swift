import Foundation

/// Which scheduler the plan is written for. Forge schedules nothing itself: it writes files that
/// an existing engine runs.
public enum ClusterEngine: String, CaseIterable, Sendable {
    case slurm, kubernetes
}

/// A batch command that takes `--shard i/N` and `--db`, so that N copies of it cover its tasks once.
public enum StepKind: String, CaseIterable, Sendable {
    case mine, validate, synth, eval

    /// `forge mine` keeps no environments or runs; the others put them under `--workspace`.
    var takesWorkspace: Bool { self != .mine }
    /// Every step but mining works on tasks that earlier steps (or the user) put in the store.
    var readsStore: Bool { self != .mine }
}

/// A mistake in what the user asked for, named precisely.
public enum ClusterPlanError: Error, CustomStringConvertible, Equatable {
    case badStep(String, String)
    case badOption(String, String)
    case io(String, String)

    public var description: String {
        switch self {
        case .badStep(let step, let reason): "step '\(step)': \(reason)"
        case .badOption(let option, let reason): "\(option): \(reason)"
        case .io(let path, let reason): "\(path): \(reason)"
        }
    }
}

/// One step of the plan: the command and the flags the user gave it. `--shard`, `--db` and
/// `--workspace` belong to the plan (each array task gets its own shard and store).
public struct ClusterStep: Sendable, Equatable {
    public let kind: StepKind
    public let arguments: [String]

    public static let reservedOptions = ["--shard", "--db", "--workspace"]

    public init(kind: StepKind, arguments: [String]) throws {
        let text = ([kind.rawValue] + arguments).joined(separator: " ")
        for argument in arguments {
            let name = argument.split(separator: "=", maxSplits: 1).first.map(String.init) ?? argument
            if Self.reservedOptions.contains(name) {
                throw ClusterPlanError.badStep(text, "\(name) is set by the plan (each array task gets its own shard and store); leave it out")
            }
        }
        if kind == .eval, Self.value(of: "--run-id", in: arguments) == nil {
            throw ClusterPlanError.badStep(text, "eval needs --run-id NAME, so that the merge job can report that run")
        }
        self.kind = kind
        self.arguments = arguments
    }

    /// `"validate --clone /data/textkit --reruns 1"`, words split as a shell would.
    public init(parsing text: String) throws {
        let words = try ShellWords.split(text)
        guard let first = words.first else { throw ClusterPlanError.badStep(text, "empty") }
        guard let kind = StepKind(rawValue: first) else {
            throw ClusterPlanError.badStep(text, "unknown step '\(first)', expected one of \(StepKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        try self.init(kind: kind, arguments: Array(words.dropFirst()))
    }

    /// The verdicts `forge report` shows after this step.
    var reportKind: String {
        kind == .eval ? "eval:" + (Self.value(of: "--run-id", in: arguments) ?? "") : "validation"
    }

    static func value(of option: String, in arguments: [String]) -> String? {
        for (index, argument) in arguments.enumerated() {
            if argument == option, index + 1 < arguments.count { return arguments[index + 1] }
            if argument.hasPrefix(option + "=") { return String(argument.dropFirst(option.count + 1)) }
        }
        return nil
    }
}

/// What each array task (Slurm) or pod (Kubernetes) asks for.
public struct ClusterResources: Sendable, Equatable {
    public var cpus: Int
    /// Mebibytes.
    public var memoryMiB: Int
    /// Wall-clock limit per array task, in seconds.
    public var timeLimitSeconds: Int
    /// Slurm partition; nil leaves the cluster's default.
    public var partition: String?

    public init(cpus: Int = 2, memoryMiB: Int = 4096, timeLimitSeconds: Int = 4 * 3600, partition: String? = nil) {
        self.cpus = cpus; self.memoryMiB = memoryMiB; self.timeLimitSeconds = timeLimitSeconds; self.partition = partition
    }

    /// `4096`, `512M`, `4G` → MiB.
    public static func parseMemory(_ text: String) throws -> Int {
        let trimmed = text.trimmingCharacters(in: .whitespaces).uppercased()
        let unit = trimmed.last.flatMap { "MG".contains($0) ? $0 : nil }
        let digits = unit == nil ? trimmed : String(trimmed.dropLast())
        guard let value = Int(digits), value >= 1 else {
            throw ClusterPlanError.badOption("--memory", "expected MiB or a size such as 512M or 4G, got '\(text)'")
        }
        return unit == "G" ? value * 1024 : value
    }

    /// Slurm's forms `MM`, `MM:SS`, `HH:MM:SS`, `D-HH`, `D-HH:MM`, `D-HH:MM:SS` → seconds.
    public static func parseTime(_ text: String) throws -> Int {
        let bad = ClusterPlanError.badOption("--time", "expected minutes or [D-]HH:MM:SS as Slurm writes it, got '\(text)'")
        let dayParts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard (1...2).contains(dayParts.count) else { throw bad }
        let days = dayParts.count == 2 ? Int(dayParts[0]) : 0
        let fields = dayParts.last!.split(separator: ":", omittingEmptySubsequences: false).map { Int($0) }
        guard let days, days >= 0, (1...3).contains(fields.count), fields.allSatisfy({ ($0 ?? -1) >= 0 }) else { throw bad }
        let values = fields.map { $0! }
        let seconds: Int
        if dayParts.count == 2 {
            // D-HH, D-HH:MM, D-HH:MM:SS
            seconds = values[0] * 3600 + (values.count > 1 ? values[1] * 60 : 0) + (values.count > 2 ? values[2] : 0)
        } else {
            switch values.count {
            case 1: seconds = values[0] * 60
            case 2: seconds = values[0] * 60 + values[1]
            default: seconds = values[0] * 3600 + values[1] * 60 + values[2]
            }
        }
        guard days * 86400 + seconds > 0 else { throw bad }
        return days * 86400 + seconds
    }

    /// `D-HH:MM:SS`, Slurm's own form.
    var slurmTime: String {
        let days = timeLimitSeconds / 86400, rest = timeLimitSeconds % 86400
        return String(format: "%d-%02d:%02d:%02d", days, rest / 3600, rest % 3600 / 60, rest % 60)
    }
}

/// Kubernetes specifics: the image that holds Forge and the claim on the shared file system.
public struct KubernetesOptions: Sendable, Equatable {
    public var image: String
    public var namespace: String?
    /// A ReadWriteMany PersistentVolumeClaim mounted at the plan's shared directory in every pod.
    public var claim: String
    /// bubblewrap makes user, pid and network namespaces, which a default pod may not; without
    /// this the steps need `--no-sandbox`.
    public var privileged: Bool

    public init(image: String = "forge:latest", namespace: String? = nil, claim: String = "forge-workspace", privileged: Bool = true) {
        self.image = image; self.namespace = namespace; self.claim = claim; self.privileged = privileged
    }
}

/// One file the plan writes.
public struct PlanFile: Sendable, Equatable {
    public let name: String
    public let contents: String
    public let executable: Bool
}

/// The files that run `steps` on a cluster, each step an array of `shards` tasks writing their own
/// shard store, then a merge job folding the shards into the main store and writing a report.
///
/// Layout under `sharedDirectory` (a file system every node mounts at the same path):
/// `<workspace>/` (environments, uv cache, runs: shared, safe for concurrent builders),
/// `<store>` (the main store), `cluster/<name>/NN-<step>/shard-<i>.db` (one store per array task,
/// so no two writers ever share a SQLite file), `…/shard-<i>.done` and `…/merged` (markers),
/// `…/report.html`, and `cluster/<name>/logs/` (one log per array task).
public struct ClusterPlan: Sendable {
    public var engine: ClusterEngine
    public var steps: [ClusterStep]
    public var shards: Int
    /// At most this many array tasks at once (Slurm `%`, Kubernetes `parallelism`); nil: all.
    public var throttle: Int?
    public var resources: ClusterResources
    public var sharedDirectory: String
    public var store: String
    public var workspace: String
    public var forge: String
    public var name: String
    public var kubernetes: KubernetesOptions

    public init(engine: ClusterEngine, steps: [ClusterStep], shards: Int, throttle: Int? = nil,
                resources: ClusterResources = ClusterResources(), sharedDirectory: String,
                store: String = "Workspace/forge.db", workspace: String = "Workspace", forge: String = "forge",
                name: String = "forge", kubernetes: KubernetesOptions = KubernetesOptions()) throws {
        guard !steps.isEmpty else { throw ClusterPlanError.badOption("STEP", "give at least one step, e.g. 'validate --clone /shared/clones/x'") }
        guard shards >= 1 else { throw ClusterPlanError.badOption("--shards", "must be at least 1, got \(shards)") }
        if let throttle, throttle < 1 { throw ClusterPlanError.badOption("--throttle", "must be at least 1, got \(throttle)") }
        guard resources.cpus >= 1 else { throw ClusterPlanError.badOption("--cpus", "must be at least 1, got \(resources.cpus)") }
        guard sharedDirectory.hasPrefix("/") else {
            throw ClusterPlanError.badOption("--shared", "must be an absolute path that every node mounts, got '\(sharedDirectory)'")
        }
        // `#SBATCH --chdir=` and `--output=` take the rest of the line as it is: no quoting there.
        guard !sharedDirectory.contains(where: \.isWhitespace) else {
            throw ClusterPlanError.badOption("--shared", "must not contain spaces (sbatch directives cannot quote them), got '\(sharedDirectory)'")
        }
        // Paths go into scripts and YAML; a newline or NUL would end a line there.
        for (option, value) in [("--shared", sharedDirectory), ("--db", store), ("--workspace", workspace), ("--forge", forge)] {
            if value.isEmpty || value.contains(where: { $0.isNewline || $0 == "\0" }) {
                throw ClusterPlanError.badOption(option, "must be a non-empty path on one line")
            }
        }
        // A DNS-1123 label (Kubernetes Job names), short enough for "<name>-NN-<step>-merge".
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789-")
        guard !name.isEmpty, name.count <= 40, name.allSatisfy(allowed.contains), name.first != "-", name.last != "-" else {
            throw ClusterPlanError.badOption("--name", "lowercase letters, digits and '-', at most 40, not starting or ending with '-'; got '\(name)'")
        }
        self.engine = engine; self.steps = steps; self.shards = shards; self.throttle = throttle
        self.resources = resources; self.sharedDirectory = sharedDirectory; self.store = store
        self.workspace = workspace; self.forge = forge; self.name = name; self.kubernetes = kubernetes
    }

    /// Every file of the plan, in the order they run.
    public func files() -> [PlanFile] {
        switch engine {
        case .slurm: SlurmScripts(plan: self).files()
        case .kubernetes: KubernetesManifests(plan: self).files()
        }
    }

    /// Writes the files into `directory` (created if needed), each atomically; returns their paths.
    @discardableResult
    public func write(to directory: String) throws -> [String] {
        let manager = FileManager.default
        do { try manager.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
            throw ClusterPlanError.io(directory, "cannot create the output folder: \(error.localizedDescription)")
        }
        return try files().map { file in
            let path = (directory as NSString).appendingPathComponent(file.name)
            do {
                try file.contents.write(toFile: path, atomically: true, encoding: .utf8)
                try manager.setAttributes([.posixPermissions: file.executable ? 0o755 : 0o644], ofItemAtPath: path)
            } catch {
                throw ClusterPlanError.io(path, "cannot write: \(error.localizedDescription)")
            }
            return path
        }
    }

    // MARK: - What both engines run

    /// `01-validate`: numbered, so that files sort in the order they run.
    func stepName(_ index: Int) -> String { String(format: "%02d-%@", index + 1, steps[index].kind.rawValue) }

    /// The step's folder, relative to the shared directory.
    func stepFolder(_ index: Int) -> String { "cluster/\(name)/\(stepName(index))" }

    var logFolder: String { "cluster/\(name)/logs" }

    /// Shell lines that set `step` and `shard_db` for the 1-based shard index in `$i`.
    private func shardVariables(_ index: Int) -> [String] {
        ["cd \(ShellWords.quote(sharedDirectory))",
         "step=\(ShellWords.quote(stepFolder(index)))",
         "shard_db=\"$step/shard-$i.db\"",
         "mkdir -p \"$step\" \(ShellWords.quote(logFolder))"]
    }

    /// Copies the tasks earlier steps left in the main store into this shard's store. Merging is
    /// an upsert that keeps the later copy, so seeding a shard that already holds results (a
    /// resubmitted array task) keeps them: the step then skips what it had stored.
    func seedLines(_ index: Int) -> [String] {
        guard steps[index].kind.readsStore else { return [] }
        let store = ShellWords.quote(self.store)
        return ["if [ -f \(store) ]; then",
                "  \(ShellWords.quote(forge)) store merge --db \"$shard_db\" \(store) > \"$shard_db.seed.log\"",
                "fi"]
    }

    /// The step's own command for shard `$i`, then its done marker.
    func runLines(_ index: Int) -> [String] {
        let step = steps[index]
        let fixed = step.kind.takesWorkspace ? " --workspace \(ShellWords.quote(workspace))" : ""
        return ["\(ShellWords.join([forge, step.kind.rawValue] + step.arguments)) --shard \"$i/\(shards)\" --db \"$shard_db\"\(fixed)",
                "touch \"$step/shard-$i.done\""]
    }

    /// Everything an array task runs, given `$i`: for Slurm, where the dependency already waited.
    func shardScript(_ index: Int) -> [String] {
        ["set -eu"] + shardVariables(index) + seedLines(index) + runLines(index)
    }

    /// Kubernetes splits the same lines into an init container (wait for the previous step, make
    /// folders, seed) and the main container (run).
    func shardInitScript(_ index: Int) -> [String] {
        var lines = ["set -eu"] + shardVariables(index)
        if index > 0 {
            let previous = ShellWords.quote(stepFolder(index - 1) + "/merged")
            lines += ["until [ -f \(previous) ]; do echo \"waiting for \(stepFolder(index - 1))\"; sleep 15; done"]
        }
        return lines + seedLines(index)
    }

    func shardRunScript(_ index: Int) -> [String] { ["set -eu"] + shardVariables(index) + runLines(index) }

    /// The merge: every shard store, listed explicitly so that a missing one fails the job rather
    /// than being skipped, folded into the main store (one transaction each); then the report.
    func mergeScript(_ index: Int) -> [String] {
        let store = ShellWords.quote(self.store), forge = ShellWords.quote(self.forge)
        return ["set -eu",
                "cd \(ShellWords.quote(sharedDirectory))",
                "step=\(ShellWords.quote(stepFolder(index)))",
                "mkdir -p \"$(dirname \(store))\"",
                "set --",
                "for i in $(seq 1 \(shards)); do set -- \"$@\" \"$step/shard-$i.db\"; done",
                "\(forge) store merge --db \(store) \"$@\"",
                "\(forge) report --db \(store) --kind \(ShellWords.quote(steps[index].reportKind)) --out \"$step/report.html\"",
                "touch \"$step/merged\""]
    }

    /// Waits until every shard of the step is done (Kubernetes has no job dependencies).
    func mergeWaitScript(_ index: Int) -> [String] {
        ["set -eu",
         "cd \(ShellWords.quote(sharedDirectory))",
         "step=\(ShellWords.quote(stepFolder(index)))",
         "for i in $(seq 1 \(shards)); do",
         "  until [ -f \"$step/shard-$i.done\" ]; do echo \"waiting for shard $i of \(shards)\"; sleep 15; done",
         "done"]
    }
}
