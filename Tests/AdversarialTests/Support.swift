import Foundation
import XCTest

// The adversarial suite: each test drives one attack through Forge's own entry points (agent
// shell, `/score`, `forge eval`, `forge import`, validation runs) and checks that the escape
// fails, the hack scores 0 or is refused, and the host files it aims at are untouched. It runs
// as whoever runs `swift test` (root in CI); `UnprivilegedRunTests` runs it again as an
// unprivileged user when the suite itself runs as root. The validated sample, the loopback
// servers and clients and the process helpers are SampleFixtures'.

/// A host file an attack aims at: created with known content, checked unchanged afterwards.
struct Bait {
    let path: String
    let content: String

    /// A fresh file under `directory` holding a random secret.
    init(in directory: String, name: String = "bait-\(UUID().uuidString.prefix(8))") throws {
        path = directory + "/" + name
        content = "secret-\(UUID().uuidString)\n"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try content.write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// Fails unless the file still holds exactly its content.
    func assertUntouched(file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(try? String(contentsOfFile: path, encoding: .utf8), content, "\(path) was changed", file: file, line: line)
    }
}
