import Environments
import Foundation
import Git
import Store
import Validation
import XCTest

/// Loopback services for test runs (`test.services` in recipes): a fixture whose new test needs
/// an HTTP server named by an environment variable, validated with the service declared (the test
/// is FAIL_TO_PASS), without it (no FAIL_TO_PASS), and with services that never become ready (a
/// clear infrastructure error naming the service). Real uv, bubblewrap and pytest; the services
/// are the standard library's, so no PyPI package is needed beyond the fixture's pytest.
final class TestServicesTests: XCTestCase {
    static let servedRepo = "forge-tests/served"
    static let plainRepo = "forge-tests/unserved"
    static let deafRepo = "forge-tests/deaf"
    static let crashingRepo = "forge-tests/crashing"

    /// A copy of the shipped recipes plus one override per fixture repository.
    static let recipes: URL = {
        let url = Harness.scratch("service-recipes").appendingPathComponent("Recipes")
        try! FileManager.default.copyItem(at: RecipeBook.bundledDirectory(), to: url)
        func write(_ repo: String, _ services: String) {
            let file = url.appendingPathComponent("repos/\(repo.replacingOccurrences(of: "/", with: "__")).yaml")
            try! "repo: \(repo)\n\(services)".write(to: file, atomically: true, encoding: .utf8)
        }
        write(servedRepo, """
        test:
          services:
            files:
              command: ["{python}", "-m", "http.server", "--bind", "127.0.0.1", "{port}"]
              ready_timeout: 30
              env:
                FIXTURE_URL: "http://127.0.0.1:{port}/"

        """)
        write(deafRepo, """
        test:
          services:
            deaf:
              command: ["{python}", "-c", "import time; time.sleep(600)"]
              ready_timeout: 2
              env:
                FIXTURE_URL: "http://127.0.0.1:{port}/"

        """)
        write(crashingRepo, """
        test:
          services:
            crashing:
              command: ["{python}", "-c", "raise SystemExit(3)"]
              env:
                FIXTURE_URL: "http://127.0.0.1:{port}/"

        """)
        return url
    }()

    static let environments: EnvironmentBuilder = {
        EnvironmentBuilder(root: Harness.processDirectory.appendingPathComponent("service-envs"),
                           recipes: try! RecipeBook(directory: recipes),
                           options: .init(uvCacheDirectory: Harness.base.appendingPathComponent("uv-cache")))
    }()

    /// The fixture: `calc.fetch.status(url)` arrives with the gold patch; the test patch's
    /// `test_served` fetches `$FIXTURE_URL` (when unset, a host the sandbox, which has no network,
    /// cannot resolve: like requests' tests falling back to httpbin.org).
    static func fixture() throws -> (FixtureRepo, base: String, head: String) {
        let repo = try FixtureRepo("services")
        let base = try repo.commit("calc", ["pyproject.toml": PythonFixture.pyproject, "calc/__init__.py": PythonFixture.initModule,
                                            "tests/test_plain.py": "def test_plain():\n    assert 1 + 1 == 2\n"])
        let head = try repo.commit("fetch", [
            "calc/fetch.py": "import urllib.request\n\n\ndef status(url):\n    return urllib.request.urlopen(url, timeout=10).status\n",
            "tests/test_fetch.py": """
            import os


            def test_served():
                from calc.fetch import status
                assert status(os.environ.get("FIXTURE_URL", "http://fixture.invalid/")) == 200


            def test_arithmetic():
                assert 2 * 3 == 6

            """,
        ])
        return (repo, base, head)
    }

    private func validate(repo: String, sandbox: Bool = true) throws -> (TaskValidation, FixtureRepo) {
        let (fixture, base, head) = try Self.fixture()
        let task = try fixture.task(TaskRecord.instanceID(repo: repo, pullNumber: 1), repo: repo, base: base, head: head,
                                    code: ["calc"], tests: ["tests"])
        let validator = Validator(repository: try Repository.open(fixture.path), environments: Self.environments,
                                  options: ValidationOptions(reruns: 0, jobs: 1, useSandbox: sandbox,
                                                             runsDirectory: Harness.scratch("service-runs").path))
        return (validator.validate(task), fixture)
    }

    func testTheServiceMakesTheNetworkTestFailToPass() throws {
        let (validation, _) = try validate(repo: Self.servedRepo)
        XCTAssertEqual(validation.verdict.status, "valid", validation.verdict.reason ?? "")
        XCTAssertEqual(validation.verdict.failToPass, ["tests/test_fetch.py::test_served"])
        XCTAssertEqual(validation.verdict.passToPass, ["tests/test_fetch.py::test_arithmetic"])
        for run in validation.runs {
            let folder = (run.logPath! as NSString).deletingLastPathComponent
            let serviceLog = try String(contentsOfFile: folder + "/service-files.log", encoding: .utf8)
            XCTAssertTrue(serviceLog.contains("forge: ready on 127.0.0.1:"), serviceLog)
            // After the gold patch the server answered the test's request (its access log line);
            // before it, the test failed on the missing function and asked nothing.
            XCTAssertEqual(serviceLog.contains("\"GET / HTTP/1.1\" 200"), run.phase == .after, serviceLog)
            XCTAssertTrue(run.command.contains { $0.hasSuffix("/" + ServiceLauncher.scriptName) },
                          "the run went through the service wrapper: \(run.command)")
        }
    }

