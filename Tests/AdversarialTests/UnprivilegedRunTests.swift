@testable import Environments
import Foundation
import XCTest

/// CI runs the suite as root; this runs the attack classes again, from the same test binary, as
/// an unprivileged user, where the sandbox has that user's uid instead of dropping root's.
final class UnprivilegedRunTests: XCTestCase {
    /// The classes that attack the sandbox and the scoring (not the interop checks).
    static let attackClasses = ["ConfinementAttackTests", "RewardHackTests", "UnsafeIdTests", "FileServingAttackTests", "ApiKeyTests"]
    static let uid: UInt32 = 64_999

    func testTheAttacksFailAsAnUnprivilegedUserToo() throws {
        try XCTSkipUnless(geteuid() == 0, "already unprivileged: the attack classes run as this user")
        // The running test executable (`<Package>PackageTests.xctest` on Linux).
        let testBinary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().path
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: testBinary), "the test bundle \(testBinary) is not an executable")
        // A home the user owns, holding copies of what the run needs from places the user may not
        // enter (a checkout or pyenv under a 0700 /root): uv, the test binary with `forge` and the
        // resource bundles beside it, and the recipes.
        let fileManager = FileManager.default
        let home = fileManager.temporaryDirectory.appendingPathComponent("forge-unprivileged-\(Self.uid)").path
        try? fileManager.removeItem(atPath: home)
        try fileManager.createDirectory(atPath: home + "/bin", withIntermediateDirectories: true)
        defer { try? fileManager.removeItem(atPath: home) }
        let uv = try XCTUnwrap(ToolRunner.locateUV(), "uv not found") // the real binary, not pyenv's shim
        try fileManager.copyItem(atPath: uv, toPath: home + "/uv")
        let buildFolder = (testBinary as NSString).deletingLastPathComponent
        let companions = try fileManager.contentsOfDirectory(atPath: buildFolder).filter { $0.hasSuffix(".resources") } + ["forge"]
        for name in companions + [(testBinary as NSString).lastPathComponent] {
            try fileManager.copyItem(atPath: buildFolder + "/" + name, toPath: home + "/bin/" + name)
        }
        try fileManager.copyItem(atPath: RecipeBook.bundledDirectory().path, toPath: home + "/Recipes")
        let copiedBinary = home + "/bin/" + (testBinary as NSString).lastPathComponent
        XCTAssertEqual(chown(home, Self.uid, Self.uid), 0)
        XCTAssertEqual(chown(home + "/uv", Self.uid, Self.uid), 0)

        let filter = Self.attackClasses.map { "AdversarialTests.\($0)" }.joined(separator: ",")
        var environment = BuildEnvironment.scrubbed(ProcessInfo.processInfo.environment)
        environment["HOME"] = home
        environment["FORGE_UV"] = home + "/uv"
        environment["TMPDIR"] = "/tmp"
        environment["FORGE_RECIPES"] = home + "/Recipes"
        environment["PATH"] = "/usr/local/bin:/usr/bin:/bin"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        process.arguments = ["--reuid=\(Self.uid)", "--regid=\(Self.uid)", "--clear-groups", "--", copiedBinary, filter]
        process.environment = environment
        process.currentDirectoryURL = URL(fileURLWithPath: home)
        let logPath = home + "-run.log"
        try Data().write(to: URL(fileURLWithPath: logPath))
        defer { try? FileManager.default.removeItem(atPath: logPath) }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = log
        process.standardError = log
        try process.run()
        process.waitUntilExit()
        try log.close()
        let output = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        let summary = output.split(separator: "\n").filter { $0.contains("error:") || $0.contains("Executed") }.suffix(30).joined(separator: "\n")
        XCTAssertEqual(process.terminationStatus, 0, "the attack classes failed as uid \(Self.uid):\n\(summary)")
        XCTAssertTrue(output.contains("Executed"), "no test ran as uid \(Self.uid): \(output.suffix(2000))")
    }
}
