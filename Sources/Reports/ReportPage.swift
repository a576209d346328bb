import Foundation
import Store

/// Renders a `RunReport` as one self-contained HTML page: inline CSS, inline SVG charts and a
/// few lines of inline JavaScript for sorting and filtering the task list. Nothing is fetched.
/// The page is also well-formed XML, so tools (and tests) can parse it whole.
public enum ReportPage {
    /// The page's HTML. Links to logs are relative to `pageDirectory`, the folder the page will be
    /// stored in, so they resolve as file:// when it is opened from disk.
    public static func html(for report: RunReport, pageDirectory: String) -> String {
        var page = Page(report: report, directory: pageDirectory)
        return page.render()
    }

    /// Renders the page and writes it to `file` atomically (a complete page or none), creating
    /// its folder if needed.
    public static func write(_ report: RunReport, to file: String) throws {
        let directory = (Markup.absoluteComponents(file).dropLast()).joined(separator: "/")
        let folder = "/" + directory
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try Data(html(for: report, pageDirectory: folder).utf8).write(to: URL(fileURLWithPath: file), options: .atomic)
        } catch {
            throw ReportError.cannotWrite(path: file, reason: "\(error)")
        }
    }

    /// The colour a status is drawn in; unknown statuses get a neutral indigo.
    public static func color(status: String) -> String {
        switch status {
        case "valid", "resolved": return "#16a34a"
        case "invalid", "unresolved": return "#dc2626"
        case "error": return "#d97706"
        case RunReport.pending: return "#9ca3af"
        default: return "#6366f1"
        }
    }
}

/// Why a report could not be produced.
public enum ReportError: Error, CustomStringConvertible, Equatable {
    case cannotWrite(path: String, reason: String)
    case badKind(String)

    public var description: String {
        switch self {
        case let .cannotWrite(path, reason): return "cannot write report \(path): \(reason)"
        case let .badKind(kind): return "unknown verdict kind '\(kind)': expected validation or eval:<run id>"
        }
    }
}

extension VerdictKind {
    /// Parses `validation` or `eval:<run id>`; anything else throws `ReportError.badKind`.
    public static func parse(_ text: String) throws -> VerdictKind {
        if text == "validation" { return .validation }
        if text.hasPrefix("eval:"), text.count > 5 { return VerdictKind(rawValue: text) }
        throw ReportError.badKind(text)
    }
}

/// One rendering pass (kept as a struct so the helpers share the report and the page folder).
struct Page {
    let report: RunReport
    let directory: String
    /// Lines of a patch shown before the rest is cut (the page must stay light with many tasks).
    static let patchLineLimit = 400

    init(report: RunReport, directory: String) { self.report = report; self.directory = directory }

    mutating func render() -> String {
        let title = "Forge · \(report.isEvaluation ? "evaluation" : "validation") report"
        var html = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>"
        html += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>"
        html += "<title>\(esc(title)) · \(esc(fileName(report.storePath)))</title>"
        html += "<style>\(ReportAssets.css)</style></head>\n<body>\n"
        html += header(title: title)
        html += stats()
        html += charts()
        html += taskList()
        html += "<footer>Drawn by Forge from <code>\(esc(report.storePath))</code>. Log links are relative to this page.</footer>\n"
        html += "<script>//<![CDATA[\n\(ReportAssets.script)\n//]]></script>\n</body></html>\n"
        return html
    }

    // MARK: - Header and headline numbers

    func header(title: String) -> String {
        let stamp = ISO8601DateFormatter.string(from: report.generatedAt, timeZone: TimeZone(identifier: "UTC")!,
                                                formatOptions: [.withInternetDateTime])
        var meta = "store <code>\(esc(report.storePath))</code> · kind <code>\(esc(report.kind.rawValue))</code>"
        meta += " · generated \(esc(stamp))"
        if report.orphanVerdicts > 0 {
            meta += " · \(report.orphanVerdicts) verdict(s) of tasks no longer in the store not shown"
        }
        return "<header><h1>\(esc(title))</h1><p class=\"meta\">\(meta)</p></header>\n"
    }

