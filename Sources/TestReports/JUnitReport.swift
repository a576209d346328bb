import Foundation
import Sandbox
#if canImport(FoundationXML)
import FoundationXML
#endif

/// Which tool wrote a JUnit XML file; decides how `classname` + `name` become a test id.
public enum JUnitProducer: Sendable, Hashable {
    /// Guess from the file: pytest's suite name or `file="….py"` attributes, SwiftPM's
    /// `TestResults` suite, else generic.
    case automatic
    /// pytest `--junitxml` (best with `-o junit_family=xunit1`, which adds `file`): ids are node ids
    /// `tests/test_x.py::TestA::test_b[param]`.
    case pytest
    /// `swift test --xunit-output` (XCTest, needs `--parallel`) and its `-swift-testing.xml` sibling:
    /// ids are `Suite.test` (XCTest `MathTests.testAdd`, Swift Testing `AdditionSuite.adds()`); the
    /// test module prefix of `classname` is dropped, as XCTest's own console output does. Swift
    /// Testing functions outside any suite keep the module as their suite: `DemoTests.free()`.
    case swift
    /// Anything else: `classname.name`, or `name` when classname is empty.
    case generic
}

/// Parses JUnit XML (nested `<testsuites>`/`<testsuite>` of any depth) into a `TestReport`.
public enum JUnitReport {
    /// Parses a JUnit XML file: a regular file itself, never a link (the tested code could have
    /// replaced it with one to any file on the host), of at most `SafeFile.defaultMaxBytes`.
    /// - Parameter pytestRoot: the directory pytest ran in; when given, pytest classnames whose
    ///   `file` attribute is missing or points elsewhere (inherited tests) are resolved against
    ///   the files that exist there.
    public static func parse(fileAt path: String, producer: JUnitProducer = .automatic,
                             pytestRoot: String? = nil) throws -> TestReport {
        let data: Data
        do { data = try SafeFile.read(atPath: path) } catch {
            throw TestReportError.unreadable(path: path, reason: "\(error)")
        }
        return try parse(data: data, source: path, producer: producer, pytestRoot: pytestRoot)
    }

    /// Parses JUnit XML bytes; `source` names them in errors and warnings.
    public static func parse(data: Data, source: String = "<xml>", producer: JUnitProducer = .automatic,
                             pytestRoot: String? = nil) throws -> TestReport {
        let collector = JUnitCollector()
        let parser = XMLParser(data: data)
        parser.delegate = collector
        // swift-corelibs' XMLParser may return true after reporting an error, and does not report
        // a document that simply stops (a killed writer): check both ourselves.
        let finished = parser.parse()
        if let failure = collector.failure {
            throw TestReportError.malformedXML(source: source, line: failure.line, column: failure.column,
                                               reason: failure.reason)
        }
        if !finished || collector.depth != 0 {
            throw TestReportError.malformedXML(source: source, line: parser.lineNumber, column: parser.columnNumber,
                                               reason: "document ends inside <\(collector.openElements.last ?? "?")>")
        }
        guard let root = collector.rootElement, root == "testsuites" || root == "testsuite" else {
            throw TestReportError.notJUnit(source: source, rootElement: collector.rootElement ?? "none")
        }
        let resolved = producer == .automatic ? guessProducer(collector) : producer
        var report = TestReport()
        var origins: [String: String] = [:]
        for testCase in collector.cases {
            let id: String?
            switch resolved {
            case .pytest:
                let mapped = PytestNodeID.fromJUnit(file: testCase.attributes["file"],
                                                    classname: testCase.attributes["classname"] ?? "",
                                                    name: testCase.attributes["name"] ?? "", root: pytestRoot)
                id = mapped.id
                if let warning = mapped.warning { report.warn("\(source):\(testCase.line): \(warning)") }
            case .swift:
                id = swiftID(classname: testCase.attributes["classname"] ?? "", name: testCase.attributes["name"] ?? "")
            case .generic, .automatic:
                id = genericID(classname: testCase.attributes["classname"] ?? "", name: testCase.attributes["name"] ?? "")
            }
            guard let id else {
                report.warn("\(source):\(testCase.line): testcase without classname, name or file; ignored")
                continue
            }
            let origin = "\(testCase.attributes["classname"] ?? "")|\(testCase.attributes["name"] ?? "")"
            if let earlier = origins[id], earlier != origin {
                report.warn("\(source):\(testCase.line): two testcases map to id \(id) (\(earlier) and \(origin))")
            }
            origins[id] = origin
            report.record(id, testCase.status(producer: resolved))
        }
        return report
    }

