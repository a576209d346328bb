import AgentSandbox
import Environments
import Evaluation
import Foundation
import Git
import Mining
import Sample
import Store
import Validation

/// The embedded sample created, mined and validated (every task, in the sandbox): a clone, a
/// store whose valid tasks carry FAIL_TO_PASS/PASS_TO_PASS, and the warm environments validation
/// built, so that every evaluation afterwards runs in them. `shared()` is made once per test
/// process and used by every test target that needs the validated sample.
public final class ValidatedSample: Sendable {
    /// `<tmp>/forge-sample-tests-<uid>`: the uv cache in it is kept between test runs (everything
    /// the builders write lives under this one folder, bound as one mount in the install sandbox,
    /// so uv can hard-link from its cache). Each process works in `roots/<pid>-…`; the roots of
    /// processes that are gone are removed, so concurrent test processes never clear each other's.
    public static let base: URL = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("forge-sample-tests-\(getuid())")
        let roots = url.appendingPathComponent("roots")
        try? FileManager.default.createDirectory(at: roots, withIntermediateDirectories: true)
        for name in (try? FileManager.default.contentsOfDirectory(atPath: roots.path)) ?? [] {
            if let pid = Int32(name.split(separator: "-").first ?? ""), kill(pid, 0) == 0 || errno == EPERM { continue }
            try? FileManager.default.removeItem(at: roots.appendingPathComponent(name))
        }
        return url
    }()

    private static let made = Result { try ValidatedSample(label: "shared") }

    /// The process's validated sample, from synchronous tests.
    public static func shared() throws -> ValidatedSample { try made.get() }

    /// The process's validated sample, from async tests: the first call mines and validates on
    /// a Dispatch thread, off the cooperative threads.
    public static func shared() async throws -> ValidatedSample { try await onThread { try made.get() } }

    public let root: URL
    public let clone: String
    public let databasePath: String
    public let store: TaskStore
    public let builder: EnvironmentBuilder
    public let validation: ValidationSummary
    /// Every mined task (valid or not), as validation left them.
    public let allTasks: [TaskRecord]
    /// Valid tasks, by instance id.
    public let tasks: [String: TaskRecord]

    /// A sample of its own in a fresh root (`shared()` is the one to use unless the tests add to
    /// its store); blocks while it mines and validates.
    public init(label: String) throws {
        root = Self.base.appendingPathComponent("roots").appendingPathComponent("\(getpid())-\(label)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let created = try SampleRepository.createSynchronously(in: root.path)
        clone = created.repository
        databasePath = root.appendingPathComponent("forge.db").path
        store = try TaskStore(path: databasePath)
        let mined = try Miner(repository: try Repository.open(clone), repo: SampleRepository.repoName)
            .mine(metadata: try Metadata.load(contentsOf: created.metadata))
        try store.save(tasks: mined.tasks)
        builder = Self.builder(root: root.appendingPathComponent("envs"), recipes: try RecipeBook(directory: RecipeBook.bundledDirectory()))
        let validator = Validator(repository: try Repository.open(clone), environments: builder,
                                  options: ValidationOptions(reruns: 0, jobs: 2, useSandbox: true,
                                                             runsDirectory: root.appendingPathComponent("runs").path))
        validation = try BatchValidation.run(tasks: try store.tasks(), validator: validator, store: store)
        allTasks = try store.tasks()
        tasks = Dictionary(uniqueKeysWithValues: allTasks.filter(\.isEvaluable).map { ($0.instanceID, $0) })
    }

    /// An environment builder sharing the kept uv cache.
    public static func builder(root: URL, recipes: RecipeBook) -> EnvironmentBuilder {
        EnvironmentBuilder(root: root, recipes: recipes, options: .init(uvCacheDirectory: base.appendingPathComponent("uv-cache")))
    }

    /// A builder, in a fresh folder, whose recipe for the sample wants a Python nobody has: every
    /// build fails, an infrastructure error rather than a wrong patch.
    public func unbuildableEnvironments() throws -> EnvironmentBuilder {
        let folder = root.appendingPathComponent("broken-\(UUID().uuidString.prefix(6))")
        let recipes = folder.appendingPathComponent("recipes")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: RecipeBook.bundledDirectory(), to: recipes)
        try "repo: \(SampleRepository.repoName)\ninterpreter:\n  requires: \">=3.99\"\n"
            .write(to: recipes.appendingPathComponent("repos/forge-sample__textkit.yaml"), atomically: true, encoding: .utf8)
        return Self.builder(root: folder.appendingPathComponent("envs"), recipes: try RecipeBook(directory: recipes))
    }

    /// The valid task of pull request `number`.
    public func task(_ number: Int) -> TaskRecord { validTask(number)! }

    /// The task of pull request `number` if validation found it valid.
    public func validTask(_ number: Int) -> TaskRecord? {
        tasks[TaskRecord.instanceID(repo: SampleRepository.repoName, pullNumber: number)]
    }

    /// An agent sandbox host over the sample, its folders fresh.
    public func makeHost(options: AgentSandboxOptions = AgentSandboxOptions(outputCap: 64 << 10, maxActionTimeout: 60)) throws -> SandboxHost {
        let name = String(UUID().uuidString.prefix(6))
        return try SandboxHost(root: root.appendingPathComponent("sandboxes-\(name)").path, store: store,
                               clones: [SampleRepository.repoName: clone], environments: builder,
                               evaluationsDirectory: root.appendingPathComponent("sandbox-evals-\(name)").path, options: options)
    }

    /// An evaluator over the shared environments, writing under the sample's `evals` folder.
    public func evaluator(runID: String, jobs: Int = 2, timeout: Double? = nil, environments: EnvironmentBuilder? = nil) throws -> Evaluator {
        try Evaluator(clones: [SampleRepository.repoName: clone], environments: environments ?? builder,
                      options: EvaluationOptions(runID: runID, evaluationsDirectory: root.appendingPathComponent("evals").path,
                                                 jobs: jobs, useSandbox: true, timeout: timeout))
    }

    /// A diff of the edits `edit` makes to a checkout of the task's base, binary files included,
    /// made with the git CLI as a model's tool would. `first` (a patch, such as the gold one) is
    /// applied before the edits: part of the diff when `firstInDiff`, else committed, so the diff
    /// starts from it.
    public func makePatch(_ task: TaskRecord, first: String? = nil, firstInDiff: Bool = true, edit: (URL) throws -> Void) throws -> String {
        let work = root.appendingPathComponent("patches").appendingPathComponent(UUID().uuidString)
        defer { try? FileManager.default.removeItem(at: work) }
        try git(["clone", "-q", "--no-checkout", clone, work.path], in: root)
        try git(["checkout", "-q", task.baseCommit], in: work)
        if let first {
            let file = work.appendingPathComponent(".first.diff")
            try first.write(to: file, atomically: true, encoding: .utf8)
            try git(["apply", file.path], in: work)
            try FileManager.default.removeItem(at: file)
            if !firstInDiff {
                try git(["add", "-A"], in: work)
                try git(["-c", "user.name=a", "-c", "user.email=a@b", "commit", "-qm", "first"], in: work)
            }
        }
        try edit(work)
        try git(["add", "-A"], in: work)
        return try git(["diff", "--cached", "--binary", "HEAD"], in: work)
    }

    /// git with no user or system configuration, `HOME` in the sample's root.
    @discardableResult
    public func git(_ arguments: [String], in directory: URL) throws -> String {
        try SampleFixtures.git(arguments, in: directory, home: root)
    }
}
