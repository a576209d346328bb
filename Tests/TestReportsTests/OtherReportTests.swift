import Foundation
import XCTest
import Sandbox
@testable import TestReports

final class SwiftTestReportTests: XCTestCase {
    var directory = ""
    override func setUpWithError() throws { directory = try makeTempDirectory("swift-xunit") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: directory) }

    let swiftTestingStatuses: [String: TestStatus] = [
        "AdditionSuite.disabledOne()": .skipped,
        "AdditionSuite.addsSmall()": .passed,
        "AdditionSuite.positive(n:)": .failed,
        "AdditionSuite.addsWrong()": .failed,
        "DemoTests.freeFunction()": .passed,
        "DemoTests.freeThrows()": .failed,
    ]
    let xctestStatuses: [String: TestStatus] = [
        "MathTests.testAddFails": .failed,
        "MathTests.testAddPasses": .passed,
        "MathTests.testSkipped": .skipped,
        "MathTests.testThrows": .failed,
        "OtherTests.testOther": .passed,
    ]

    func testSerialRunTakesXCTestFromTheConsoleAndSwiftTestingFromItsXUnitFile() throws {
        let xunit = directory + "/xunit.xml"
        XCTAssertEqual(JUnitReport.swiftTestingPath(forXUnitPath: xunit), directory + "/xunit-swift-testing.xml")
        try write(capturedSwiftTestingXUnit, to: JUnitReport.swiftTestingPath(forXUnitPath: xunit))
        let report = try JUnitReport.parseSwiftTest(xunitPath: xunit, xctestLog: capturedXCTestConsole)
        XCTAssertEqual(report.statuses, swiftTestingStatuses.merging(xctestStatuses) { a, _ in a })
        XCTAssertEqual(XCTestLog.parse(capturedXCTestConsole).statuses, xctestStatuses)
    }

    func testParallelRunXUnitLosesXCTSkipUnlessTheLogIsGiven() throws {
        let xunit = directory + "/results.xml"
        try write(capturedXCTestXUnit, to: xunit)
        try write(capturedSwiftTestingXUnit, to: directory + "/results-swift-testing.xml")
        var expected = swiftTestingStatuses.merging(xctestStatuses) { a, _ in a }
        XCTAssertEqual(try JUnitReport.parseSwiftTest(xunitPath: xunit, xctestLog: capturedXCTestConsole).statuses, expected)
        expected["MathTests.testSkipped"] = .passed  // SwiftPM's parallel xunit writes no <skipped/>
        XCTAssertEqual(try JUnitReport.parseSwiftTest(xunitPath: xunit).statuses, expected)
        XCTAssertEqual(try JUnitReport.parse(fileAt: xunit).statuses.count, 5, "TestResults suite → swift producer")
    }

    func testMissingFilesAreAWarningNotAnError() throws {
        let report = try JUnitReport.parseSwiftTest(xunitPath: directory + "/none.xml")
        XCTAssertTrue(report.isEmpty)
        XCTAssertEqual(report.warnings.count, 1)
    }

    func testDarwinConsoleNamesMapToSuiteDotTest() {
        let log = "Test Case '-[DemoTests.MathTests testAdd]' passed (0.001 seconds).\n"
            + "Test Case '-[DemoTests.MathTests testAdd2]' started.\n"
        XCTAssertEqual(XCTestLog.parse(log).statuses, ["MathTests.testAdd": .passed])
    }
}

final class JUnitGenericTests: XCTestCase {
    func testNestedSuitesAndEveryOutcomeElement() throws {
        let xml = """
            <?xml version="1.0"?>
            <testsuites name="jest">
              <testsuite name="outer">
                <testsuite name="inner">
                  <testcase classname="pkg.Alpha" name="ok"/>
                  <testcase classname="pkg.Alpha" name="bad"><failure message="x">trace</failure></testcase>
                  <testcase classname="pkg.Beta" name="crash"><error type="IOError"/></testcase>
                  <testcase classname="pkg.Beta" name="later"><skipped/></testcase>
                  <testcase classname="" name="bare"><system-out>noise</system-out></testcase>
                </testsuite>
              </testsuite>
            </testsuites>
            """
        let report = try JUnitReport.parse(data: Data(xml.utf8))
        XCTAssertEqual(report.statuses, ["pkg.Alpha.ok": .passed, "pkg.Alpha.bad": .failed,
                                         "pkg.Beta.crash": .error, "pkg.Beta.later": .skipped, "bare": .passed])
    }

