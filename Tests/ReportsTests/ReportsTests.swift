import Foundation
import Reports
import Store
import XCTest

final class ReportsTests: XCTestCase {
    var fixture: ReportFixture!

    override func setUpWithError() throws { fixture = try ReportFixture.make() }
    override func tearDown() { fixture?.remove() }

    /// Renders the fixture's report to its page file and returns the HTML.
    func renderPage(kind: VerdictKind = .validation) throws -> String {
        try ReportPage.write(try RunReport(store: fixture.store, kind: kind), to: fixture.page)
        return try String(contentsOfFile: fixture.page, encoding: .utf8)
    }

    func testPageIsWellFormedAndHeadlineCountsMatchTheStore() throws {
        let html = try renderPage()
        let page = try XCTUnwrap(ElementCollector.parse(html))
        var stats: [String: String] = [:]
        for card in page.all("div", where: { $0.attributes["data-stat"] != nil }) {
            let value = try XCTUnwrap(page.children(of: card).first { $0.attributes["class"] == "value" })
            stats[card.attributes["data-stat"]!] = value.text
        }
        let store = fixture.store
        let taskCount = try store.taskCount()
        XCTAssertEqual(taskCount, 6)
        XCTAssertEqual(stats["tasks"], String(taskCount))
        for status in ["valid", "invalid", "error"] {
            XCTAssertEqual(stats[status], String(try store.verdicts(kind: .validation, status: status).count), status)
        }
        let pending = taskCount - (try store.verdicts(kind: .validation).count)
        XCTAssertEqual(stats["pending"], String(pending))
        XCTAssertEqual(stats["yield"], "33%")            // 2 valid of 6 mined
        XCTAssertEqual(stats["environments"], String(try store.environments().count))
        var runCount = 0
        for id in try store.instanceIDs() { runCount += try store.runs(instanceID: id).count }
        XCTAssertEqual(stats["runs"], String(runCount))

        // One task row per task, each carrying its verdict's status.
        let rows = page.all("details", where: { $0.attributes["class"] == "task" })
        XCTAssertEqual(rows.count, taskCount)
        XCTAssertEqual(rows.filter { $0.attributes["data-status"] == "valid" }.count, 2)
        XCTAssertEqual(rows.filter { $0.attributes["data-status"] == "pending" }.count, pending)
        // Our sorting script is the page's only script, and it has no src: nothing is fetched.
        XCTAssertEqual(page.all("script").count, 1)
        XCTAssertFalse(page.elements.contains { $0.attributes["src"] != nil || $0.name == "link" })
        XCTAssertFalse(html.contains("http://") && !html.contains("xmlns=\"http://www.w3.org/2000/svg\""))
    }

    func testEverySVGIsWellFormedAndItsBarsMatchTheStore() throws {
        let html = try renderPage()
        // Each chart card by its id, then the first <svg>…</svg> after it.
        let ids = ["chart-status", "chart-reasons", "chart-repos", "chart-walltime", "chart-envs"]
        let svgs = try ids.map { id -> String in
            let card = try XCTUnwrap(html.range(of: "id=\"\(id)\""), id)
            let start = try XCTUnwrap(html.range(of: "<svg", range: card.upperBound..<html.endIndex))
            let end = try XCTUnwrap(html.range(of: "</svg>", range: start.upperBound..<html.endIndex))
            return String(html[start.lowerBound..<end.upperBound])
        }
        XCTAssertEqual(html.components(separatedBy: "<svg").count - 1, 5, "verdicts, reasons, per-repository yield, wall time, build time")
        let charts = try svgs.map { try XCTUnwrap(ElementCollector.parse($0)) }
        for chart in charts {
            XCTAssertEqual(chart.elements.first?.name, "svg")
            XCTAssertFalse(chart.all("rect").isEmpty, "every chart has data in the fixture")
            XCTAssertFalse(chart.all("text").isEmpty, "every chart has labels")
        }
        func bars(_ chart: ElementCollector) -> [String: Double] {
            var values: [String: Double] = [:]
            for rect in chart.all("rect") { values[rect.attributes["data-label"]!, default: 0] += Double(rect.attributes["data-value"]!)! }
            return values
        }
        // Verdict bars: one per status, the length being the store's count.
        XCTAssertEqual(bars(charts[0]), ["valid": 2, "invalid": 2, "error": 1, "pending": 1])
        // Reason bars group by the text before ": ".
        XCTAssertEqual(bars(charts[1]), ["no FAIL_TO_PASS": 1, "PASS_TO_FAIL": 1, "env build failed": 1])
        // Per-repository stacked bars: valid segment / total.
        XCTAssertEqual(bars(charts[2]), ["acme/widgets": 3, "beta/tools": 3])
        let acmeValid = charts[2].all("rect", where: { $0.attributes["data-label"] == "acme/widgets" && $0.attributes["data-series"] == "valid" })
        XCTAssertEqual(acmeValid.first?.attributes["data-value"], "2")
        XCTAssertTrue(charts[2].elements.contains { $0.name == "text" && $0.text == "2/3 · 67%" })
        // The histogram counts every run once.
        let runsInHistogram = charts[3].all("rect").reduce(0) { $0 + Int($1.attributes["data-value"]!)! }
        XCTAssertEqual(runsInHistogram, 10)
        XCTAssertEqual(bars(charts[4]).count, 2, "one bar per environment")
    }

