// Compiles data files into the module that reads them (`EmbeddedFiles.contents`), so a relocated
// `forge` binary needs no checkout and no resource bundle beside it: Environments gets the
// package's `Recipes/` (*.yaml), any other target the files its folder excludes from its sources
// (`forge_synth.py`, `openapi.yaml`).
import Foundation
import PackagePlugin

@main
struct EmbedFiles: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        guard let module = target as? SourceModuleTarget else { return [] }
        let root: URL
        let files: [String]
        if module.name == "Environments" {
            root = context.package.directoryURL.appending(path: "Recipes")
            files = Self.files(under: root) { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }
        } else {
            root = module.directoryURL
            files = Self.files(under: root) { $0.hasSuffix(".py") || $0.hasSuffix(".yaml") }
        }
        let output = context.pluginWorkDirectoryURL.appending(path: "EmbeddedFiles.swift")
        return [.buildCommand(displayName: "Embedding \(files.count) file(s) in \(module.name)",
                              executable: try context.tool(named: "embed-files").url,
                              arguments: [output.path, root.path] + files,
                              inputFiles: files.map { root.appending(path: $0) },
                              outputFiles: [output])]
    }

    /// Relative paths of the files under `root` whose names pass `keep`, sorted.
    static func files(under root: URL, keep: (String) -> Bool) -> [String] {
        guard let walker = FileManager.default.enumerator(atPath: root.path) else { return [] }
        var found: [String] = []
        while let relative = walker.nextObject() as? String {
            var isDirectory: ObjCBool = false
            if keep(relative), FileManager.default.fileExists(atPath: root.appending(path: relative).path, isDirectory: &isDirectory),
               !isDirectory.boolValue {
                found.append(relative)
            }
        }
        return found.sorted()
    }
}