    func testMalformedAndForeignXMLAreTypedErrors() throws {
        XCTAssertThrowsError(try JUnitReport.parse(data: Data("<testsuites><testcase name='a'>".utf8), source: "broken.xml")) {
            guard case TestReportError.malformedXML(let source, let line, _, _) = $0 else { return XCTFail("\($0)") }
            XCTAssertEqual(source, "broken.xml")
            XCTAssertEqual(line, 1)
        }
        XCTAssertThrowsError(try JUnitReport.parse(data: Data("<html><body/></html>".utf8), source: "page.html")) {
            XCTAssertEqual($0 as? TestReportError, .notJUnit(source: "page.html", rootElement: "html"))
        }
        XCTAssertThrowsError(try JUnitReport.parse(fileAt: "/nonexistent/junit.xml")) {
            XCTAssertTrue("\($0)".contains("/nonexistent/junit.xml"))
        }
    }
}

final class CargoTestLogTests: XCTestCase {
    // Set once in the class setUp, before XCTest runs this class's tests one after another.
    nonisolated(unsafe) static var crate = ""

    override class func setUp() {
        super.setUp()
        crate = (try? makeTempDirectory("cargo-crate")) ?? ""
        let files = [
            "Cargo.toml": "[package]\nname = \"demo\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
            "src/lib.rs": """
                /// ```
                /// assert_eq!(demo::add(1, 2), 3);
                /// ```
                pub fn add(a: i32, b: i32) -> i32 { a + b }

                #[cfg(test)]
                mod tests {
                    use super::*;
                    #[test] fn adds() { assert_eq!(add(1, 2), 3); }
                    #[test] fn fails() { assert_eq!(add(1, 2), 4); }
                    #[test] #[ignore] fn ignored() {}
                    #[test] #[ignore = "not ready"] fn ignored_reason() {}
                    #[test] #[should_panic] fn panics() { panic!("expected") }
                    mod nested { #[test] fn deep() {} }
                }
                """,
            "src/bin/tool.rs": "fn main() {}\n#[cfg(test)] mod tests { #[test] fn bin_test() {} }\n",
            "tests/integration.rs": "#[test] fn it_works() { assert_eq!(demo::add(2, 2), 4); }\n#[test] fn it_fails() { assert!(false, \"nope\"); }\n",
        ]
        for (path, text) in files { try? write(text, to: crate + "/" + path) }
    }

    override class func tearDown() {
        try? FileManager.default.removeItem(atPath: crate)
        super.tearDown()
    }

    private func cargoTest(_ extra: [String], label: String) throws -> String {
        var environment = ProcessInfo.processInfo.environment
        environment["CARGO_TARGET_DIR"] = Self.crate + "/target"
        environment["CARGO_TERM_COLOR"] = "never"
        let result = try CommandRunner().run(Command("cargo", ["test", "--offline"] + extra, logPath: Self.crate + "/\(label).log",
                                                     environment: environment, workingDirectory: Self.crate, timeout: 300))
        XCTAssertEqual(result.exitCode, 101, "cargo test exits 101 when tests fail")
        return try String(contentsOfFile: result.logPath, encoding: .utf8)
    }

    func testRealCargoOutputAcrossAllTestBinaries() throws {
        let report = CargoTestLog.parse(try cargoTest(["--no-fail-fast"], label: "all"))
        XCTAssertEqual(report.statuses, [
            "tests::adds": .passed, "tests::fails": .failed, "tests::ignored": .skipped,
            "tests::ignored_reason": .skipped, "tests::panics": .passed, "tests::nested::deep": .passed,
            "tests::bin_test": .passed, "it_works": .passed, "it_fails": .failed,
            "src/lib.rs - add (line 1)": .passed,
        ])
        XCTAssertEqual(report.warnings, [])
    }

    func testFailFastRunWarnsThatLaterBinariesDidNotRun() throws {
        let report = CargoTestLog.parse(try cargoTest([], label: "failfast"))
        XCTAssertEqual(report["tests::fails"], .failed)
        XCTAssertNil(report["it_works"])
        XCTAssertEqual(report.warnings.count, 1)
        XCTAssertTrue(report.warnings[0].contains("--no-fail-fast"))
    }

    func testNoCaptureResultsOnTheirOwnLineAndDuplicateIdsAcrossBinaries() {
        let log = """
                 Running unittests src/lib.rs (target/debug/deps/a-1)
            test tests::noisy ... printed by the test
            ok
            test tests::same ... ok
                 Running unittests src/main.rs (target/debug/deps/b-2)
            test tests::same ... FAILED
            test result: FAILED. 1 passed; 1 failed
            """
        let report = CargoTestLog.parse(log)
        XCTAssertEqual(report.statuses, ["tests::same": .failed])
        XCTAssertEqual(report.warnings.count, 1)
        XCTAssertTrue(report.warnings[0].contains("tests::same"))
    }
}
