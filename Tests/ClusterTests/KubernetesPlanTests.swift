import Foundation
import XCTest

/// The Kubernetes plan against the Kubernetes API's own models (the official Python client), then
/// run for real: every Indexed Job's init and main commands locally with `JOB_COMPLETION_INDEX`
/// set, the merge Job's after them, and the result compared with one unsharded `forge validate`.
final class KubernetesPlanTests: XCTestCase {
    /// Reads each manifest strictly into `V1Job` (unknown fields, wrong types and missing required
    /// fields fail) and prints, per Job, what the local run needs.
    static let checker = #"""
    import json, sys, yaml
    from kubernetes import client
    from kubernetes.client import ApiClient

    PRIMITIVES = {"str": str, "int": int, "bool": bool, "float": (int, float)}

    def check(data, klass, path):
        if klass.startswith("list["):
            assert isinstance(data, list), f"{path}: expected a list"
            for index, item in enumerate(data):
                check(item, klass[5:-1], f"{path}[{index}]")
        elif klass.startswith("dict("):
            assert isinstance(data, dict), f"{path}: expected a mapping"
            inner = klass[klass.index(",") + 1:-1].strip()
            for key, value in data.items():
                check(value, inner, f"{path}.{key}")
        elif klass in PRIMITIVES:
            ok = isinstance(data, PRIMITIVES[klass]) and (klass == "bool" or not isinstance(data, bool))
            assert ok, f"{path}: expected {klass}, got {data!r}"
        elif klass in ("object", "datetime", "date"):
            pass
        else:
            model = getattr(client.models, klass)
            assert isinstance(data, dict), f"{path}: expected an object ({klass})"
            fields = {json_name: name for name, json_name in model.attribute_map.items()}
            for key, value in data.items():
                assert key in fields, f"{path}: unknown field '{key}' in {klass}"
                check(value, model.openapi_types[fields[key]], f"{path}.{key}")

    api = ApiClient()
    jobs = []
    for path in sys.argv[1:]:
        documents = [d for d in yaml.safe_load_all(open(path)) if d is not None]
        assert len(documents) == 1, f"{path}: expected one document"
        check(documents[0], "V1Job", path)
        # The client's own deserializer checks required fields (container names, the pod spec's containers).
        job = api._ApiClient__deserialize(documents[0], "V1Job")
        assert job.api_version == "batch/v1" and job.kind == "Job", path
        pod = job.spec.template.spec
        jobs.append({
            "file": path, "name": job.metadata.name,
            "completionMode": job.spec.completion_mode, "completions": job.spec.completions,
            "parallelism": job.spec.parallelism, "restartPolicy": pod.restart_policy,
            "claim": pod.volumes[0].persistent_volume_claim.claim_name,
            "mountPath": pod.containers[0].volume_mounts[0].mount_path,
            "init": [c.command for c in pod.init_containers], "main": [c.command for c in pod.containers],
            "cpu": pod.containers[0].resources.requests["cpu"],
        })
    print(json.dumps(jobs))
    """#

    func testManifestsAreValidJobsAndTheirCommandsReproduceOneValidateRun() throws {
        let python = try ClusterSupport.kubernetesPython.get()
        let mined = try ClusterSupport.sample.get().mined
        let baseline = try ClusterSupport.baseline.get()
        let shared = ClusterSupport.base + "/k8s-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: shared + "/Workspace", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: mined, toPath: shared + "/Workspace/forge.db")
        // The baseline's workspace: its environment is warm, and sharing it is what a cluster does.
        try ClusterSupport.forge(["cluster", "plan", "--engine", "kubernetes", "--shards", "3", "--throttle", "2",
                                  "--shared", shared, "--workspace", ClusterSupport.base + "/baseline-ws",
                                  "--forge", ClusterSupport.forge, "--claim", "forge-ws", "--cpus", "1",
                                  "--out", shared + "/plan", try ClusterSupport.validateStep], in: shared)
        let manifests = ["01-validate.yaml", "01-validate-merge.yaml"].map { shared + "/plan/" + $0 }
        try Self.checker.write(toFile: shared + "/check.py", atomically: true, encoding: .utf8)
        let checked = try ClusterSupport.run(python, [shared + "/check.py"] + manifests)
        XCTAssertEqual(checked.status, 0, checked.output)
        let jobs = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data((checked.output.split(separator: "\n").last ?? "").utf8)) as? [[String: Any]])
        XCTAssertEqual(jobs.count, 2)
        let array = jobs[0], merge = jobs[1]
        XCTAssertEqual(array["name"] as? String, "forge-01-validate")
        XCTAssertEqual(array["completionMode"] as? String, "Indexed")
        XCTAssertEqual(array["completions"] as? Int, 3)
        XCTAssertEqual(array["parallelism"] as? Int, 2)
        XCTAssertEqual(array["restartPolicy"] as? String, "Never")
        XCTAssertEqual(array["claim"] as? String, "forge-ws")
        XCTAssertEqual(array["mountPath"] as? String, shared)
        XCTAssertEqual(array["cpu"] as? String, "1")
        XCTAssertEqual(merge["name"] as? String, "forge-01-validate-merge")
        XCTAssertNil(merge["completionMode"] as? String)
        XCTAssertTrue(FileManager.default.fileExists(atPath: shared + "/plan/Dockerfile"))

        // Each pod as Kubernetes would run it: init container, then the main one, index by index.
        func runPod(_ job: [String: Any], index: Int?) throws {
            for key in ["init", "main"] {
                for command in try XCTUnwrap(job[key] as? [[String]]) {
                    let result = try ClusterSupport.run(command[0], Array(command.dropFirst()), in: shared,
                                                        environment: index.map { ["JOB_COMPLETION_INDEX": "\($0)"] } ?? [:])
                    XCTAssertEqual(result.status, 0, "\(job["name"] ?? "") \(key) index \(index ?? 0): \(result.output.suffix(2000))")
                }
            }
        }
        for index in 0..<3 { try runPod(array, index: index) }
        try runPod(merge, index: nil)

        for shard in 1...3 {
            XCTAssertTrue(FileManager.default.fileExists(atPath: shared + "/cluster/forge/01-validate/shard-\(shard).db"))
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: shared + "/cluster/forge/01-validate/report.html"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: shared + "/cluster/forge/01-validate/merged"))
        XCTAssertEqual(try ClusterSupport.outcomes(shared + "/Workspace/forge.db"), try ClusterSupport.outcomes(baseline))
    }
}
