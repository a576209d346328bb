import Foundation
import Sandbox

/// One Python interpreter found on the machine.
public struct PythonInterpreter: Codable, Hashable, Sendable, CustomStringConvertible {
    /// Absolute path of the executable (symlinks resolved).
    public var path: String
    public var version: PythonVersion
    /// Where it was found: `pyenv`, `system`, `uv`.
    public var origin: String

    public init(path: String, version: PythonVersion, origin: String) {
        self.path = path; self.version = version; self.origin = origin
    }

    public var description: String { "Python \(version) at \(path) (\(origin))" }
}

/// CPython x.y.0 release dates, to pick an interpreter a project could have used at a date.
public enum CPythonReleases {
    /// ISO dates of each minor's first final release.
    public static let minorReleaseDates: [String: String] = [
        "2.6": "2008-10-01", "2.7": "2010-07-03",
        "3.0": "2008-12-03", "3.1": "2009-06-27", "3.2": "2011-02-20", "3.3": "2012-09-29",
        "3.4": "2014-03-16", "3.5": "2015-09-13", "3.6": "2016-12-23", "3.7": "2018-06-27",
        "3.8": "2019-10-14", "3.9": "2020-10-05", "3.10": "2021-10-04", "3.11": "2022-10-24",
        "3.12": "2023-10-02", "3.13": "2024-10-07", "3.14": "2025-10-07",
    ]

    /// The release date of `version`'s minor, or nil when the table does not know it.
    public static func releaseDate(of version: PythonVersion) -> Date? {
        minorReleaseDates[version.majorMinor].flatMap(ISODates.parse)
    }
}

/// Lists interpreters: pyenv's `versions/*`, the system `python3`, and `uv python list
/// --only-installed`. Each candidate is asked its own version, so a mislabelled folder cannot lie.
public struct InterpreterCatalog: Sendable {
    public var interpreters: [PythonInterpreter]

    public init(interpreters: [PythonInterpreter]) { self.interpreters = interpreters }

    /// Discovers the interpreters on this machine; `uv` is uv's path (nil: found in PATH or pyenv).
    public static func discover(uv: String? = nil, runner: CommandRunner = CommandRunner()) -> InterpreterCatalog {
        discover(uv: uv ?? ToolRunner.locateUV(), tools: ToolRunner(runner: runner, scratch: NSTemporaryDirectory()))
    }

