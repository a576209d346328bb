import TestReports
@testable import Validation
import XCTest

/// A runner chosen from a project's CI may print another runner's output: the log is read with
/// its own format first, then with the other Python formats.
final class LogFormatFallbackTests: XCTestCase {
    func testLogIsReadWithTheFormatThatFindsTests() {
        let unittestOutput = "test_a (tests.test_x.T) ... ok\ntest_b (tests.test_x.T) ... FAIL\n"
        let asBinTest = TestRunner.parseLog(unittestOutput, format: "bin-test")
        XCTAssertEqual(asBinTest.statuses, ["test_a (tests.test_x.T)": .passed, "test_b (tests.test_x.T)": .failed])
        XCTAssertTrue(asBinTest.warnings.first?.hasPrefix("no bin-test results in the log; read as unittest output") == true,
                      "\(asBinTest.warnings)")

        let binTestOutput = "pkg/tests/test_x.py[2] \ntest_a ok\ntest_b F        [FAIL]\n"
        XCTAssertEqual(TestRunner.parseLog(binTestOutput, format: "bin-test").statuses, ["test_a": .passed, "test_b": .failed])
        XCTAssertEqual(TestRunner.parseLog(binTestOutput, format: "bin-test").warnings, [])

        let pytestOutput = "PASSED tests/test_x.py::test_a\nFAILED tests/test_x.py::test_b - assert 1 == 2\n"
        let asUnittest = TestRunner.parseLog(pytestOutput, format: "unittest")
        XCTAssertEqual(asUnittest.statuses, ["tests/test_x.py::test_a": .passed, "tests/test_x.py::test_b": .failed])
        XCTAssertEqual(asUnittest.warnings.count, 1)

        // Nothing any format reads: an empty report, no guesses.
        XCTAssertTrue(TestRunner.parseLog("Traceback (most recent call last):\nImportError: no module named x\n", format: "bin-test").isEmpty)
    }
}
