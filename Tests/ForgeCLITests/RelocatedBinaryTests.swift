import Foundation
import XCTest

/// `forge` copied alone to another folder, with the checkout it was built from out of reach (a
/// tmpfs over it), still finds its recipes and helper scripts: they are compiled in.
final class RelocatedBinaryTests: XCTestCase {
    /// The package root this test was built from (…/Tests/ForgeCLITests/ → …).
    private let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path

    private var builtForge: String {
        var url = Bundle(for: Self.self).bundleURL
        while url.lastPathComponent.hasSuffix(".xctest") { url.deleteLastPathComponent() }
        return url.appendingPathComponent("forge").path
    }

    func testACopiedBinaryValidatesAndSynthesisesWithTheCheckoutHidden() throws {
        guard geteuid() == 0, let bwrap = ["/usr/bin/bwrap", "/bin/bwrap"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw XCTSkip("hiding the checkout needs bwrap run as root (a mount namespace of our own)")
        }
        let folder = NSTemporaryDirectory() + "forge-relocated-\(getpid())-\(UUID().uuidString.prefix(8))"
        XCTAssertFalse(folder.hasPrefix(packageRoot + "/"))
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let forge = folder + "/forge"
        try FileManager.default.copyItem(atPath: builtForge, toPath: forge)

        func run(_ arguments: [String], program: String? = nil) throws -> String {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: bwrap)
            process.arguments = ["--dev-bind", "/", "/", "--tmpfs", packageRoot, "--chdir", folder, "--", program ?? forge] + arguments
            var environment = ProcessInfo.processInfo.environment
            environment["FORGE_RECIPES"] = nil
            process.environment = environment
            let log = folder + "/out-\(UUID().uuidString.prefix(6)).log"
            try Data().write(to: URL(fileURLWithPath: log))
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
            process.standardOutput = handle
            process.standardError = handle
            try process.run()
            process.waitUntilExit()
            let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            XCTAssertEqual(process.terminationStatus, 0, "forge \(arguments.joined(separator: " ")): \(output.suffix(2000))")
            return output
        }
        // The checkout really is out of reach for the copy.
        XCTAssertEqual(try run(["-A", packageRoot], program: "/bin/ls"), "")
        _ = try run(["sample", "create", "sample"])
        _ = try run(["mine", "sample/textkit", "--repo", "forge-sample/textkit", "--db", "t.db"])
        let validated = try run(["validate", "--db", "t.db", "--clone", "sample/textkit", "--jobs", "2", "--reruns", "0", "--workspace", "ws"])
        XCTAssertTrue(validated.contains("valid"), validated)
        XCTAssertFalse(validated.contains("Recipes"), "no recipe problem: \(validated)")
        let synthesised = try run(["synth", "--db", "t.db", "--repo", "forge-sample/textkit", "--clone", "sample/textkit",
                                   "--strategies", "mutation", "--max-candidates", "2", "--reruns", "0", "--workspace", "ws"])
        XCTAssertTrue(synthesised.lowercased().contains("tried"), synthesised)
    }
}
