// Captured from a real `swift test` run (Swift 6.3.1, Linux) of a tiny package with XCTest and
// Swift Testing tests; regenerate by running such a package (about 20 s to build, hence a fixture).
// XCTest: MathTests {testAddPasses, testAddFails (XCTAssertEqual), testSkipped (XCTSkip), testThrows},
// OtherTests.testOther. Swift Testing: @Suite AdditionSuite {addsSmall, addsWrong (#expect fails),
// disabledOne (.disabled), positive(n:) over [1,2,3] failing for 3}, free @Test freeFunction, freeThrows.

/// `swift test --parallel --xunit-output xunit.xml`: XCTest's file (XCTSkip shows as passed).
let capturedXCTestXUnit = #"""
<?xml version="1.0" encoding="UTF-8"?>

<testsuites>
<testsuite name="TestResults" errors="0" tests="5" failures="2" time="0.096267225">
<testcase classname="DemoTests.MathTests" name="testAddFails" time="0.01513903">
<failure message="failure"></failure>
</testcase>
<testcase classname="DemoTests.MathTests" name="testAddPasses" time="0.027220515">
</testcase>
<testcase classname="DemoTests.MathTests" name="testSkipped" time="0.015914643">
</testcase>
<testcase classname="DemoTests.OtherTests" name="testOther" time="0.012424576">
</testcase>
<testcase classname="DemoTests.MathTests" name="testThrows" time="0.025568461">
<failure message="failure"></failure>
</testcase>
</testsuite>
</testsuites>
"""#

/// The `xunit-swift-testing.xml` written beside it (same content with or without --parallel).
let capturedSwiftTestingXUnit = #"""
<?xml version="1.0" encoding="UTF-8"?>
<testsuites>
  <testsuite name="TestResults" errors="0" tests="5" failures="3" skipped="1" time="0.003334153">
    <testcase classname="DemoTests.AdditionSuite" name="addsSmall()" time="0.002388543" />
    <testcase classname="DemoTests.AdditionSuite" name="disabledOne()" >
      <skipped>later</skipped>
    </testcase>
    <testcase classname="DemoTests.AdditionSuite" name="addsWrong()" time="0.002351544" >
      <failure message="Expectation failed: (add(2, 2) &#8594; 4) == 5 (error)" />
    </testcase>
    <testcase classname="DemoTests.AdditionSuite" name="positive(n:)" time="0.002444397" >
      <failure message="Expectation failed: (add(n, 0) == n &#8594; true) &amp;&amp; (n != 3 &#8594; false) (error)" />
    </testcase>
    <testcase classname="DemoTests" name="freeThrows()" time="0.002315176" >
      <failure message="Caught error: E() (error)" />
    </testcase>
    <testcase classname="DemoTests" name="freeFunction()" time="0.002482048" />
  </testsuite>
</testsuites>
"""#

/// XCTest's console output of the same tests without --parallel (no XCTest xunit file then).
let capturedXCTestConsole = #"""
Test Suite 'All tests' started at 2026-11-23 08:06:27.617
Test Suite 'debug.xctest' started at 2026-11-23 08:06:27.625
Test Suite 'MathTests' started at 2026-11-23 08:06:27.625
Test Case 'MathTests.testAddFails' started at 2026-11-23 08:06:27.625
/tmp/swiftdemo/Tests/DemoTests/XCTests.swift:5: error: MathTests.testAddFails : XCTAssertEqual failed: ("3") is not equal to ("4") - wrong sum
Test Case 'MathTests.testAddFails' failed (0.001 seconds)
Test Case 'MathTests.testAddPasses' started at 2026-11-23 08:06:27.626
Test Case 'MathTests.testAddPasses' passed (0.101 seconds)
Test Case 'MathTests.testSkipped' started at 2026-11-23 08:06:27.727
/tmp/swiftdemo/Tests/DemoTests/XCTests.swift:6: MathTests.testSkipped : Test skipped - not on linux
Test Case 'MathTests.testSkipped' skipped (0.001 seconds)
Test Case 'MathTests.testThrows' started at 2026-11-23 08:06:27.727
<EXPR>:0: error: MathTests.testThrows : threw error "Boom()"
Test Case 'MathTests.testThrows' failed (0.001 seconds)
Test Suite 'MathTests' failed at 2026-11-23 08:06:27.728
	 Executed 4 tests, with 1 test skipped and 2 failures (1 unexpected) in 0.103 (0.103) seconds
Test Suite 'OtherTests' started at 2026-11-23 08:06:27.728
Test Case 'OtherTests.testOther' started at 2026-11-23 08:06:27.728
Test Case 'OtherTests.testOther' passed (0.0 seconds)
Test Suite 'OtherTests' passed at 2026-11-23 08:06:27.728
	 Executed 1 test, with 0 failures (0 unexpected) in 0.0 (0.0) seconds
Test Suite 'debug.xctest' failed at 2026-11-23 08:06:27.728
	 Executed 5 tests, with 1 test skipped and 2 failures (1 unexpected) in 0.103 (0.103) seconds
Test Suite 'All tests' failed at 2026-11-23 08:06:27.728
	 Executed 5 tests, with 1 test skipped and 2 failures (1 unexpected) in 0.103 (0.103) seconds
"""#