    func stats() -> String {
        let total = report.tasks.count
        let success = report.count(status: report.successStatus)
        let failure = report.count(status: report.isEvaluation ? "unresolved" : "invalid")
        let errors = report.count(status: "error"), pending = report.count(status: RunReport.pending)
        let runs = report.runs
        let timedOut = runs.filter(\.timedOut).count
        let built = report.environments.filter { $0.status == .built }.count
        var cards: [String] = [
            stat("tasks", String(total), report.isEvaluation ? "tasks evaluated" : "tasks mined",
                 sub: "\(report.repositories.count) repositor\(report.repositories.count == 1 ? "y" : "ies")"),
            stat(report.successStatus, String(success), report.successStatus, sub: Format.percent(success, of: total),
                 color: ReportPage.color(status: report.successStatus)),
            stat(report.isEvaluation ? "unresolved" : "invalid", String(failure), report.isEvaluation ? "unresolved" : "invalid",
                 sub: Format.percent(failure, of: total), color: ReportPage.color(status: "invalid")),
            stat("error", String(errors), "error", sub: Format.percent(errors, of: total), color: ReportPage.color(status: "error")),
        ]
        if pending > 0 {
            cards.append(stat(RunReport.pending, String(pending), "no verdict yet", sub: Format.percent(pending, of: total),
                              color: ReportPage.color(status: RunReport.pending)))
        }
        cards.append(stat("yield", Format.percent(success, of: total), report.isEvaluation ? "resolve rate" : "yield",
                          sub: "\(success) / \(total) \(report.successStatus)", color: ReportPage.color(status: report.successStatus)))
        cards.append(stat("runs", String(runs.count), "test runs",
                          sub: runs.isEmpty ? "none recorded"
                              : Format.duration(runs.reduce(0) { $0 + $1.wallSeconds }) + (timedOut > 0 ? ", \(timedOut) timed out" : " in all")))
        cards.append(stat("environments", String(report.environments.count), "environments",
                          sub: "\(built) built · \(report.environments.count - built) failed"))
        return "<section class=\"stats\">\(cards.joined())</section>\n"
    }

    func stat(_ key: String, _ value: String, _ label: String, sub: String, color: String? = nil) -> String {
        let accent = color.map { " style=\"border-top-color:\($0)\"" } ?? ""
        return "<div class=\"stat\" data-stat=\"\(esc(key))\"\(accent)><div class=\"value\">\(esc(value))</div>"
            + "<div class=\"label\">\(esc(label))</div><div class=\"sub\">\(esc(sub))</div></div>"
    }

    // MARK: - Charts

    func charts() -> String {
        var cards: [String] = []
        let order = [report.successStatus, report.isEvaluation ? "unresolved" : "invalid", "error", RunReport.pending]
        let rank = { (status: String) in (order.firstIndex(of: status) ?? order.count, status) }
        let statusRows = report.statusCounts.sorted { rank($0.status) < rank($1.status) }.map {
            BarRow(label: $0.status, value: Double($0.count), color: ReportPage.color(status: $0.status),
                   note: "\($0.count) · \(Format.percent($0.count, of: report.tasks.count))")
        }
        cards.append(card("Verdicts", id: "chart-status", SVGPlot.horizontalBars(statusRows, axisLabel: "tasks")))

        // A reason's colour is that of the status it mostly comes with (invalid or error).
        var reasonStatus: [String: [String: Int]] = [:]
        for task in report.tasks { if let reason = task.reasonCategory { reasonStatus[reason, default: [:]][task.status, default: 0] += 1 } }
        let reasonRows = report.reasonCounts.map { entry in
            let status = reasonStatus[entry.reason]?.max { $0.value < $1.value }?.key ?? "invalid"
            return BarRow(label: entry.reason, value: Double(entry.count), color: ReportPage.color(status: status))
        }
        cards.append(card("Reasons (tasks not \(report.successStatus))", id: "chart-reasons",
                          SVGPlot.horizontalBars(reasonRows, axisLabel: "tasks")))

        let repoRows = topRepositories().map { repo -> BarRow in
            let statuses = repo.byStatus.keys.sorted { rank($0) < rank($1) }
            let success = repo.byStatus[report.successStatus] ?? 0
            return BarRow(label: repo.repo,
                          segments: statuses.map { BarSegment(value: Double(repo.byStatus[$0]!), color: ReportPage.color(status: $0), name: $0) },
                          note: "\(success)/\(repo.total) · \(Format.percent(success, of: repo.total))")
        }
        let present = order.filter { status in report.repositories.contains { $0.byStatus[status] != nil } }
            + Set(report.tasks.map(\.status)).subtracting(order).sorted()
        cards.append(card(report.isEvaluation ? "Resolve rate per repository" : "Yield per repository (valid / mined)"
                            + (report.repositories.count > Self.repositoryBars ? ", largest \(Self.repositoryBars - 1)" : ""),
                          id: "chart-repos", SVGPlot.horizontalBars(repoRows, axisLabel: "share of each repository's tasks", normalized: true),
                          legend: present.map { ($0, ReportPage.color(status: $0)) }))

        cards.append(environmentCard())

        let runs = report.runs
        let histogram = Histogram.durations(minimumBins: 10, RunPhase.allCases.map { phase in
            (name: phase.rawValue, color: phase == .before ? "#60a5fa" : "#1d4ed8",
             values: runs.filter { $0.phase == phase }.map(\.wallSeconds))
        })
        let timedOut = runs.filter(\.timedOut).count
        cards.append(card("Test-run wall time", id: "chart-walltime",
                          SVGPlot.histogram(histogram, width: 1180, height: 220, xLabel: "wall time per run (log-ish bins)", yLabel: "runs"),
                          legend: [("before (test patch only)", "#60a5fa"), ("after (with the fix)", "#1d4ed8")],
                          caption: "\(runs.count) runs" + (timedOut > 0 ? ", \(timedOut) timed out" : "")
                              + (runs.isEmpty ? "" : ", median \(Format.duration(median(runs.map(\.wallSeconds))))"),
                          wide: true))
        return "<section class=\"charts\">\(cards.joined())</section>\n"
    }

