import ArgumentParser
import Cluster
import Foundation

extension ClusterEngine: ExpressibleByArgument {}

struct ClusterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract: "Run batch steps on a cluster: write files for Slurm or Kubernetes.",
        subcommands: [Plan.self])

    struct Plan: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write ready-to-submit Slurm job arrays or Kubernetes Indexed Jobs for batch steps.",
            discussion: """
            Each STEP is one quoted string: a batch command (mine, validate, synth, eval) and its \
            usual flags, e.g. 'validate --clone /shared/clones/textkit --reruns 1'. The plan runs \
            each step as N array tasks, task i running `forge STEP --shard i/N --db \
            cluster/NAME/NN-STEP/shard-i.db --workspace WORKSPACE`, then a merge job that folds \
            the shard stores into --db and writes a report; the next step starts after that merge.

            slurm: NN-STEP.sbatch (the array), NN-STEP-merge.sbatch, submit.sh (sbatch with \
            --dependency=afterok: chaining). kubernetes: NN-STEP.yaml (an Indexed Job), \
            NN-STEP-merge.yaml, and a Dockerfile for Forge's image; apply them all at once.

            Everything lives under --shared, which every node must mount at the same path. A \
            failed or killed array task is resubmitted alone (sbatch --array=3 NN-STEP.sbatch); \
            it resumes from its shard store.
            """)

        @Option(help: "The scheduler to write for.")
        var engine: ClusterEngine

        @Argument(help: ArgumentHelp("Steps in order, each quoted: 'validate --clone PATH --reruns 1'.", valueName: "step"))
        var steps: [String]

        @Option(help: "Array tasks (shards) per step.")
        var shards: Int = 4

        @Option(help: "At most this many array tasks of a step at once (default: all).")
        var throttle: Int?

        @Option(help: ArgumentHelp("Folder every node mounts at the same path; the jobs run there (default: the current folder).", valueName: "path"))
        var shared: String?

        @Option(help: ArgumentHelp("Main task store, relative to --shared: steps read it, merges write it.", valueName: "path"))
        var db: String = "Workspace/forge.db"

        @Option(help: ArgumentHelp("Workspace (environments, uv cache, runs), relative to --shared; shared by all tasks.", valueName: "path"))
        var workspace: String = "Workspace"

        @Option(help: ArgumentHelp("The forge executable on the nodes.", valueName: "path"))
        var forge: String = "forge"

        @Option(help: ArgumentHelp("Plan name: job names and the cluster/NAME folder (lowercase, digits, '-').", valueName: "name"))
        var name: String = "forge"

        @Option(help: "CPUs per array task (pass the same number to the step's --jobs).")
        var cpus: Int = 2

        @Option(help: ArgumentHelp("Memory per array task: MiB, or 512M, 4G.", valueName: "size"))
        var memory: String = "4G"

        @Option(help: ArgumentHelp("Wall-clock limit per array task: minutes or [D-]HH:MM:SS.", valueName: "time"))
        var time: String = "04:00:00"

        @Option(help: "Slurm partition (default: the cluster's default).")
        var partition: String?

        @Option(help: ArgumentHelp("Kubernetes: the image holding forge (build it with the Dockerfile the plan writes).", valueName: "image"))
        var image: String = "forge:latest"

        @Option(help: "Kubernetes: namespace of the Jobs (default: kubectl's).")
        var namespace: String?

        @Option(help: ArgumentHelp("Kubernetes: ReadWriteMany PersistentVolumeClaim mounted at --shared.", valueName: "name"))
        var claim: String = "forge-workspace"

        @Flag(help: "Kubernetes: unprivileged pods (bubblewrap then usually cannot run: give the steps --no-sandbox).")
        var unprivileged = false

        @Option(help: ArgumentHelp("Folder to write the files to.", valueName: "path"))
        var out: String = "cluster-plan"

        func validate() throws {
            _ = try plan()
        }

        /// The plan, with each step's flags checked by the step's own parser.
        func plan() throws -> ClusterPlan {
            do {
                let parsedSteps = try steps.map(ClusterStep.init(parsing:))
                for step in parsedSteps {
                    let probe = [step.kind.rawValue] + step.arguments + ["--shard", "1/\(max(shards, 1))", "--db", "probe.db"]
                    do { _ = try Forge.parseAsRoot(probe) } catch {
                        throw ValidationError("step '\(ShellWords.join([step.kind.rawValue] + step.arguments))': \(Forge.message(for: error))")
                    }
                }
                let resources = ClusterResources(cpus: cpus, memoryMiB: try ClusterResources.parseMemory(memory),
                                                 timeLimitSeconds: try ClusterResources.parseTime(time), partition: partition)
                let sharedDirectory = shared.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
                    ?? FileManager.default.currentDirectoryPath
                return try ClusterPlan(engine: engine, steps: parsedSteps, shards: shards, throttle: throttle,
                                       resources: resources, sharedDirectory: sharedDirectory, store: db,
                                       workspace: workspace, forge: forge, name: name,
                                       kubernetes: KubernetesOptions(image: image, namespace: namespace, claim: claim,
                                                                     privileged: !unprivileged))
            } catch let error as ClusterPlanError {
                throw ValidationError(error.description)
            }
        }

        func run() throws {
            let paths: [String]
            do { paths = try plan().write(to: out) } catch let error as ClusterPlanError {
                throw CommandFailure(error.description)
            }
            for path in paths { print(path) }
            let next = engine == .slurm ? "then: \(out)/submit.sh" : "then: build the image (docker build -f \(out)/Dockerfile .) and kubectl apply -f \(out)"
            FileHandle.standardError.write(Data("wrote \(paths.count) file(s); \(next)\n".utf8))
        }
    }
}