    func testUserTextIsEscapedAndInert() throws {
        let html = try renderPage()
        XCTAssertFalse(html.contains("<script>alert"))
        XCTAssertFalse(html.contains("<img"))
        XCTAssertFalse(html.contains("<b>test_y"))
        XCTAssertTrue(html.contains("Crash on &lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt; &amp; &lt;/details&gt;"))
        let page = try XCTUnwrap(ElementCollector.parse(html))
        XCTAssertEqual(page.all("script").count, 1)
        XCTAssertTrue(page.all("img").isEmpty)
        XCTAssertFalse(page.elements.contains { $0.attributes.keys.contains("onerror") })
        // The hostile text survives as text: the statement block shows it verbatim.
        let statement = page.all("pre", where: { $0.attributes["class"] == "statement" && $0.text.hasPrefix("Crash") })
        XCTAssertEqual(statement.first?.text, ReportFixture.hostile)
        XCTAssertEqual(Markup.escape("a<b>&\"c'\u{1}"), "a&lt;b&gt;&amp;&quot;c&#39;")
    }

    func testLogLinksAreRelativeAndResolveToTheStoredLogs() throws {
        let page = try XCTUnwrap(ElementCollector.parse(try renderPage()))
        let pageFolder = URL(fileURLWithPath: (fixture.page as NSString).deletingLastPathComponent + "/", isDirectory: true)
        var stored: [String: Bool] = [:]   // log path → exists on disk
        for id in try fixture.store.instanceIDs() {
            for run in try fixture.store.runs(instanceID: id) {
                stored[URL(fileURLWithPath: run.logPath!).standardizedFileURL.path] = FileManager.default.fileExists(atPath: run.logPath!)
            }
        }
        let links = page.all("a", where: { ($0.attributes["class"] ?? "").hasPrefix("log") })
        XCTAssertEqual(Set(links.map { $0.attributes["href"]! }).count, stored.count, "one link per run, shown in the row and the detail")
        for link in links {
            let href = link.attributes["href"]!
            XCTAssertFalse(href.hasPrefix("/") || href.contains("://"), "relative: \(href)")
            XCTAssertTrue(href.hasPrefix("../runs/validate/"), href)
            let resolved = try XCTUnwrap(URL(string: href, relativeTo: pageFolder)).standardizedFileURL.path
            let exists = try XCTUnwrap(stored[resolved], "\(href) resolves to \(resolved), not a stored log")
            XCTAssertEqual((link.attributes["class"] ?? "").contains("missing"), !exists, href)
        }
        XCTAssertTrue(links.contains { $0.attributes["href"]!.contains("odd%20%23dir%3A%20a%3Fb/test.log") })
        XCTAssertEqual(Markup.relativeURL(to: "/a/b/c.log", from: "/a/x/y"), "../../b/c.log")
        XCTAssertEqual(Markup.relativeURL(to: "/a/b/c.log", from: "/a/b"), "c.log")
    }

