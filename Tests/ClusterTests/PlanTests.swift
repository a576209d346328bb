import Cluster
import Foundation
import XCTest

/// What `forge cluster plan` writes and refuses, without running it (the engine tests run it).
final class PlanTests: XCTestCase {
    private var folder: String!

    override func setUpWithError() throws {
        folder = ClusterSupport.base + "/plan-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    func testChainedStepsWaitForTheMergeBeforeThem() throws {
        try ClusterSupport.forge(["cluster", "plan", "--engine", "slurm", "--shards", "8", "--throttle", "3", "--shared", "/data/forge",
                                  "--partition", "cpu", "--time", "1-00:00:00", "--out", "p",
                                  "validate --clone '/data/clones/my repo' --jobs 2", "synth --repo a/b --clone /data/clones/b",
                                  "eval --predictions gold --clone /data/clones/b --run-id gold"], in: folder)
        let array = try String(contentsOfFile: folder + "/p/01-validate.sbatch", encoding: .utf8)
        XCTAssertTrue(array.contains("#SBATCH --array=1-8%3\n"), array)
        XCTAssertTrue(array.contains("#SBATCH --partition=cpu\n"), array)
        XCTAssertTrue(array.contains("#SBATCH --time=1-00:00:00\n"), array)
        XCTAssertTrue(array.contains("#SBATCH --output=/data/forge/cluster/forge/logs/01-validate-%A_%a.out\n"), array)
        XCTAssertTrue(array.contains("forge validate --clone '/data/clones/my repo' --jobs 2 --shard \"$i/8\" --db \"$shard_db\" --workspace Workspace"), array)
        let evalMerge = try String(contentsOfFile: folder + "/p/03-eval-merge.sbatch", encoding: .utf8)
        XCTAssertTrue(evalMerge.contains("--kind eval:gold"), evalMerge)
        let submit = try String(contentsOfFile: folder + "/p/submit.sh", encoding: .utf8)
        // Each merge after its array, each later array after the merge before it.
        XCTAssertTrue(submit.contains("""
            array=$(submit "${after[@]}" 01-validate.sbatch)
            merge=$(submit --dependency=afterok:"$array" 01-validate-merge.sbatch)
            """), submit)
        XCTAssertTrue(submit.contains("""
            after=(--dependency=afterok:"$merge")
            array=$(submit "${after[@]}" 02-synth.sbatch)
            merge=$(submit --dependency=afterok:"$array" 02-synth-merge.sbatch)
            """), submit)
        let syntax = try ClusterSupport.run("/bin/bash", ["-n", folder + "/p/submit.sh", folder + "/p/01-validate.sbatch"])
        XCTAssertEqual(syntax.status, 0, syntax.output)

        try ClusterSupport.forge(["cluster", "plan", "--engine", "kubernetes", "--shared", "/data/forge", "--out", "k",
                                  "validate --clone /c", "synth --repo a/b --clone /c"], in: folder)
        let second = try String(contentsOfFile: folder + "/k/02-synth.yaml", encoding: .utf8)
        XCTAssertTrue(second.contains("until [ -f cluster/forge/01-validate/merged ]"), second)
    }

    func testBadPlansFailWithOneLineNamingTheCulprit() throws {
        let cases: [([String], String)] = [
            (["--engine", "pbs", "validate --clone x"], "'pbs' is invalid for '--engine <engine>'"),
            (["--engine", "slurm", "validate --clone x --shard 1/2"], "--shard is set by the plan"),
            (["--engine", "slurm", "validate --clone x --db=a.db"], "--db is set by the plan"),
            (["--engine", "slurm", "validate"], "step 'validate': Missing expected argument '--clone <path>'"),
            (["--engine", "slurm", "validate --clone x --jobs 0"], "--jobs must be at least 1"),
            (["--engine", "slurm", "valid --clone x"], "unknown step 'valid'"),
            (["--engine", "slurm", "validate --clone 'x"], "unclosed single quote"),
            (["--engine", "slurm", "eval --predictions p --clone x"], "eval needs --run-id"),
            (["--engine", "slurm", "--shards", "0", "validate --clone x"], "--shards: must be at least 1"),
            (["--engine", "slurm", "--memory", "lots", "validate --clone x"], "--memory: expected MiB"),
            (["--engine", "slurm", "--time", "1:xx", "validate --clone x"], "--time: expected minutes"),
            (["--engine", "slurm", "--shared", "/a b", "validate --clone x"], "--shared: must not contain spaces"),
            (["--engine", "kubernetes", "--name", "Forge_1", "validate --clone x"], "--name: lowercase letters"),
        ]
        for (arguments, message) in cases {
            let result = try ClusterSupport.run(ClusterSupport.forge, ["cluster", "plan", "--out", "bad"] + arguments, in: folder)
            XCTAssertNotEqual(result.status, 0, arguments.joined(separator: " "))
            XCTAssertTrue(result.output.contains(message), "\(arguments): \(result.output)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/bad"), "nothing written for a bad plan")
    }

    func testShellWordsRoundTrip() throws {
        let words = ["--clone", "/a b/c", "it's", "", "$HOME", "a\"b", "plain-1.2/x"]
        XCTAssertEqual(try ShellWords.split(ShellWords.join(words)), words)
        XCTAssertEqual(try ShellWords.split(#"a "b \" c" 'd e'\ f"#), ["a", #"b " c"#, "d e f"])
        XCTAssertEqual(try ClusterResources.parseTime("90"), 5400)
        XCTAssertEqual(try ClusterResources.parseTime("2-03:04:05"), 2 * 86400 + 3 * 3600 + 4 * 60 + 5)
        XCTAssertEqual(try ClusterResources.parseMemory("2G"), 2048)
    }

    /// The image installs what README's set-up line installs, and CI installs Slurm with its accounting
    /// (slurmdbd, MariaDB) for these tests.
    func testDockerfileAndCIInstallWhatTheyMust() throws {
        var root = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { root.deleteLastPathComponent() }
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let setup = try XCTUnwrap(readme.split(separator: "\n").first { $0.hasPrefix("apt-get update && apt-get install -y git") })
        let packages = setup.components(separatedBy: "apt-get install -y ")[1].components(separatedBy: " &&")[0].split(separator: " ")
        for package in packages { XCTAssertTrue(ContainerImage.dockerfile.contains(" \(package) "), "Dockerfile lacks \(package)") }
        let testLine = try XCTUnwrap(readme.split(separator: "\n").first { $0.contains("&& swift test") })
        let ci = try String(contentsOf: root.appendingPathComponent(".ci/run"), encoding: .utf8)
        for package in ["slurm-wlm", "slurmdbd", "munge", "mariadb-server-core", "mariadb-client-core"] {
            XCTAssertTrue(testLine.contains(" \(package) "), "README's test line lacks \(package)")
            XCTAssertTrue(ci.contains(" \(package) "), ".ci/run lacks \(package)")
        }
    }
}
