/// `sbatch` scripts: per step a job array (`--array=1-N%throttle`, task `$SLURM_ARRAY_TASK_ID`
/// runs shard `i/N` into its own store, one log per task) and a merge job, chained by
/// `submit.sh` with `--dependency=afterok:` so that a merge starts only when every array task of
/// its step exited 0, and the next step only after that merge.
struct SlurmScripts {
    let plan: ClusterPlan

    func files() -> [PlanFile] {
        var files: [PlanFile] = []
        for index in plan.steps.indices {
            files.append(PlanFile(name: plan.stepName(index) + ".sbatch", contents: arrayScript(index), executable: true))
            files.append(PlanFile(name: plan.stepName(index) + "-merge.sbatch", contents: mergeScript(index), executable: true))
        }
        files.append(PlanFile(name: "submit.sh", contents: submitScript(), executable: true))
        return files
    }

    private func header(jobName: String, output: String, cpus: Int) -> [String] {
        var lines = ["#!/bin/bash",
                     "#SBATCH --job-name=\(jobName)",
                     "#SBATCH --chdir=\(plan.sharedDirectory)",
                     "#SBATCH --output=\(plan.sharedDirectory)/\(plan.logFolder)/\(output)",
                     "#SBATCH --cpus-per-task=\(cpus)",
                     "#SBATCH --mem=\(plan.resources.memoryMiB)M",
                     "#SBATCH --time=\(plan.resources.slurmTime)"]
        if let partition = plan.resources.partition { lines.append("#SBATCH --partition=\(partition)") }
        return lines
    }

    private func arrayScript(_ index: Int) -> String {
        let step = plan.stepName(index)
        let throttle = plan.throttle.map { "%\($0)" } ?? ""
        let lines = header(jobName: "\(plan.name)-\(step)", output: "\(step)-%A_%a.out", cpus: plan.resources.cpus)
            + ["#SBATCH --array=1-\(plan.shards)\(throttle)",
               "# Array task i runs shard i/\(plan.shards) into its own store. Resubmitting a task",
               "# (sbatch --array=3 \(step).sbatch) resumes it: what its store holds is not done again.",
               "i=\"${SLURM_ARRAY_TASK_ID:?run this script with sbatch --array}\""]
            + plan.shardScript(index)
        return lines.joined(separator: "\n") + "\n"
    }

    private func mergeScript(_ index: Int) -> String {
        let step = plan.stepName(index)
        // Merging reads every shard and writes one store: one CPU is plenty.
        let lines = header(jobName: "\(plan.name)-\(step)-merge", output: "\(step)-merge-%j.out", cpus: 1)
            + ["# Submitted by submit.sh with --dependency=afterok:<the \(step) array>."]
            + plan.mergeScript(index)
        return lines.joined(separator: "\n") + "\n"
    }

    private func submitScript() -> String {
        var lines = ["#!/bin/bash",
                     "# Submits every step's array, then its merge once all array tasks succeeded, in order.",
                     "set -euo pipefail",
                     "cd \"$(dirname \"$0\")\"",
                     "mkdir -p \(ShellWords.quote(plan.sharedDirectory + "/" + plan.logFolder))",
                     "# --parsable prints 'jobid' or 'jobid;cluster'.",
                     "submit() { local id; id=$(sbatch --parsable \"$@\"); echo \"${id%%;*}\"; }",
                     "after=()"]
        for index in plan.steps.indices {
            let step = plan.stepName(index)
            lines += ["array=$(submit \"${after[@]}\" \(step).sbatch)",
                      "merge=$(submit --dependency=afterok:\"$array\" \(step)-merge.sbatch)",
                      "echo \"\(step): array $array, merge $merge\"",
                      "after=(--dependency=afterok:\"$merge\")"]
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