    func testEvaluationReportCoversOnlyEvaluatedTasks() throws {
        let page = try XCTUnwrap(ElementCollector.parse(try renderPage(kind: .evaluation(runID: "r1"))))
        let rows = page.all("details", where: { $0.attributes["class"] == "task" })
        XCTAssertEqual(rows.compactMap { $0.attributes["data-status"] }.sorted(), ["resolved", "unresolved"])
        XCTAssertTrue(page.elements.contains { $0.attributes["data-stat"] == "yield" && $0.text.hasPrefix("50%") })
        XCTAssertEqual(try VerdictKind.parse("eval:r1"), .evaluation(runID: "r1"))
        XCTAssertThrowsError(try VerdictKind.parse("eval:")) { XCTAssertEqual($0 as? ReportError, .badKind("eval:")) }
        XCTAssertThrowsError(try VerdictKind.parse("valid"))
    }

    func testWriteFailureIsATypedErrorNamingThePage() throws {
        let blocker = fixture.folder + "/blocker"
        try Data("a file, not a folder".utf8).write(to: URL(fileURLWithPath: blocker))
        let report = try RunReport(store: fixture.store)
        XCTAssertThrowsError(try ReportPage.write(report, to: blocker + "/report.html")) { error in
            guard case ReportError.cannotWrite(let path, _)? = error as? ReportError else { return XCTFail("\(error)") }
            XCTAssertEqual(path, blocker + "/report.html")
            XCTAssertTrue("\(error)".hasPrefix("cannot write report \(blocker)/report.html: "))
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: fixture.page), "nothing half-written")
    }

    func testHistogramBinsAndTicks() {
        let values = [0.3, 0.04, 1.5, 7, 45, 700, 700]
        let histogram = Histogram.durations([(name: "all", color: "#000", values: values)])
        XCTAssertEqual(histogram.totals.reduce(0, +), values.count)
        XCTAssertEqual(histogram.edges.first, 0.02)
        XCTAssertEqual(histogram.edges.last, 1200)
        for value in values {
            let bin = histogram.edges.lastIndex { $0 <= value }!
            XCTAssertGreaterThan(histogram.series[0].counts[bin], 0, "\(value) in [\(histogram.edges[bin]), \(histogram.edges[bin + 1]))")
        }
        // A narrow spread is widened to six bins around it.
        XCTAssertEqual(Histogram.durations([(name: "x", color: "#000", values: [3, 4])]).edges.count, 7)
        XCTAssertEqual(SVGPlot.ticks(upTo: 7, integers: true), [0, 2, 4, 6, 8])
        XCTAssertEqual(SVGPlot.ticks(upTo: 3, integers: true), [0, 1, 2, 3])
        XCTAssertEqual(SVGPlot.ticks(upTo: 0.9), [0, 0.2, 0.4, 0.6, 0.8, 1.0])
        // An empty chart is still a well-formed SVG that says so.
        let empty = SVGPlot.horizontalBars([])
        XCTAssertNotNil(ElementCollector.parse(empty))
        XCTAssertTrue(empty.contains("no data"))
    }
}

