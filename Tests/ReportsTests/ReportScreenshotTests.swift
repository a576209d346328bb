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

    /// Runs headless Chromium on `page` and returns the PNG's bytes (the file is `<folder>/<page name>.png`).
    func screenshot(of page: String, with chromium: String, in folder: String) throws -> Data {
        let name = ((page as NSString).lastPathComponent as NSString).deletingPathExtension
        let png = "\(folder)/\(name).png"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: chromium)
        process.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                             "--user-data-dir=\(folder)/chromium-profile", "--screenshot=\(png)",
                             "--window-size=\(Self.width),\(Self.height)", URL(fileURLWithPath: page).absoluteString]
        // Output goes to a file: a pipe nobody drains could fill up and stall chromium.
        let logPath = "\(folder)/chromium-\(name).log"
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
        guard let data = FileManager.default.contents(atPath: png) else {
            let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            XCTFail("chromium wrote no screenshot of \(page) (exit \(process.terminationStatus)): \(log.suffix(400))")
            return Data()
        }
        return data
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
