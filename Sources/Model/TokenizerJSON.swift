// Saving and loading the Hugging Face `tokenizer.json` format (BPE model, byte-level alphabet).
// The pre-tokenizer is written so that Hugging Face splits exactly as Forge does:
//   gpt2   → ByteLevel(use_regex: true)            (HF's built-in GPT-2 regex)
//   cl100k → Sequence[Split(Regex, Isolated), ByteLevel(use_regex: false)]  (as Llama 3 does)
import Basics
import Foundation

extension Tokenizer {
    /// Writes tokenizer.json atomically (temporary file, then rename).
    public func save(to url: URL) throws {
        do {
            try Data(jsonText().utf8).write(to: url, options: .atomic)
        } catch {
            throw TokenizerError.unwritable(path: url.path, underlying: error)
        }
    }

    /// Reads a tokenizer.json written by Forge or by Hugging Face `tokenizers` (byte-level BPE
    /// with either supported pre-tokenizer, no normalizer).
    public static func load(from url: URL) throws -> Tokenizer {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw TokenizerError.unreadable(path: url.path, underlying: error)
        }
        do {
            return try Tokenizer(jsonData: data)
        } catch let error as TokenizerError {
            throw TokenizerError.inFile(path: url.path, error)
        }
    }

    /// The tokenizer.json text.
    public func jsonText() -> String {
        var out = "{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n  \"added_tokens\": ["
        let specials = specialTokenContents.sorted { $0.key < $1.key }
        for (index, (id, content)) in specials.enumerated() {
            out += index == 0 ? "\n" : ",\n"
            out += "    {\"id\": \(id), \"content\": \(JSONString.quoted(content)), \"single_word\": false, \"lstrip\": false, "
            out += "\"rstrip\": false, \"normalized\": false, \"special\": true}"
        }
        out += specials.isEmpty ? "],\n" : "\n  ],\n"
        out += "  \"normalizer\": null,\n  \"pre_tokenizer\": "
        let byteLevel = { (useRegex: Bool) in
            "{\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": \(useRegex)}"
        }
        switch pattern {
        case .gpt2:
            out += byteLevel(true)
        case .cl100k:
            out += "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"Regex\": "
            out += JSONString.quoted(pattern.regex) + "}, \"behavior\": \"Isolated\", \"invert\": false}, " + byteLevel(false) + "]}"
        }
        out += ",\n  \"post_processor\": null,\n  \"decoder\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true, "
        out += "\"trim_offsets\": true, \"use_regex\": true},\n  \"model\": {\n    \"type\": \"BPE\", \"dropout\": null, "
        out += "\"unk_token\": null, \"continuing_subword_prefix\": null, \"end_of_word_suffix\": null, \"fuse_unk\": false, "
        out += "\"byte_fallback\": false, \"ignore_merges\": false,\n    \"vocab\": {"
        for id in tokenBytes.indices {
            out += id == 0 ? "\n      " : ",\n      "
            out += JSONString.quoted(spelling(of: id)) + ": \(id)"
        }
        // "left right" strings: readable by every tokenizers version; byte-level spellings never
        // contain a space (0x20 is spelled "Ġ").
        out += "\n    },\n    \"merges\": ["
        for (rank, merge) in merges.enumerated() {
            out += rank == 0 ? "\n      " : ",\n      "
            out += JSONString.quoted(spelling(of: merge.left) + " " + spelling(of: merge.right))
        }
        out += merges.isEmpty ? "]\n  }\n}\n" : "\n    ]\n  }\n}\n"
        return out
    }

    /// A token as tokenizer.json spells it: special tokens by their text, others byte-level.
    func spelling(of id: Int) -> String {
        specialTokenContents[id] ?? ByteLevelAlphabet.encode(tokenBytes[id])
    }

    /// Parses tokenizer.json contents.
    public init(jsonData: Data) throws {
        let file: TokenizerFileSpec
        do { file = try JSONDecoder().decode(TokenizerFileSpec.self, from: jsonData) } catch let error as DecodingError {
            throw TokenizerError.malformedJSON(problem: ModelIOJSON.describe(error), underlying: error)
        }
        guard !file.hasNormalizer else { throw TokenizerError("normalizers are not supported") }
        let pattern = try Tokenizer.pattern(of: file.preTokenizer)
        let model = file.model
        guard model.type == "BPE" else {
            throw TokenizerError("model is a \(model.type.debugDescription) model; Forge reads BPE models only")
        }
        // Options that change how BPE encodes; Forge implements plain byte-level BPE only.
        if let option = model.unsupportedOptions.first { throw TokenizerError("BPE option \(option) is not supported") }
        let specials = file.addedTokens.map { (content: $0.content, id: $0.id) }
        if let bad = specials.first(where: { $0.id < 0 }) {
            throw TokenizerError("added token \(bad.content.debugDescription) has a negative id \(bad.id)")
        }
        let specialIds = Set(specials.map(\.id))
        let size = max(model.vocab.count, (specials.map(\.id).max() ?? -1) + 1)
        var slots = [[UInt8]?](repeating: nil, count: size)
        for (content, id) in specials { slots[id] = Array(content.utf8) }
        for (spelling, id) in model.vocab {
            guard slots.indices.contains(id) else {
                throw TokenizerError("vocab entry \(spelling.debugDescription) has an id outside 0..<\(size)")
            }
            if specialIds.contains(id) { continue }
            guard let bytes = ByteLevelAlphabet.decode(spelling) else {
                throw TokenizerError("vocab entry \(spelling.debugDescription) is not byte-level spelled")
            }
            guard slots[id] == nil else { throw TokenizerError("vocab id \(id) is used twice") }
            slots[id] = bytes
        }
        if let missing = slots.firstIndex(where: { $0 == nil }) { throw TokenizerError("no token has id \(missing)") }
        let tokenBytes = slots.map { $0! }
        var idOfBytes: [[UInt8]: Int] = [:]
        for (id, bytes) in tokenBytes.enumerated() where !specialIds.contains(id) && idOfBytes[bytes] == nil {
            idOfBytes[bytes] = id
        }
        var merges: [(left: Int, right: Int)] = []
        for (rank, merge) in model.merges.enumerated() {
            let parts = merge.parts
            guard parts.count == 2, let left = ByteLevelAlphabet.decode(parts[0]).flatMap({ idOfBytes[$0] }),
                  let right = ByteLevelAlphabet.decode(parts[1]).flatMap({ idOfBytes[$0] }) else {
                throw TokenizerError("merge #\(rank) \(merge.shown) does not name two vocabulary tokens")
            }
            merges.append((left, right))
        }
        try self.init(pattern: pattern, tokenBytes: tokenBytes, merges: merges, specialTokens: specials)
    }

    static func pattern(of preTokenizer: PreTokenizerSpec?) throws -> PreTokenizerPattern {
        switch preTokenizer {
        case .byteLevel(addPrefixSpace: false, useRegex: true):
            return .gpt2
        case .sequence(let steps):
            if steps.count == 2, case .split(let regex?, "Isolated", invert: false) = steps[0],
               case .byteLevel(addPrefixSpace: false, useRegex: false) = steps[1],
               let pattern = PreTokenizerPattern.allCases.first(where: { $0.regex == regex }) {
                return pattern
            }
        default: break
        }
        throw TokenizerError("unsupported pre_tokenizer (Forge reads ByteLevel, or Split(Regex)+ByteLevel with a known regex)")
    }
}

