import Environments
import Foundation
import Store
import Validation
import XCTest

/// A project that runs its tests with a runner script of its own (`bin/test`, SymPy's interface:
/// file paths in, `test_name ok|F|E` lines out), validated the way `forge validate` does it —
/// BatchValidation over a real export, a uv environment and bubblewrap. The project also has a
/// conftest.py, so pytest would collect it too: the verdict's bare ids show the script ran.
final class RunnerScriptValidationTests: XCTestCase {
    /// A few lines of runner written for this test: imports each file, calls its `test_*`
    /// functions, prints one verbose line per test and a file's `[OK]`/`[FAIL]` on its last line.
    static let runner = """
    #!/usr/bin/env python
    \"\"\"bin/test [-C] [--verbose] FILE...: run the test_* functions of each file.\"\"\"
    import importlib.util
    import os
    import sys

    paths = [argument for argument in sys.argv[1:] if not argument.startswith("-")]
    all_ok = True
    for path in paths:
        spec = importlib.util.spec_from_file_location(os.path.basename(path)[:-3], path)
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as error:
            print("%s[?]   Failed to import: %r [FAIL]" % (path, error))
            all_ok = False
            continue
        names = sorted(name for name in vars(module) if name.startswith("test_"))
        sys.stdout.write("%s[%d] " % (path, len(names)))
        file_ok = True
        for name in names:
            sys.stdout.write("\\n%s " % name)
            try:
                getattr(module, name)()
                sys.stdout.write("ok")
            except AssertionError:
                sys.stdout.write("F")
                file_ok = False
            except Exception:
                sys.stdout.write("E")
                file_ok = False
        sys.stdout.write("   %s\\n\\n" % ("[OK]" if file_ok else "[FAIL]"))
        all_ok = all_ok and file_ok
    sys.exit(0 if all_ok else 1)

    """

    static let opsBase = """
    def add(a, b):
        return a + b


    def clamp(value, low, high):
        if value < low:
            return low
        return value

    """

    static let opsFixed = opsBase.replacingOccurrences(of: "        return low\n", with: "        return low\n    if value > high:\n        return high\n")

    static let testsBase = """
    from algebra.ops import add, clamp


    def test_add():
        assert add(2, 3) == 5


    def test_clamp_low():
        assert clamp(-4, 0, 10) == 0

    """

    static let testsFixed = testsBase + """


    def test_clamp_high():
        assert clamp(14, 0, 10) == 10

    """

    func testTaskOfARunnerScriptProjectIsConfirmedWithTheScriptsIds() throws {
        let git = try FixtureRepo("runner-script", start: "2023-03-01T10:00:00Z")
        let base = try git.commit("Initial import", [
            "setup.py": "from setuptools import setup\n\nsetup(name='algebra', version='0.1', packages=['algebra'])\n",
            "README.md": "# algebra\n\nRun the tests with `bin/test`, or one file: `bin/test algebra/tests/test_ops.py`.\n",
            "conftest.py": "# pytest can collect the tests too.\n",
            "bin/test": Self.runner,
            "algebra/__init__.py": "",
            "algebra/ops.py": Self.opsBase,
            "algebra/tests/__init__.py": "",
            "algebra/tests/test_ops.py": Self.testsBase,
        ])
        let fixed = try git.commit("Clamp to the upper bound too", [
            "algebra/ops.py": Self.opsFixed,
            "algebra/tests/test_ops.py": Self.testsFixed,
        ])
        let task = try git.task("forge-tests__algebra-1", repo: "forge-tests/algebra", base: base, head: fixed,
                                code: ["algebra/ops.py"], tests: ["algebra/tests"])
        let store = try Harness.store()
        try store.save(tasks: [task])
        let summary = try BatchValidation.run(tasks: [task], validator: try Harness.validator(git, reruns: 0), store: store)
        XCTAssertEqual(summary.tried, 1)

        let verdict = try XCTUnwrap(try store.verdict(instanceID: task.instanceID, kind: .validation))
        let runs = try store.runs(instanceID: task.instanceID, purpose: "validate")
        XCTAssertEqual(verdict.status, "valid", "\(verdict.reason ?? "") \(runs.map { log(of: $0) })")
        // Bare function names: the runner script's ids (pytest's would be paths with `::`).
        XCTAssertEqual(verdict.failToPass, ["test_clamp_high"])
        XCTAssertEqual(verdict.passToPass, ["test_add", "test_clamp_low"])
        XCTAssertEqual(verdict.passToFail, [])
        XCTAssertEqual(runs.count, 2)
        for run in runs {
            XCTAssertEqual(Array(run.command.dropFirst().prefix(3)), ["bin/test", "-C", "--verbose"], "\(run.command)")
            XCTAssertEqual(run.command.last, "algebra/tests/test_ops.py")
            XCTAssertNil(run.junitPath, "the script writes no JUnit XML")
            XCTAssertEqual(run.exitStatus, run.phase == .before ? 1 : 0, log(of: run))
        }
        let environment = try XCTUnwrap(try store.environments(status: .built).first { $0.key == runs.first?.environmentKey })
        XCTAssertTrue(environment.strategy?.contains("test runner bin-test: bin/test is the project's runner: README.md runs it") == true,
                      environment.strategy ?? "no strategy")
    }
}
