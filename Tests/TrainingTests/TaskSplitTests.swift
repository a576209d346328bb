// The task split: held-out, SFT and RL-only tasks are disjoint, cover every task, and depend on
// the instance id alone, so every stage and machine agrees on them.
import Foundation
import Store
import XCTest
@testable import Training

final class TaskSplitTests: XCTestCase {
    func tasks(_ count: Int) -> [TaskRecord] {
        (0..<count).map { index in
            TaskRecord(instanceID: "owner__name.synth-\(index)", repo: "owner/name", baseCommit: String(repeating: "a", count: 40),
                       patch: "", testPatch: "", problemStatement: "", createdAt: "2026-01-01T00:00:00Z", version: "",
                       environmentSetupCommit: String(repeating: "a", count: 40), statementSource: .synthetic)
        }
    }

    func testRLOnlyPoolIsDisjointFromSFTAndHeldOutAndStable() throws {
        let all = tasks(400)
        let split = TaskSplit(heldOutEvery: 4, rlOnlyEvery: 2)
        let heldOut = Set(split.heldOut(all).map(\.instanceID))
        let supervised = Set(split.supervised(all).map(\.instanceID))
        let reinforcement = Set(split.reinforcement(all).map(\.instanceID))
        XCTAssertTrue(heldOut.isDisjoint(with: supervised) && heldOut.isDisjoint(with: reinforcement) && supervised.isDisjoint(with: reinforcement))
        XCTAssertEqual(heldOut.count + supervised.count + reinforcement.count, all.count, "every task has exactly one role")
        // A quarter held out, the other three quarters halved; a hash is not exact, but not far off.
        XCTAssertEqual(Double(heldOut.count), 100, accuracy: 30)
        XCTAssertEqual(Double(reinforcement.count), 150, accuracy: 35)
        // The held-out tasks are the same with or without an RL pool, and the split depends only on the id.
        XCTAssertEqual(Set(TaskSplit(heldOutEvery: 4).heldOut(all).map(\.instanceID)), heldOut)
        XCTAssertEqual(Set(split.reinforcement(all.reversed()).map(\.instanceID)), reinforcement)
    }

    func testWithoutAPoolSFTAndRLShareTheTrainingTasks() throws {
        let all = tasks(100)
        let split = TaskSplit(heldOutEvery: 5)
        XCTAssertEqual(split.supervised(all).map(\.instanceID), split.training(all).map(\.instanceID))
        XCTAssertEqual(split.reinforcement(all).map(\.instanceID), split.training(all).map(\.instanceID))
        // config.json of run folders written before the pool existed still decodes, as "no pool".
        let old = try JSONDecoder().decode(TaskSplit.self, from: Data(#"{"heldOutEvery": 4}"#.utf8))
        XCTAssertEqual(old, TaskSplit(heldOutEvery: 4, rlOnlyEvery: 0))
    }
}
