import ArgumentParser
import Foundation
import Model

extension PreTokenizerPattern: ExpressibleByArgument {}

struct TokenizerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenizer",
        abstract: "Train and try out Forge's byte-level BPE tokenizer (Hugging Face tokenizer.json).",
        subcommands: [Train.self, Encode.self, Decode.self])

    struct Train: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Learn a vocabulary from source files and write tokenizer.json.",
            discussion: """
            Directories are searched recursively for text files (hidden entries such as .git, \
            binary files and files over 4 MiB are skipped). The vocabulary holds the 256 bytes, \
            the learned merges and Forge's special tokens; training stops early if no pair occurs \
            at least --min-pair-count times.
            """)

        @Option(name: .long, parsing: .upToNextOption, help: "Files or directories to learn from.")
        var corpus: [String]

        @Option(name: .long, help: "Total number of token ids, special tokens included.")
        var vocabSize: Int

        @Option(name: .long, help: "Where to write tokenizer.json.")
        var out: String

        @Option(name: .long, help: "Pre-tokenizer split pattern: cl100k (default, better for code) or gpt2.")
        var pattern: PreTokenizerPattern = .cl100k

        @Option(name: .long, help: "Never merge pairs seen fewer times than this.")
        var minPairCount: Int = 2

        func run() throws {
            let files = try TokenizerCorpus.files(in: corpus.map { URL(fileURLWithPath: $0) })
            guard !files.isEmpty else { throw CommandFailure("no text files found under \(corpus.joined(separator: ", "))") }
            let documents = try files.map(TokenizerCorpus.contents(of:))
            let bytes = documents.reduce(0) { $0 + $1.count }
            let started = Date()
            let trainer = TokenizerTrainer(vocabularySize: vocabSize, pattern: pattern, minimumPairCount: minPairCount)
            let tokenizer = try trainer.train(documents: documents)
            let trained = Date().timeIntervalSince(started)
            try tokenizer.save(to: URL(fileURLWithPath: out))
            let tokens = documents.reduce(0) { $0 + tokenizer.encode(bytes: $1).count }
            print("corpus:     \(files.count) files, \(bytes) bytes")
            print("vocabulary: \(tokenizer.vocabularySize) ids (\(tokenizer.merges.count) merges, \(tokenizer.specialTokenIds.count) special)")
            print("training:   \(String(format: "%.2f", trained)) s")
            print("encoding:   \(tokens) tokens, \(String(format: "%.2f", Double(bytes) / Double(max(tokens, 1)))) bytes per token")
            print("written:    \(out)")
        }
    }

    struct Encode: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the token ids of some text.")

        @Option(name: .long, help: "tokenizer.json to use.")
        var tokenizer: String

        @Option(name: .long, help: "Text to encode (default: read standard input).")
        var text: String?

        @Option(name: .long, help: "File whose bytes to encode.")
        var file: String?

        @Flag(name: .long, help: "Treat spellings of special tokens such as <|endoftext|> as those tokens.")
        var special = false

        @Flag(name: .long, help: "Also print each token's text.")
        var verbose = false

        func run() throws {
            let tokenizer = try Tokenizer.load(from: URL(fileURLWithPath: tokenizer))
            let bytes: [UInt8]
            if let text { bytes = Array(text.utf8) }
            else if let file { bytes = try TokenizerCorpus.contents(of: URL(fileURLWithPath: file)) }
            else { bytes = [UInt8](FileHandle.standardInput.readDataToEndOfFile()) }
            let ids = special ? tokenizer.encode(String(decoding: bytes, as: UTF8.self), allowingSpecialTokens: true)
                : tokenizer.encode(bytes: bytes)
            print(ids.map(String.init).joined(separator: " "))
            if verbose {
                for id in ids { print("\(id)\t\(String(decoding: try tokenizer.decode([id]), as: UTF8.self).debugDescription)") }
            }
            FileHandle.standardError.write(Data("\(bytes.count) bytes → \(ids.count) tokens\n".utf8))
        }
    }

    struct Decode: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write the bytes that token ids stand for.")

        @Option(name: .long, help: "tokenizer.json to use.")
        var tokenizer: String

        @Argument(help: "Token ids (default: whitespace-separated ids on standard input).")
        var ids: [Int] = []

        func run() throws {
            let tokenizer = try Tokenizer.load(from: URL(fileURLWithPath: tokenizer))
            var ids = self.ids
            if ids.isEmpty {
                let input = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
                ids = try input.split(whereSeparator: \.isWhitespace).map {
                    guard let id = Int($0) else { throw CommandFailure("not a token id on standard input: '\($0)'") }
                    return id
                }
            }
            FileHandle.standardOutput.write(Data(try tokenizer.decode(ids)))
        }
    }
}
