import Foundation
import XCTest
@testable import Environments
import Store

final class ManifestTests: XCTestCase {
    func testVersionOrderingFollowsPEP440() {
        let ordered = ["1.0.dev1", "1.0a1", "1.0a2.dev1", "1.0a2", "1.0b1", "1.0rc1", "1.0", "1.0.post1", "1.0.1", "1.1", "2!0.1"]
        let versions = ordered.map { PythonVersion($0)! }
        for (a, b) in zip(versions, versions.dropFirst()) { XCTAssertLessThan(a, b, "\(a) < \(b)") }
        XCTAssertEqual(PythonVersion("3.10"), PythonVersion("3.10.0"))
        XCTAssertEqual(PythonVersion("v3.11.7")?.majorMinor, "3.11")
        XCTAssertEqual(PythonVersion("3.12.0rc2")?.description, "3.12.0rc2")
        XCTAssertNil(PythonVersion("three"))
        XCTAssertNil(PythonVersion("3.x"))
    }

    func testSpecifierSetsMatchInterpreterVersions() throws {
        let cases: [(String, [String], [String])] = [
            (">=3.8,<4", ["3.8.0", "3.8.18", "3.13.0"], ["3.7.16", "4.0", "2.7.18"]),
            ("~=3.9", ["3.9.0", "3.12.1"], ["3.8.18", "4.0"]),
            ("~=3.9.2", ["3.9.2", "3.9.18"], ["3.9.1", "3.10.0"]),
            ("!=3.9.*", ["3.8.18", "3.10.13"], ["3.9.0", "3.9.18"]),
            (">=2.7, !=3.0.*, !=3.1.*, !=3.2.*, !=3.3.*", ["2.7.18", "3.4.0", "3.11.7"], ["2.6.9", "3.2.5", "3.3.0"]),
            ("==3.6.*", ["3.6.15"], ["3.7.0"]),
            ("==3.11", ["3.11.0"], ["3.11.7"]),
            (">3.8", ["3.8.1", "3.9"], ["3.8", "3.8.0.post1"]),
            ("<3.12", ["3.11.7"], ["3.12.0", "3.12.0rc1"]),
            ("^3.8", ["3.8.0", "3.12.1"], ["4.0", "3.7.16"]),
            ("~3.8", ["3.8.18"], ["3.9.0"]),
            (">=3.8 <3.11", ["3.10.13"], ["3.11.7"]),
            ("^2.7 || ^3.6", ["2.7.18", "3.13.0"], ["3.5.1"]),
            ("", ["2.7.18", "3.13.0"], []),
            (">=3.6.*", ["3.6.15"], ["3.5.9"]),
        ]
        for (text, accepted, rejected) in cases {
            let set = try VersionSpecifierSet(text)
            for version in accepted { XCTAssertTrue(set.contains(PythonVersion(version)!), "\(text) should hold \(version)") }
            for version in rejected { XCTAssertFalse(set.contains(PythonVersion(version)!), "\(text) should not hold \(version)") }
        }
        XCTAssertThrowsError(try VersionSpecifierSet(">=three")) { error in
            XCTAssertTrue("\(error)".contains(">=three"), "\(error)")
        }
        XCTAssertThrowsError(try VersionSpecifierSet("~=3"))
    }

