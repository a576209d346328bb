import Foundation
import Sandbox

/// Swift and Rust: nothing to install beyond the toolchain. The "environment" is the toolchain's
/// identity plus checks that the manifest parses and resolves offline.
extension EnvironmentBuilder {
    func prepareToolchain(_ project: ProjectSnapshot, recipe: Recipe, manifests: [String: Data]) throws -> PreparedEnvironment {
        guard let spec = recipe.toolchain else {
            throw EnvironmentFailure(kind: .invalidRecipe, reason: "\(recipe.sources.first ?? recipe.ecosystem.rawValue): no toolchain section")
        }
        guard let program = ToolRunner.locate(spec.program) else {
            throw EnvironmentFailure(kind: .missingToolchain,
                                     reason: "'\(spec.program)' not found in PATH \(ProcessInfo.processInfo.environment["PATH"] ?? "")")
        }
        let versionOutput: ToolRunner.Captured
        do {
            versionOutput = try tools.capture([program] + spec.versionArguments, environment: [:], timeout: 60)
        } catch {
            throw EnvironmentFailure(kind: .missingToolchain, reason: "cannot run \(program): \(error)")
        }
        let versionText = (versionOutput.stdout + versionOutput.stderr).split(separator: "\n")
            .map { $0.trimmingCharacters(in: .whitespaces) }.first(where: { !$0.isEmpty }) ?? ""
        guard versionOutput.status == 0, !versionText.isEmpty else {
            throw EnvironmentFailure(kind: .missingToolchain,
                                     reason: "\(program) \(spec.versionArguments.joined(separator: " ")) exited \(versionOutput.status)")
        }
        let toolchain = ToolchainInfo(path: program, version: versionText)
        let key = Self.cacheKey(ecosystem: recipe.ecosystem, recipe: recipe, runtime: "\(versionText) \(program)",
                                manifests: manifests)
        let identity = Self.identity(recipe: recipe, runtime: versionText, manifests: manifests)
        return try withKey(key, identity: identity, build: { directory in
            try checkToolchain(project, recipe: recipe, spec: spec, toolchain: toolchain, manifests: manifests,
                               key: key, directory: directory)
        }, isUsable: { ready in
            ready.toolchain.map { FileManager.default.isExecutableFile(atPath: $0.path) } ?? false
        })
    }

    private func checkToolchain(_ project: ProjectSnapshot, recipe: Recipe, spec: Recipe.ToolchainSpec,
                                toolchain: ToolchainInfo, manifests: [String: Data], key: String,
                                directory: URL) throws -> PreparedEnvironment {
        let started = Date()
        let logPath = directory.appendingPathComponent("build.log").path
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        Self.appendLog("# environment \(key) for \(project.repo ?? project.directory.path)\n# toolchain: \(toolchain.version) at \(toolchain.path)\n", to: logPath)
        let values = ["tool": toolchain.path, "source": project.directory.path]
        for (index, check) in spec.checks.enumerated() {
            let argv = check.map { PreparedEnvironment.substitute($0, values) }
            let checkLog = directory.appendingPathComponent("check-\(index).log").path
            let line = argv.joined(separator: " ")
            Self.appendLog("\n$ \(line)\n", to: logPath)
            let result: CommandResult
            do {
                result = try tools.run(argv, environment: recipe.install.env, workingDirectory: project.directory.path,
                                       timeout: recipe.install.timeout, logPath: checkLog, sandbox: nil)
            } catch {
                throw EnvironmentFailure(kind: .internalError, reason: "cannot run \(line): \(error)", logPath: logPath)
            }
            let output = Self.readLog(checkLog)
            // Keep the build log readable: big JSON (cargo metadata) is summarized, not copied.
            Self.appendLog(output.count > 4000 ? "[\(output.count) bytes of output in \(checkLog)]\n" : output, to: logPath)
            if result.timedOut {
                throw EnvironmentFailure(kind: .timeout, reason: "\(line) ran past \(Int(recipe.install.timeout)) s", logPath: checkLog)
            }
            guard result.succeeded else {
                let offline = ["--offline", "no matching package", "failed to load source", "failed to get",
                               "Could not resolve", "could not find", "unable to update", "failed to select a version"]
                let kind: EnvironmentFailure.Kind = offline.contains(where: output.contains) ? .unresolvableDependency : .toolchainCheckFailed
                let reason = output.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
                    .first(where: { $0.lowercased().hasPrefix("error") }) ?? "exit \(result.exitCode ?? -1)"
                throw EnvironmentFailure(kind: kind, reason: "\(line) failed in \(project.directory.path): \(reason.prefix(400))",
                                         logPath: checkLog)
            }
        }
        var envVars = recipe.test.env
        let toolBin = URL(fileURLWithPath: toolchain.path).deletingLastPathComponent().path
        envVars["PATH"] = "\(toolBin):/usr/local/bin:/usr/bin:/bin"
        // rustup's proxies and SwiftPM find their homes through these.
        for name in ["HOME", "RUSTUP_HOME", "CARGO_HOME", "RUSTUP_TOOLCHAIN"] {
            if let value = ProcessInfo.processInfo.environment[name], envVars[name] == nil { envVars[name] = value }
        }
        let runnerName = recipe.test.runner == "auto" ? recipe.test.runners.keys.sorted()[0] : recipe.test.runner
        return PreparedEnvironment(
            key: key, ecosystem: recipe.ecosystem, recipeHash: recipe.contentHash, recipeSources: recipe.sources,
            repo: project.repo, version: project.version, excludeNewer: ISODates.format(project.createdAt),
            interpreter: nil, toolchain: toolchain, venvPath: nil, strategy: nil, projectInstall: nil, attempts: [], resolvedPackages: [],
            manifestHashes: manifests.mapValues { SHA256.hex($0) }, envVars: envVars, testRunnerName: runnerName,
            testRunner: recipe.test.runners[runnerName]!, testTimeout: recipe.test.timeout, testLimits: recipe.test.limits, sourceRoot: "",
            builtFrom: project.directory.path, buildLogPath: logPath, buildSeconds: Date().timeIntervalSince(started),
            builtAt: ISODates.format(Date()), reused: false)
    }
}