    static func discover(uv: String?, tools runner: ToolRunner) -> InterpreterCatalog {
        var candidates: [(String, String)] = []
        let manager = FileManager.default
        let environment = ProcessInfo.processInfo.environment
        let pyenvRoot = environment["PYENV_ROOT"] ?? (NSHomeDirectory() + "/.pyenv")
        let versionsDirectory = pyenvRoot + "/versions"
        for name in ((try? manager.contentsOfDirectory(atPath: versionsDirectory)) ?? []).sorted() {
            for executable in ["bin/python3", "bin/python"] {
                let path = "\(versionsDirectory)/\(name)/\(executable)"
                if manager.isExecutableFile(atPath: path) { candidates.append((path, "pyenv")); break }
            }
        }
        for path in ["/usr/bin/python3", "/usr/local/bin/python3"] where manager.isExecutableFile(atPath: path) {
            candidates.append((path, "system"))
        }
        // pyenv's shims make uv probe every python3.X name through pyenv (seconds, and failing for
        // versions not selected); pyenv's versions are listed above anyway.
        let pathWithoutShims = (environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
            .filter { !$0.hasSuffix("/shims") }.joined(separator: ":")
        if let uv, let listing = try? runner.capture([uv, "python", "list", "--only-installed", "--output-format", "json"],
                                                    environment: ["UV_PYTHON_DOWNLOADS": "never", "PATH": pathWithoutShims], timeout: 60),
           listing.status == 0, let data = listing.stdout.data(using: .utf8),
           // uv's listing only adds candidates: when it is missing or unreadable, pyenv's and the
           // system's interpreters found above are still offered.
           let entries = try? JSONDecoder().decode([UVPythonListEntry].self, from: data) {
            for entry in entries {
                guard let path = entry.path, !path.contains("/shims/") else { continue }
                candidates.append((path, "uv"))
            }
        }
        var seen = Set<String>()
        var found: [PythonInterpreter] = []
        for (path, origin) in candidates {
            let real = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
            guard seen.insert(real).inserted else { continue }
            let probe = try? runner.capture([real, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
                                            environment: [:], timeout: 30)
            guard let probe, probe.status == 0,
                  let version = PythonVersion(probe.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) else { continue }
            found.append(PythonInterpreter(path: real, version: version, origin: origin))
        }
        // Newest first; for one version, pyenv's build before the system's.
        found.sort { $0.version != $1.version ? $0.version > $1.version : $0.origin < $1.origin }
        return InterpreterCatalog(interpreters: found)
    }
}

/// Why an interpreter was chosen (recorded with the environment).
public struct InterpreterChoice: Codable, Hashable, Sendable {
    public var interpreter: PythonInterpreter
    /// The constraint applied, e.g. `>=3.8,<4`.
    public var constraint: String
    /// Where it came from, e.g. `pyproject.toml [project] requires-python`.
    public var constraintSource: String
    /// Set when no satisfying interpreter was released before the date and an older-is-better
    /// fallback was used.
    public var note: String?
}

/// The project's interpreter constraint and the choice rule of environments.md: the newest
/// installed interpreter that satisfies the constraint and was released (plus a margin) before
/// the task date.
enum InterpreterSelector {
    struct Constraint {
        var accepts: (PythonVersion) -> Bool
        var text: String
        var source: String
        /// A wider constraint to try when nothing installed satisfies this one.
        var fallback: Box?

        final class Box { let constraint: Constraint; init(_ constraint: Constraint) { self.constraint = constraint } }
    }

    static func constraint(project: PythonProject, policy: Recipe.InterpreterPolicy) throws -> Constraint {
        if let requires = policy.requires {
            let set = try VersionSpecifierSet(requires)
            return Constraint(accepts: set.contains, text: requires, source: "recipe interpreter.requires")
        }
        if let (text, source) = project.requiresPython {
            let set = try VersionSpecifierSet(text)
            let declared = Constraint(accepts: set.contains, text: text, source: source)
            // requires-python is a floor that rarely gets a ceiling; the classifiers name the
            // versions the project was tested on at that commit (requests 2.26: ">=2.7, !=3.0.*, …"
            // but 3.6–3.9), and the test tools it pinned then may not run on a newer Python
            // (pytest 3.x on 3.10). So prefer the classified versions the floor allows.
            let classified = Set(project.classifierVersions.filter(set.contains).map(\.majorMinor))
            guard !classified.isEmpty else { return declared }
            return Constraint(accepts: { set.contains($0) && classified.contains($0.majorMinor) },
                              text: text + ", one of " + classified.sorted().joined(separator: ", "),
                              source: source + " and Trove classifiers", fallback: .init(declared))
        }
        // Classifiers and tox envs name the versions a project was tested on, not a requirement:
        // when none of those is installed (sympy 1.0 names 2.6–3.5; uv drives 3.6 and later), the
        // nearest installed interpreter is tried (ranked oldest first, as none was released before
        // the task's date), and the environment says so.
        let untested = Constraint.Box(Constraint(accepts: { _ in true }, text: "any installed (the hinted versions are not)",
                                                 source: "nearest installed interpreter"))
        if !project.classifierVersions.isEmpty {
            let minors = Set(project.classifierVersions.map(\.majorMinor))
            return Constraint(accepts: { minors.contains($0.majorMinor) },
                              text: "one of " + minors.sorted().joined(separator: ", "), source: "Trove classifiers", fallback: untested)
        }
        if let major = project.classifierOnlyMajor {
            return Constraint(accepts: { $0.major == major }, text: "==\(major).*", source: "Trove classifier Python :: \(major) :: Only")
        }
        if !project.toxVersions.isEmpty {
            let minors = Set(project.toxVersions.map(\.majorMinor))
            return Constraint(accepts: { minors.contains($0.majorMinor) },
                              text: "one of " + minors.sorted().joined(separator: ", "), source: "tox envlist", fallback: untested)
        }
        let fallback = policy.fallbackRequires ?? ""
        let set = try VersionSpecifierSet(fallback)
        return Constraint(accepts: set.contains, text: fallback.isEmpty ? "any" : fallback,
                          source: "recipe interpreter.fallback_requires (the project states nothing)")
    }

    /// The choice, or nil when nothing installed satisfies the constraint.
    static func choose(from catalog: InterpreterCatalog, constraint: Constraint, policy: Recipe.InterpreterPolicy,
                       date: Date) -> InterpreterChoice? {
        ranked(from: catalog, constraint: constraint, policy: policy, date: date).first
    }

    /// Every installed interpreter that satisfies the constraint, best first: those released
    /// (plus the margin) before the date, newest first, then the later ones, oldest first. The
    /// builder falls back along this list when an environment cannot be built on the first.
    static func ranked(from catalog: InterpreterCatalog, constraint: Constraint, policy: Recipe.InterpreterPolicy,
                       date: Date) -> [InterpreterChoice] {
        let minimum = policy.minimum.flatMap(PythonVersion.init)
        var seenVersions = Set<String>()
        let usable = catalog.interpreters.filter { interpreter in
            constraint.accepts(interpreter.version) && (minimum.map { interpreter.version >= $0 } ?? true)
                && seenVersions.insert(interpreter.version.majorMinor).inserted // one build per minor
        }
        let margin = TimeInterval(policy.releaseMarginDays) * 86_400
        func releasedBefore(_ interpreter: PythonInterpreter) -> Bool {
            guard let released = CPythonReleases.releaseDate(of: interpreter.version) else { return false }
            return released.addingTimeInterval(margin) <= date
        }
        let before = usable.filter(releasedBefore).sorted { $0.version > $1.version }
        let later = usable.filter { !releasedBefore($0) }.sorted { $0.version < $1.version }
        let laterNote = "no satisfying interpreter was released \(policy.releaseMarginDays) days before \(ISODates.format(date)); using the oldest that satisfies"
        return before.map { InterpreterChoice(interpreter: $0, constraint: constraint.text, constraintSource: constraint.source) }
            + later.map { InterpreterChoice(interpreter: $0, constraint: constraint.text, constraintSource: constraint.source,
                                            note: before.isEmpty ? laterNote : nil) }
    }
}

/// ISO-8601 dates as task records carry them (`2023-01-01`, `2023-01-01T12:00:00Z`).
public enum ISODates {
    public static func parse(_ text: String) -> Date? {
        let full = ISO8601DateFormatter()
        if let date = full.date(from: text) { return date }
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = fractional.date(from: text) { return date }
        let day = ISO8601DateFormatter()
        day.formatOptions = [.withFullDate]
        return day.date(from: String(text.prefix(10)))
    }

    /// `2023-01-01T00:00:00Z`, the form uv's `--exclude-newer` takes.
    public static func format(_ date: Date) -> String {
        ISO8601DateFormatter().string(from: date)
    }
}

/// One interpreter of `uv python list --output-format json` (only the field Forge reads; a
/// download not installed has a null path).
struct UVPythonListEntry: Decodable {
    var path: String?
}
