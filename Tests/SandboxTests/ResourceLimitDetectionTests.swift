import XCTest
@testable import Sandbox

/// Which limit a failed run's log shows. Before runs fail by design, so text in their log that
/// merely mentions a limit's error (a test named after it, a repr of `builtins`) must not make a
/// limit of them: both cases below came from SWE-bench-Live tasks (ipython, pytest) whose before
/// runs were judged "resource limit: memory".
final class ResourceLimitDetectionTests: XCTestCase {
    private func detect(_ log: String, exit code: Int32 = 1) -> ResourceLimitHit? {
        ResourceLimitHit.detect(termination: .exited(code), logTail: log)
    }

    func testErrorsReportedByRuntimesAndShellsAreLimits() {
        XCTAssertEqual(detect("Traceback (most recent call last):\n  File \"x.py\", line 1\nMemoryError\n"), .memory)
        XCTAssertEqual(detect("E   MemoryError: cannot allocate 4 GiB\n"), .memory)
        XCTAssertEqual(detect("OSError: [Errno 12] Cannot allocate memory\n"), .memory)
        XCTAssertEqual(detect("terminate called after throwing an instance of 'std::bad_alloc'\n"), .memory)
        XCTAssertEqual(detect("fatal error: runtime: out of memory\n"), .memory)
        XCTAssertEqual(detect("bash: fork: retry: Resource temporarily unavailable\n"), .processes)
        XCTAssertEqual(detect("/bin/sh: 1: Cannot fork\n"), .processes)
        XCTAssertEqual(detect("    RuntimeError: can't start new thread\n"), .processes)
        XCTAssertEqual(detect("OSError: [Errno 28] No space left on device: '/tmp/x'\n"), .disk)
        XCTAssertEqual(detect("", exit: 128 + SIGXCPU), .cpuTime)
        XCTAssertEqual(detect("", exit: 128 + SIGXFSZ), .fileSize)
    }

    func testTestNamesAndReprsThatMentionALimitAreNot() {
        let ipython = """
        _______________________ MemoryErrorTest.test_memoryerror _______________________
        PASSED IPython/core/tests/test_ultratb.py::MemoryErrorTest::test_memoryerror
        FAILED IPython/core/tests/test_ultratb.py::Python3ChainedExceptionsTest::test_sysexit_while_handling_error
        ============= 1 failed, 23 passed, 1 skipped, 3 warnings in 1.08s ==============
        """
        XCTAssertNil(detect(ipython))
        let pytest = """
        NAMEMATCH pytest_pycollect_makeitem <ParsedCall 'pytest_pycollect_makeitem'(**{'name': '__builtins__', 'obj': {'MemoryError': <class 'MemoryError'>, 'BlockingIOError': <class 'BlockingIOError'>}})>
        FAILED testing/test_collection.py::Test_genitems::test_example_items1 - Asser...
        """
        XCTAssertNil(detect(pytest))
        XCTAssertNil(detect("E   AssertionError: assert 'out of memory' in 'disk full'\n"))
        XCTAssertNil(detect("def test_no_space_left_on_device_is_reported():\n"))
    }
}
