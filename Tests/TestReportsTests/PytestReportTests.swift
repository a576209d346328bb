import Foundation
import XCTest
import Sandbox
@testable import TestReports

func makeTempDirectory(_ label: String) throws -> String {
    let path = NSTemporaryDirectory() + "/forge-\(label)-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return URL(fileURLWithPath: path).standardizedFileURL.path
}

func write(_ text: String, to path: String) throws {
    try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                            withIntermediateDirectories: true)
    try text.write(toFile: path, atomically: true, encoding: .utf8)
}

/// A Python project whose tests cover every outcome pytest reports.
let pytestProjectFiles: [String: String] = [
    "pytest.ini": "[pytest]\n",
    "tests/test_basic.py": """
        import pytest

        def test_pass():
            assert True

        def test_fail():
            assert 1 == 2, "boom"

        @pytest.fixture
        def broken():
            raise RuntimeError("fixture broke")

        def test_error(broken):
            pass

        @pytest.mark.skip(reason="not today")
        def test_skip():
            pass

        @pytest.mark.parametrize("x", [1, 2, "a b", "x::y"])
        def test_param(x):
            assert x != 2

        @pytest.mark.parametrize("text", ["a - b"])
        def test_dash(text):
            assert text == "ab", "a - b is not ab"

        @pytest.mark.xfail(reason="known")
        def test_xfail():
            assert False

        @pytest.mark.xfail(reason="fixed")
        def test_xpass():
            assert True

        class TestGroup:
            def test_in_class(self):
                pass

            class TestInner:
                def test_nested(self):
                    assert False

            @pytest.mark.parametrize("y", [0, 1])
            def test_cp(self, y):
                assert y == 0

        def test_runtime_skip():
            pytest.skip("dynamic")

        """,
    // An inherited test: JUnit's `file` names helpers.py, the node id names test_inherit.py.
    "tests/helpers.py": "class Base:\n    def test_inherited(self):\n        pass\n",
    "tests/test_inherit.py": "from helpers import Base\n\n\nclass TestChild(Base):\n    pass\n",
    "tests/sub/test_broken.py": "import nonexistent_module_forge\n\ndef test_never():\n    pass\n",
    "tests/sub/test_teardown.py": """
        import pytest

        @pytest.fixture
        def td():
            yield
            raise ValueError("teardown fails")

        def test_td(td):
            pass

        """,
]

/// What the project's tests must come out as, by construction.
let expectedPytestStatuses: [String: TestStatus] = [
    "tests/test_basic.py::test_pass": .passed,
    "tests/test_basic.py::test_fail": .failed,
    "tests/test_basic.py::test_error": .error,
    "tests/test_basic.py::test_skip": .skipped,
    "tests/test_basic.py::test_param[1]": .passed,
    "tests/test_basic.py::test_param[2]": .failed,
    "tests/test_basic.py::test_param[a b]": .passed,
    "tests/test_basic.py::test_param[x::y]": .passed,
    "tests/test_basic.py::test_dash[a - b]": .failed,
    "tests/test_basic.py::test_xfail": .passed,
    "tests/test_basic.py::test_xpass": .passed,
    "tests/test_basic.py::TestGroup::test_in_class": .passed,
    "tests/test_basic.py::TestGroup::TestInner::test_nested": .failed,
    "tests/test_basic.py::TestGroup::test_cp[0]": .passed,
    "tests/test_basic.py::TestGroup::test_cp[1]": .failed,
    "tests/test_basic.py::test_runtime_skip": .skipped,
    "tests/sub/test_broken.py": .error,
    "tests/sub/test_teardown.py::test_td": .error,
    "tests/test_inherit.py::TestChild::test_inherited": .passed,
]