    /// What `swift test --xunit-output xunitPath` wrote: the XCTest file (only written with
    /// `--parallel`) and Swift Testing's `<name>-swift-testing<.ext>` sibling, whichever exist.
    /// SwiftPM's XCTest xunit reports XCTSkip'd tests as passed; pass the console log as
    /// `xctestLog` to take skips (and tests missing from the XML) from it.
    public static func parseSwiftTest(xunitPath: String, xctestLog: String? = nil) throws -> TestReport {
        let paths = [xunitPath, swiftTestingPath(forXUnitPath: xunitPath)]
            .filter { SafeFile.isRegularFile(atPath: $0) }
        var report = TestReport()
        if paths.isEmpty { report.warn("\(xunitPath): no xunit file written (XCTest needs swift test --parallel)") }
        for path in paths { report = report.merging(try parse(fileAt: path, producer: .swift)) }
        if let xctestLog {
            let fromLog = XCTestLog.parse(xctestLog)
            for (id, status) in fromLog.statuses {
                if report[id] == nil || (status == .skipped && report[id] == .passed) {
                    report.overwrite(id, status)
                }
            }
        }
        return report
    }

    /// `dir/xunit.xml` → `dir/xunit-swift-testing.xml`, the file Swift Testing writes beside XCTest's.
    public static func swiftTestingPath(forXUnitPath path: String) -> String {
        let url = URL(fileURLWithPath: path)
        let ext = url.pathExtension
        let stem = url.deletingPathExtension().path
        return stem + "-swift-testing" + (ext.isEmpty ? "" : "." + ext)
    }

    static func swiftID(classname: String, name: String) -> String? {
        guard !name.isEmpty else { return classname.isEmpty ? nil : classname }
        let parts = classname.split(separator: ".", omittingEmptySubsequences: false)
        let suite = parts.count >= 2 ? parts.dropFirst().joined(separator: ".") : classname
        return suite.isEmpty ? name : "\(suite).\(name)"
    }

    static func genericID(classname: String, name: String) -> String? {
        switch (classname.isEmpty, name.isEmpty) {
        case (true, true): return nil
        case (true, false): return name
        case (false, true): return classname
        case (false, false): return "\(classname).\(name)"
        }
    }

    private static func guessProducer(_ collector: JUnitCollector) -> JUnitProducer {
        if collector.suiteNames.contains(where: { $0.hasPrefix("pytest") })
            || collector.cases.contains(where: { $0.attributes["file"]?.hasSuffix(".py") == true }) {
            return .pytest
        }
        if collector.suiteNames.contains("TestResults") { return .swift }
        return .generic
    }
}

extension TestReport {
    /// Replaces an outcome regardless of precedence (used when one source is known to be wrong).
    mutating func overwrite(_ id: String, _ status: TestStatus) {
        var statuses = self.statuses
        statuses[id] = status
        self = TestReport(statuses: statuses, warnings: warnings, unnamedSkips: unnamedSkips)
    }
}

/// One `<testcase>` and the outcome elements inside it.
struct JUnitCase {
    var attributes: [String: String]
    var line: Int
    var failed = false
    var errored = false
    var skipped = false
    var skipType: String?

    func status(producer: JUnitProducer) -> TestStatus {
        if failed { return .failed }
        if errored { return .error }
        if skipped {
            // pytest writes an XFAIL as <skipped type="pytest.xfail">; it counts as passing.
            return producer == .pytest && skipType == "pytest.xfail" ? .passed : .skipped
        }
        return .passed
    }
}

/// SAX delegate: collects testcases and suite names; ignores output and properties.
final class JUnitCollector: NSObject, XMLParserDelegate {
    var rootElement: String?
    var suiteNames: [String] = []
    var cases: [JUnitCase] = []
    var failure: (line: Int, column: Int, reason: String)?
    private(set) var openElements: [String] = []
    var depth: Int { openElements.count }
    private var current: JUnitCase?

    func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
                qualifiedName qName: String?, attributes attributeDict: [String: String] = [:]) {
        if rootElement == nil { rootElement = elementName }
        openElements.append(elementName)
        switch elementName {
        case "testsuite", "testsuites":
            if let name = attributeDict["name"] { suiteNames.append(name) }
        case "testcase":
            current = JUnitCase(attributes: attributeDict, line: parser.lineNumber)
        case "failure":
            current?.failed = true
        case "error":
            current?.errored = true
        case "skipped":
            current?.skipped = true
            current?.skipType = attributeDict["type"]
        default:
            break
        }
    }

    func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?,
                qualifiedName qName: String?) {
        openElements.removeLast()
        if elementName == "testcase", let finished = current {
            cases.append(finished)
            current = nil
        }
    }

    func parser(_ parser: XMLParser, parseErrorOccurred parseError: Error) {
        guard failure == nil else { return }
        let code = (parseError as NSError).code
        let names = [4: "document is empty", 5: "document ends prematurely", 9: "invalid character",
                     68: "invalid entity", 73: "unclosed tag", 76: "closing tag does not match the open tag",
                     111: "malformed attribute"]
        failure = (parser.lineNumber, parser.columnNumber, names[code] ?? "XML parser error \(code)")
    }
}
