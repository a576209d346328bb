import TestReports
import XCTest

/// The log parsers for runners beyond pytest, on logs written out as those runners print them.
final class RunnerLogTests: XCTestCase {
    /// `bin/test -C --verbose FILES` as a SymPy-style runner prints it: a header, one line per
    /// file, one line per test, the file's verdict on its last test's line, then failure details
    /// under `____ path.py:test_name ____` banners and a summary.
    func testBinTestVerboseLog() {
        let log = """
        ============================= test process starts ==============================
        executable:         /venv/bin/python  (3.9.18-final-0) [CPython]
        architecture:       64-bit
        cache:              no
        ground types:       python
        numpy:              None
        random seed:        31415926
        hash randomization: on (PYTHONHASHSEED=1234)

        sympy/core/tests/test_basic.py[4]
        test_structure ok
        test_equality F
        test_matches_basic E
        test_has ok                                                                 [FAIL]

        sympy/core/tests/test_numbers.py[5]
        test_seterr f
        test_mod_inverse requires gmpy s
        test_slow_power Slow w
        test_xpassing X
        test_printing_number 3.14159
        ok
        test_last_one ok
                                                                                      [OK]

        sympy/printing/tests/test_latex.py[1]
        test_has F                                                                  [FAIL]

        ________________________________________________________________________________
        ______________ sympy/core/tests/test_basic.py:test_equality ____________________
        Traceback (most recent call last):
          File "/tmp/testbed/sympy/core/tests/test_basic.py", line 40, in test_equality
            assert b21 != b1
        AssertionError
        ________________________________________________________________________________
        ____________ sympy/core/tests/test_basic.py:test_matches_basic _________________
        Traceback (most recent call last):
          File "/tmp/testbed/sympy/core/tests/test_basic.py", line 52, in test_matches_basic
            raise ValueError
        ValueError

        = tests finished: 6 passed, 2 failed, 1 skipped, 1 expected to fail, 1 expected to fail but passed, 1 exceptions, in 0.52 seconds =
        DO *NOT* COMMIT!
        """
        let report = BinTestLog.parse(log)
        XCTAssertEqual(report.statuses, [
            "test_structure": .passed, "test_equality": .failed, "test_matches_basic": .error,
            "test_has": .failed,  // passed in test_basic.py, failed in test_latex.py: the worse is kept
            "test_seterr": .passed, "test_mod_inverse": .skipped, "test_slow_power": .skipped,
            "test_xpassing": .passed, "test_printing_number": .passed, "test_last_one": .passed,
        ])
        XCTAssertEqual(report.warnings.count, 1)
        XCTAssertTrue(report.warnings[0].contains("sympy/core/tests/test_basic.py")
                      && report.warnings[0].contains("sympy/printing/tests/test_latex.py"), report.warnings[0])
    }

    /// A file that does not import reports no test; colours are stripped.
    func testBinTestImportErrorAndColours() {
        let log = "sympy/core/tests/test_new.py[?]   Failed to import                    \u{1B}[31m[FAIL]\u{1B}[0m\n"
            + "sympy/core/tests/test_old.py[1] \n\u{1B}[0mtest_kept \u{1B}[32mok\u{1B}[0m\n"
        let report = BinTestLog.parse(log)
        XCTAssertEqual(report.statuses, ["test_kept": .passed])
    }

    /// Django's `tests/runtests.py --verbosity 2`: ids as SWE-bench's parse_log_django takes them,
    /// output between a test's ` ... ` and its verdict, docstring lines as ids, and the
    /// `FAIL:`/`ERROR:` detail headers.
    func testDjangoStyleUnittestLog() {
        let log = """
        Testing against Django installed in '/tmp/testbed/django' with up to 2 processes
        Importing application admin_views
        Creating test database for alias 'default'...
        test_add_view (admin_views.tests.AdminViewBasicTest) ... ok
        test_changelist (admin_views.tests.AdminViewBasicTest) ... FAIL
        test_delete (admin_views.tests.AdminViewBasicTest) ... ERROR
        test_history (admin_views.tests.AdminViewBasicTest) ... skipped 'Database has no feature'
        test_known_bug (admin_views.tests.AdminViewBasicTest) ... expected failure
        test_fixed_bug (admin_views.tests.AdminViewBasicTest) ... unexpected success
        test_logging (admin_views.tests.LoggingTest) ... Internal Server Error: /admin/
        ok
        A docstring's first line names this test. ... ok
        test_new_style (admin_views.tests.NewStyle.test_new_style) ... ok

        ======================================================================
        FAIL: test_changelist (admin_views.tests.AdminViewBasicTest)
        ----------------------------------------------------------------------
        Traceback (most recent call last):
          File "/tmp/testbed/tests/admin_views/tests.py", line 12, in test_changelist
            self.assertEqual(1, 2)
        AssertionError: 1 != 2

        ======================================================================
        ERROR: test_setup_died (admin_views.tests.BrokenSetUp)
        ----------------------------------------------------------------------
        Traceback (most recent call last):
        RuntimeError

        ----------------------------------------------------------------------
        Ran 10 tests in 0.311s

        FAILED (failures=1, errors=2, skipped=1, expected failures=1, unexpected successes=1)
        """
        let report = UnittestLog.parse(log)
        XCTAssertEqual(report.statuses, [
            "test_add_view (admin_views.tests.AdminViewBasicTest)": .passed,
            "test_changelist (admin_views.tests.AdminViewBasicTest)": .failed,
            "test_delete (admin_views.tests.AdminViewBasicTest)": .error,
            "test_history (admin_views.tests.AdminViewBasicTest)": .skipped,
            "test_known_bug (admin_views.tests.AdminViewBasicTest)": .passed,
            "test_fixed_bug (admin_views.tests.AdminViewBasicTest)": .failed,
            "test_logging (admin_views.tests.LoggingTest)": .passed,
            "A docstring's first line names this test.": .passed,
            "test_new_style (admin_views.tests.NewStyle.test_new_style)": .passed,
            "test_setup_died (admin_views.tests.BrokenSetUp)": .error,
        ])
    }

    /// `nosetests -v`: class tests as unittest prints them, function and generator tests by their
    /// dotted path; `SKIP` and a verdict on the line after the ` ...` of a test that printed.
    func testNoseVerboseLog() {
        let log = """
        test_parse (tests.test_config.ConfigTest) ... ok
        tests.test_util.test_split ... ok
        tests.test_util.test_even(4,) ... ok
        tests.test_util.test_even(5,) ... FAIL
        tests.test_util.test_needs_posix ... SKIP: only on posix
        tests.test_util.test_chatty ...
        chatter from the test
        ok

        ======================================================================
        FAIL: tests.test_util.test_even(5,)
        ----------------------------------------------------------------------
        Ran 6 tests in 0.004s

        FAILED (SKIP=1, failures=1)
        """
        let report = UnittestLog.parse(log)
        XCTAssertEqual(report.statuses, [
            "test_parse (tests.test_config.ConfigTest)": .passed,
            "tests.test_util.test_split": .passed,
            "tests.test_util.test_even(4,)": .passed,
            "tests.test_util.test_even(5,)": .failed,
            "tests.test_util.test_needs_posix": .skipped,
            "tests.test_util.test_chatty": .passed,
        ])
    }
}
