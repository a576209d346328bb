// Byte-level BPE tokenizer: bytes → pre-tokenizer pieces → BPE merges inside each piece → ids.
// Every one of the 256 bytes is a token, so any byte string (invalid UTF-8, NULs, CRLF) encodes and
// decodes back exactly. Merge order and tie-breaking match Hugging Face `tokenizers` (lowest merge
// rank first, leftmost position on ties), so both produce the same ids for the same tokenizer.json.
import Basics
import Foundation

/// A problem with a tokenizer's data, its file, or an id passed to it.
public enum TokenizerError: Error, CustomStringConvertible, LocalizedError, Equatable {
    /// Input the tokenizer refuses (an unknown id, an unsupported option, a bad merge, ...).
    case invalid(String)
    /// tokenizer.json (or a corpus file) could not be read; `underlying` is the file system's error.
    case unreadable(path: String, underlying: any Error)
    /// tokenizer.json could not be written.
    case unwritable(path: String, underlying: any Error)
    /// tokenizer.json is not JSON of the expected shape: `problem` names the field.
    case malformedJSON(problem: String, underlying: DecodingError)
    /// A problem found in the named file.
    indirect case inFile(path: String, TokenizerError)

    init(_ description: String) { self = .invalid(description) }

    public var description: String {
        switch self {
        case .invalid(let message): return message
        case .unreadable(let path, let underlying): return "cannot read \(path): \(underlying.localizedDescription)"
        case .unwritable(let path, let underlying): return "cannot write tokenizer \(path): \(underlying.localizedDescription)"
        case .malformedJSON(let problem, _): return problem
        case .inFile(let path, let problem): return "tokenizer \(path): \(problem.description)"
        }
    }

    public var errorDescription: String? { description }

    /// Same case and message (the underlying errors are compared by their messages).
    public static func == (lhs: TokenizerError, rhs: TokenizerError) -> Bool { lhs.description == rhs.description }
}

/// The special tokens Forge reserves by default (appended after the learned vocabulary).
public enum SpecialTokens {
    public static let endOfText = "<|endoftext|>"
    public static let padding = "<|pad|>"
    public static let prompt = "<|prompt|>"
    public static let response = "<|response|>"
    public static let issue = "<|issue|>"
    public static let file = "<|file|>"
    public static let patch = "<|patch|>"
    public static let toolCall = "<|tool_call|>"
    public static let toolResult = "<|tool_result|>"
    /// All of the above, in id order.
    public static let defaults = [endOfText, padding, prompt, response, issue, file, patch, toolCall, toolResult]
}

/// A trained byte-level BPE tokenizer. Immutable and safe to share across threads.
public struct Tokenizer: Sendable {
    /// How text is split before merging.
    public let pattern: PreTokenizerPattern
    /// Raw bytes of every token, indexed by id (special tokens: their UTF-8 text).
    public let tokenBytes: [[UInt8]]
    /// Merges in rank order: `merges[r]` joins the two ids into one.
    public let merges: [(left: Int, right: Int)]
    /// Special token text → id, and the reverse.
    public let specialTokenIds: [String: Int]
    let specialTokenContents: [Int: String]

    struct MergeRule { var rank: Int32; var result: Int32 }
    let mergeRules: [UInt64: MergeRule]
    let byteTokenIds: [Int32]
    let preTokenizer: PreTokenizer

    /// Number of token ids (learned vocabulary plus special tokens).
    public var vocabularySize: Int { tokenBytes.count }

    /// Builds a tokenizer and checks that it is consistent: every byte has a single-byte token,
    /// every merge joins existing ids into the id spelling their concatenation.
    public init(pattern: PreTokenizerPattern, tokenBytes: [[UInt8]], merges: [(left: Int, right: Int)],
                specialTokens: [(content: String, id: Int)]) throws {
        self.pattern = pattern
        self.tokenBytes = tokenBytes
        self.merges = merges
        self.preTokenizer = PreTokenizer(pattern: pattern)
        var specialIds: [String: Int] = [:]
        var specialContents: [Int: String] = [:]
        for (content, id) in specialTokens {
            guard tokenBytes.indices.contains(id), !content.isEmpty else {
                throw TokenizerError("special token \(content.debugDescription) has id \(id) outside the vocabulary of \(tokenBytes.count)")
            }
            specialIds[content] = id
            specialContents[id] = content
        }
        self.specialTokenIds = specialIds
        self.specialTokenContents = specialContents

        var idOfBytes: [[UInt8]: Int32] = [:]
        for (id, bytes) in tokenBytes.enumerated() where specialContents[id] == nil && idOfBytes[bytes] == nil {
            idOfBytes[bytes] = Int32(id)
        }
        var byteIds = [Int32](repeating: -1, count: 256)
        for byte in 0..<256 {
            guard let id = idOfBytes[[UInt8(byte)]] else {
                throw TokenizerError("vocabulary has no token for byte 0x\(String(byte, radix: 16))")
            }
            byteIds[byte] = id
        }
        self.byteTokenIds = byteIds

        var rules: [UInt64: MergeRule] = [:]
        for (rank, merge) in merges.enumerated() {
            guard tokenBytes.indices.contains(merge.left), tokenBytes.indices.contains(merge.right),
                  let result = idOfBytes[tokenBytes[merge.left] + tokenBytes[merge.right]] else {
                throw TokenizerError("merge #\(rank) (\(merge.left), \(merge.right)) does not produce a vocabulary token")
            }
            let key = Tokenizer.pairKey(Int32(merge.left), Int32(merge.right))
            if rules[key] == nil { rules[key] = MergeRule(rank: Int32(rank), result: result) }
        }
        self.mergeRules = rules
    }

    static func pairKey(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }

    /// The id of a special token such as `SpecialTokens.endOfText`, if this tokenizer has it.
    public func id(ofSpecialToken content: String) -> Int? { specialTokenIds[content] }

    /// Encodes raw bytes as plain text: special-token spellings in the input get no special meaning.
    public func encode(bytes: [UInt8]) -> [Int] {
        var ids: [Int] = []
        ids.reserveCapacity(bytes.count / 3 + 1)
        bytes.withUnsafeBufferPointer { appendPlain($0, to: &ids) }
        return ids
    }

    /// Encodes text; with `allowingSpecialTokens`, spellings of special tokens become their ids
    /// (longest match wins), as Hugging Face's `Tokenizer.encode` does.
    public func encode(_ text: String, allowingSpecialTokens: Bool = false) -> [Int] {
        let bytes = Array(text.utf8)
        guard allowingSpecialTokens, !specialTokenIds.isEmpty else { return encode(bytes: bytes) }
        let specials = specialTokenIds.map { (bytes: Array($0.key.utf8), id: $0.value) }
            .sorted { $0.bytes.count > $1.bytes.count }
        var ids: [Int] = []
        bytes.withUnsafeBufferPointer { buffer in
            var plainStart = 0
            var index = 0
            while index < buffer.count {
                let match = specials.first { special in
                    special.bytes.count <= buffer.count - index
                        && special.bytes.indices.allSatisfy { buffer[index + $0] == special.bytes[$0] }
                }
                guard let match else { index += 1; continue }
                appendPlain(UnsafeBufferPointer(rebasing: buffer[plainStart..<index]), to: &ids)
                ids.append(match.id)
                index += match.bytes.count
                plainStart = index
            }
            appendPlain(UnsafeBufferPointer(rebasing: buffer[plainStart..<buffer.count]), to: &ids)
        }
        return ids
    }

    /// The bytes the ids stand for, concatenated (special tokens give their text).
    public func decode(_ ids: [Int]) throws -> [UInt8] {
        var bytes: [UInt8] = []
        for (position, id) in ids.enumerated() {
            guard tokenBytes.indices.contains(id) else {
                throw TokenizerError("token id \(id) at position \(position) is outside the vocabulary of \(tokenBytes.count)")
            }
            bytes.append(contentsOf: tokenBytes[id])
        }
        return bytes
    }

    /// Decoded text, with invalid UTF-8 shown as U+FFFD (for display; use `decode` for exact bytes).
    public func decodeText(_ ids: [Int]) throws -> String {
        String(decoding: try decode(ids), as: UTF8.self)
    }

    private func appendPlain(_ bytes: UnsafeBufferPointer<UInt8>, to ids: inout [Int]) {
        var scratch = MergeScratch()
        preTokenizer.forEachPiece(in: bytes) { range in
            mergePiece(UnsafeBufferPointer(rebasing: bytes[range]), scratch: &scratch, into: &ids)
        }
    }

    /// Reusable buffers for merging one piece (a doubly linked list of symbols plus a min-heap of
    /// candidate merges keyed by rank, then position — Hugging Face's order).
    struct MergeScratch {
        var ids: [Int32] = []
        var previous: [Int32] = []
        var next: [Int32] = []
        var heap = BinaryHeap<LowestMergeFirst>()
    }

    func mergePiece(_ piece: UnsafeBufferPointer<UInt8>, scratch s: inout MergeScratch, into output: inout [Int]) {
        if piece.count == 1 { output.append(Int(byteTokenIds[Int(piece[0])])); return }
        let count = piece.count
        s.ids.removeAll(keepingCapacity: true)
        s.previous.removeAll(keepingCapacity: true)
        s.next.removeAll(keepingCapacity: true)
        s.heap.removeAll()
        for (position, byte) in piece.enumerated() {
            s.ids.append(byteTokenIds[Int(byte)])
            s.previous.append(Int32(position - 1))
            s.next.append(position + 1 < count ? Int32(position + 1) : -1)
        }
        func pushCandidate(_ position: Int32, _ heap: inout BinaryHeap<LowestMergeFirst>, _ ids: [Int32], _ next: [Int32]) {
            let right = next[Int(position)]
            guard right >= 0, let rule = mergeRules[Tokenizer.pairKey(ids[Int(position)], ids[Int(right)])] else { return }
            heap.push(UInt64(UInt32(rule.rank)) << 32 | UInt64(UInt32(position)))
        }
        for position in 0..<(count - 1) { pushCandidate(Int32(position), &s.heap, s.ids, s.next) }
        while let top = s.heap.pop() {
            let rank = Int32(truncatingIfNeeded: top >> 32)
            let position = Int(UInt32(truncatingIfNeeded: top))
            let right = s.next[position]
            // Stale candidates: the left symbol was absorbed (id -1) or its pair has changed since.
            guard s.ids[position] >= 0, right >= 0,
                  let rule = mergeRules[Tokenizer.pairKey(s.ids[position], s.ids[Int(right)])],
                  rule.rank == rank else { continue }
            s.ids[position] = rule.result
            s.ids[Int(right)] = -1
            let after = s.next[Int(right)]
            s.next[position] = after
            if after >= 0 { s.previous[Int(after)] = Int32(position) }
            let before = s.previous[position]
            if before >= 0 { pushCandidate(before, &s.heap, s.ids, s.next) }
            pushCandidate(Int32(position), &s.heap, s.ids, s.next)
        }
        var position: Int32 = 0
        while position >= 0 {
            output.append(Int(s.ids[Int(position)]))
            position = s.next[Int(position)]
        }
    }
}

/// Merge candidates packed as rank << 32 | position: the lowest rank first, then the leftmost.
enum LowestMergeFirst: HeapOrder {
    static func before(_ a: UInt64, _ b: UInt64) -> Bool { a < b }
}
