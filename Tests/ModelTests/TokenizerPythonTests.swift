// Cross-checks against the Python reference implementations (Hugging Face `tokenizers`,
// `safetensors`, numpy), installed from PyPI into a venv shared by the test runs.
import Foundation
import Basics
import XCTest
@testable import Model

/// A venv with the Python packages the cross-check tests need, built once per machine with uv.
enum ModelIOPython {
    static let packages = ["tokenizers>=0.19", "safetensors>=0.4", "numpy"]
    static let marker = "ready " + packages.joined(separator: " ")
    /// Named after the package list, so test suites wanting other packages never share it.
    static let root = URL(fileURLWithPath: "/tmp/forge-python-" + String(marker.utf8.reduce(UInt64(0xcbf2_9ce4_8422_2325)) {
        ($0 ^ UInt64($1)) &* 0x100_0000_01b3   // FNV-1a
    }, radix: 16))
    static let uvCache = "/tmp/forge-uv-cache"

    private static let lock = NSLock()
    private nonisolated(unsafe) static var cached: Result<URL, Error>?

    /// The venv's python, installing it on first use; throws XCTSkip only if PyPI is unreachable.
    static func python() throws -> URL {
        lock.lock()
        defer { lock.unlock() }
        if cached == nil { cached = Result { try install() } }
        return try cached!.get()
    }

    private static func install() throws -> URL {
        let python = root.appendingPathComponent("bin/python")
        let markerFile = root.appendingPathComponent("forge-ready")
        if (try? String(contentsOf: markerFile, encoding: .utf8)) == marker { return python }
        // Built beside the final place, then renamed, so a concurrent or interrupted run never
        // leaves a half-installed venv where others look.
        let staging = URL(fileURLWithPath: root.path + ".staging-\(getpid())-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: staging) }
        let environment = ["UV_CACHE_DIR": uvCache]
        let venv = try run(["uv", "venv", "--quiet", "--python", "3.11", staging.path], environment: environment)
        guard venv.status == 0 else { throw EnvironmentError("uv venv failed: \(venv.stderr)") }
        let pip = try run(["uv", "pip", "install", "--quiet", "--python", staging.appendingPathComponent("bin/python").path] + packages,
                          environment: environment)
        guard pip.status == 0 else {
            let networkSigns = ["failed to fetch", "error sending request", "dns error", "connect", "timed out", "network", "resolve"]
            if networkSigns.contains(where: { pip.stderr.lowercased().contains($0) }) {
                throw XCTSkip("PyPI unreachable, skipping the Python cross-check: \(pip.stderr.prefix(300))")
            }
            throw EnvironmentError("uv pip install \(packages) failed: \(pip.stderr)")
        }
        try Data(marker.utf8).write(to: staging.appendingPathComponent("forge-ready"))
        try? FileManager.default.removeItem(at: root)
        if (try? FileManager.default.moveItem(at: staging, to: root)) == nil,
           (try? String(contentsOf: markerFile, encoding: .utf8)) != marker {
            throw EnvironmentError("could not move the venv into \(root.path)")
        }
        return python
    }

    struct EnvironmentError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    /// Runs a command (looked up on PATH) and returns its exit status and output.
    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, stdout: String, stderr: String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("forge-run-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let outURL = directory.appendingPathComponent("out"), errURL = directory.appendingPathComponent("err")
        try Data().write(to: outURL)
        try Data().write(to: errURL)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardOutput = try FileHandle(forWritingTo: outURL)
        process.standardError = try FileHandle(forWritingTo: errURL)
        try process.run()
        process.waitUntilExit()
        return (process.terminationStatus, try String(contentsOf: outURL, encoding: .utf8), try String(contentsOf: errURL, encoding: .utf8))
    }

    /// Runs a Python script in the venv with arguments; fails the test with stderr on error.
    static func runScript(_ script: String, _ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let python = try python()
        let result = try run([python.path, "-c", script] + arguments)
        guard result.status == 0 else {
            XCTFail("python failed (\(result.status)): \(result.stderr)", file: file, line: line)
            throw EnvironmentError("python script failed")
        }
        return result.stdout
    }
}

final class TokenizerPythonTests: XCTestCase {
    static let script = """
    import json, sys
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(sys.argv[1])
    results = []
    for text in json.load(open(sys.argv[2], encoding="utf-8")):
        ids = tok.encode(text).ids
        pieces = [piece for piece, _ in tok.pre_tokenizer.pre_tokenize_str(text)]
        results.append({"ids": ids, "pieces": pieces, "decoded": tok.decode(ids, skip_special_tokens=False)})
    json.dump(results, open(sys.argv[3], "w", encoding="utf-8"))
    """

