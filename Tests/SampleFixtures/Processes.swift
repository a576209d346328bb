import Foundation

// Running programs from tests: the one copy of "start a process, collect its output" that the
// test targets share (git, tar, uv, python and the built `forge`).

/// Runs a program to completion: its exit status and its stdout and stderr, merged.
@discardableResult
public func runProcess(_ program: String, _ arguments: [String], in directory: String? = nil,
                       environment: [String: String]? = nil) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: program)
    process.arguments = arguments
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    if let environment { process.environment = environment }
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// Runs a program, failing with its output when it exits non-zero; returns stdout and stderr, merged.
@discardableResult
public func runProgram(_ program: String, _ arguments: [String], in directory: URL? = nil,
                       environment: [String: String]? = nil) throws -> String {
    let (status, output) = try runProcess(program, arguments, in: directory?.path, environment: environment)
    guard status == 0 else {
        throw NSError(domain: program, code: Int(status),
                      userInfo: [NSLocalizedDescriptionKey: "\(program) \(arguments.joined(separator: " ")): \(output)"])
    }
    return output
}

/// git with no user or system configuration (`HOME` is `home`, else `directory`), failing with its output.
@discardableResult
public func git(_ arguments: [String], in directory: URL, home: URL? = nil) throws -> String {
    try runProgram("/usr/bin/git", arguments, in: directory,
                   environment: ["PATH": "/usr/bin:/bin", "HOME": (home ?? directory).path, "GIT_CONFIG_NOSYSTEM": "1", "LC_ALL": "C"])
}

/// Blocking work on a Dispatch thread, awaited: it keeps the cooperative threads free.
public func onThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try work() }) }
    }
}

/// `.build/<config>/forge`, beside the test bundle (this library is linked into it).
public let forgeExecutablePath: String = {
    var url = Bundle(for: BundleMarker.self).bundleURL
    while url.lastPathComponent.hasSuffix(".xctest") { url.deleteLastPathComponent() }
    return url.appendingPathComponent("forge").path
}()
private final class BundleMarker {}

/// Runs the built `forge` as a user would: its exit status and its output, merged.
@discardableResult
public func runForge(_ arguments: [String], in directory: String? = nil) throws -> (status: Int32, output: String) {
    try runProcess(forgeExecutablePath, arguments, in: directory)
}

/// Appends `text` to a file of a checkout.
public func append(_ text: String, to file: String, under root: URL) throws {
    let url = root.appendingPathComponent(file)
    try (try String(contentsOf: url, encoding: .utf8) + text).write(to: url, atomically: true, encoding: .utf8)
}

/// Replaces `old` with `new` in a file of a checkout; fails when `old` is absent.
public func replace(_ old: String, with new: String, in file: String, under root: URL) throws {
    let url = root.appendingPathComponent(file)
    let text = try String(contentsOf: url, encoding: .utf8)
    guard text.contains(old) else { throw NSError(domain: "fixture", code: 1, userInfo: [NSLocalizedDescriptionKey: "\(file) lacks \(old)"]) }
    try text.replacingOccurrences(of: old, with: new).write(to: url, atomically: true, encoding: .utf8)
}
