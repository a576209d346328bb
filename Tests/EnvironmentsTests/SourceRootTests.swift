import Foundation
import XCTest
@testable import Environments

/// Where a project's importable code lives, read from its build configuration and, after an
/// editable install, from what the install put on the import path.
final class SourceRootTests: XCTestCase {
    private func root(setupPy: String? = nil, setupCfg: String? = nil, pyproject: String? = nil) -> String? {
        PythonProject.declaredPackageRoot(setupPy: setupPy, setupCfg: setupCfg, pyproject: pyproject)
    }

    func testDeclaredPackageFoldersAreReadFromEachConfigurationLanguage() {
        XCTAssertEqual(root(setupPy: "setup(package_dir={\"\": \"Lib\"}, packages=find_packages('Lib'))"), "Lib")
        XCTAssertEqual(root(setupCfg: "[options]\npackage_dir =\n    =src/py\npackages = find:\n"), "src/py")
        XCTAssertEqual(root(pyproject: "[tool.setuptools.package-dir]\n\"\" = \"lib\"\n"), "lib")
        XCTAssertEqual(root(pyproject: "[tool.setuptools.packages.find]\nwhere = [\"python\"]\n"), "python")
        XCTAssertNil(root(setupPy: "setup(package_dir={'': '../outside'})"), "never a folder outside the tree")
        XCTAssertNil(root(setupPy: "setup(packages=['calc'])"))
    }

    func testEditableInstallsNameTheFoldersTheyMapToAndNothingOutsideTheCheckout() throws {
        let venv = FileManager.default.temporaryDirectory.appendingPathComponent("forge-roots-\(getpid())-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: venv) }
        let site = venv.appendingPathComponent("lib/python3.12/site-packages")
        try FileManager.default.createDirectory(at: site, withIntermediateDirectories: true)
        let checkout = "/work/envs/checkouts/abc"
        try "\(checkout)/Lib\n/elsewhere/lib\nimport sys\n".write(to: site.appendingPathComponent("__editable__.calc-1.0.pth"), atomically: true, encoding: .utf8)
        try "import sys\nMAPPING: dict[str, str] = {'calc': '\(checkout)/src/calc', 'other': '/usr/lib/other'}\nNAMESPACES = {}\n"
            .write(to: site.appendingPathComponent("__editable___calc_1_0_finder.py"), atomically: true, encoding: .utf8)
        XCTAssertEqual(EnvironmentBuilder.editableRoots(venv: venv.path, checkout: checkout), ["Lib", "src"])
        // A link in the venv is not followed (build code wrote these files).
        try FileManager.default.createSymbolicLink(atPath: site.appendingPathComponent("zz.pth").path, withDestinationPath: "/etc/passwd")
        XCTAssertEqual(EnvironmentBuilder.editableRoots(venv: venv.path, checkout: checkout), ["Lib", "src"])
    }

    func testGitVersionedBuildsAreToldTheVersionForTheProjectOnly() {
        XCTAssertEqual(EnvironmentBuilder.pretendedVersion("5.4", project: "smart-open", buildRequires: ["setuptools", "setuptools_scm"]),
                       ["SETUPTOOLS_SCM_PRETEND_VERSION_FOR_SMART_OPEN": "5.4.0"])
        XCTAssertEqual(EnvironmentBuilder.pretendedVersion(nil, project: "pdm", buildRequires: ["pdm-backend"]),
                       ["SETUPTOOLS_SCM_PRETEND_VERSION_FOR_PDM": "0.0.0", "PDM_BUILD_SCM_VERSION": "0.0.0"])
        XCTAssertEqual(EnvironmentBuilder.pretendedVersion("1.2.3", project: nil, buildRequires: ["poetry-dynamic-versioning>=1"]),
                       ["POETRY_DYNAMIC_VERSIONING_BYPASS": "1.2.3"])
        XCTAssertNil(EnvironmentBuilder.pretendedVersion("2.0", project: "calc", buildRequires: [])["SETUPTOOLS_SCM_PRETEND_VERSION"],
                     "never the global variable: dependencies built from sdists would take the project's version")
    }
}
