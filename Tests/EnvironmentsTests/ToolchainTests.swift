import Foundation
import Sandbox
import XCTest
@testable import Environments

/// Swift and Rust projects: real toolchains, offline.
final class ToolchainTests: XCTestCase {
    func testRustCrateChecksOfflineAndRunsSelectedTests() throws {
        let crate = Fixture.project([
            "Cargo.toml": "[package]\nname = \"fixture\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
            "src/lib.rs": """
            pub fn add(a: i32, b: i32) -> i32 { a + b }
            #[cfg(test)]
            mod tests { #[test] fn unit_adds() { assert_eq!(super::add(1, 2), 3); } }
            """,
            "tests/basic.rs": "#[test]\nfn integration_adds() { assert_eq!(fixture::add(2, 2), 4); }\n",
            "tests/other.rs": "#[test]\nfn other_fails() { assert_eq!(1, 2); }\n",
        ], name: "crate")
        let builder = try Fixture.builder()
        let environment = try builder.prepare(ProjectSnapshot(directory: crate, repo: "acme/fixture", version: "0.1",
                                                              createdAt: Fixture.date("2025-01-01")))
        XCTAssertEqual(environment.ecosystem, .rust)
        let toolchain = try XCTUnwrap(environment.toolchain)
        XCTAssertTrue(toolchain.path.hasSuffix("/cargo"), toolchain.path)
        XCTAssertTrue(toolchain.version.hasPrefix("cargo "), toolchain.version)
        XCTAssertNil(environment.venvPath)
        XCTAssertEqual(environment.manifestHashes.keys.sorted(), ["Cargo.toml"])
        XCTAssertTrue(try String(contentsOfFile: environment.buildLogPath, encoding: .utf8).contains("metadata --offline"))

        let argv = environment.testCommand(for: ["tests/basic.rs", "src/lib.rs"], junitPath: "")
        XCTAssertEqual(argv, [toolchain.path, "test", "--offline", "--test=basic", "--lib"])
        let log = Fixture.directory("run").appendingPathComponent("cargo.log").path
        let result = try CommandRunner().run(Command(argv[0], Array(argv.dropFirst()), logPath: log,
                                                     environment: environment.testEnvironment(),
                                                     workingDirectory: crate.path, timeout: 300))
        let output = try String(contentsOfFile: log, encoding: .utf8)
        XCTAssertTrue(result.succeeded, output)
        XCTAssertTrue(output.contains("test integration_adds ... ok"), output)
        XCTAssertTrue(output.contains("test tests::unit_adds ... ok"), output)
        XCTAssertFalse(output.contains("other_fails"), "unselected test target ran")

        let again = try builder.prepare(ProjectSnapshot(directory: crate, createdAt: Fixture.date("2025-01-01")))
        XCTAssertTrue(again.reused)
        XCTAssertEqual(again.key, environment.key)
    }

    func testRustCrateNeedingTheRegistryIsUnresolvableOffline() throws {
        let crate = Fixture.project([
            "Cargo.toml": """
            [package]
            name = "needs-registry"
            version = "0.1.0"
            edition = "2021"

            [dependencies]
            forge-crate-that-does-not-exist = "1.0"
            """,
            "src/lib.rs": "pub fn f() {}\n",
        ], name: "crate")
        let builder = try Fixture.builder()
        let failure = expectFailure {
            try builder.prepare(ProjectSnapshot(directory: crate, createdAt: Fixture.date("2025-01-01")))
        }
        XCTAssertEqual(failure?.kind, .unresolvableDependency, failure?.description ?? "")
        XCTAssertTrue(failure?.reason.contains("cargo metadata --offline") ?? false, failure?.reason ?? "")
        XCTAssertTrue(FileManager.default.fileExists(atPath: failure?.logPath ?? "/nonexistent"))
        XCTAssertNotNil(failure?.key)
    }

    func testSwiftPackageManifestIsCheckedAndTestCommandBuilt() throws {
        let package = Fixture.project([
            "Package.swift": """
            // swift-tools-version: 5.9
            import PackageDescription
            let package = Package(name: "Lib", targets: [
                .target(name: "Lib"),
                .testTarget(name: "LibTests", dependencies: ["Lib"]),
            ])
            """,
            "Sources/Lib/Lib.swift": "public func add(_ a: Int, _ b: Int) -> Int { a + b }\n",
            "Tests/LibTests/LibTests.swift": "import XCTest\n@testable import Lib\nfinal class LibTests: XCTestCase { func testAdd() { XCTAssertEqual(add(1, 2), 3) } }\n",
        ], name: "package")
        let builder = try Fixture.builder()
        let environment = try builder.prepare(ProjectSnapshot(directory: package, createdAt: Fixture.date("2025-01-01")))
        XCTAssertEqual(environment.ecosystem, .swift)
        let toolchain = try XCTUnwrap(environment.toolchain)
        XCTAssertTrue(toolchain.version.contains("Swift version"), toolchain.version)
        XCTAssertEqual(environment.testCommand(for: ["Tests/LibTests/LibTests.swift"], junitPath: "/o/x.xml"),
                       [toolchain.path, "test", "--parallel", "--xunit-output", "/o/x.xml", "--filter=^LibTests\\."])
        XCTAssertEqual(environment.reportFiles(junitPath: "/o/x.xml"), ["/o/x.xml", "/o/x-swift-testing.xml"])

        // A manifest that does not compile is a typed failure naming the check.
        let broken = Fixture.project(["Package.swift": "// swift-tools-version: 5.9\nimport PackageDescription\nlet package = Package(name: 42)\n"],
                                     name: "package")
        let failure = expectFailure {
            try builder.prepare(ProjectSnapshot(directory: broken, createdAt: Fixture.date("2025-01-01")))
        }
        XCTAssertEqual(failure?.kind, .toolchainCheckFailed, failure?.description ?? "")
        XCTAssertTrue(failure?.reason.contains("dump-package") ?? false, failure?.reason ?? "")
    }
}
