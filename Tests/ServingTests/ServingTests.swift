import Environments
import Evaluation
import Foundation
import Sample
import SampleFixtures
import Store
import XCTest
@testable import Serving
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The real server on 127.0.0.1 (ephemeral ports) over the validated sample: real store, real
/// environments, real sandboxed pytest runs, driven over HTTP by URLSession.
final class ServingTests: XCTestCase {
    /// What a request should be answered with.
    private struct Case: Sendable {
        var name: String
        var instanceID: String
        var patch: String?
        var status: String
        var reward: Double?
        var f2pPassed: Int?
    }

    private func cases(_ sample: ValidatedSample) throws -> [Case] {
        var cases: [Case] = []
        for number in [1, 2, 3] {
            let task = sample.task(number)
            cases.append(Case(name: "gold-\(number)", instanceID: task.instanceID, patch: task.patch, status: "resolved", reward: 1,
                              f2pPassed: task.failToPass.count))
            cases.append(Case(name: "empty-\(number)", instanceID: task.instanceID, patch: number == 1 ? nil : "", status: "empty_patch",
                              reward: 0, f2pPassed: 0))
            // Touches the code but fixes nothing: FAIL_TO_PASS still fails.
            let file = try XCTUnwrap(PatchText.touchedPaths(task.patch).first)
            let noFix = try sample.makePatch(task) { try append("\n# looked at it\n", to: file, under: $0) }
            cases.append(Case(name: "no-fix-\(number)", instanceID: task.instanceID, patch: noFix, status: "unresolved", reward: 0, f2pPassed: 0))
        }
        let task = sample.task(3)
        // The fix plus a slip that breaks a PASS_TO_PASS test.
        let breaks = try sample.makePatch(task, first: task.patch) {
            try replace(#""h": 3600"#, with: #""h": 7200"#, in: "textkit/duration.py", under: $0)
        }
        cases.append(Case(name: "breaks-p2p", instanceID: task.instanceID, patch: breaks, status: "unresolved", reward: 0,
                          f2pPassed: task.failToPass.count))
        let garbled = "diff --git a/textkit/duration.py b/textkit/duration.py\n--- a/textkit/duration.py\n+++ b/textkit/duration.py\n"
            + "@@ -30,3 +30,3 @@ def nowhere():\n-    return totally_different\n+    return something_else\n # nothing like this exists\n"
        cases.append(Case(name: "garbled", instanceID: task.instanceID, patch: garbled, status: "patch_failed", reward: 0, f2pPassed: 0))
        return cases
    }

    /// 200 requests, 8 at a time: scores of every kind, interleaved with malformed (400),
    /// oversized (413), unknown (404) and unscorable (409) requests that must not disturb them.
    func testConcurrentScoringLoop() async throws {
        let sample = try await ValidatedSample.shared()
        let server = try await RunningServer.start(sample.configuration(workers: 2, queue: 32), sample: sample)
        let client = LoopbackClient(base: server.base)
        let cases = try cases(sample)
        let oversized = Data(("{\"instance_id\": \"\(cases[0].instanceID)\", \"model_patch\": \"" + String(repeating: "x", count: 300 << 10) + "\"}").utf8)
        let malformed: [Data] = [Data("{not json".utf8), Data("[1, 2]".utf8), Data(#"{"instance_id": 5, "model_patch": ""}"#.utf8),
                                 Data(#"{"instance_id": "x"}"#.utf8), Data(#"{"instance_id": "a", "model_patch": 3}"#.utf8)]
        let invalidTask = TaskRecord.instanceID(repo: SampleRepository.repoName, pullNumber: 6) // no FAIL_TO_PASS

        enum Expectation: Sendable { case score(Case), status(Int, String) }
        let total = 200
        let plan: [Expectation] = (0..<total).map { index in
            switch index % 20 {
            case 7: return .status(400, "malformed_body")
            case 13: return .status(413, "body_too_large")
            case 17: return index % 40 == 17 ? .status(404, "unknown_instance") : .status(409, "not_evaluable")
            default: return .score(cases[index % cases.count])
            }
        }
        let started = Date()
        var failures: [String] = []
        var answered = 0, fromStore = 0
        await withTaskGroup(of: (Int, Result<LoopbackClient.Answer, Error>).self) { group in
            var next = 0
            func launch(_ index: Int) {
                group.addTask {
                    do {
                        switch plan[index] {
                        case .score(let c): return (index, .success(try await client.score(c.instanceID, c.patch)))
                        case .status(400, _): return (index, .success(try await client.post("/score", body: malformed[index % malformed.count])))
                        case .status(413, _):
                            // Half ask for Connection: close, whose unread bodies the server must drain itself.
                            return (index, .success(try await client.post("/score", body: oversized, headers: index % 40 == 13 ? ["Connection": "close"] : [:])))
                        case .status(404, _): return (index, .success(try await client.score("nobody__nothing-1", "")))
                        default: return (index, .success(try await client.score(invalidTask, "")))
                        }
                    } catch {
                        return (index, .failure(error))
                    }
                }
            }
            while next < min(8, total) { launch(next); next += 1 }
            while let (index, outcome) = await group.next() {
                answered += 1
                if next < total { launch(next); next += 1 }
                guard case .success(let answer) = outcome else {
                    failures.append("#\(index) \(plan[index]): \(outcome)")
                    continue
                }
                switch plan[index] {
                case .status(let status, let code):
                    if answer.status != status || answer.errorCode != code { failures.append("#\(index): wanted \(status) \(code), got \(answer.status) \(answer.text.prefix(200))") }
                case .score(let c):
                    let json = answer.json
                    if json["cached"] as? Bool == true { fromStore += 1 }
                    let ok = answer.status == 200 && json["status"] as? String == c.status && json["reward"] as? Double == c.reward
                        && json["instance_id"] as? String == c.instanceID && (c.f2pPassed == nil || json["f2p_passed"] as? Int == c.f2pPassed)
                        && json["f2p_total"] as? Int == sample.tasks[c.instanceID]!.failToPass.count
                        && json["p2p_total"] as? Int == sample.tasks[c.instanceID]!.passToPass.count
                    if !ok { failures.append("#\(index) \(c.name): wanted \(c.status), got \(answer.status) \(answer.text.prefix(300))") }
                }
            }
        }
        let seconds = Date().timeIntervalSince(started)
        XCTAssertEqual(answered, total)
        XCTAssertEqual(failures, [], failures.prefix(5).joined(separator: "\n"))
        print("serving: \(total) requests, 8 concurrent, \(cases.count) distinct patches: \(String(format: "%.1f", seconds)) s, \(String(format: "%.1f", Double(total) / seconds)) requests/s; \(fromStore) answered from stored results")

        // Each distinct pair ran once (identical requests share runs or stored results).
        let metrics = try await client.get("/metrics").text
        let runs = cases.filter { $0.status != "empty_patch" }.count
        XCTAssertTrue(metrics.contains("forge_serve_evaluation_seconds_count \(runs + 3)\n"), metrics) // 3 empty patches run instantly
        XCTAssertTrue(metrics.contains(#"forge_serve_http_requests_total{code="413",route="POST /score"} 10"#), metrics)
        XCTAssertTrue(metrics.contains(#"forge_serve_http_requests_total{code="400",route="POST /score"} 10"#), metrics)
        XCTAssertTrue(metrics.contains("forge_serve_rejected_total 0\n"), metrics)
        XCTAssertTrue(metrics.contains("forge_serve_queue_depth 0\nforge_serve_in_flight 0\n") || metrics.contains("forge_serve_queue_depth 0\n"), metrics)
        XCTAssertTrue(metrics.contains(#"forge_serve_scored_total{source="run",status="resolved"} 3"#), metrics)

        // log_url serves the run's test log.
        let gold = try await client.score(cases[0].instanceID, cases[0].patch)
        XCTAssertEqual(gold.json["cached"] as? Bool, true)
        let log = try await client.get(try XCTUnwrap(gold.json["log_url"] as? String))
        XCTAssertEqual(log.status, 200)
        XCTAssertTrue(log.text.contains("passed"), log.text)
        let report = try await client.get(try XCTUnwrap(gold.json["report_url"] as? String))
        XCTAssertEqual((report.json[cases[0].instanceID] as? [String: Any])?["resolved"] as? Bool, true)
        let escape = try await client.get("/logs/patch-\(String(repeating: "0", count: 32))/..%2F..%2Fforge.db/report.json")
        XCTAssertEqual(escape.status, 404)
        await server.stop()
    }

    /// Many cheap requests on kept-alive connections, a third of them asking for
    /// `Connection: close` with oversized bodies: none may stall the ones after it.
    func testConnectionCloseAndOversizedBodiesDoNotStallOthers() async throws {
        let sample = try await ValidatedSample.shared()
        let server = try await RunningServer.start(sample.configuration(workers: 1, queue: 1, maxBody: 4096), sample: sample)
        let client = LoopbackClient(base: server.base, timeout: 10)
        let oversized = Data(String(repeating: "x", count: 20_000).utf8)
        let total = 600
        var wrong: [String] = []
        await withTaskGroup(of: (Int, Int?).self) { group in
            var next = 0
            func launch(_ index: Int) {
                group.addTask {
                    switch index % 3 {
                    case 0: return (index, try? await client.post("/score", body: oversized, headers: ["Connection": "close"]).status)
                    case 1: return (index, try? await client.score("nobody__nothing-\(index)", "").status)
                    default: return (index, try? await client.post("/score", body: oversized).status)
                    }
                }
            }
            while next < 8 { launch(next); next += 1 }
            while let (index, status) = await group.next() {
                if next < total { launch(next); next += 1 }
                if status != [413, 404, 413][index % 3] { wrong.append("#\(index): \(status.map(String.init) ?? "no answer")") }
            }
        }
        XCTAssertEqual(wrong, [], wrong.prefix(5).joined(separator: ", "))
        await server.stop()
    }

    /// One worker, one queue slot: a running slow patch and a waiting one fill the server, so a
    /// third is refused with 429 and Retry-After; the two accepted still score correctly.
    func testQueueOverflowAnswers429() async throws {
        let sample = try await ValidatedSample.shared()
        let server = try await RunningServer.start(sample.configuration(workers: 1, queue: 1), sample: sample)
        let client = LoopbackClient(base: server.base)
        let task = sample.task(3)
        func slow(_ tag: Int) throws -> String {
            try sample.makePatch(task, first: task.patch) {
                try replace("import re\n", with: "import re\nimport time\ntime.sleep(2)  # slow \(tag)\n", in: "textkit/duration.py", under: $0)
            }
        }
        let patches = try (1...3).map(slow)
        let first = Task { try await client.score(task.instanceID, patches[0]) }
        try await waitFor(client) { $0["running"] == 1 }
        let second = Task { try await client.score(task.instanceID, patches[1]) }
        try await waitFor(client) { $0["queued"] == 1 }
        let refused = try await client.score(task.instanceID, patches[2])
        XCTAssertEqual(refused.status, 429, refused.text)
        XCTAssertEqual(refused.errorCode, "queue_full")
        let retryAfter = refused.headers.first { ($0.key as? String)?.lowercased() == "retry-after" }?.value as? String
        XCTAssertNotNil(retryAfter.flatMap(Int.init), "Retry-After: \(String(describing: retryAfter))")
        // Requests that do not need a worker are still answered at once.
        let health = try await client.get("/health")
        XCTAssertEqual(health.status, 200)
        for answer in [try await first.value, try await second.value] {
            XCTAssertEqual(answer.status, 200, answer.text)
            XCTAssertEqual(answer.json["status"] as? String, "resolved", answer.text)
            XCTAssertEqual(answer.json["reward"] as? Double, 1)
        }
        let metrics = try await client.get("/metrics").text
        XCTAssertTrue(metrics.contains("forge_serve_rejected_total 1\n"), metrics)
        XCTAssertTrue(metrics.contains(#"forge_serve_http_requests_total{code="429",route="POST /score"} 1"#), metrics)
        await server.stop()
    }

    /// A result scored by one server is answered from the store by the next one on the same
    /// database and evaluations folder, without running anything.
    func testRestartKeepsFinishedResults() async throws {
        let sample = try await ValidatedSample.shared()
        let task = sample.task(2)
        let file = try XCTUnwrap(PatchText.touchedPaths(task.patch).first)
        let patch = try sample.makePatch(task, first: task.patch) { try append("\n# restart test\n", to: file, under: $0) }
        let first = try await RunningServer.start(sample.configuration(workers: 1, queue: 4), sample: sample)
        let scored = try await LoopbackClient(base: first.base).score(task.instanceID, patch)
        XCTAssertEqual(scored.json["status"] as? String, "resolved", scored.text)
        XCTAssertEqual(scored.json["cached"] as? Bool, false)
        await first.stop()

        let reopened = try TaskStore(path: sample.databasePath)
        let second = try await RunningServer.start(sample.configuration(workers: 1, queue: 4), sample: sample, store: reopened)
        let client = LoopbackClient(base: second.base)
        let again = try await client.score(task.instanceID, patch, model: "another-name")
        XCTAssertEqual(again.status, 200)
        XCTAssertEqual(again.json["cached"] as? Bool, true)
        for key in ["status", "reward", "f2p_passed", "p2p_passed", "log_url", "patch_key"] {
            XCTAssertEqual("\(again.json[key] ?? "nil")", "\(scored.json[key] ?? "nil")", key)
        }
        XCTAssertEqual(again.json["model_name_or_path"] as? String, "another-name")
        let metrics = try await client.get("/metrics").text
        XCTAssertTrue(metrics.contains("forge_serve_evaluation_seconds_count 0\n"), "nothing ran: \(metrics)")
        XCTAssertTrue(metrics.contains(#"forge_serve_scored_total{source="stored",status="resolved"} 1"#), metrics)
        let log = try await client.get(try XCTUnwrap(again.json["log_url"] as? String))
        XCTAssertEqual(log.status, 200)
        await second.stop()
    }

    /// An environment that cannot be built is an infrastructure error: 500, status error, no
    /// reward, and not stored for reuse. A request past its deadline is answered 504.
    func testErrorsAreNotZeroRewards() async throws {
        let sample = try await ValidatedSample.shared()
        let task = sample.task(1)
        // The repository's recipe wants a Python nobody has.
        let broken = try sample.unbuildableEnvironments()
        var configuration = sample.configuration(workers: 1, queue: 2)
        configuration.evaluationsDirectory = sample.root.appendingPathComponent("broken-evals").path
        let server = try await RunningServer.start(configuration, sample: sample, environments: broken)
        let client = LoopbackClient(base: server.base)
        for attempt in 0..<2 {
            let answer = try await client.score(task.instanceID, task.patch)
            XCTAssertEqual(answer.status, 500, answer.text)
            XCTAssertEqual(answer.json["status"] as? String, "error")
            XCTAssertTrue(answer.json["reward"] is NSNull, "reward must be null, not 0: \(answer.text)")
            XCTAssertEqual(answer.json["resolved"] as? Bool, false)
            XCTAssertEqual(answer.json["cached"] as? Bool, false, "attempt \(attempt): errors are run again, never reused")
            XCTAssertTrue((answer.json["error"] as? String)?.hasPrefix("infrastructure error") == true, answer.text)
            XCTAssertTrue((answer.json["reason"] as? String)?.hasPrefix("environment failed") == true, answer.text)
        }
        let metrics = try await client.get("/metrics").text
        XCTAssertTrue(metrics.contains(#"forge_serve_scored_total{source="run",status="error"} 2"#), metrics)
        await server.stop()

        // A patch whose import sleeps past a 1 s request timeout.
        var short = sample.configuration(workers: 1, queue: 2, timeout: 1)
        short.evaluationsDirectory = sample.root.appendingPathComponent("deadline-evals").path
        let hurried = try await RunningServer.start(short, sample: sample)
        let sleeps = try sample.makePatch(sample.task(3), first: sample.task(3).patch) {
            try replace("import re\n", with: "import re\nimport time\ntime.sleep(5)\n", in: "textkit/duration.py", under: $0)
        }
        let started = Date()
        let late = try await LoopbackClient(base: hurried.base).score(sample.task(3).instanceID, sleeps)
        XCTAssertEqual(late.status, 504, late.text)
        XCTAssertEqual(late.errorCode, "deadline_exceeded")
        XCTAssertLessThan(Date().timeIntervalSince(started), 4)
        await hurried.stop()
    }

    /// Listing, task detail (no patches), the snapshot archive and the service endpoints.
    func testTasksSnapshotsHealthAndSpec() async throws {
        let sample = try await ValidatedSample.shared()
        let server = try await RunningServer.start(sample.configuration(workers: 1, queue: 1), sample: sample)
        let client = LoopbackClient(base: server.base)

        let all = try await client.get("/tasks")
        XCTAssertEqual(all.status, 200)
        XCTAssertEqual(all.json["total"] as? Int, 5, "the sample mines five tasks")
        let valid = try await client.get("/tasks?validated=true&repo=\(SampleRepository.repoName)&limit=2")
        XCTAssertEqual(valid.json["total"] as? Int, 3)
        XCTAssertEqual((valid.json["tasks"] as? [[String: Any]])?.compactMap { $0["instance_id"] as? String }, [1, 2].map { sample.task($0).instanceID })
        XCTAssertEqual(valid.json["next_offset"] as? Int, 2)
        let last = try await client.get("/tasks?validated=true&limit=2&offset=2")
        XCTAssertEqual((last.json["tasks"] as? [[String: Any]])?.count, 1)
        XCTAssertNil(last.json["next_offset"])
        let other = try await client.get("/tasks?repo=someone/else")
        XCTAssertEqual(other.json["total"] as? Int, 0)
        let bad = try await client.get("/tasks?limit=0")
        XCTAssertEqual(bad.status, 400)
        XCTAssertEqual(bad.errorCode, "bad_query")

        let task = sample.task(3)
        let detail = try await client.get("/tasks/\(task.instanceID)")
        XCTAssertEqual(detail.status, 200)
        XCTAssertEqual(detail.json["problem_statement"] as? String, task.problemStatement)
        XCTAssertEqual(detail.json["base_commit"] as? String, task.baseCommit)
        XCTAssertEqual(detail.json["FAIL_TO_PASS"] as? [String], task.failToPass)
        XCTAssertNil(detail.json["patch"])
        XCTAssertNil(detail.json["test_patch"])
        let snapshot = try XCTUnwrap(detail.json["snapshot"] as? [String: Any])
        let path = try XCTUnwrap(snapshot["path"] as? String)
        // The base tree: the buggy file as it was, and none of the test patch's additions.
        let source = try String(contentsOfFile: path + "/textkit/duration.py", encoding: .utf8)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path + "/.git"))
        let missing = try await client.get("/tasks/nobody__nothing-1")
        XCTAssertEqual(missing.status, 404)

        let archive = try await client.get(try XCTUnwrap(snapshot["archive_url"] as? String))
        XCTAssertEqual(archive.status, 200)
        let unpacked = sample.root.appendingPathComponent("unpacked-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: unpacked, withIntermediateDirectories: true)
        try archive.body.write(to: unpacked.appendingPathComponent("snapshot.tar"))
        try runProgram("/usr/bin/tar", ["-xf", "snapshot.tar"], in: unpacked)
        XCTAssertEqual(try String(contentsOfFile: unpacked.path + "/textkit/duration.py", encoding: .utf8), source)
        let listed = try runProgram("/usr/bin/tar", ["-tf", "snapshot.tar"], in: unpacked)
        let exported = try FileManager.default.subpathsOfDirectory(atPath: path).filter { !$0.hasSuffix("/") }
        let names = Set(listed.split(separator: "\n").map { String($0.hasSuffix("/") ? $0.dropLast() : $0) })
        XCTAssertEqual(names, Set(exported))
        // Files the test patch adds are not in the base tree.
        for section in PatchText.sections(of: task.testPatch) where section.oldPath == nil {
            XCTAssertFalse(names.contains(try XCTUnwrap(section.newPath)), "the snapshot holds the test patch's \(section.newPath!)")
        }

        let health = try await client.get("/health")
        XCTAssertEqual(health.json["status"] as? String, "ok")
        XCTAssertEqual(health.json["workers"] as? Int, 1)
        let spec = try await client.get("/openapi.yaml")
        XCTAssertEqual(spec.status, 200)
        for route in ["/health:", "/metrics:", "/tasks:", "/tasks/{instance_id}:", "/tasks/{instance_id}/snapshot.tar:", "/score:", "/logs/{folder}/{instance_id}/{file}:"] {
            XCTAssertTrue(spec.text.contains("  \(route)\n"), "openapi.yaml lacks \(route)")
        }
        await server.stop()
    }

    /// Polls /health until `condition` holds (at most 30 s).
    private func waitFor(_ client: LoopbackClient, _ condition: ([String: Int]) -> Bool) async throws {
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            let health = try await client.get("/health").json
            if condition(health.compactMapValues { $0 as? Int }) { return }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        XCTFail("the server never reached the awaited state")
    }
}