final class LargeReportTests: XCTestCase {
    /// 300 tasks in 25 repositories, 900 runs, 40 environments: the charts summarise instead of growing.
    func testManyRepositoriesAndEnvironmentsAreSummarised() throws {
        let folder = NSTemporaryDirectory() + "forge-report-large-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let store = try TaskStore(path: folder + "/forge.db")
        var tasks: [TaskRecord] = [], runs: [TestRunRecord] = [], verdicts: [VerdictRecord] = [], environments: [EnvironmentRecord] = []
        let statuses = ["valid", "invalid", "invalid", "error"]
        for index in 0..<300 {
            // Repository r has r+1 tasks' worth of weight, so sizes differ.
            let repo = "org\(index % 25)/project-with-a-long-name-\(index % 25)"
            let id = TaskRecord.instanceID(repo: repo, pullNumber: index)
            tasks.append(TaskRecord(instanceID: id, repo: repo, baseCommit: String(repeating: "b", count: 40),
                                    patch: "+x\n", testPatch: "+t\n", problemStatement: "Task \(index)",
                                    createdAt: "2024-01-01T00:00:00Z", version: "1.0",
                                    environmentSetupCommit: String(repeating: "b", count: 40), statementSource: .commit))
            var ids: [String] = []
            for (phase, attempt) in [(RunPhase.before, 0), (.after, 0), (.after, 1)] {
                let run = TestRunRecord(instanceID: id, purpose: "validate", phase: phase, attempt: attempt, command: ["pytest"],
                                        exitStatus: 0, wallSeconds: pow(1.05, Double(index % 97)) * (phase == .before ? 0.5 : 1),
                                        logPath: "\(folder)/runs/\(id)/\(phase)-\(attempt)/test.log")
                runs.append(run); ids.append(run.id)
            }
            verdicts.append(VerdictRecord(instanceID: id, kind: .validation, status: statuses[index % 4],
                                          reason: index % 4 == 0 ? nil : "reason \(index % 3): detail \(index)", runIDs: ids))
        }
        for index in 0..<40 {
            environments.append(EnvironmentRecord(key: "env\(index)", recipeName: "r", recipeHash: "h", interpreter: "cpython-3.\(index % 5 + 8)",
                                                  manifestsHash: "m", status: index % 7 == 0 ? .failed : .built,
                                                  buildSeconds: Double(index * index) / 4 + 1))
        }
        try store.save(tasks: tasks, runs: runs, verdicts: verdicts, environments: environments)

        let started = Date()
        let report = try RunReport(store: store)
        let loaded = Date()
        let html = ReportPage.html(for: report, pageDirectory: folder)
        let seconds = Date().timeIntervalSince(started)
        print("large report: \(html.utf8.count / 1024) KiB; store read \(String(format: "%.2f", loaded.timeIntervalSince(started))) s, "
              + "page \(String(format: "%.2f", Date().timeIntervalSince(loaded))) s")
        let page = try XCTUnwrap(ElementCollector.parse(html))
        XCTAssertEqual(page.all("details", where: { $0.attributes["class"] == "task" }).count, 300)

        func chart(_ id: String) throws -> ElementCollector {
            let card = try XCTUnwrap(page.elements.first { $0.attributes["id"] == id })
            let svg = try XCTUnwrap(page.children(of: card).first { $0.name == "svg" })
            let rects = page.elements.filter { $0.name == "rect" && isInside($0, svg) }
            let collector = ElementCollector.parse("<svg>" + rects.map { "<rect data-label=\"\(Markup.escape($0.attributes["data-label"]!))\" data-value=\"\($0.attributes["data-value"]!)\"/>" }.joined() + "</svg>")
            return try XCTUnwrap(collector)
        }
        func isInside(_ element: ElementCollector.Element, _ ancestor: ElementCollector.Element) -> Bool {
            var parent = element.parent
            while let index = parent { if index == ancestor.index { return true }; parent = page.elements[index].parent }
            return false
        }
        let repos = try chart("chart-repos").all("rect")
        XCTAssertEqual(Set(repos.map { $0.attributes["data-label"]! }).count, 16, "15 largest repositories and one for the rest")
        XCTAssertTrue(repos.contains { $0.attributes["data-label"] == "other 10 repositories" })
        XCTAssertEqual(repos.reduce(0) { $0 + Int($1.attributes["data-value"]!)! }, 300)
        // 40 environments become a histogram whose counts add up to 40.
        let environmentBins = try chart("chart-envs").all("rect")
        XCTAssertEqual(environmentBins.reduce(0) { $0 + Int($1.attributes["data-value"]!)! }, 40)
        XCTAssertTrue(environmentBins.allSatisfy { $0.attributes["data-label"]!.contains("–") }, "bins are labelled by range")
        XCTAssertEqual(try chart("chart-walltime").all("rect").reduce(0) { $0 + Int($1.attributes["data-value"]!)! }, 900)
        XCTAssertLessThan(seconds, 10)
        if let keep = ProcessInfo.processInfo.environment["FORGE_REPORT_KEEP"] {
            try ReportPage.write(report, to: keep + "/large.html")
        }
    }
}