    func environmentCard() -> String {
        let environments = report.environments
        let built = "#0d9488", failed = ReportPage.color(status: "invalid")
        let legend = [("built", built), ("failed", failed)]
        let total = environments.reduce(0) { $0 + $1.buildSeconds }
        let caption = environments.isEmpty ? "no environments recorded"
            : "\(environments.count) environment(s), \(Format.duration(total)) building in all"
        // Up to 14 environments get one bar each; more are summarised as a histogram.
        if environments.count > 14 {
            let histogram = Histogram.durations([
                (name: "built", color: built, values: environments.filter { $0.status == .built }.map(\.buildSeconds)),
                (name: "failed", color: failed, values: environments.filter { $0.status == .failed }.map(\.buildSeconds)),
            ])
            return card("Environment build time", id: "chart-envs",
                        SVGPlot.histogram(histogram, xLabel: "build time (log-ish bins)", yLabel: "environments"),
                        legend: legend, caption: caption)
        }
        let rows = environments.sorted { $0.buildSeconds > $1.buildSeconds }.map { environment in
            return BarRow(label: environmentLabel(environment), value: environment.buildSeconds,
                          color: environment.status == .built ? built : failed,
                          note: Format.duration(environment.buildSeconds) + (environment.strategy.map { " · \($0)" } ?? ""))
        }
        return card("Environment build time", id: "chart-envs",
                    SVGPlot.horizontalBars(rows, axisLabel: "seconds", integers: false),
                    legend: legend, caption: caption)
    }

    /// Repositories shown as bars; beyond that the smallest are summed into one "other" bar.
    static let repositoryBars = 16

    /// Repositories, largest (most tasks) first; when there are many, the largest plus one bar for the rest.
    func topRepositories() -> [RepositoryYield] {
        let bySize = report.repositories.sorted { $0.total != $1.total ? $0.total > $1.total : $0.repo < $1.repo }
        guard bySize.count > Self.repositoryBars else { return bySize }
        let all = bySize
        var other = RepositoryYield(repo: "other \(all.count - Self.repositoryBars + 1) repositories", byStatus: [:])
        for repo in bySize.dropFirst(Self.repositoryBars - 1) {
            other.byStatus.merge(repo.byStatus, uniquingKeysWith: +)
        }
        return Array(bySize.prefix(Self.repositoryBars - 1)) + [other]
    }

    /// `recipe · 3.12.1 · key prefix`: short, and distinct for environments of one recipe.
    func environmentLabel(_ environment: EnvironmentRecord) -> String {
        var parts: [String] = []
        let recipe = ((environment.recipeName as NSString).lastPathComponent as NSString).deletingPathExtension
        if !recipe.isEmpty { parts.append(recipe) }
        // The interpreter field may hold a long description; its version number is what tells environments apart.
        if let match = environment.interpreter.range(of: #"[0-9]+\.[0-9]+(\.[0-9]+)?"#, options: .regularExpression) {
            parts.append(String(environment.interpreter[match]))
        } else if !environment.interpreter.isEmpty {
            parts.append(String(environment.interpreter.prefix(16)))
        }
        parts.append(String(environment.key.prefix(8)))
        return parts.joined(separator: " · ")
    }