// The parts of Hugging Face's tokenizer.json that Forge reads; other fields (truncation, padding,
// post_processor, decoder, the added tokens' flags, ...) are ignored, as `tokenizers` would
// ignore what does not change encoding. Options Forge cannot honour are kept to be refused.

/// The whole file.
struct TokenizerFileSpec: Decodable {
    /// A normalizer other than `null` changes the text before splitting: refused.
    var hasNormalizer: Bool
    var preTokenizer: PreTokenizerSpec?
    var model: BPEModelSpec
    var addedTokens: [AddedTokenSpec]

    enum CodingKeys: String, CodingKey {
        case normalizer, preTokenizer = "pre_tokenizer", model, addedTokens = "added_tokens"
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        hasNormalizer = try container.contains(.normalizer) && !container.decodeNil(forKey: .normalizer)
        preTokenizer = try container.decodeIfPresent(PreTokenizerSpec.self, forKey: .preTokenizer)
        model = try container.decode(BPEModelSpec.self, forKey: .model)
        addedTokens = try container.decodeIfPresent([AddedTokenSpec].self, forKey: .addedTokens) ?? []
    }
}

/// An `added_tokens` entry (Forge's special tokens).
struct AddedTokenSpec: Decodable {
    var id: Int
    var content: String
}

/// `model`: a BPE model's vocabulary, merges and the options that would change its encoding.
struct BPEModelSpec: Decodable {
    var type: String
    var vocab: [String: Int]
    var merges: [MergeSpec]
    /// Options set to something other than their plain-BPE value, by name.
    var unsupportedOptions: [String]