    func testTOMLReaderReadsWhatManifestsUse() {
        let toml = TOMLReader.parse("""
        # comment
        [build-system]
        requires = ["setuptools>=61", 'wheel']  # trailing
        [project]
        name = "Demo_Pkg"
        requires-python = ">=3.8"
        dependencies = [
            "requests>=2.0",   # why
            "attrs",
        ]
        classifiers = [
          "Programming Language :: Python :: 3.9",
          "Programming Language :: Python :: 3.10",
        ]
        readme = {file = "README.md", content-type = "text/markdown"}
        [project.optional-dependencies]
        test = ["pytest>=7", "demo-pkg[extra]"]
        "docs" = ["sphinx"]
        [[tool.mypy.overrides]]
        module = "x"
        [tool.pytest.ini_options]
        addopts = '''
        -ra
        '''
        [tool.poetry.dependencies]
        python = "^3.8"
        """)
        XCTAssertEqual(toml["project.name"]?.string, "Demo_Pkg")
        XCTAssertEqual(toml["project.requires-python"]?.string, ">=3.8")
        XCTAssertEqual(toml["project.dependencies"]?.strings, ["requests>=2.0", "attrs"])
        XCTAssertEqual(toml["project.optional-dependencies.test"]?.strings, ["pytest>=7", "demo-pkg[extra]"])
        XCTAssertEqual(toml["project.optional-dependencies.docs"]?.strings, ["sphinx"])
        XCTAssertEqual(toml["project.readme.file"]?.string, "README.md")
        XCTAssertEqual(toml["build-system.requires"]?.strings, ["setuptools>=61", "wheel"])
        XCTAssertEqual(toml["tool.pytest.ini_options.addopts"]?.string, "-ra\n")
        XCTAssertEqual(toml["tool.poetry.dependencies.python"]?.string, "^3.8")
        XCTAssertNil(toml["tool.mypy.overrides"])
    }

    func testPythonProjectReadsPyprojectSetupCfgSetupPyAndTox() throws {
        let pyproject = PythonProject(manifests: [
            "pyproject.toml": Data("""
            [project]
            name = "demo.pkg"
            requires-python = ">=3.8"
            dependencies = ["attrs>=21"]
            [project.optional-dependencies]
            test = ["pytest", "Demo_Pkg[extra]"]
            """.utf8)], requirementPatterns: [], projectDirectory: nil)
        XCTAssertEqual(pyproject.name, "demo-pkg")
        XCTAssertEqual(pyproject.requiresPython?.text, ">=3.8")
        XCTAssertEqual(pyproject.dependencies, ["attrs>=21"])
        XCTAssertEqual(pyproject.extras["test"], ["pytest", "Demo_Pkg[extra]"])
        XCTAssertTrue(pyproject.isSelfReference("Demo_Pkg[extra]"))
        XCTAssertFalse(pyproject.isSelfReference("pytest"))
        XCTAssertTrue(pyproject.mentionsPytest)

        let legacy = PythonProject(manifests: [
            "setup.py": Data("""
            from setuptools import setup
            setup(
                name='legacy',
                python_requires=">=2.7, !=3.0.*",
                install_requires=['six>=1.10', "chardet"],
                extras_require={
                    'tests': ['mock', 'nose'],
                    "security": ["pyOpenSSL"],
                },
                classifiers=[
                    'Programming Language :: Python :: 2.7',
                    'Programming Language :: Python :: 3.6',
                ],
            )
            """.utf8),
            "requirements-test.txt": Data("pytest<7\n".utf8),
            "requirements.txt": Data("six\n".utf8),
        ], requirementPatterns: ["requirements*test*.txt"], projectDirectory: nil)
        XCTAssertEqual(legacy.name, "legacy")
        XCTAssertEqual(legacy.requiresPython?.text, ">=2.7, !=3.0.*")
        XCTAssertEqual(legacy.dependencies, ["six>=1.10", "chardet"])
        XCTAssertEqual(legacy.extras["tests"], ["mock", "nose"])
        XCTAssertEqual(legacy.extras["security"], ["pyOpenSSL"])
        XCTAssertEqual(legacy.classifierVersions.map(\.description), ["2.7", "3.6"])
        XCTAssertEqual(legacy.requirementFiles, ["requirements-test.txt"])
        XCTAssertEqual(legacy.rootRequirementFiles, ["requirements.txt"])

        let configured = PythonProject(manifests: [
            "setup.cfg": Data("""
            [metadata]
            name = configured
            classifiers =
                Programming Language :: Python :: 3 :: Only
            [options]
            install_requires =
                click>=7
                # a comment
                jinja2
            [options.extras_require]
            testing =
                pytest
                coverage
            """.utf8),
            "tox.ini": Data("""
            [tox]
            envlist = py{37,38}-django{22,30}, lint
            [base]
            deps = attrs==21.4.0
            [testenv]
            deps =
                {[base]deps}
                -r{toxinidir}/requirements/test.txt
                py37: typing_extensions
                py38,py39: mock
                django22: Django>=2.2,<2.3
                -e .
            commands = python -m unittest discover {posargs}
            """.utf8),
        ], requirementPatterns: [], projectDirectory: nil)
        XCTAssertEqual(configured.dependencies, ["click>=7", "jinja2"])
        XCTAssertEqual(configured.extras["testing"], ["pytest", "coverage"])
        XCTAssertEqual(configured.classifierOnlyMajor, 3)
        XCTAssertEqual(Set(configured.toxVersions.map(\.majorMinor)), ["3.7", "3.8"])
        XCTAssertEqual(configured.toxDependencies(for: PythonVersion("3.8.18")!),
                       ["attrs==21.4.0", "-rrequirements/test.txt", "mock"])
        XCTAssertEqual(configured.toxDependencies(for: PythonVersion("3.7.16")!),
                       ["attrs==21.4.0", "-rrequirements/test.txt", "typing_extensions"])
        XCTAssertEqual(configured.testCommandLines, ["python -m unittest discover "])

        let poetry = PythonProject(manifests: ["pyproject.toml": Data("""
            [tool.poetry]
            name = "poet"
            [tool.poetry.dependencies]
            python = "^3.7"
            requests = "^2.25"
            local = {path = "../local"}
            toml = {version = "~0.10", optional = true}
            rich = "*"
            [tool.poetry.dev-dependencies]
            pytest = "^6.2"
            """.utf8)], requirementPatterns: [], projectDirectory: nil)
        XCTAssertEqual(poetry.requiresPython?.text, "^3.7")
        XCTAssertEqual(poetry.dependencies, ["requests>=2.25,<3", "rich"])
        XCTAssertEqual(poetry.otherTestRequirements, ["pytest>=6.2,<7"])
    }