    func card(_ title: String, id: String, _ body: String, legend: [(String, String)] = [], caption: String? = nil,
              wide: Bool = false) -> String {
        var html = "<div class=\"card\(wide ? " wide" : "")\" id=\"\(id)\"><h2>\(esc(title))</h2>\(body)"
        if !legend.isEmpty || caption != nil {
            html += "<div class=\"legend\">"
            for (name, color) in legend { html += "<span><i style=\"background:\(color)\"></i>\(esc(name))</span>" }
            if let caption { html += "<span class=\"caption\">\(esc(caption))</span>" }
            html += "</div>"
        }
        return html + "</div>"
    }

    // MARK: - Task list

    func taskList() -> String {
        let columns: [(String, String)] = [("Task", "text"), ("Repository", "text"), ("Merge", "text"), ("Verdict", "text"),
                                           ("Reason", "text"), ("F2P", "num"), ("P2P", "num"), ("Test time", "num"), ("Logs", "none")]
        var html = "<section class=\"card tasks\"><div class=\"tasks-head\"><h2>Tasks</h2>"
        html += "<input type=\"search\" id=\"filter\" placeholder=\"filter: id, repo, verdict, reason…\" aria-label=\"filter tasks\"/>"
        html += "<span class=\"hint\">click a row for its problem statement, patches and runs · click a heading to sort</span></div>"
        html += "<div class=\"grid\" id=\"task-list\" role=\"table\"><div class=\"row head\" role=\"row\">"
        for (index, column) in columns.enumerated() {
            html += "<span role=\"columnheader\" data-col=\"\(index)\" data-type=\"\(column.1)\">\(column.0)</span>"
        }
        html += "</div>"
        for task in report.tasks { html += taskRow(task) }
        if report.tasks.isEmpty { html += "<p class=\"empty\">no tasks</p>" }
        return html + "</div></section>\n"
    }

    func taskRow(_ entry: ReportedTask) -> String {
        let task = entry.task, verdict = entry.verdict
        let f2p = verdict.map { String($0.failToPass.count) }, p2p = verdict.map { String($0.passToPass.count) }
        var cells: [String] = []
        cells.append(cell(esc(task.instanceID), sort: task.instanceID, cls: "id"))
        cells.append(cell(esc(task.repo), sort: task.repo))
        cells.append(cell(esc(task.mergeStyle?.rawValue ?? "—"), sort: task.mergeStyle?.rawValue ?? ""))
        cells.append(cell("<b class=\"pill\" style=\"background:\(ReportPage.color(status: entry.status))\">\(esc(entry.status))</b>",
                          sort: entry.status))
        cells.append(cell(esc(entry.reasonCategory ?? ""), sort: entry.reasonCategory ?? "", cls: "reason"))
        cells.append(cell(f2p ?? "—", sort: f2p ?? "-1", cls: "num"))
        cells.append(cell(p2p ?? "—", sort: p2p ?? "-1", cls: "num"))
        cells.append(cell(entry.runs.isEmpty ? "—" : Format.duration(entry.testSeconds),
                          sort: String(format: "%.3f", entry.runs.isEmpty ? -1 : entry.testSeconds), cls: "num"))
        var logs: [String] = []
        for phase in RunPhase.allCases {
            let runs = entry.runs.filter { $0.phase == phase }
            if runs.isEmpty { continue }
            logs.append("<span class=\"phase\">\(phase.rawValue)</span>" + runs.map { logLink($0, text: String($0.attempt)) }.joined())
        }
        cells.append(cell(logs.joined(separator: " "), sort: "", cls: "logs"))
        return "<details class=\"task\" data-status=\"\(esc(entry.status))\" role=\"rowgroup\">"
            + "<summary class=\"row\" role=\"row\">\(cells.joined())</summary>\(taskDetail(entry))</details>"
    }

