import Foundation
import Store
import Validation
import XCTest

/// A SwiftPM package validated end to end: the Swift recipe, `swift test` inside bubblewrap
/// (each run builds the package from scratch in its own work folder), XCTest and Swift Testing results.
final class SwiftValidationTests: XCTestCase {
    static let manifest = """
    // swift-tools-version:5.9
    import PackageDescription

    let package = Package(
        name: "Mathx",
        targets: [
            .target(name: "Mathx"),
            .testTarget(name: "MathxTests", dependencies: ["Mathx"]),
        ]
    )

    """

    static func library(fixed: Bool) -> String {
        """
        /// Adds two integers.
        public func add(_ a: Int, _ b: Int) -> Int { a + b }

        /// Limits `value` to `low...high`.
        public func clamp(_ value: Int, _ low: Int, _ high: Int) -> Int {
            if value < low { return low }
        \(fixed ? "    if value > high { return high }\n" : "")    return value
        }

        """
    }

    static let testsBefore = """
    import Mathx
    import XCTest

    final class MathxTests: XCTestCase {
        func testAdd() {
            XCTAssertEqual(add(2, 3), 5)
        }
    }

    """

    /// The test patch adds XCTest cases and a Swift Testing function.
    static let testsAfter = """
    import Mathx
    import Testing
    import XCTest

    final class MathxTests: XCTestCase {
        func testAdd() {
            XCTAssertEqual(add(2, 3), 5)
        }

        func testClampLow() {
            XCTAssertEqual(clamp(-1, 0, 10), 0)
        }

        func testClampHigh() {
            XCTAssertEqual(clamp(11, 0, 10), 10)
        }
    }

    @Test func clampInside() {
        #expect(clamp(5, 0, 10) == 5)
    }

    """

    func testSwiftPackageFixValidates() throws {
        let git = try FixtureRepo("mathx")
        let base = try git.commit("Initial import", [
            "Package.swift": Self.manifest,
            "Sources/Mathx/Mathx.swift": Self.library(fixed: false),
            "Tests/MathxTests/MathxTests.swift": Self.testsBefore,
        ])
        let head = try git.commit("Clamp to the upper bound too", [
            "Sources/Mathx/Mathx.swift": Self.library(fixed: true),
            "Tests/MathxTests/MathxTests.swift": Self.testsAfter,
        ])
        let task = try git.task("forge-tests__mathx-1", repo: "forge-tests/mathx", base: base, head: head,
                                code: ["Sources"], tests: ["Tests"])
        XCTAssertTrue(task.patch.contains("if value > high"))

        let result = try Harness.validator(git, reruns: 0).validate(task)
        let logs = result.runs.map { "\($0.phase.rawValue): \(log(of: $0).suffix(1500))" }.joined(separator: "\n")
        XCTAssertEqual(result.verdict.status, "valid", "\(result.verdict.reason ?? "")\n\(logs)")
        XCTAssertEqual(result.verdict.failToPass, ["MathxTests.testClampHigh"])
        // XCTest results come from the console log, Swift Testing's from its xunit file.
        XCTAssertEqual(result.verdict.passToPass, ["MathxTests.clampInside()", "MathxTests.testAdd", "MathxTests.testClampLow"])
        XCTAssertEqual(result.runs.map(\.phase), [.before, .after])
        XCTAssertEqual(result.runs.first?.exitStatus, 1)
        XCTAssertEqual(result.runs.last?.exitStatus, 0)
        for run in result.runs {
            XCTAssertTrue(run.command.contains("test"), "\(run.command)")
            XCTAssertTrue(run.command.contains("--filter=^MathxTests\\."), "runs the test target the test patch touches: \(run.command)")
        }
        let environment = try XCTUnwrap(result.environment)
        XCTAssertTrue(environment.interpreter.hasPrefix("Swift version"), environment.interpreter)
    }
}
