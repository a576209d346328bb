// swift-tools-version: 6.1
// Forge: repositories → verified training tasks → a small code agent trained on them.
// One module per pipeline stage: Git → Mining → Store → Environments/Sandbox → TestReports →
// Validation, and Tensor → Model beside them. The `forge` executable only parses and prints.
import PackageDescription

let package = Package(
    name: "Forge",
    products: [
        .executable(name: "forge", targets: ["forge"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        // The reward server (`forge serve`). swift-configuration support is left out: nothing uses it.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0", traits: ["FullFoundation"]),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.0.0"),
    ],
    targets: [
        // C libraries: headers and link lines only.
        .systemLibrary(name: "CGit2", pkgConfig: "libgit2",
                       providers: [.apt(["libgit2-dev"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        // C's stdio globals, which Swift 6 cannot touch without a data-race error.
        .target(name: "CStdio"),

        // Stage 1: mine merged pull requests into tasks.
        .target(name: "Git", dependencies: ["CGit2"]),
        .target(name: "Mining", dependencies: ["Basics", "Git", "Store", "PathRules", "Workers"]),
        .target(name: "Store", dependencies: ["Basics", .product(name: "GRDB", package: "GRDB.swift")]),
        // Which paths a patch touches (read as `git apply` reads it) and which are tests or test
        // infrastructure: the one set of rules mining, validation, synthesis and scoring share.
        .target(name: "PathRules"),

        // The one `--jobs` worker pool and the one cancellation signal, used by every stage.
        .target(name: "Workers"),

        // Stage 2: environments, sandboxed test runs, per-test results, validation.
        .target(name: "Sandbox", dependencies: ["Workers"]),
        // Reads test runners' output files through Sandbox's `SafeFile`: sandboxed code wrote them.
        .target(name: "TestReports", dependencies: ["Sandbox"]),
        .target(name: "Environments", dependencies: ["Sandbox", "Store", .product(name: "Yams", package: "Yams")],
                plugins: ["EmbedFiles"]),
        .target(name: "Validation", dependencies: ["Workers", "Environments", "Sandbox", "TestReports", "Git", "Store", "PathRules"]),
        // Scoring model predictions (SWE-bench prediction files) with the validator's machinery.
        .target(name: "Evaluation", dependencies: ["Basics", "Workers", "Validation", "Environments", "Sandbox", "TestReports", "Git", "Store", "PathRules"]),
        .target(name: "Reports", dependencies: ["Store"]),
        // Task synthesis: mutants (Python `ast` via a shipped helper, Swift tokens), combinations
        // and reverted PRs, tried with call-map test selection and kept when tests catch them.
        .target(name: "Synthesis", dependencies: ["Workers", "Basics", "Validation", "Environments", "Sandbox", "TestReports", "Git", "Store", "PathRules"],
                exclude: ["forge_synth.py"], plugins: ["EmbedFiles"]),
        // The HTTP reward service for RL trainers: tasks, snapshots and `POST /score` over Evaluation.
        .target(name: "Serving", dependencies: ["Evaluation", "Environments", "Sandbox", "Store", "Git",
                                                 .product(name: "Hummingbird", package: "hummingbird"),
                                                 .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")],
                exclude: ["openapi.yaml"], plugins: ["EmbedFiles"]),
        // SWE-ReX-compatible agent sandboxes (`forge sandbox serve`): persistent bubblewrap shells over a task's workspace.
        // Its HTTP server shares Serving's API-key check; scoring is Evaluation's.
        .target(name: "AgentSandbox", dependencies: ["Serving", "Evaluation", "Validation", "Environments", "Sandbox", "Store", "Git",
                                                      .product(name: "Hummingbird", package: "hummingbird"),
                                                      .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")]),

        // Stage 3: the policy model.
        // Small deterministic building blocks several stages share: seedable generators with the same
        // stream on every platform (synthesis, sampling, tests) and a binary heap (history walks, BPE).
        .target(name: "Basics"),
        .target(name: "Tensor", dependencies: ["COpenBLAS"]),
        .target(name: "Model", dependencies: ["Tensor", "Basics"]),
        // Stage 4: training the policy on tasks — pretrain, DSA warm-up and sparse stages, SFT, GRPO.
        .target(name: "Training", dependencies: ["Model", "Basics", "Tensor", "Store", "Git", "Evaluation", "Environments", "Reports", "PathRules"]),

        // Past one machine: Slurm job arrays and Kubernetes Indexed Jobs over `--shard i/N` steps,
        // with a merge job per step. Writes files for existing schedulers; schedules nothing itself.
        .target(name: "Cluster", dependencies: [.product(name: "Yams", package: "Yams")]),

        // The stages wired together once (store, recipes, environment builder, sandbox, clones):
        // what `forge`'s commands call, so that they only parse flags and print.
        .target(name: "Pipeline", dependencies: ["Workers", "Mining", "Validation", "Evaluation", "Synthesis", "Environments", "Sandbox",
                                                 "Store", "Git"]),

        // Data files compiled into the modules that read them (recipes, helper scripts), so a
        // relocated binary needs nothing beside it.
        .executableTarget(name: "embed-files", path: "Sources/EmbedFilesTool"),
        .plugin(name: "EmbedFiles", capability: .buildTool(), dependencies: ["embed-files"], path: "Sources/EmbedFilesPlugin"),

        // The embedded sample project and the end-to-end demo.
        .target(name: "Sample", dependencies: [.product(name: "Subprocess", package: "swift-subprocess")]),

        .executableTarget(name: "forge", dependencies: [
            "CStdio", "Workers", "Git", "Mining", "Store", "Sandbox", "TestReports", "Environments", "Validation", "Evaluation",
            "Reports", "Tensor", "Model", "Training", "Sample", "Serving", "AgentSandbox", "Synthesis", "Cluster", "Pipeline",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // Benchmarks: `swift run -c release forge-bench <name>` prints Forge against a baseline.
        .executableTarget(name: "forge-bench", dependencies: [
            "Git", "Mining", "Store", "Evaluation", "Validation", "Sample", "Environments", "Model", "Basics", "Tensor", "AgentSandbox", "Synthesis",
            "Sandbox", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "Benchmarks/ForgeBench"),

        // Scratch git repositories built with the git CLI, for the Git and Mining tests.
        .target(name: "GitFixtures", path: "Tests/GitFixtures"),
        // The embedded sample mined and validated once per test process, loopback servers and
        // clients, and the process runner (the built `forge` included), for the tests that drive them.
        .target(name: "SampleFixtures", dependencies: ["Sample", "Mining", "Validation", "Evaluation", "Environments", "Store", "Git",
                                                       "Serving", "AgentSandbox"], path: "Tests/SampleFixtures"),
        .testTarget(name: "GitTests", dependencies: ["Git", "GitFixtures"]),
        .testTarget(name: "MiningTests", dependencies: ["Mining", "Git", "Store", "PathRules", "GitFixtures"]),
        .testTarget(name: "StoreTests", dependencies: ["Store", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "SandboxTests", dependencies: ["Sandbox", "Workers"]),
        .testTarget(name: "TestReportsTests", dependencies: ["TestReports", "Sandbox"]),
        .testTarget(name: "EnvironmentsTests", dependencies: ["Environments"]),
        .testTarget(name: "ValidationTests", dependencies: ["Validation", "Workers", "Sandbox", "Sample", "Mining", "Store"]),
        .testTarget(name: "EvaluationTests", dependencies: ["SampleFixtures", "Evaluation", "Validation", "Environments", "Sample", "Mining", "Store", "Git"]),
        .testTarget(name: "ServingTests", dependencies: ["SampleFixtures", "Serving", "Evaluation", "Validation", "Environments", "Sample", "Mining", "Store", "Git"]),
        .testTarget(name: "AgentSandboxTests", dependencies: ["SampleFixtures", "AgentSandbox", "Serving", "Validation", "Environments", "Sample", "Mining", "Store", "Git"]),
        .testTarget(name: "SynthesisTests", dependencies: ["SampleFixtures", "Synthesis", "Evaluation", "Validation", "Environments", "Sample", "Mining", "Store", "Git"]),
        .testTarget(name: "ReportsTests", dependencies: ["Reports", "Store"]),
        .testTarget(name: "SampleTests", dependencies: ["SampleFixtures", "Sample"]),
        .testTarget(name: "TensorTests", dependencies: ["Tensor", "Basics"]),
        // Models with O(1) weights, for the Model and Training tests.
        .target(name: "ModelFixtures", dependencies: ["Model", "Basics"], path: "Tests/ModelFixtures"),
        .testTarget(name: "ModelTests", dependencies: ["Model", "Basics", "Tensor", "ModelFixtures"]),
        .testTarget(name: "TrainingTests", dependencies: ["ModelFixtures", "Training", "Model", "Basics", "Tensor", "Store", "Git", "Evaluation", "Environments",
                                                          "Validation", "Sample", "Mining", "GitFixtures"]),
        .testTarget(name: "PipelineTests", dependencies: ["Pipeline", "Workers", "Git", "Store", "Validation", "Sandbox", "GitFixtures"]),
        .testTarget(name: "ForgeCLITests", dependencies: ["SampleFixtures", "forge"]),
        // Generated Slurm and Kubernetes plans run for real: a single-node Slurm, the Kubernetes
        // API models, Indexed Job commands run locally, concurrent validators on one workspace.
        .testTarget(name: "ClusterTests", dependencies: ["SampleFixtures", "Cluster", "forge", "Store", "Sample",
                                                        .product(name: "Yams", package: "Yams")]),
        // Attacks on confinement and scoring, driven through Forge's own entry points.
        .testTarget(name: "AdversarialTests", dependencies: ["SampleFixtures", "forge", "AgentSandbox", "Serving", "Evaluation", "Validation", "Environments",
                                                             "Sandbox", "TestReports", "Sample", "Mining", "Store", "Git", "PathRules"]),
    ],
    swiftLanguageModes: [.v6]
)

// Migration to Swift 6 language mode, leaf modules first: these targets still build in Swift 5 mode.
let swift5Targets: Set<String> = []
for target in package.targets where swift5Targets.contains(target.name) {
    target.swiftSettings = (target.swiftSettings ?? []) + [.swiftLanguageMode(.v5)]
}
