import Foundation
import XCTest
@testable import Environments

/// The recipes compiled into Forge are the package's `Recipes/` folder as built: a relocated
/// binary builds the same environments (same recipe hashes, so the same cache keys) as one run
/// from the checkout.
final class EmbeddedRecipesTests: XCTestCase {
    func testBuiltInRecipesAreTheRecipesFolder() throws {
        unsetenv("FORGE_RECIPES")
        let builtIn = try RecipeBook.bundled()
        let folder = try RecipeBook(directory: RecipeBook.bundledDirectory())
        XCTAssertEqual(builtIn.origin, "Recipes (built in)")
        XCTAssertEqual(builtIn.ecosystems, folder.ecosystems)
        XCTAssertFalse(builtIn.ecosystems.isEmpty)
        XCTAssertEqual(builtIn.repositories, folder.repositories)
        XCTAssertFalse(builtIn.repositories.isEmpty, "Recipes/repos/ files are compiled in too")
        for ecosystem in folder.ecosystems {
            XCTAssertEqual(try builtIn.recipe(for: ecosystem), try folder.recipe(for: ecosystem))
            XCTAssertEqual(try builtIn.recipe(for: ecosystem).contentHash, try folder.recipe(for: ecosystem).contentHash)
        }
        for repo in folder.repositories {
            for version in [nil, "0.1", "2.0", "99.0"] as [String?] {
                let ecosystem = folder.forcedEcosystem(repo: repo, version: version) ?? .python
                XCTAssertEqual(try builtIn.recipe(for: ecosystem, repo: repo, version: version),
                               try folder.recipe(for: ecosystem, repo: repo, version: version), "\(repo) \(version ?? "-")")
            }
        }
    }

    func testAFolderNamedByForgeRecipesReplacesTheBuiltInOnes() throws {
        let folder = NSTemporaryDirectory() + "forge-recipes-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder); unsetenv("FORGE_RECIPES") }
        let swift = try String(contentsOf: RecipeBook.bundledDirectory().appendingPathComponent("swift.yaml"), encoding: .utf8)
        try swift.write(toFile: folder + "/swift.yaml", atomically: true, encoding: .utf8)
        setenv("FORGE_RECIPES", folder, 1)
        let book = try RecipeBook.bundled()
        XCTAssertEqual(book.ecosystems, [.swift])
        XCTAssertEqual(book.origin, URL(fileURLWithPath: folder).standardizedFileURL.path)
        XCTAssertEqual(try RecipeBook.load(directory: folder).ecosystems, [.swift])
    }
}