    /// --no-sandbox: no network namespace of its own, so the service takes a free port on the
    /// host's loopback and is stopped when the tests end.
    func testTheServiceRunsWithoutTheSandboxToo() throws {
        let (validation, _) = try validate(repo: Self.servedRepo, sandbox: false)
        XCTAssertEqual(validation.verdict.status, "valid", validation.verdict.reason ?? "")
        XCTAssertEqual(validation.verdict.failToPass, ["tests/test_fetch.py::test_served"])
        for run in validation.runs {
            let folder = (run.logPath! as NSString).deletingLastPathComponent
            let serviceLog = try String(contentsOfFile: folder + "/service-files.log", encoding: .utf8)
            let port = try XCTUnwrap(serviceLog.components(separatedBy: "forge: ready on 127.0.0.1:").last?
                .prefix { $0.isNumber }, serviceLog)
            // Stopped with the run: nothing listens on its port any more.
            XCTAssertThrowsError(try Harness.run(["python3", "-c", "import socket; socket.create_connection(('127.0.0.1', \(port)), timeout=2)"],
                                                 in: folder, environment: [:]), "service on port \(port) outlived its run")
        }
    }

    func testWithoutTheServiceThereIsNoFailToPass() throws {
        let (validation, _) = try validate(repo: Self.plainRepo)
        XCTAssertEqual(validation.verdict.status, "invalid", validation.verdict.reason ?? "")
        XCTAssertEqual(validation.verdict.failToPass, [])
        let reason = validation.verdict.reason ?? "no reason"
        XCTAssertTrue([ValidationReason.needsNetwork, .noFailToPass].contains { reason.hasPrefix($0.rawValue) }, reason)
    }

    func testAServiceThatNeverListensIsAnInfrastructureErrorNamingIt() throws {
        let (deaf, _) = try validate(repo: Self.deafRepo)
        XCTAssertEqual(deaf.verdict.status, "error")
        let reason = deaf.verdict.reason ?? ""
        XCTAssertTrue(reason.hasPrefix(ValidationReason.infrastructure.rawValue), reason)
        XCTAssertTrue(reason.contains("service 'deaf' did not accept connections on 127.0.0.1:"), reason)
        XCTAssertTrue(reason.contains("within 2 s"), reason)

        let (crashing, _) = try validate(repo: Self.crashingRepo)
        XCTAssertEqual(crashing.verdict.status, "error")
        XCTAssertTrue(crashing.verdict.reason?.contains("service 'crashing' exited with status 3 before accepting connections") ?? false,
                      crashing.verdict.reason ?? "")
    }

    func testBadServiceDeclarationsAreRecipeErrorsNamingTheLine() throws {
        let folder = Harness.scratch("bad-service-recipes").appendingPathComponent("Recipes")
        try FileManager.default.copyItem(at: RecipeBook.bundledDirectory(), to: folder)
        let file = folder.appendingPathComponent("repos/forge-tests__bad.yaml")
        let cases: [(String, String)] = [
            ("    web:\n      command: [\"{python}\", \"-m\", \"http.server\", \"{prot}\"]\n", "unknown placeholder '{prot}' in 'test.services.web.command'"),
            ("    web:\n      command: [\"{python}\"]\n      env:\n        URL: \"http://{host}/\"\n", "unknown placeholder '{host}' in 'test.services.web.env'"),
            ("    web:\n      env:\n        URL: x\n", "missing key 'test.services.web.command'"),
            ("    web:\n      command: [x]\n      port: 70000\n", "'test.services.web.port' must be between 1 and 65535"),
            ("    web:\n      command: [x]\n      python: \">=three\"\n", "Recipes/repos/forge-tests__bad.yaml:"),
            ("    web:\n      comand: [x]\n", "unknown key 'comand' (did you mean 'command'?)"),
            ("    \"we b\":\n      command: [x]\n", "service name 'we b' must be letters, digits"),
        ]
        for (services, expected) in cases {
            try "repo: forge-tests/bad\ntest:\n  services:\n\(services)".write(to: file, atomically: true, encoding: .utf8)
            do {
                let book = try RecipeBook(directory: folder)
                _ = try book.recipe(for: .python, repo: "forge-tests/bad", version: nil)
                XCTFail("accepted: \(services)")
            } catch let error as RecipeError {
                XCTAssertTrue(error.description.contains(expected), "\(error) does not say \(expected)")
                XCTAssertTrue(error.description.hasPrefix("Recipes/repos/forge-tests__bad.yaml:"), "\(error)")
            }
        }
        // The shipped psf/requests recipe declares httpbin for releases before pytest-httpbin, and
        // services leave the environment's key alone.
        let book = try RecipeBook(directory: RecipeBook.bundledDirectory())
        let requests = try book.recipe(for: .python, repo: "psf/requests", version: "2.3")
        XCTAssertEqual(requests.test.services?["httpbin"]?.env["HTTPBIN_URL"], "http://127.0.0.1:{port}/")
        XCTAssertNil(try book.recipe(for: .python, repo: "psf/requests", version: "2.27").test.services, "pytest-httpbin serves these")
        var without = requests
        without.test.services = nil
        XCTAssertEqual(requests.contentHash, without.contentHash)
    }
}