    func testInterpreterConstraintPrecedence() throws {
        let policy = Recipe.InterpreterPolicy(requires: nil, fallbackRequires: ">=3", releaseMarginDays: 0, minimum: "3.6")
        func constraint(_ files: [String: String], policy: Recipe.InterpreterPolicy = policy) throws -> InterpreterSelector.Constraint {
            try InterpreterSelector.constraint(project: PythonProject(manifests: files.mapValues { Data($0.utf8) },
                                                                      requirementPatterns: [], projectDirectory: nil),
                                               policy: policy)
        }
        let declared = try constraint(["pyproject.toml": "[project]\nrequires-python = \">=3.9\"\nclassifiers = [\"Programming Language :: Python :: 3.7\"]\n"])
        XCTAssertEqual(declared.text, ">=3.9")
        XCTAssertTrue(declared.source.contains("requires-python"))
        // A floor with classifiers it allows: the classified versions, with the floor as fallback.
        let floorAndClassifiers = try constraint(["setup.py": """
            python_requires=">=2.7, !=3.0.*, !=3.5.*",
            classifiers=['Programming Language :: Python :: 2.7', 'Programming Language :: Python :: 3.6',
                         'Programming Language :: Python :: 3.9']
            """])
        XCTAssertTrue(floorAndClassifiers.accepts(PythonVersion("3.9.18")!))
        XCTAssertFalse(floorAndClassifiers.accepts(PythonVersion("3.10.13")!))
        XCTAssertFalse(floorAndClassifiers.accepts(PythonVersion("3.8.18")!))
        XCTAssertEqual(floorAndClassifiers.source, "setup.py python_requires and Trove classifiers")
        XCTAssertTrue(try XCTUnwrap(floorAndClassifiers.fallback).constraint.accepts(PythonVersion("3.10.13")!))
        let classified = try constraint(["setup.py": "classifiers=['Programming Language :: Python :: 3.7', 'Programming Language :: Python :: 3.8']"])
        XCTAssertTrue(classified.accepts(PythonVersion("3.8.18")!))
        XCTAssertFalse(classified.accepts(PythonVersion("3.9.18")!))
        XCTAssertEqual(classified.source, "Trove classifiers")
        let toxOnly = try constraint(["tox.ini": "[tox]\nenvlist = py27, py36\n"])
        XCTAssertTrue(toxOnly.accepts(PythonVersion("3.6.15")!))
        XCTAssertFalse(toxOnly.accepts(PythonVersion("3.7.16")!))
        let nothing = try constraint(["setup.py": "setup()"])
        XCTAssertTrue(nothing.source.contains("fallback_requires"))
        XCTAssertFalse(nothing.accepts(PythonVersion("2.7.18")!))
        var overriding = policy
        overriding.requires = "<3.8"
        XCTAssertEqual(try constraint(["pyproject.toml": "[project]\nrequires-python = \">=3.9\"\n"], policy: overriding).text, "<3.8")
        XCTAssertThrowsError(try constraint(["pyproject.toml": "[project]\nrequires-python = \">=3.x\"\n"]))
    }

