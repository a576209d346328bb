import Foundation
import Reports
import Store
import XCTest

/// Looks at the page the way a person would: headless Chromium renders it to a PNG.
/// Skipped when `chromium` is not on PATH (Debian: `apt-get install -y chromium`).
/// Set FORGE_REPORT_KEEP=<folder> to keep the page and screenshot there for a look.
final class ReportScreenshotTests: XCTestCase {
    static let width = 1280, height = 2000

    func testHeadlessChromiumRendersThePage() throws {
        guard let chromium = Self.executable(named: "chromium") else {
            throw XCTSkip("chromium is not on PATH; install it (apt-get install -y chromium) to check how the report renders")
        }
        let fixture = try ReportFixture.make()
        defer { fixture.remove() }
        try ReportPage.write(try RunReport(store: fixture.store), to: fixture.page)
        let blank = fixture.folder + "/out/blank.html"
        try Data("<!DOCTYPE html><html><body></body></html>".utf8).write(to: URL(fileURLWithPath: blank))

        let shot = try screenshot(of: fixture.page, with: chromium, in: fixture.folder)
        let blankShot = try screenshot(of: blank, with: chromium, in: fixture.folder)
        if let keep = ProcessInfo.processInfo.environment["FORGE_REPORT_KEEP"] {
            try? FileManager.default.createDirectory(atPath: keep, withIntermediateDirectories: true)
            for (from, name) in [(fixture.page, "report.html"), (fixture.folder + "/report.png", "report.png")] {
                try? FileManager.default.removeItem(atPath: keep + "/" + name)
                try FileManager.default.copyItem(atPath: from, toPath: keep + "/" + name)
            }
        }

        XCTAssertEqual(Array(shot.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], "PNG signature")
        XCTAssertEqual(Self.pngSize(shot)?.width, Self.width)
        XCTAssertEqual(Self.pngSize(shot)?.height, Self.height)
        // A blank page of the same size compresses to a few KB; charts, text and colour do not.
        XCTAssertGreaterThan(shot.count, 40_000, "screenshot is \(shot.count) bytes: nearly blank?")
        XCTAssertGreaterThan(shot.count, blankShot.count * 5, "page \(shot.count) bytes vs blank \(blankShot.count) bytes")
    }

    /// Clicks the "Test time" heading twice (descending) and filters on "tools" inside Chromium, then
    /// reads the row order back from the DOM Chromium dumps.
    func testSortingAndFilteringWorkInChromium() throws {
        guard let chromium = Self.executable(named: "chromium") else {
            throw XCTSkip("chromium is not on PATH; install it (apt-get install -y chromium) to run the page's script")
        }
        let fixture = try ReportFixture.make()
        defer { fixture.remove() }
        try ReportPage.write(try RunReport(store: fixture.store), to: fixture.page)
        let driver = """
        <script>
        var heading = document.querySelector(".head span[data-col='7']"); heading.click(); heading.click();
        var filter = document.getElementById("filter"); filter.value = "tools"; filter.dispatchEvent(new Event("input"));
        document.body.setAttribute("data-order", Array.prototype.map.call(document.querySelectorAll("details.task"),
          function (row) { return (row.hidden ? "-" : "") + row.querySelector(".id").textContent; }).join(","));
        </script></body>
        """
        let page = try String(contentsOfFile: fixture.page, encoding: .utf8).replacingOccurrences(of: "</body>", with: driver)
        let driven = fixture.folder + "/out/driven.html"
        try Data(page.utf8).write(to: URL(fileURLWithPath: driven))
        let dom = try run(chromium, ["--dump-dom", URL(fileURLWithPath: driven).absoluteString], in: fixture.folder)
        let order = try XCTUnwrap(dom.range(of: #"data-order="[^"]*""#, options: .regularExpression).map { String(dom[$0]) })
        // Longest test time first (a pending task has none: last); acme rows hidden by the filter.
        XCTAssertEqual(order, #"data-order="beta__tools-4,-acme__widgets-3,-acme__widgets-2,-acme__widgets-1,beta__tools-5,beta__tools-6""#)
    }

    /// Runs headless Chromium on `page` and returns the PNG's bytes (the file is `<folder>/<page name>.png`).
    func screenshot(of page: String, with chromium: String, in folder: String) throws -> Data {
        let name = ((page as NSString).lastPathComponent as NSString).deletingPathExtension
        let png = "\(folder)/\(name).png"
        let log = try run(chromium, ["--screenshot=\(png)", "--window-size=\(Self.width),\(Self.height)",
                                     URL(fileURLWithPath: page).absoluteString], in: folder)
        guard let data = FileManager.default.contents(atPath: png) else {
            XCTFail("chromium wrote no screenshot of \(page): \(log.suffix(400))")
            return Data()
        }
        return data
    }

    /// Runs headless Chromium with `arguments` (after the common flags); returns what it printed.
    func run(_ chromium: String, _ arguments: [String], in folder: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: chromium)
        process.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                             "--user-data-dir=\(folder)/chromium-profile"] + arguments
        // Output goes to a file: a pipe nobody drains could fill up and stall chromium.
        let logPath = "\(folder)/chromium-\(UUID().uuidString.prefix(8)).log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        defer { try? output.close() }
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let deadline = Date().addingTimeInterval(45)
        while process.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        if process.isRunning { process.terminate(); XCTFail("chromium did not finish within 45 s") }
        process.waitUntilExit()
        return (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
    }

    /// Width and height from the PNG's IHDR chunk.
    static func pngSize(_ png: Data) -> (width: Int, height: Int)? {
        let bytes = [UInt8](png.prefix(24))
        guard bytes.count == 24, String(decoding: bytes[12..<16], as: UTF8.self) == "IHDR" else { return nil }
        let be = { (at: Int) in bytes[at..<(at + 4)].reduce(0) { $0 << 8 | Int($1) } }
        return (be(16), be(20))
    }

    static func executable(named name: String) -> String? {
        for folder in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let path = "\(folder)/\(name)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }
}
