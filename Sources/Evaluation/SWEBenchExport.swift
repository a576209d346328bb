import Basics
import Environments
import Foundation
import Store
import TestReports
import Validation

/// `forge export`: tasks as SWE-bench 5 datasets have them, so that `swebench`'s
/// `make_test_spec` and harness take each row unchanged.
///
/// Besides the task's own fields each row carries what SWE-bench 5 reads from the instance:
/// `eval_script` (bash run in the container at `/testbed` after the model patch is applied: it
/// installs the task's environment from the packages Forge's validation locked, dated with
/// `--exclude-newer` at `created_at`, applies `test_patch` and runs the task's test files between
/// SWE-bench's start/end markers), `log_parser` (the parser whose ids the lists use),
/// `eval_type`, `image` (the Docker image the harness runs `eval_script` in; SWE-bench pulls or
/// builds it by this name) and `image_assets` holding `dockerfile`, a Dockerfile that makes that
/// image (the repository at `base_commit` in `/testbed`, with git, uv and the interpreter).
/// SWE-bench's harness reads only `test_patch`/`patch` entries of `image_assets`, so the extra
/// key is inert there. Fields a task was imported with win over the generated ones.
public enum SWEBenchExport {
    /// SWE-bench's log markers (`swebench.harness.constants`).
    public static let startMarker = ">>>>> Start Test Output"
    public static let endMarker = ">>>>> End Test Output"
    /// Where SWE-bench's containers hold the repository (`CONTAINER_WORKDIR`).
    public static let workdir = "/testbed"
    /// The virtual environment `eval_script` builds in the container.
    public static let venv = "/opt/forge-venv"
    /// Heredoc delimiter SWE-bench's own eval scripts use around patches.
    static let heredoc = "EOF_114329324912"

    public struct Options: Sendable {
        /// Every task, each with `status` (valid / invalid / error / not_validated) and
        /// `status_reason`; otherwise only tasks that can be graded (see `isExported`).
        public var all: Bool
        /// Rewrite the test lists into this id form (nil: as recorded).
        public var idFormat: TestIDFormat?

        public init(all: Bool = false, idFormat: TestIDFormat? = nil) { self.all = all; self.idFormat = idFormat }
    }

    /// What a task's validation verdict says, as `status` reads in `--all` exports.
    public enum Status: String, Sendable {
        case valid, invalid, error
        case notValidated = "not_validated"
    }

    /// Writes the rows for the tasks matching `filter` to `path` (atomically; standard output
    /// when nil). Returns how many rows were written.
    @discardableResult
    public static func export(store: TaskStore, matching filter: TaskFilter, options: Options, to path: String?) throws -> Int {
        let rows = try self.rows(store: store, matching: filter, options: options)
        var data = Data()
        for row in rows { data.append(contentsOf: row); data.append(UInt8(ascii: "\n")) }
        if let path {
            do { try data.write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
                throw StoreError.io(path: path, reason: "cannot write: \(error.localizedDescription)")
            }
        } else {
            FileHandle.standardOutput.write(data)
        }
        return rows.count
    }

    /// One JSONL line (UTF-8, no newline) per exported task, by instance id.
    public static func rows(store: TaskStore, matching filter: TaskFilter, options: Options) throws -> [[UInt8]] {
        var chosen: [(task: TaskRecord, status: Status, reason: String?, environment: LockedEnvironment?)] = []
        for task in try store.tasks(matching: filter) {
            let verdict = try store.verdict(instanceID: task.instanceID, kind: .validation)
            let status = verdict.map { Status(rawValue: $0.status) ?? .error } ?? .notValidated
            guard options.all || isExported(task, status: status) else { continue }
            chosen.append((task, status, verdict?.reason, try LockedEnvironment(verdict: verdict, store: store)))
        }
        let setupCommits = environmentSetupCommits(chosen.map(\.task))
        return chosen.map { entry in
            var task = entry.task
            if let commit = setupCommits[task.instanceID] { task.environmentSetupCommit = commit }
            if let format = options.idFormat { task = converted(task, to: format) }
            var added = harnessFields(for: task, environment: entry.environment)
                .filter { task.extraFields[$0.key] == nil }
            if options.all {
                added.append((key: "status", json: JSONString.quoted(entry.status.rawValue)))
                added.append((key: "status_reason", json: entry.status == .valid ? "null" : JSONString.quoted(entry.reason ?? "")))
            }
            return TaskJSONL.lineBytes(for: task, adding: added)
        }
    }