/// A Python with pytest: the machine's `python3` if it has pytest, else a uv venv (from PyPI).
func pythonWithPytest(scratch: String) throws -> (executable: String, environment: [String: String]) {
    let runner = CommandRunner()
    let check = Command("python3", ["-c", "import pytest"], logPath: scratch + "/check.log", inheritEnvironment: true)
    if (try? runner.run(check))?.succeeded == true { return ("python3", ProcessInfo.processInfo.environment) }
    let venv = scratch + "/venv"
    for arguments in [["venv", venv], ["pip", "install", "--python", venv + "/bin/python", "pytest"]] {
        let result = try runner.run(Command("uv", arguments, logPath: scratch + "/uv.log", inheritEnvironment: true, timeout: 300))
        guard result.succeeded else {
            throw CommandError.spawnFailed(executable: "uv " + arguments.joined(separator: " "), errno: EIO)
        }
    }
    return (venv + "/bin/python", [:])
}

final class PytestReportTests: XCTestCase {
    // Set once in the class setUp, before XCTest runs this class's tests one after another.
    nonisolated(unsafe) static var project = ""
    nonisolated(unsafe) static var python: (executable: String, environment: [String: String]) = ("", [:])

    override class func setUp() {
        super.setUp()
        project = (try? makeTempDirectory("pytest-project")) ?? ""
        for (path, text) in pytestProjectFiles {
            try? write(text, to: project + "/" + path)
        }
        try? FileManager.default.createDirectory(atPath: project + "/.scratch", withIntermediateDirectories: true)
        python = (try? pythonWithPytest(scratch: project + "/.scratch")) ?? ("", [:])
    }

    override class func tearDown() {
        try? FileManager.default.removeItem(atPath: project)
        super.tearDown()
    }

