import Yams

/// Per step an Indexed Job (`completionMode: Indexed`; pod `JOB_COMPLETION_INDEX` k runs shard
/// k+1/N) and a merge Job, all mounting one ReadWriteMany claim at the shared directory.
/// Kubernetes has no dependencies between Jobs, so order comes from marker files on that volume:
/// each Job's init container waits for the previous step's `merged` marker (and seeds the shard
/// store), each merge Job's init container for every `shard-<i>.done`. All files can be applied
/// at once (`kubectl apply -f DIR`).
struct KubernetesManifests {
    let plan: ClusterPlan

    func files() -> [PlanFile] {
        var files: [PlanFile] = []
        for index in plan.steps.indices {
            files.append(PlanFile(name: plan.stepName(index) + ".yaml", contents: yaml(indexedJob(index)), executable: false))
            files.append(PlanFile(name: plan.stepName(index) + "-merge.yaml", contents: yaml(mergeJob(index)), executable: false))
        }
        files.append(PlanFile(name: "Dockerfile", contents: ContainerImage.dockerfile, executable: false))
        return files
    }

    // MARK: - The two Job shapes

    private func indexedJob(_ index: Int) -> Node {
        let shardIndex = "i=$((JOB_COMPLETION_INDEX + 1))"
        let pod = podSpec(initScript: [shardIndex] + plan.shardInitScript(index),
                          script: [shardIndex] + plan.shardRunScript(index),
                          cpus: plan.resources.cpus, memoryMiB: plan.resources.memoryMiB,
                          initName: index == 0 ? "seed" : "wait-and-seed")
        return job(name: "\(plan.name)-\(plan.stepName(index))", step: plan.stepName(index), spec: [
            ("completionMode", string("Indexed")),
            ("completions", int(plan.shards)),
            ("parallelism", int(min(plan.throttle ?? plan.shards, plan.shards))),
            // A pod that fails (a node lost, say) is retried; its shard store makes the retry a resume.
            ("backoffLimit", int(2 * plan.shards)),
            ("template", pod),
        ])
    }

    private func mergeJob(_ index: Int) -> Node {
        let pod = podSpec(initScript: plan.mergeWaitScript(index), script: plan.mergeScript(index),
                          cpus: 1, memoryMiB: plan.resources.memoryMiB, initName: "wait-for-shards")
        return job(name: "\(plan.name)-\(plan.stepName(index))-merge", step: plan.stepName(index), spec: [
            ("completions", int(1)),
            ("backoffLimit", int(2)),
            ("template", pod),
        ])
    }

    private func job(name: String, step: String, spec: [(String, Node)]) -> Node {
        var metadata: [(String, Node)] = [("name", string(name)),
                                          ("labels", map([("app.kubernetes.io/name", string("forge")),
                                                          ("forge/plan", string(plan.name)),
                                                          ("forge/step", string(step))]))]
        if let namespace = plan.kubernetes.namespace { metadata.append(("namespace", string(namespace))) }
        return map([("apiVersion", string("batch/v1")), ("kind", string("Job")),
                    ("metadata", map(metadata)), ("spec", map(spec))])
    }

    private func podSpec(initScript: [String], script: [String], cpus: Int, memoryMiB: Int, initName: String) -> Node {
        let mount = seq([map([("name", string("workspace")), ("mountPath", string(plan.sharedDirectory))])])
        let resources = map([("requests", map([("cpu", string("\(cpus)")), ("memory", string("\(memoryMiB)Mi"))])),
                             ("limits", map([("cpu", string("\(cpus)")), ("memory", string("\(memoryMiB)Mi"))]))])
        func container(_ name: String, _ lines: [String], _ resources: Node?) -> Node {
            var fields: [(String, Node)] = [("name", string(name)), ("image", string(plan.kubernetes.image)),
                                            ("command", seq([string("/bin/sh"), string("-c"), string(lines.joined(separator: "\n") + "\n")])),
                                            ("volumeMounts", mount)]
            if let resources { fields.append(("resources", resources)) }
            // bubblewrap needs to make namespaces; see KubernetesOptions.privileged.
            if plan.kubernetes.privileged { fields.append(("securityContext", map([("privileged", bool(true))]))) }
            return map(fields)
        }
        return map([("spec", map([
            ("restartPolicy", string("Never")),
            ("activeDeadlineSeconds", int(plan.resources.timeLimitSeconds)),
            ("volumes", seq([map([("name", string("workspace")),
                                  ("persistentVolumeClaim", map([("claimName", string(plan.kubernetes.claim))]))])])),
            ("initContainers", seq([container(initName, initScript, nil)])),
            ("containers", seq([container("forge", script, resources)])),
        ]))])
    }

    // MARK: - YAML

    private func yaml(_ node: Node) -> String {
        // Serializing a tree of plain strings, numbers and mappings cannot fail.
        (try? Yams.serialize(node: node, width: -1)) ?? ""
    }
    private func map(_ pairs: [(String, Node)]) -> Node { .mapping(.init(pairs.map { (string($0.0, quoted: false), $0.1) })) }
    private func seq(_ items: [Node]) -> Node { .sequence(.init(items)) }
    /// Strings are quoted (a cpu count "2" stays a string) unless they span lines (scripts: literal blocks).
    private func string(_ text: String, quoted: Bool = true) -> Node {
        .scalar(.init(text, .implicit, text.contains("\n") ? .literal : quoted ? .doubleQuoted : .plain))
    }
    private func int(_ value: Int) -> Node { .scalar(.init(String(value), .implicit, .plain)) }
    private func bool(_ value: Bool) -> Node { .scalar(.init(value ? "true" : "false", .implicit, .plain)) }
}