    /// Exported by default: gradable (FAIL_TO_PASS non-empty, PASS_TO_FAIL empty — SWE-bench
    /// grades empty lists as resolved) and not judged otherwise by Forge's validation. Imported
    /// tasks never validated here keep the lists their dataset gave.
    public static func isExported(_ task: TaskRecord, status: Status) -> Bool {
        task.isEvaluable && (status == .valid || status == .notValidated)
    }

    /// SWE-bench's `environment_setup_commit`: for each (repository, `version`), the
    /// `base_commit` of the latest-created task of that version among those exported. Only
    /// Forge's own tasks get it; imported ones keep their dataset's.
    static func environmentSetupCommits(_ tasks: [TaskRecord]) -> [String: String] {
        var latest: [[String]: (date: Date, id: String, commit: String)] = [:]
        let own = tasks.filter { $0.statementSource != .imported }
        for task in own {
            let date = ISODates.parse(task.createdAt) ?? .distantPast
            let key = [task.repo, task.version]
            if let current = latest[key], (current.date, current.id) > (date, task.instanceID) { continue }
            latest[key] = (date, task.instanceID, task.baseCommit)
        }
        return Dictionary(uniqueKeysWithValues: own.compactMap { task in
            latest[[task.repo, task.version]].map { (task.instanceID, $0.commit) }
        })
    }

    /// The task with its test lists in `format`. SWE-bench's form cuts ids at whitespace; ids
    /// that cut to the same text are listed once.
    static func converted(_ task: TaskRecord, to format: TestIDFormat) -> TaskRecord {
        guard format == .swebench, task.testIDFormat == .junit else { return task }
        func cut(_ ids: [String]) -> [String] {
            var seen = Set<String>()
            return ids.map(TestIDMatcher.swebenchForm).filter { seen.insert($0).inserted }
        }
        var task = task
        task.failToPass = cut(task.failToPass); task.passToPass = cut(task.passToPass)
        task.passToFail = cut(task.passToFail); task.flaky = cut(task.flaky)
        task.testIDFormat = .swebench
        return task
    }

    /// `image`, `eval_script`, `log_parser`, `eval_type` and `image_assets`, as JSON texts.
    static func harnessFields(for task: TaskRecord, environment: LockedEnvironment?) -> [(key: String, json: String)] {
        let python = environment?.pythonVersion ?? "3.11"
        let fields: [(String, String)] = [
            ("image", JSONString.quoted(imageName(for: task))),
            ("eval_script", JSONString.quoted(evalScript(for: task, environment: environment))),
            ("log_parser", JSONString.quoted("parse_log_pytest")),
            ("eval_type", JSONString.quoted("pass_and_fail")),
            ("image_assets", JSONString.quoted(jsonString(object: ["dockerfile": dockerfile(for: task, python: python)]))),
        ]
        return fields.map { (key: $0.0, json: $0.1) }
    }

    /// SWE-bench's name for a locally built instance image (`sweb.eval.x86_64.<id>`, lower
    /// case), tagged `forge` so it never stands for an official image.
    public static func imageName(for task: TaskRecord) -> String {
        "sweb.eval.x86_64.\(task.instanceID):forge".lowercased()
    }

    /// The image `eval_script` runs in: the repository at `base_commit` in `/testbed`, git, uv
    /// and the task's interpreter. Build it with `docker build -t <image> - < Dockerfile`.
    public static func dockerfile(for task: TaskRecord, python: String) -> String {
        """
        FROM ghcr.io/astral-sh/uv:python\(python)-bookworm-slim
        RUN apt-get update && apt-get install -y --no-install-recommends git ca-certificates && rm -rf /var/lib/apt/lists/*
        RUN git clone https://github.com/\(task.repo).git \(workdir) && git -C \(workdir) checkout \(task.baseCommit)
        WORKDIR \(workdir)

        """
    }