    /// Runs the project's real pytest; returns (log text, junit path).
    private func runPytest(_ label: String, _ extra: [String]) throws -> (log: String, xml: String) {
        let project = Self.project
        XCTAssertFalse(Self.python.executable.isEmpty, "no python with pytest and uv could not install it")
        var environment = Self.python.environment
        environment["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        environment["COLUMNS"] = "200"
        let xml = "\(project)/.scratch/\(label).xml"
        let command = Command(Self.python.executable,
                              ["-m", "pytest", "-p", "no:cacheprovider", "--continue-on-collection-errors",
                               "--junitxml=\(xml)"] + extra + ["tests"],
                              logPath: "\(project)/.scratch/\(label).log", environment: environment,
                              workingDirectory: project, timeout: 120)
        let result = try CommandRunner().run(command)
        XCTAssertEqual(result.exitCode, 1, "pytest exits 1 when tests fail")
        return (try String(contentsOfFile: result.logPath, encoding: .utf8), xml)
    }

    func testJUnitXMLAndVerboseLogAgreeOnEveryTest() throws {
        let run = try runPytest("verbose", ["-o", "junit_family=xunit1", "-rA", "-v"])
        let fromXML = try JUnitReport.parse(fileAt: run.xml, pytestRoot: Self.project)
        XCTAssertEqual(fromXML.statuses, expectedPytestStatuses)
        XCTAssertEqual(fromXML.warnings, [])
        // Without the root the inherited test's id is still right, but flagged as guessed.
        let withoutRoot = try JUnitReport.parse(fileAt: run.xml)
        XCTAssertEqual(withoutRoot.statuses, expectedPytestStatuses)
        XCTAssertEqual(withoutRoot.warnings.count, 1)
        XCTAssertTrue(withoutRoot.warnings.first?.contains("tests.test_inherit.TestChild does not start with file tests/helpers.py") == true)

        let fromLog = PytestLog.parse(run.log)
        XCTAssertEqual(fromLog.statuses, expectedPytestStatuses)
        XCTAssertEqual(fromLog.unnamedSkips, 0, "-v names every skipped test")
    }

    func testShortSummaryAloneNamesEverythingButSkips() throws {
        let run = try runPytest("summary", ["-o", "junit_family=xunit1", "-rA"])
        let fromLog = PytestLog.parse(run.log)
        XCTAssertEqual(fromLog.statuses, expectedPytestStatuses.filter { $0.value != .skipped })
        XCTAssertEqual(fromLog.unnamedSkips, 2)
        XCTAssertEqual(try JUnitReport.parse(fileAt: run.xml).statuses, expectedPytestStatuses)
    }

    func testXunit2WithoutFileAttributesIsMappedBackWithOrWithoutTheProjectRoot() throws {
        let run = try runPytest("xunit2", ["-o", "junit_family=xunit2"])
        let xml = try String(contentsOfFile: run.xml, encoding: .utf8)
        XCTAssertFalse(xml.contains(" file=\""), "xunit2 has no file attribute")

        let withRoot = try JUnitReport.parse(fileAt: run.xml, producer: .pytest, pytestRoot: Self.project)
        XCTAssertEqual(withRoot.statuses, expectedPytestStatuses)
        XCTAssertEqual(withRoot.warnings, [])

        let guessed = try JUnitReport.parse(fileAt: run.xml, producer: .pytest)
        XCTAssertEqual(guessed.statuses, expectedPytestStatuses)
        XCTAssertEqual(guessed.warnings.count, expectedPytestStatuses.count)
        XCTAssertTrue(guessed.warnings.allSatisfy { $0.contains(run.xml) && $0.contains("guessed") })
    }

    func testPytestInsideTheBubblewrapSandboxGivesTheSameReport() throws {
        let project = Self.project
        var environment = Self.python.environment
        environment["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        let xml = "\(project)/.scratch/sandboxed.xml"
        // The sandbox hides homes (pyenv's interpreters live in one): run the interpreter by its
        // real path and bind its installation read-only, as test runs bind an environment's.
        let probe = Command(Self.python.executable, ["-c", "import sys; print(sys.executable); print(sys.base_prefix)"],
                            logPath: "\(project)/.scratch/probe.log", environment: environment)
        XCTAssertTrue(try CommandRunner().run(probe).succeeded)
        let lines = try String(contentsOfFile: "\(project)/.scratch/probe.log", encoding: .utf8).split(separator: "\n").map(String.init)
        let (executable, prefix) = (lines[0], lines[1])
        environment["PATH"] = (executable as NSString).deletingLastPathComponent + ":/usr/bin:/bin"
        let sandbox = try Sandbox(policy: .bubblewrap(workDirectory: project,
                                                      readOnly: ["/usr", "/usr/local"].contains(prefix) ? [] : [BindMount(prefix)]))
        let result = try sandbox.run(Command(executable,
                                             ["-m", "pytest", "-p", "no:cacheprovider", "--continue-on-collection-errors",
                                              "-o", "junit_family=xunit1", "-rA", "--junitxml=\(xml)", "tests"],
                                             logPath: "\(project)/.scratch/sandboxed.log", environment: environment,
                                             workingDirectory: project, timeout: 120))
        XCTAssertEqual(result.exitCode, 1)
        XCTAssertEqual(try JUnitReport.parse(fileAt: xml).statuses, expectedPytestStatuses)
        let fromLog = PytestLog.parse(try String(contentsOfFile: result.logPath, encoding: .utf8))
        XCTAssertEqual(fromLog.statuses, expectedPytestStatuses.filter { $0.value != .skipped })
    }

    func testSummaryLinesWithColoursXdistAndDashesInParameters() {
        let log = """
            [gw0] [ 50%] PASSED tests/test_a.py::test_one
            [gw1] [100%] FAILED tests/test_a.py::TestK::test_two[p - q]
            \u{1B}[32mPASSED\u{1B}[0m tests/test_b.py::test_three[x]
            FAILED tests/test_b.py::test_four[a - b] - AssertionError: left - right
            ERROR tests/test_c.py - ImportError: no module
            XFAIL tests/test_b.py::test_five - reason - with dash
            SKIPPED [3] tests/test_b.py:10: slow
            FAILED this is not a node id
            tests/test_b.py::test_six PASSED                                        [ 33%]
            tests/test_b.py::test_six ERROR                                         [ 33%]
            """
        let report = PytestLog.parse(log)
        XCTAssertEqual(report.statuses, [
            "tests/test_a.py::test_one": .passed,
            "tests/test_a.py::TestK::test_two[p - q]": .failed,
            "tests/test_b.py::test_three[x]": .passed,
            "tests/test_b.py::test_four[a - b]": .failed,
            "tests/test_c.py": .error,
            "tests/test_b.py::test_five": .passed,
            "tests/test_b.py::test_six": .error,
        ])
        XCTAssertEqual(report.unnamedSkips, 3)
    }
}
