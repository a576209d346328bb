import Foundation
import XCTest

/// Batch commands stopped by Ctrl-C finish the work in flight, keep it, and exit 130 (as `train`
/// does), so a script can tell a cut-short batch from a finished one; the same command resumes.
final class InterruptExitTests: ForgeCommandTestCase {
    private func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let name = "out-\(UUID().uuidString.prefix(6)).log"
        let process = try start(arguments, stdout: name)
        process.waitUntilExit()
        return (process.terminationStatus, read(name))
    }

    func testInterruptedValidateExits130AndTheSameCommandResumes() throws {
        XCTAssertEqual(try run(["sample", "create", "sample"]).status, 0)
        XCTAssertEqual(try run(["mine", "sample/textkit", "--repo", "forge-sample/textkit", "--db", "t.db"]).status, 0)
        let validate = ["validate", "--db", "t.db", "--clone", "sample/textkit", "--jobs", "1", "--reruns", "0", "--workspace", "ws"]
        let process = try start(validate, stdout: "interrupted.log")
        // Ctrl-C once the first task's runs have started: that task is finished and kept.
        interrupt(process, onceFilesAppearIn: "ws/runs/validate")
        let interrupted = read("interrupted.log")
        XCTAssertEqual(process.terminationStatus, 130, interrupted)
        XCTAssertTrue(interrupted.contains("interrupted: finishing the tasks in flight"), interrupted)

        let resumed = try run(validate)
        XCTAssertEqual(resumed.status, 0, resumed.output)
        let skipped = resumed.output.split(separator: "\n").first { $0.hasPrefix("skipped (already validated)") }
        let count = skipped.flatMap { Int($0.split(separator: " ").last ?? "") } ?? 0
        XCTAssertGreaterThanOrEqual(count, 1, resumed.output)
    }
}
