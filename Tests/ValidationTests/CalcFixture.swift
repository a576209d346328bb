import Foundation
import Git
import Mining
import Store

/// `calc`, a Python fixture whose history holds four merged pull requests, one per verdict:
/// #1 a real fix (valid), #2 a test that passed already (no FAIL_TO_PASS), #3 a fix plus a
/// flaky test (valid, the flaky test excluded), #4 a fix that breaks another test (PASS_TO_FAIL).
/// All tests live in tests/test_ops.py, so every task runs all of them.
final class CalcFixture {
    static let repo = "forge-tests/calc"
    let repository: FixtureRepo
    /// The mined tasks by pull request number.
    let tasks: [Int: TaskRecord]

    static let opsBase = """
    def add(a, b):
        return a + b


    def mul(a, b):
        return a * b


    def clamp(value, low, high):
        \"\"\"Limits value to [low, high].\"\"\"
        if value < low:
            return low
        return value


    def percent(part, whole):
        return part / whole * 100

    """

    static let testsBase = """
    from calc.ops import add, mul, clamp, percent


    def test_add():
        assert add(2, 3) == 5


    def test_mul():
        assert mul(4, 5) == 20


    def test_clamp_low():
        assert clamp(-1, 0, 10) == 0

    """

    // PR #1: clamp ignored its upper bound.
    static let opsAfter1 = opsBase.replacingOccurrences(of: """
        if value < low:
            return low
        return value
    """, with: """
        if value < low:
            return low
        if value > high:
            return high
        return value
    """)
    static let testsAfter1 = testsBase + """


    def test_clamp_high():
        assert clamp(11, 0, 10) == 10

    """

    // PR #2: documents percent and tests what already worked.
    static let opsAfter2 = opsAfter1.replacingOccurrences(of: """
    def percent(part, whole):

    """, with: """
    def percent(part, whole):
        \"\"\"part as a percentage of whole.\"\"\"

    """)
    static let testsAfter2 = testsAfter1 + """


    def test_percent():
        assert percent(1, 4) == 25.0

    """

    // PR #3: percent of nothing is 0; the PR also adds a test that fails on every second run.
    static let opsAfter3 = opsAfter2.replacingOccurrences(of: """
        return part / whole * 100
    """, with: """
        if whole == 0:
            return 0.0
        return part / whole * 100
    """)
    static let testsAfter3 = testsAfter2.replacingOccurrences(of: "from calc.ops", with: "import os\n\nfrom calc.ops") + """


    def test_percent_of_nothing():
        assert percent(3, 0) == 0.0


    def _attempt():
        # Forge runs every attempt in a fresh <runs>/validate/<task>/<phase>-<attempt>/work folder,
        # mounted at a fixed path in the sandbox; the mount table still names the source folder.
        # The attempt number makes this test fail on every odd attempt, deterministically.
        work = os.getcwd()
        with open("/proc/self/mountinfo") as mounts:
            for line in mounts:
                fields = line.split()
                if fields[4] == work:
                    work = fields[3]
        run_folder = os.path.basename(os.path.dirname(work))
        return int(run_folder.rsplit("-", 1)[1])


    def test_flaky_timing():
        assert _attempt() % 2 == 0, "pretend a race was lost"

    """

    // PR #4: rounds percentages, but rewrites mul with an off-by-one.
    static let opsAfter4 = opsAfter3.replacingOccurrences(of: """
        return a * b
    """, with: """
        return sum(a for _ in range(b - 1))
    """).replacingOccurrences(of: """
        return part / whole * 100
    """, with: """
        return round(part / whole * 100, 1)
    """)
    static let testsAfter4 = testsAfter3 + """


    def test_percent_rounds():
        assert percent(1, 3) == 33.3

    """

    init() throws {
        let git = try FixtureRepo("calc")
        repository = git
        try git.commit("Initial import of calc", [
            "pyproject.toml": PythonFixture.pyproject,
            "calc/__init__.py": PythonFixture.initModule,
            "calc/ops.py": Self.opsBase,
            "tests/test_ops.py": Self.testsBase,
        ])
        try git.mergePullRequest(1, branch: "clamp-high", [
            ("Clamp to the upper bound too", ["calc/ops.py": Self.opsAfter1]),
            ("Test clamp above the range", ["tests/test_ops.py": Self.testsAfter1]),
        ])
        try git.mergePullRequest(2, branch: "percent-docs", [
            ("Document percent", ["calc/ops.py": Self.opsAfter2, "tests/test_ops.py": Self.testsAfter2]),
        ])
        try git.mergePullRequest(3, branch: "percent-zero", [
            ("Percent of nothing is zero", ["calc/ops.py": Self.opsAfter3, "tests/test_ops.py": Self.testsAfter3]),
        ])
        try git.mergePullRequest(4, branch: "percent-round", [
            ("Round percentages to one decimal", ["calc/ops.py": Self.opsAfter4, "tests/test_ops.py": Self.testsAfter4]),
        ])
        let mined = try Miner(repository: try Repository.open(git.path), repo: Self.repo).mine()
        tasks = Dictionary(uniqueKeysWithValues: mined.tasks.map { ($0.pullNumber ?? 0, $0) })
    }

    /// The node id pytest gives a test of tests/test_ops.py.
    static func id(_ name: String) -> String { "tests/test_ops.py::\(name)" }
}
