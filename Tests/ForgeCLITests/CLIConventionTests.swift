import Foundation
import XCTest

/// The conventions every `forge` command keeps, checked on the built binary: help on every
/// option, enum values rejected while parsing (usage, status 64), failures while running as one
/// line and status 1, and Ctrl-C as status 130 with the finished work kept.
final class CLIConventionTests: ForgeCommandTestCase {
    private struct Outcome {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs forge to the end; standard output and error go to files (no pipe to fill up).
    private func run(_ arguments: [String]) throws -> Outcome {
        let name = UUID().uuidString.prefix(8)
        let process = try start(arguments, stdout: "\(name).out", stderr: "\(name).err")
        process.waitUntilExit()
        return Outcome(status: process.terminationStatus, stdout: read("\(name).out"), stderr: read("\(name).err"))
    }

    /// Walks the whole command tree as swift-argument-parser describes it (`--experimental-dump-help`).
    func testEveryOptionOfEveryCommandHasHelp() throws {
        let dump = try run(["--experimental-dump-help"])
        XCTAssertEqual(dump.status, 0, dump.stderr)
        let root = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(dump.stdout.utf8)) as? [String: Any])
        var missing: [String] = []
        var commands = 0, options = 0
        func walk(_ command: [String: Any], path: [String]) {
            commands += 1
            let path = path + [command["commandName"] as? String ?? "?"]
            if (command["abstract"] as? String ?? "").isEmpty { missing.append(path.joined(separator: " ") + " (the command)") }
            for argument in command["arguments"] as? [[String: Any]] ?? [] {
                options += 1
                let names = (argument["names"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
                let label = names.first ?? argument["valueName"] as? String ?? "?"
                if (argument["abstract"] as? String ?? "").trimmingCharacters(in: .whitespaces).isEmpty {
                    missing.append(path.joined(separator: " ") + " --" + label)
                }
            }
            // `forge help` is swift-argument-parser's own command, not Forge's.
            for sub in command["subcommands"] as? [[String: Any]] ?? [] where sub["commandName"] as? String != "help" {
                walk(sub, path: path)
            }
        }
        walk(try XCTUnwrap(root["command"] as? [String: Any]), path: [])
        XCTAssertGreaterThan(commands, 25, "the whole tree was walked")
        XCTAssertGreaterThan(options, 300)
        XCTAssertEqual(missing, [], "options without help")
    }

    func testVersionIsOneLineNamingForge() throws {
        let version = try run(["--version"])
        XCTAssertEqual(version.status, 0)
        XCTAssertEqual(version.stdout.split(separator: "\n").count, 1, version.stdout)
        XCTAssertTrue(version.stdout.hasPrefix("forge "), version.stdout)
    }

    /// `--help` and `forge help` at every level print swift-argument-parser's help, several lines,
    /// on standard output, and exit 0 (the one-line runtime-error path must not swallow them).
    func testHelpIsPrintedWholeAndExits0() throws {
        for arguments in [["--help"], ["help"], ["train", "sft", "--help"], ["help", "mine"], ["-h"]] {
            let outcome = try run(arguments)
            let command = arguments.joined(separator: " ")
            XCTAssertEqual(outcome.status, 0, "\(command): \(outcome.stderr)")
            XCTAssertTrue(outcome.stdout.contains("USAGE: forge"), "\(command): \(outcome.stdout)")
            XCTAssertGreaterThan(outcome.stdout.split(separator: "\n").count, 5, command)
            XCTAssertFalse(outcome.stderr.contains("Error"), "\(command): \(outcome.stderr)")
        }
    }

    /// Failures found while running print `Error: …` on one line naming the culprit, no usage,
    /// and exit 1 — not 64, which means a usage mistake.
    func testRuntimeFailuresAreOneLineAndStatus1() throws {
        let cases: [(arguments: [String], culprit: String)] = [
            (["report", "--db", "missing.db"], "missing.db"),
            (["tasks", "show", "nope-1", "--db", "empty.db"], "nope-1"),
            (["eval", "--predictions", "gold", "--db", "empty.db", "--no-sandbox", "--workspace", "ws"], "empty.db"),
            (["eval", "--predictions", "absent.jsonl", "--db", "empty.db", "--no-sandbox", "--workspace", "ws"], "absent.jsonl"),
            (["validate", "--clone", "no-such-clone", "--db", "empty.db", "--no-sandbox", "--workspace", "ws"], "no-such-clone"),
            (["mine", "no-such-clone", "--db", "mined.db"], "no-such-clone"),
            (["tokenizer", "train", "--corpus", "no-such-folder", "--vocab-size", "300", "--out", "t.json"], "no-such-folder"),
        ]
        for (arguments, culprit) in cases {
            let outcome = try run(arguments)
            let command = arguments.prefix(2).joined(separator: " ")
            XCTAssertEqual(outcome.status, 1, "\(command): \(outcome.stderr)")
            let lines = outcome.stderr.split(separator: "\n")
            XCTAssertEqual(lines.count, 1, "\(command): \(outcome.stderr)")
            XCTAssertTrue(lines.first?.hasPrefix("Error: ") ?? false, "\(command): \(outcome.stderr)")
            XCTAssertTrue(outcome.stderr.contains(culprit), "\(command) names \(culprit): \(outcome.stderr)")
            XCTAssertFalse(outcome.stderr.contains("Usage:"), "\(command): \(outcome.stderr)")
        }
    }

    /// Enum options are typed: a bad value is a usage mistake found while parsing (status 64,
    /// nothing run), and the message names the value and the ones allowed.
    func testEnumOptionsRejectBadValuesWhileParsing() throws {
        let cases: [(arguments: [String], bad: String, allowed: String)] = [
            (["eval", "--predictions", "gold", "--layout", "bogus"], "bogus", "swebench"),
            (["export", "--id-format", "bogus"], "bogus", "junit"),
            (["export", "--format", "bogus"], "bogus", "jsonl"),
            (["tokenizer", "train", "--corpus", ".", "--vocab-size", "300", "--out", "t.json", "--pattern", "bogus"], "bogus", "cl100k"),
            (["train", "sparse", "--from", "a", "--out", "b", "--attention", "bogus"], "bogus", "dense"),
            (["train", "sft", "--from", "a", "--out", "b", "--context-mode", "bogus"], "bogus", "bm25"),
            (["agent", "solve", "--model", "a", "--out", "b", "--context-mode", "bogus"], "bogus", "oracle"),
            (["synth", "--repo", "a/b", "--clone", "c", "--strategies", "mutation,bogus"], "bogus", "pr_mirror"),
            (["eval", "--predictions", "gold", "--shard", "4/3"], "4/3", "--shard"),
            (["cluster", "plan", "--engine", "bogus", "validate --clone c"], "bogus", "slurm"),
        ]
        for (arguments, bad, allowed) in cases {
            let outcome = try run(arguments + (arguments[0] == "tokenizer" || arguments[0] == "cluster" ? [] : ["--db", "never.db"]))
            let command = arguments.prefix(2).joined(separator: " ")
            XCTAssertEqual(outcome.status, 64, "\(command): \(outcome.stderr)")
            XCTAssertTrue(outcome.stderr.contains(bad), "\(command) names the bad value: \(outcome.stderr)")
            XCTAssertTrue(outcome.stderr.contains(allowed), "\(command) names what is allowed (\(allowed)): \(outcome.stderr)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory + "/never.db"), "nothing ran")
    }

    /// `forge eval` stopped by Ctrl-C finishes the predictions in flight, keeps them, prints
    /// what it scored and exits 130; the same command resumes and skips what was kept.
    func testInterruptedEvalExits130AndTheSameCommandResumes() throws {
        XCTAssertEqual(try run(["sample", "create", "sample"]).status, 0)
        XCTAssertEqual(try run(["mine", "sample/textkit", "--repo", "forge-sample/textkit", "--db", "t.db"]).status, 0)
        let validated = try run(["validate", "--db", "t.db", "--clone", "sample/textkit", "--reruns", "0", "--workspace", "ws"])
        XCTAssertEqual(validated.status, 0, validated.stderr)
        let evaluate = ["eval", "--predictions", "gold", "--db", "t.db", "--clone", "sample/textkit", "--jobs", "1",
                        "--layout", "forge", "--workspace", "ws"]
        let process = try start(evaluate, stdout: "eval.out", stderr: "eval.err")
        // Ctrl-C once the first prediction's run has started: that one is finished and kept.
        interrupt(process, onceFilesAppearIn: "ws/evals/gold")
        XCTAssertEqual(process.terminationStatus, 130, read("eval.err"))
        XCTAssertTrue(read("eval.err").contains("interrupted: finishing the predictions in flight"), read("eval.err"))
        XCTAssertTrue(read("eval.out").contains("interrupted: resume with the same command"), read("eval.out"))

        let resumed = try run(evaluate)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        // The summary's last column counts predictions resumed from an earlier run.
        let row = resumed.stdout.split(separator: "\n").first { $0.hasPrefix("gold ") }
        let kept = row.flatMap { Int($0.split(separator: " ").last ?? "") } ?? 0
        XCTAssertGreaterThanOrEqual(kept, 1, resumed.stdout)
    }
}
