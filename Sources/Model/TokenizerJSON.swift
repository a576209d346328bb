// Saving and loading the Hugging Face `tokenizer.json` format (BPE model, byte-level alphabet).
// The pre-tokenizer is written so that Hugging Face splits exactly as Forge does:
//   gpt2   → ByteLevel(use_regex: true)            (HF's built-in GPT-2 regex)
//   cl100k → Sequence[Split(Regex, Isolated), ByteLevel(use_regex: false)]  (as Llama 3 does)
import Foundation

extension Tokenizer {
    /// Writes tokenizer.json atomically (temporary file, then rename).
    public func save(to url: URL) throws {
        do {
            try Data(jsonText().utf8).write(to: url, options: .atomic)
        } catch {
            throw TokenizerError("cannot write tokenizer \(url.path): \(error.localizedDescription)")
        }
    }

    /// Reads a tokenizer.json written by Forge or by Hugging Face `tokenizers` (byte-level BPE
    /// with either supported pre-tokenizer, no normalizer).
    public static func load(from url: URL) throws -> Tokenizer {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw TokenizerError("cannot read tokenizer \(url.path): \(error.localizedDescription)")
        }
        do {
            return try Tokenizer(jsonData: data)
        } catch let error as TokenizerError {
            throw TokenizerError("tokenizer \(url.path): \(error.description)")
        }
    }

    /// The tokenizer.json text.
    public func jsonText() -> String {
        var out = "{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n  \"added_tokens\": ["
        let specials = specialTokenContents.sorted { $0.key < $1.key }
        for (index, (id, content)) in specials.enumerated() {
            out += index == 0 ? "\n" : ",\n"
            out += "    {\"id\": \(id), \"content\": \(ModelIOJSON.quoted(content)), \"single_word\": false, \"lstrip\": false, "
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
            out += ModelIOJSON.quoted(pattern.regex) + "}, \"behavior\": \"Isolated\", \"invert\": false}, " + byteLevel(false) + "]}"
        }
        out += ",\n  \"post_processor\": null,\n  \"decoder\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true, "
        out += "\"trim_offsets\": true, \"use_regex\": true},\n  \"model\": {\n    \"type\": \"BPE\", \"dropout\": null, "
        out += "\"unk_token\": null, \"continuing_subword_prefix\": null, \"end_of_word_suffix\": null, \"fuse_unk\": false, "
        out += "\"byte_fallback\": false, \"ignore_merges\": false,\n    \"vocab\": {"
        for id in tokenBytes.indices {
            out += id == 0 ? "\n      " : ",\n      "
            out += ModelIOJSON.quoted(spelling(of: id)) + ": \(id)"
        }
        // "left right" strings: readable by every tokenizers version; byte-level spellings never
        // contain a space (0x20 is spelled "Ġ").
        out += "\n    },\n    \"merges\": ["
        for (rank, merge) in merges.enumerated() {
            out += rank == 0 ? "\n      " : ",\n      "
            out += ModelIOJSON.quoted(spelling(of: merge.left) + " " + spelling(of: merge.right))
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
        guard let root = try? JSONSerialization.jsonObject(with: jsonData) as? [String: Any] else {
            throw TokenizerError("not a JSON object")
        }
        guard root["normalizer"] == nil || root["normalizer"] is NSNull else {
            throw TokenizerError("normalizers are not supported")
        }
        let pattern = try Tokenizer.pattern(of: root["pre_tokenizer"])
        guard let model = root["model"] as? [String: Any], model["type"] as? String == "BPE",
              let vocab = model["vocab"] as? [String: Any], let rawMerges = model["merges"] as? [Any] else {
            throw TokenizerError("model is not a BPE model with vocab and merges")
        }
        // Options that change how BPE encodes; Forge implements plain byte-level BPE only.
        for option in ["ignore_merges", "byte_fallback"] where model[option] as? Bool == true {
            throw TokenizerError("BPE option \(option) is not supported")
        }
        for option in ["continuing_subword_prefix", "end_of_word_suffix", "dropout"] where !(model[option] == nil || model[option] is NSNull) {
            throw TokenizerError("BPE option \(option) is not supported")
        }
        var specials: [(content: String, id: Int)] = []
        for case let entry as [String: Any] in root["added_tokens"] as? [Any] ?? [] {
            guard let content = entry["content"] as? String, let id = (entry["id"] as? NSNumber)?.intValue else {
                throw TokenizerError("added token without content or id: \(entry)")
            }
            specials.append((content, id))
        }
        let specialIds = Set(specials.map(\.id))
        let size = max(vocab.count, (specials.map(\.id).max() ?? -1) + 1)
        var slots = [[UInt8]?](repeating: nil, count: size)
        for (content, id) in specials { slots[id] = Array(content.utf8) }
        for (spelling, value) in vocab {
            guard let id = (value as? NSNumber)?.intValue, slots.indices.contains(id) else {
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
        for (rank, raw) in rawMerges.enumerated() {
            let parts: [String]
            if let text = raw as? String {
                parts = text.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            } else {
                parts = raw as? [String] ?? []
            }
            guard parts.count == 2, let left = ByteLevelAlphabet.decode(parts[0]).flatMap({ idOfBytes[$0] }),
                  let right = ByteLevelAlphabet.decode(parts[1]).flatMap({ idOfBytes[$0] }) else {
                throw TokenizerError("merge #\(rank) \(raw) does not name two vocabulary tokens")
            }
            merges.append((left, right))
        }
        try self.init(pattern: pattern, tokenBytes: tokenBytes, merges: merges, specialTokens: specials)
    }

    static func pattern(of preTokenizer: Any?) throws -> PreTokenizerPattern {
        func byteLevelRegex(_ object: [String: Any]) -> Bool? {
            guard object["type"] as? String == "ByteLevel", object["add_prefix_space"] as? Bool != true else { return nil }
            return object["use_regex"] as? Bool ?? true
        }
        if let object = preTokenizer as? [String: Any] {
            if byteLevelRegex(object) == true { return .gpt2 }
            if object["type"] as? String == "Sequence", let steps = object["pretokenizers"] as? [[String: Any]],
               steps.count == 2, steps[0]["type"] as? String == "Split",
               let regex = (steps[0]["pattern"] as? [String: Any])?["Regex"] as? String,
               steps[0]["behavior"] as? String == "Isolated", steps[0]["invert"] as? Bool != true,
               byteLevelRegex(steps[1]) == false,
               let pattern = PreTokenizerPattern.allCases.first(where: { $0.regex == regex }) {
                return pattern
            }
        }
        throw TokenizerError("unsupported pre_tokenizer (Forge reads ByteLevel, or Split(Regex)+ByteLevel with a known regex)")
    }
}

/// JSON text helpers shared by tokenizer.json and safetensors headers.
enum ModelIOJSON {
    /// A JSON string literal for `text`.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