    enum CodingKeys: String, CodingKey {
        case type, vocab, merges
        case ignoreMerges = "ignore_merges", byteFallback = "byte_fallback"
        case continuingSubwordPrefix = "continuing_subword_prefix", endOfWordSuffix = "end_of_word_suffix", dropout
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        type = try container.decode(String.self, forKey: .type)
        // Another model type (WordPiece, Unigram, ...) has other fields: refused by name, after decoding.
        guard type == "BPE" else { vocab = [:]; merges = []; unsupportedOptions = []; return }
        vocab = try container.decode([String: Int].self, forKey: .vocab)
        merges = try container.decode([MergeSpec].self, forKey: .merges)
        var unsupported: [String] = []
        for key in [CodingKeys.ignoreMerges, .byteFallback] where try container.decodeIfPresent(Bool.self, forKey: key) == true {
            unsupported.append(key.rawValue)
        }
        for key in [CodingKeys.continuingSubwordPrefix, .endOfWordSuffix, .dropout] where try container.contains(key) && !container.decodeNil(forKey: key) {
            unsupported.append(key.rawValue)
        }
        unsupportedOptions = unsupported
    }
}

/// One merge: `"left right"` (every `tokenizers` version reads it) or `["left", "right"]` (what
/// `tokenizers` 0.20+ writes).
struct MergeSpec: Decodable {
    var parts: [String]
    /// As the file spelled it, for messages.
    var shown: String

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        // Two spellings of one value: the first that decodes is the one the file used.
        if let text = try? container.decode(String.self) {
            parts = text.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            shown = text.debugDescription
        } else if let pair = try? container.decode([String].self) {
            parts = pair
            shown = pair.description
        } else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "a merge is a \"left right\" string or a [left, right] list of strings")
        }
    }
}

/// `pre_tokenizer`, as far as Forge tells its kinds apart.
indirect enum PreTokenizerSpec: Decodable, Equatable {
    case byteLevel(addPrefixSpace: Bool, useRegex: Bool)
    /// `pattern` is `{"Regex": ...}` or `{"String": ...}`; only a regex can match Forge's patterns.
    case split(regex: String?, behavior: String, invert: Bool)
    case sequence([PreTokenizerSpec])
    /// Any other kind; its fields are not read.
    case other(type: String)

    enum CodingKeys: String, CodingKey {
        case type, addPrefixSpace = "add_prefix_space", useRegex = "use_regex"
        case pattern, behavior, invert, pretokenizers
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let type = try container.decode(String.self, forKey: .type)
        switch type {
        case "ByteLevel":
            self = .byteLevel(addPrefixSpace: try container.decodeIfPresent(Bool.self, forKey: .addPrefixSpace) ?? false,
                              useRegex: try container.decodeIfPresent(Bool.self, forKey: .useRegex) ?? true)
        case "Split":
            let pattern = try container.decode([String: String].self, forKey: .pattern)
            self = .split(regex: pattern["Regex"], behavior: try container.decode(String.self, forKey: .behavior),
                          invert: try container.decodeIfPresent(Bool.self, forKey: .invert) ?? false)
        case "Sequence":
            self = .sequence(try container.decode([PreTokenizerSpec].self, forKey: .pretokenizers))
        default:
            self = .other(type: type)
        }
    }
}

/// JSON text helpers shared by tokenizer.json and safetensors headers.
enum ModelIOJSON {
    /// One line naming where in the document decoding failed and why, e.g.
    /// `model.vocab."Ġa": Expected to decode Int but found a string instead.`
    static func describe(_ error: DecodingError) -> String {
        let problem: String
        switch error {
        case .keyNotFound:
            problem = "\(path(error.failurePath)): missing"
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            // The parser's own error says where the syntax broke.
            problem = "\(path(error.failurePath)): \(context.debugDescription)" + (context.underlyingError.map { " (\($0))" } ?? "")
        @unknown default:
            problem = "\(error)"
        }
        return problem.split(whereSeparator: \.isNewline).joined(separator: " ")
    }

    /// `a.b[3]."odd key"`; "the top level" for the document itself.
    static func path(_ keys: [any CodingKey]) -> String {
        if keys.isEmpty { return "the top level" }
        var out = ""
        for key in keys {
            // JSONDecoder names list positions "Index N"; object keys are the keys themselves.
            if let index = key.intValue, key.stringValue == "Index \(index)" {
                out += "[\(index)]"
                continue
            }
            let name = key.stringValue
            let plain = !name.isEmpty && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }
            out += (out.isEmpty ? "" : ".") + (plain ? name : JSONString.quoted(name))
        }
        return out
    }
}