    /// Hand-picked edge cases, seeded random strings over code-like and Unicode fragments, and
    /// this module's own source files.
    static func testStrings() -> [String] {
        var strings = [
            "", " ", "\n", "def f(x):\n    return x ** 2\n", "int main() {\r\n\treturn 0;\r\n}\r\n",
            "Hello world's  \r\n\n   def foo123456(x):\n\treturn 'S", "WE'LL can't I'M she'd you've THEY'RE 'sS",
            "x = 1_000_000 + 0x1F + 3.14159e-10", "   leading and trailing   ", "tabs\t\tand\u{0B}\u{0C}vertical",
            "emoji 😀👍🏽 and 👨‍👩‍👧 family", "naïve café résumé", "中文字符和日本語のテキスト", "١٢٣٤ ٥٦ Arabic digits",
            "full\u{3000}width\u{A0}nbsp\u{2028}line\u{2029}para\u{85}nel", "ſ'ſ 'ſ", "²³ ½ Ⅻ roman",
            "<|endoftext|>", "a<|endoftext|>b<|pad|><|patch|>diff --git a/x b/x", "<|endoftext|<|endoftext|>>",
            "if (a&&b||!c) { x->y = z[i++]; } // comment /* block */", "@decorator\nclass A(B, metaclass=M):\n    pass",
            "\"quoted\" 'single' `back` \\ escaped \\n", "\n\n\n    \n\t\n  x", "!!!???...,,,;;;", "a\u{0301}e\u{0300}",
        ]
        let fragments = ["a", "Z", "é", "ß", "中", "😀", "1", "42", "٣", "½", " ", "  ", "\t", "\n", "\r\n", "\r", "'", "'s", "'LL",
                         "(", ")", "{", "}", ".", "_", "-", "=", "\"", "\u{3000}", "\u{A0}", "<|pad|>", "func", "return", "x0"]
        var random = SamplerRandom(seed: 7)
        for _ in 0..<200 {
            strings.append((0..<Int.random(in: 1...25, using: &random)).map { _ in fragments.randomElement(using: &random)! }.joined())
        }
        // Whole source files too: long, realistic inputs where many merges interact.
        strings += TokenizerTests.codeCorpus.map { String(decoding: $0, as: UTF8.self) }
        return strings
    }

    func testHuggingFaceLoadsForgeTokenizerAndProducesTheSameIds() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let strings = Self.testStrings()
        let stringsFile = directory.appendingPathComponent("strings.json")
        try JSONSerialization.data(withJSONObject: strings).write(to: stringsFile)
        for pattern in PreTokenizerPattern.allCases {
            let tokenizer = try TokenizerTrainer(vocabularySize: 600, pattern: pattern).train(documents: TokenizerTests.codeCorpus)
            let tokenizerFile = directory.appendingPathComponent("\(pattern)-tokenizer.json")
            let resultsFile = directory.appendingPathComponent("\(pattern)-results.json")
            try tokenizer.save(to: tokenizerFile)
            _ = try ModelIOPython.runScript(Self.script, [tokenizerFile.path, stringsFile.path, resultsFile.path])
            let results = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: resultsFile)) as? [[String: Any]])
            XCTAssertEqual(results.count, strings.count)
            var mergedTokens = 0
            for (text, result) in zip(strings, results) {
                let forgeIds = tokenizer.encode(text, allowingSpecialTokens: true)
                XCTAssertEqual(forgeIds, result["ids"] as? [Int], "\(pattern) ids differ for \(text.debugDescription)")
                let bytes = Array(text.utf8)
                let forgePieces = PreTokenizer(pattern: pattern).pieces(of: bytes).map { ByteLevelAlphabet.encode(bytes[$0]) }
                XCTAssertEqual(forgePieces, result["pieces"] as? [String], "\(pattern) pieces differ for \(text.debugDescription)")
                XCTAssertEqual(result["decoded"] as? String, text, "\(pattern) HF decode")
                mergedTokens += forgeIds.filter { $0 >= 256 }.count
            }
            XCTAssertGreaterThan(mergedTokens, 100, "the comparison should exercise learned merges, not just bytes")
        }
    }
}
