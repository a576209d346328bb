import Foundation
import Sandbox
import XCTest
@testable import Environments

/// Temporary folders and fixture projects for the Environments tests.
enum Fixture {
    /// A fresh empty directory under the system temp folder.
    static func directory(_ name: String = "fixture") -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("forge-env-tests-\(name)-\(UUID().uuidString.prefix(8))")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// A project directory holding `files` (relative path → text).
    static func project(_ files: [String: String], name: String = "project") -> URL {
        let url = directory(name)
        write(files, into: url)
        return url
    }

    static func write(_ files: [String: String], into url: URL) {
        for (path, text) in files {
            let file = url.appendingPathComponent(path)
            try! FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            try! text.write(to: file, atomically: true, encoding: .utf8)
        }
    }

    /// The repository's own `Recipes/` folder.
    static var recipesDirectory: URL { RecipeBook.bundledDirectory() }

    static func date(_ text: String) -> Date { ISODates.parse(text)! }

    /// Everything the builders write lives under one folder, bound as one mount in the install
    /// sandbox so uv can hard-link from its cache. The uv cache is kept between runs (it is a
    /// cache); builder roots are per test and cleared at the start of each run.
    static let base: URL = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("forge-env-tests")
        try? FileManager.default.removeItem(at: url.appendingPathComponent("roots"))
        try? FileManager.default.createDirectory(at: url.appendingPathComponent("roots"), withIntermediateDirectories: true)
        return url
    }()

    static var uvCache: URL { base.appendingPathComponent("uv-cache") }

    /// The machine's interpreters, discovered once per test run.
    static let interpreters = InterpreterCatalog.discover()

    /// A builder with its own cache root, the shared uv cache and the discovered interpreters.
    static func builder(recipes: RecipeBook? = nil) throws -> EnvironmentBuilder {
        let root = base.appendingPathComponent("roots").appendingPathComponent(UUID().uuidString.prefix(8).description)
        return EnvironmentBuilder(root: root, recipes: try recipes ?? RecipeBook(directory: recipesDirectory),
                                  options: .init(uvCacheDirectory: uvCache, interpreters: interpreters))
    }

    /// A fresh builder's environment for a project of `files`, as of `date` (ISO-8601).
    static func prepare(_ files: [String: String], asOf date: String) throws -> (environment: PreparedEnvironment, project: URL) {
        let project = Fixture.project(files)
        return (try builder().prepare(ProjectSnapshot(directory: project, createdAt: Fixture.date(date))), project)
    }

    /// The newest installed minor satisfying `accepts` whose x.y.0 came `marginDays` before `date`
    /// — computed here from the catalog and the release table, independently of the selector.
    static func expectedMinor(_ accepts: (PythonVersion) -> Bool, date: Date, marginDays: Int = 30) -> String? {
        interpreters.interpreters
            .filter { $0.version >= PythonVersion([3, 6]) && accepts($0.version) }
            .filter { CPythonReleases.releaseDate(of: $0.version)!.addingTimeInterval(Double(marginDays) * 86_400) <= date }
            .map(\.version).max()?.majorMinor
    }
}

extension XCTestCase {
    /// Runs `body`, which must throw an `EnvironmentFailure`, and returns it.
    func expectFailure(_ body: () throws -> Any, file: StaticString = #filePath, line: UInt = #line) -> EnvironmentFailure? {
        do {
            let value = try body()
            XCTFail("expected an EnvironmentFailure, got \(value)", file: file, line: line)
        } catch let failure as EnvironmentFailure {
            return failure
        } catch {
            XCTFail("expected an EnvironmentFailure, got \(error)", file: file, line: line)
        }
        return nil
    }
}

/// Runs the environment's test command on `files` in the project directory: (succeeded, log).
func runTests(_ files: [String], in environment: PreparedEnvironment, project: URL) throws -> (Bool, String) {
    let output = Fixture.directory("run")
    let argv = environment.testCommand(for: files, junitPath: output.appendingPathComponent("j.xml").path)
    let result = try CommandRunner().run(Command(argv[0], Array(argv.dropFirst()),
                                                 logPath: output.appendingPathComponent("log").path,
                                                 environment: environment.testEnvironment(),
                                                 workingDirectory: project.path, timeout: 300))
    return (result.succeeded, (try? String(contentsOfFile: result.logPath, encoding: .utf8)) ?? "")
}
