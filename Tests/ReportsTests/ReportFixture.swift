import Foundation
import Store
import XCTest
#if canImport(FoundationXML)
import FoundationXML
#endif

/// A store in a temp folder with tasks of two repositories, every kind of verdict, runs whose logs
/// exist on disk (one in a folder whose name needs percent-encoding, one missing), environments,
/// and a task whose text tries to inject markup.
struct ReportFixture {
    let folder: String
    let store: TaskStore
    /// Where the page goes (a subfolder, so log links must climb with `..`).
    var page: String { folder + "/out/report.html" }

    static let hostile = "Crash on <script>alert(\"pwned\")</script> & </details></summary><img src=x onerror=alert(1)>"

    static func make() throws -> ReportFixture {
        let folder = NSTemporaryDirectory() + "forge-report-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let store = try TaskStore(path: folder + "/forge.db")
        var tasks: [TaskRecord] = [], runs: [TestRunRecord] = [], verdicts: [VerdictRecord] = []

        func addTask(_ repo: String, _ number: Int, style: MergeStyle?, statement: String = "Fix the widget") -> String {
            let id = TaskRecord.instanceID(repo: repo, pullNumber: number)
            let patch = "diff --git a/src/w.py b/src/w.py\n--- a/src/w.py\n+++ b/src/w.py\n@@ -1,2 +1,2 @@\n-x = 1\n+x = 2\n y = 3\n"
            tasks.append(TaskRecord(instanceID: id, repo: repo, baseCommit: String(repeating: "a", count: 40), patch: patch,
                                    testPatch: "diff --git a/tests/t.py b/tests/t.py\n+def test_x(): assert x == 2\n",
                                    problemStatement: statement, createdAt: "2024-0\(number % 9 + 1)-01T00:00:00Z",
                                    version: "1.\(number)", environmentSetupCommit: String(repeating: "a", count: 40),
                                    pullNumber: number, mergeStyle: style, statementSource: .pullRequest))
            return id
        }
        /// Writes a log file and a run record; returns the run's id.
        func addRun(_ id: String, _ phase: RunPhase, _ attempt: Int, seconds: Double, folderName: String? = nil,
                    writeLog: Bool = true, timedOut: Bool = false) throws -> String {
            let runFolder = "\(folder)/runs/validate/\(id)/\(folderName ?? "\(phase.rawValue)-\(attempt)")"
            try FileManager.default.createDirectory(atPath: runFolder, withIntermediateDirectories: true)
            if writeLog { try Data("log of \(id) \(phase) \(attempt)\n".utf8).write(to: URL(fileURLWithPath: runFolder + "/test.log")) }
            let run = TestRunRecord(instanceID: id, purpose: "validate", phase: phase, attempt: attempt, command: ["pytest"],
                                    exitStatus: timedOut ? nil : (phase == .before ? 1 : 0), wallSeconds: seconds,
                                    timedOut: timedOut, logPath: runFolder + "/test.log", results: ["tests/t.py::test_x": "passed"])
            runs.append(run)
            return run.id
        }

        let a1 = addTask("acme/widgets", 1, style: .merge)
        verdicts.append(VerdictRecord(instanceID: a1, kind: .validation, status: "valid",
                                      failToPass: ["t::a", "t::b"], passToPass: ["t::c", "t::d", "t::e"],
                                      runIDs: [try addRun(a1, .before, 0, seconds: 0.8), try addRun(a1, .after, 0, seconds: 1.7),
                                               try addRun(a1, .after, 1, seconds: 1.9, folderName: "odd #dir: a?b")]))
        let a2 = addTask("acme/widgets", 2, style: .squash)
        verdicts.append(VerdictRecord(instanceID: a2, kind: .validation, status: "invalid", reason: "no FAIL_TO_PASS",
                                      passToPass: ["t::c"],
                                      runIDs: [try addRun(a2, .before, 0, seconds: 4.2), try addRun(a2, .after, 0, seconds: 4.0)]))
        let a3 = addTask("acme/widgets", 3, style: .rebase)
        verdicts.append(VerdictRecord(instanceID: a3, kind: .validation, status: "valid", failToPass: ["t::z"],
                                      runIDs: [try addRun(a3, .before, 0, seconds: 12), try addRun(a3, .after, 0, seconds: 35)]))
        let b4 = addTask("beta/tools", 4, style: .merge, statement: hostile)
        verdicts.append(VerdictRecord(instanceID: b4, kind: .validation, status: "invalid",
                                      reason: "PASS_TO_FAIL: <b>test_y</b> broke", passToFail: ["t::<y>"],
                                      runIDs: [try addRun(b4, .before, 0, seconds: 130), try addRun(b4, .after, 0, seconds: 600, timedOut: true)]))
        let b5 = addTask("beta/tools", 5, style: nil)
        verdicts.append(VerdictRecord(instanceID: b5, kind: .validation, status: "error", reason: "env build failed: uv exited 1",
                                      runIDs: [try addRun(b5, .before, 0, seconds: 0.05, writeLog: false)]))
        _ = addTask("beta/tools", 6, style: .squash)   // not validated yet: pending
        // An evaluation run over two of the tasks.
        verdicts.append(VerdictRecord(instanceID: a1, kind: .evaluation(runID: "r1"), status: "resolved"))
        verdicts.append(VerdictRecord(instanceID: a3, kind: .evaluation(runID: "r1"), status: "unresolved", reason: "tests failed"))

        let environments = [
            EnvironmentRecord(key: "k1", recipeName: "acme-widgets", recipeHash: "h1", interpreter: "cpython-3.11.7",
                              manifestsHash: "m1", status: .built, strategy: "uv-lock", buildSeconds: 12.5),
            EnvironmentRecord(key: "k2", recipeName: "beta-tools", recipeHash: "h2", interpreter: "cpython-3.8.18",
                              manifestsHash: "m2", status: .failed, strategy: "requirements", buildSeconds: 3.25, error: "uv exited 1"),
        ]
        try store.save(tasks: tasks, runs: runs, verdicts: verdicts, environments: environments)
        return ReportFixture(folder: folder, store: store)
    }

    func remove() { try? FileManager.default.removeItem(atPath: folder) }
}

/// Parses XML with Foundation's XMLParser and keeps every element's name and attributes.
final class ElementCollector: NSObject, XMLParserDelegate {
    struct Element { var name: String; var attributes: [String: String]; var index: Int; var parent: Int?; var text = "" }
    private(set) var elements: [Element] = []
    private var open: [Int] = []
    private(set) var error: String?

    /// Nil when `markup` is not well-formed; `error` then says where.
    static func parse(_ markup: String) -> ElementCollector? {
        let collector = ElementCollector()
        let parser = XMLParser(data: Data(markup.utf8))
        parser.delegate = collector
        guard parser.parse() else {
            collector.error = "line \(parser.lineNumber), column \(parser.columnNumber): \(parser.parserError.map { "\($0)" } ?? "?")"
            XCTFail("not well-formed XML at \(collector.error!)")
            return nil
        }
        return collector
    }

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        elements.append(Element(name: name, attributes: attributes, index: elements.count, parent: open.last))
        open.append(elements.count - 1)
    }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        open.removeLast()
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        // Text belongs to every open element, so a card's text includes its children's.
        for index in open { elements[index].text += string }
    }

    func children(of element: Element) -> [Element] { elements.filter { $0.parent == element.index } }

    func all(_ name: String, where predicate: (Element) -> Bool = { _ in true }) -> [Element] {
        elements.filter { $0.name == name && predicate($0) }
    }
}