    /// The bash script SWE-bench runs in the container (see the type's comment). Self-contained:
    /// the locked requirements and the test patch are inside it.
    public static func evalScript(for task: TaskRecord, environment: LockedEnvironment?) -> String {
        let date = ISODates.parse(task.createdAt).map(ISODates.format) ?? task.createdAt
        let testPatchFiles = TestFiles.changed(in: task.testPatch)
        let testFiles = Evaluator.testFiles(holding: task.failToPass + task.passToPass, ecosystem: .python)
            ?? TestFiles.selected(from: task.testPatch, ecosystem: .python)
        let install = ["uv", "pip", "install", "--python", "\(venv)/bin/python", "--exclude-newer", date]
            + EnvironmentBuilder.undatedBuildBackends
        var lines = [
            "#!/bin/bash",
            "set -uxo pipefail",
            "# Forge task \(task.instanceID): packages as Forge's validation resolved them"
                + (environment.map { " (environment \($0.key), \($0.interpreter))" } ?? " (not validated: resolved now)")
                + ", dated \(date).",
            "cd \(workdir)",
            "git config --global --add safe.directory \(workdir)",
            "export UV_NO_PROGRESS=1 UV_PYTHON_DOWNLOADS=automatic",
            // Set up once per container; a failed setup leaves no venv behind and ends the script
            // before the start marker, so SWE-bench grades the run as not applied, never as passed.
            "if [ ! -x \(venv)/bin/python ]; then",
            "( set -e",
            "  uv venv --python \(environment?.pythonVersion ?? "3.11") \(venv)",
        ]
        if let environment, !environment.packages.isEmpty {
            lines.append("  " + shellJoin(install) + " --no-deps -r /dev/stdin <<'EOF_REQUIREMENTS'")
            lines += environment.packages
            lines.append("EOF_REQUIREMENTS")
        } else {
            lines.append("  " + shellJoin(install + ["pytest"]))
        }
        if environment?.installsProject ?? true {
            lines.append("  " + shellJoin(install + ["--no-deps", "-e", "."]) + " || true")
        }
        lines += [
            ") || { rm -rf \(venv); echo 'Forge: environment setup failed' >&2; exit 1; }",
            "fi",
            "export VIRTUAL_ENV=\(venv) PATH=\(venv)/bin:$PATH PYTHONPATH=\(workdir)/src:\(workdir)",
        ]
        if !testPatchFiles.isEmpty {
            // SWE-bench's shape: reset the files the test patch touches, then apply it.
            lines.append("git checkout \(task.baseCommit) -- " + shellJoin(testPatchFiles) + " 2>/dev/null || true")
        }
        lines += ["git apply -v - <<'\(heredoc)'", task.testPatch.hasSuffix("\n") ? String(task.testPatch.dropLast()) : task.testPatch, heredoc]
        lines.append("echo '\(startMarker)'")
        lines.append(shellJoin(["\(venv)/bin/python", "-m", "pytest", "-rA"] + testFiles))
        lines.append("echo '\(endMarker)'")
        if !testPatchFiles.isEmpty {
            lines.append("git checkout \(task.baseCommit) -- " + shellJoin(testPatchFiles) + " 2>/dev/null || true")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func shellJoin(_ words: [String]) -> String {
        words.map { word in
            word.allSatisfy({ $0.isLetter || $0.isNumber || "-_./=:+@,".contains($0) }) && !word.isEmpty
                ? word : "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
        }.joined(separator: " ")
    }

    /// A string map as one compact JSON object with sorted keys (quoted as dataset lines quote).
    static func jsonString(object: [String: String]) -> String {
        var bytes: [UInt8] = [UInt8(ascii: "{")]
        for (index, key) in object.keys.sorted().enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            JSONString.appendQuoted(key, to: &bytes)
            bytes.append(UInt8(ascii: ":"))
            JSONString.appendQuoted(object[key]!, to: &bytes)
        }
        bytes.append(UInt8(ascii: "}"))
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// What Forge's validation locked for a task: the environment its run used, its interpreter and
/// the `uv pip freeze` lines without the project itself.
public struct LockedEnvironment: Sendable {
    public var key: String
    /// e.g. `cpython-3.11.7`.
    public var interpreter: String
    /// `name==version` lines.
    public var packages: [String]
    /// The freeze listed the project itself (installed editable or as a copy).
    public var installsProject: Bool

    /// `major.minor` of the interpreter (`3.11`), nil when its name has none.
    public var pythonVersion: String? {
        let digits = interpreter.split(whereSeparator: { !$0.isNumber && $0 != "." }).first { $0.contains(".") }
        return digits.map { $0.split(separator: ".").prefix(2).joined(separator: ".") }
    }

    /// nil when the task has no validation verdict or its runs name no built environment.
    init?(verdict: VerdictRecord?, store: TaskStore) throws {
        guard let verdict else { return nil }
        for id in verdict.runIDs {
            guard let key = try store.run(id: id)?.environmentKey,
                  let record = try store.environment(key: key), record.status == .built else { continue }
            self.init(record: record)
            return
        }
        return nil
    }

    init(record: EnvironmentRecord) {
        key = record.key
        interpreter = record.interpreter
        let isProject = { (line: String) in line.hasPrefix("-e ") || line.contains(" @ file://") }
        packages = record.resolvedPackages.filter { !isProject($0) && !$0.hasPrefix("#") }
        installsProject = record.resolvedPackages.contains(where: isProject)
    }
}