    func testInterpreterChoiceUsesInstalledVersionsAndReleaseDates() throws {
        let catalog = Fixture.interpreters
        let versions = catalog.interpreters.map(\.version)
        XCTAssertFalse(catalog.interpreters.isEmpty, "no Python found on this machine")
        XCTAssertTrue(catalog.interpreters.allSatisfy { FileManager.default.isExecutableFile(atPath: $0.path) })
        // Each interpreter's path appears once.
        XCTAssertEqual(Set(catalog.interpreters.map(\.path)).count, catalog.interpreters.count)

        let policy = Recipe.InterpreterPolicy(requires: nil, fallbackRequires: ">=3", releaseMarginDays: 30, minimum: "3.6")
        let project = PythonProject(manifests: ["pyproject.toml": Data("[project]\nrequires-python = \">=3.6\"\n".utf8)],
                                    requirementPatterns: [], projectDirectory: nil)
        let constraint = try InterpreterSelector.constraint(project: project, policy: policy)
        for day in ["2017-06-01", "2019-01-01", "2020-12-01", "2021-12-01", "2023-01-01", "2024-06-01", "2026-01-01"] {
            let date = Fixture.date(day)
            let choice = InterpreterSelector.choose(from: catalog, constraint: constraint, policy: policy, date: date)
            let expected = Fixture.expectedMinor({ $0 >= PythonVersion([3, 6]) }, date: date)
            XCTAssertEqual(choice?.interpreter.version.majorMinor, expected, "date \(day), installed \(versions)")
            if let choice { XCTAssertTrue(catalog.interpreters.contains(choice.interpreter)) }
        }
        // Before any satisfying release: the oldest satisfying interpreter, with a note.
        let early = InterpreterSelector.choose(from: catalog, constraint: constraint, policy: policy, date: Fixture.date("2015-01-01"))
        XCTAssertEqual(early?.interpreter.version, versions.filter { $0 >= PythonVersion([3, 6]) }.min())
        XCTAssertNotNil(early?.note)
        // Python 2 only: uv cannot drive it, so nothing is chosen.
        let python2 = try InterpreterSelector.constraint(
            project: PythonProject(manifests: ["setup.py": Data("python_requires='<3'".utf8)], requirementPatterns: [], projectDirectory: nil),
            policy: policy)
        XCTAssertNil(InterpreterSelector.choose(from: catalog, constraint: python2, policy: policy, date: Fixture.date("2019-01-01")))
    }

    func testSnapshotFromTaskRecordAndISODates() throws {
        let task = TaskRecord(instanceID: "psf__requests-1", repo: "psf/requests", baseCommit: String(repeating: "a", count: 40),
                              patch: "", testPatch: "", problemStatement: "", createdAt: "2022-05-04T10:20:30Z",
                              version: "2.27", environmentSetupCommit: String(repeating: "b", count: 40), statementSource: .commit)
        let snapshot = try XCTUnwrap(ProjectSnapshot(task: task, directory: URL(fileURLWithPath: "/w")))
        XCTAssertEqual(snapshot.repo, "psf/requests")
        XCTAssertEqual(snapshot.version, "2.27")
        XCTAssertEqual(ISODates.format(snapshot.createdAt), "2022-05-04T10:20:30Z")
        var undated = task
        undated.createdAt = "last spring"
        XCTAssertNil(ProjectSnapshot(task: undated, directory: URL(fileURLWithPath: "/w")))
        XCTAssertEqual(ISODates.parse("2023-01-01").map(ISODates.format), "2023-01-01T00:00:00Z")
        XCTAssertEqual(ISODates.parse("2023-01-01T12:00:00.250Z").map(ISODates.format), "2023-01-01T12:00:00Z")
        XCTAssertEqual(CPythonReleases.releaseDate(of: PythonVersion("3.11.7")!).map(ISODates.format), "2022-10-24T00:00:00Z")
    }