    func cell(_ content: String, sort: String, cls: String? = nil) -> String {
        "<span role=\"cell\"\(cls.map { " class=\"\($0)\"" } ?? "") data-sort=\"\(esc(sort))\">\(content)</span>"
    }

    /// A link to the run's log, titled with its path, exit and time; struck through when the file is gone.
    func logLink(_ run: TestRunRecord, text: String? = nil) -> String {
        let name = text ?? "\(run.phase.rawValue)·\(run.attempt)"
        guard let path = run.logPath, !path.isEmpty else { return "<span class=\"log none\">\(esc(name))</span>" }
        let present = FileManager.default.fileExists(atPath: path)
        let status = run.timedOut ? "timed out" : run.exitStatus.map { "exit \($0)" } ?? "killed"
        let tip = "\(path) · \(status) · \(Format.duration(run.wallSeconds))" + (present ? "" : " · log file missing")
        let classes = "log" + (run.timedOut ? " timeout" : "") + (present ? "" : " missing")
        return "<a class=\"\(classes)\" href=\"\(esc(Markup.relativeURL(to: path, from: directory)))\" title=\"\(esc(tip))\">\(esc(name))</a>"
    }

    func taskDetail(_ entry: ReportedTask) -> String {
        let task = entry.task
        var html = "<div class=\"detail\">"
        if let reason = entry.verdict?.reason, !reason.isEmpty {
            html += "<p class=\"why\"><b>\(esc(entry.status))</b> — \(esc(reason))</p>"
        }
        var facts = ["base \(String(task.baseCommit.prefix(12)))", "created \(task.createdAt)", "statement from \(task.statementSource.rawValue)"]
        if let pull = task.pullNumber { facts.insert("PR #\(pull)", at: 0) }
        if !task.version.isEmpty { facts.append("version \(task.version)") }
        html += "<p class=\"facts\">\(esc(facts.joined(separator: " · ")))</p>"
        html += "<h3>Problem statement</h3><pre class=\"statement\">\(esc(task.problemStatement))</pre>"
        if let verdict = entry.verdict {
            for (name, tests) in [("FAIL_TO_PASS", verdict.failToPass), ("PASS_TO_FAIL", verdict.passToFail), ("FLAKY", verdict.flaky)]
            where !tests.isEmpty {
                let shown = tests.prefix(30).map { "<code>\(esc($0))</code>" }.joined(separator: " ")
                html += "<h3>\(name) (\(tests.count))</h3><p class=\"tests\">\(shown)\(tests.count > 30 ? " …" : "")</p>"
            }
        }
        if !entry.runs.isEmpty {
            html += "<h3>Runs</h3><ul class=\"runs\">"
            for run in entry.runs {
                var line = "\(logLink(run)) \(esc(run.timedOut ? "timed out" : run.exitStatus.map { "exit \($0)" } ?? "killed"))"
                line += " · \(esc(Format.duration(run.wallSeconds))) · \(run.results.count) test result(s)"
                if let junit = run.junitPath, !junit.isEmpty {
                    line += " · <a href=\"\(esc(Markup.relativeURL(to: junit, from: directory)))\">junit</a>"
                }
                html += "<li>\(line)</li>"
            }
            html += "</ul>"
        }
        html += "<h3>Patch \(esc(diffStat(task.patch)))</h3>\(diff(task.patch))"
        html += "<h3>Test patch \(esc(diffStat(task.testPatch)))</h3>\(diff(task.testPatch))"
        return html + "</div>"
    }

    /// `+added −removed` over a unified diff's content lines.
    func diffStat(_ patch: String) -> String {
        var added = 0, removed = 0
        for line in patch.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("+"), !line.hasPrefix("+++") { added += 1 }
            if line.hasPrefix("-"), !line.hasPrefix("---") { removed += 1 }
        }
        return "+\(added) −\(removed)"
    }

    /// A unified diff with its lines coloured by kind; long diffs are cut at `patchLineLimit` lines.
    func diff(_ patch: String) -> String {
        if patch.isEmpty { return "<p class=\"facts\">(empty)</p>" }
        var lines = patch.split(separator: "\n", omittingEmptySubsequences: false)
        if lines.last == "" { lines.removeLast() }
        var html = "<pre class=\"diff\">"
        for line in lines.prefix(Self.patchLineLimit) {
            let kind: String
            if line.hasPrefix("diff ") || line.hasPrefix("+++") || line.hasPrefix("---") || line.hasPrefix("index ") { kind = "file" }
            else if line.hasPrefix("@@") { kind = "hunk" }
            else if line.hasPrefix("+") { kind = "add" }
            else if line.hasPrefix("-") { kind = "del" }
            else { kind = "" }
            html += kind.isEmpty ? esc(String(line)) + "\n" : "<span class=\"\(kind)\">\(esc(String(line)))</span>\n"
        }
        if lines.count > Self.patchLineLimit { html += "<span class=\"cut\">… \(lines.count - Self.patchLineLimit) more lines</span>\n" }
        return html + "</pre>"
    }

    // MARK: - Helpers

    func esc(_ text: String) -> String { Markup.escape(text) }

    func fileName(_ path: String) -> String { (path as NSString).lastPathComponent }

    func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return 0 }
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }
}