    func testSHA256MatchesKnownDigests() {
        XCTAssertEqual(SHA256.hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hex(String(repeating: "a", count: 1000)),
                       "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
    }

    func testPipCompileLayoutsGiveOneConsistentSetOfTestRequirements() {
        // pallets' layout: dev.txt, tests.txt and tests-pallets-min.txt pin pytest differently.
        XCTAssertEqual(PythonProject.coherentTestRequirements(
            ["requirements/dev.txt", "requirements/tests-pallets-min.txt", "requirements/tests.txt"]),
            ["requirements/tests.txt"])
        XCTAssertEqual(PythonProject.coherentTestRequirements(
            ["requirements/dev.txt", "requirements/tests.txt", "requirements/tests37.txt", "requirements/tests-py38.txt"]),
            ["requirements/tests.txt"])
        XCTAssertEqual(PythonProject.coherentTestRequirements(["requirements-dev.txt"]), ["requirements-dev.txt"])
        XCTAssertEqual(PythonProject.coherentTestRequirements(["requirements/tests-min.txt"]), ["requirements/tests-min.txt"])
        XCTAssertEqual(PythonProject.coherentTestRequirements(["requirements-dev.txt", "tests/requirements.txt"]),
                       ["tests/requirements.txt"])
    }

    func testBranchArchiveAndVCSRequirementsBecomeDatedReleases() {
        let cases = [
            "werkzeug @ https://github.com/pallets/werkzeug/archive/refs/heads/main.tar.gz": "werkzeug",
            "https://github.com/pallets/jinja/archive/master.tar.gz":
                "# forge: dropped, names no distribution: https://github.com/pallets/jinja/archive/master.tar.gz",
            "git+https://github.com/sphinx-doc/sphinx.git@96dbe5e3#egg=sphinx  # https://github.com/sphinx-doc/sphinx/issues/921": "sphinx",
            "-e git+https://example.org/team/tool.git#egg=tool-core": "tool-core",
            "pkg @ https://example.org/pkg.tar.gz ; python_version < \"3.8\"": "pkg ; python_version < \"3.8\"",
            "pytest>=7 ; python_version >= \"3.7\"": "pytest>=7 ; python_version >= \"3.7\"",
            "-r requirements/tests.txt": "-r requirements/tests.txt",
            "dep @ file:///srv/vendor/dep": "dep @ file:///srv/vendor/dep",
        ]
        for (line, expected) in cases {
            XCTAssertEqual(EnvironmentBuilder.datedInsteadOfURL(line), expected, line)
        }
    }

    func testSetupPyLiteralsKeepTheirInnerQuotes() {
        let project = PythonProject(manifests: ["setup.py": Data("""
            setup(name="click", install_requires=[
                "colorama; platform_system == 'Windows'",
                'importlib-metadata; python_version < "3.8"',
                "escaped \\" quote",
            ])
            """.utf8)], requirementPatterns: [], projectDirectory: nil)
        XCTAssertEqual(project.dependencies, ["colorama; platform_system == 'Windows'",
                                              "importlib-metadata; python_version < \"3.8\"", "escaped \" quote"])
    }

    func testToxFileOptionsAreSeparatedForUV() {
        // requests' tox.ini has `deps = -rrequirements-dev.txt`; uv rejects it glued together.
        XCTAssertEqual(EnvironmentBuilder.separatingFileOption("-rrequirements-dev.txt"), "-r requirements-dev.txt")
        XCTAssertEqual(EnvironmentBuilder.separatingFileOption("-cconstraints.txt"), "-c constraints.txt")
        XCTAssertEqual(EnvironmentBuilder.separatingFileOption("-r requirements.txt"), "-r requirements.txt")
        XCTAssertEqual(EnvironmentBuilder.separatingFileOption("pytest>=7"), "pytest>=7")
        XCTAssertEqual(EnvironmentBuilder.separatingFileOption("requests-mock"), "requests-mock")
    }
}
