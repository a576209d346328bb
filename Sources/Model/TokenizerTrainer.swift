// BPE training with incremental pair bookkeeping: pair counts and the words containing each pair
// are updated only where a merge happens, and a max-heap with lazy re-validation picks the next
// pair, so each merge costs time proportional to the words it touches, not to the corpus.
import Basics
import Foundation

/// Learns a byte-level BPE vocabulary from a corpus.
public struct TokenizerTrainer: Sendable {
    /// Total ids wanted: 256 bytes + learned merges + special tokens.
    public var vocabularySize: Int
    public var pattern: PreTokenizerPattern
    /// Appended after the learned tokens, in this order.
    public var specialTokens: [String]
    /// Pairs seen fewer times than this are never merged (training may then stop short of
    /// `vocabularySize` on a small corpus).
    public var minimumPairCount: Int

    public init(vocabularySize: Int, pattern: PreTokenizerPattern = .cl100k,
                specialTokens: [String] = SpecialTokens.defaults, minimumPairCount: Int = 2) {
        self.vocabularySize = vocabularySize
        self.pattern = pattern
        self.specialTokens = specialTokens
        self.minimumPairCount = minimumPairCount
    }

    /// Trains on in-memory documents (each split on its own; pieces never cross documents).
    public func train(documents: [[UInt8]]) throws -> Tokenizer {
        var counts = TokenizerWordCounts(pattern: pattern)
        for document in documents { counts.add(document) }
        return try train(counts)
    }

    /// Trains on the files found by `TokenizerCorpus.files(in:)` under the given paths.
    public func train(corpusPaths: [URL]) throws -> Tokenizer {
        var counts = TokenizerWordCounts(pattern: pattern)
        for file in try TokenizerCorpus.files(in: corpusPaths) {
            counts.add(try TokenizerCorpus.contents(of: file))
        }
        return try train(counts)
    }

    func train(_ counts: TokenizerWordCounts) throws -> Tokenizer {
        let learnedTarget = vocabularySize - specialTokens.count
        guard learnedTarget >= 256 else {
            throw TokenizerError("vocabulary size \(vocabularySize) leaves no room for the 256 byte tokens and \(specialTokens.count) special tokens")
        }
        guard Set(specialTokens).count == specialTokens.count, !specialTokens.contains("") else {
            throw TokenizerError("special tokens must be distinct and non-empty: \(specialTokens)")
        }
        var state = TokenizerMergeState(counts)
        var tokenBytes: [[UInt8]] = (0..<256).map { [UInt8($0)] }
        var merges: [(left: Int, right: Int)] = []
        var idOfBytes: [[UInt8]: Int32] = [:]
        for (id, bytes) in tokenBytes.enumerated() { idOfBytes[bytes] = Int32(id) }

        while tokenBytes.count < learnedTarget, let pair = state.popBestPair(minimumCount: minimumPairCount) {
            let left = Int32(truncatingIfNeeded: pair >> 32)
            let right = Int32(truncatingIfNeeded: pair)
            let joined = tokenBytes[Int(left)] + tokenBytes[Int(right)]
            // Different merge paths can spell the same bytes; they share one id (as in HF).
            let newId: Int32
            if let existing = idOfBytes[joined] {
                newId = existing
            } else {
                newId = Int32(tokenBytes.count)
                tokenBytes.append(joined)
                idOfBytes[joined] = newId
            }
            merges.append((Int(left), Int(right)))
            state.apply(pair: pair, left: left, right: right, newId: newId)
        }
        let firstSpecial = tokenBytes.count
        tokenBytes += specialTokens.map { Array($0.utf8) }
        return try Tokenizer(pattern: pattern, tokenBytes: tokenBytes, merges: merges,
                             specialTokens: specialTokens.enumerated().map { ($0.element, firstSpecial + $0.offset) })
    }
}

/// Distinct pre-tokenizer pieces of a corpus with their frequencies.
struct TokenizerWordCounts {
    let preTokenizer: PreTokenizer
    var frequencyOfWord: [[UInt8]: Int] = [:]

    init(pattern: PreTokenizerPattern) { preTokenizer = PreTokenizer(pattern: pattern) }

    mutating func add(_ document: [UInt8]) {
        document.withUnsafeBufferPointer { buffer in
            preTokenizer.forEachPiece(in: buffer) { range in
                frequencyOfWord[Array(buffer[range]), default: 0] += 1
            }
        }
    }
}

/// Words as symbol-id sequences plus the pair statistics that BPE training needs.
struct TokenizerMergeState {
    var words: [[Int32]] = []
    var frequencies: [Int] = []
    var pairCounts: [UInt64: Int] = [:]
    /// Word indices that contained the pair when it was last created (may hold stale entries and
    /// repeats; both are harmless, they just find nothing to merge).
    var wordsWithPair: [UInt64: [Int32]] = [:]
    var heap = BinaryHeap<MostFrequentPairFirst>()
    var lastVisit: [Int] = []
    var mergeStep = 0

    init(_ counts: TokenizerWordCounts) {
        // Sorted so that ties in the heap, and hence the learned merges, do not depend on hashing.
        for (word, frequency) in counts.frequencyOfWord.sorted(by: { $0.key.lexicographicallyPrecedes($1.key) })
            where word.count > 1 {
            let index = Int32(words.count)
            let symbols = word.map { Int32($0) }
            for position in 0..<(symbols.count - 1) {
                let pair = Tokenizer.pairKey(symbols[position], symbols[position + 1])
                pairCounts[pair, default: 0] += frequency
                wordsWithPair[pair, default: []].append(index)
            }
            words.append(symbols)
            frequencies.append(frequency)
        }
        lastVisit = Array(repeating: -1, count: words.count)
        for (pair, count) in pairCounts { heap.push((count, pair)) }
    }

    /// The most frequent pair (smallest ids on ties), re-checking stale heap entries.
    mutating func popBestPair(minimumCount: Int) -> UInt64? {
        while let top = heap.pop() {
            let current = pairCounts[top.pair] ?? 0
            if current != top.count {
                if current > 0 { heap.push((current, top.pair)) }
                continue
            }
            return current >= minimumCount ? top.pair : nil
        }
        return nil
    }

    mutating func apply(pair: UInt64, left: Int32, right: Int32, newId: Int32) {
        mergeStep += 1
        let stamp = mergeStep
        var created: [UInt64] = []
        for wordIndex in wordsWithPair[pair] ?? [] where lastVisit[Int(wordIndex)] != stamp {
            lastVisit[Int(wordIndex)] = stamp
            mergeWord(Int(wordIndex), left: left, right: right, newId: newId, created: &created)
        }
        pairCounts[pair] = nil
        wordsWithPair[pair] = nil
        for newPair in Set(created) {
            if let count = pairCounts[newPair], count > 0 { heap.push((count, newPair)) }
        }
    }

    /// Replaces every (left, right) in one word by newId, adjusting neighbour pair counts as if the
    /// merges happened one at a time from the left.
    private mutating func mergeWord(_ wordIndex: Int, left: Int32, right: Int32, newId: Int32, created: inout [UInt64]) {
        let old = words[wordIndex]
        let frequency = frequencies[wordIndex]
        var merged: [Int32] = []
        merged.reserveCapacity(old.count)
        var position = 0
        var changed = false
        while position < old.count {
            guard position + 1 < old.count, old[position] == left, old[position + 1] == right else {
                merged.append(old[position])
                position += 1
                continue
            }
            changed = true
            if let before = merged.last {
                pairCounts[Tokenizer.pairKey(before, left), default: 0] -= frequency
                let newPair = Tokenizer.pairKey(before, newId)
                pairCounts[newPair, default: 0] += frequency
                created.append(newPair)
                wordsWithPair[newPair, default: []].append(Int32(wordIndex))
            }
            if position + 2 < old.count {
                let after = old[position + 2]
                pairCounts[Tokenizer.pairKey(right, after), default: 0] -= frequency
                let newPair = Tokenizer.pairKey(newId, after)
                pairCounts[newPair, default: 0] += frequency
                created.append(newPair)
                wordsWithPair[newPair, default: []].append(Int32(wordIndex))
            }
            merged.append(newId)
            position += 2
        }
        if changed { words[wordIndex] = merged }
    }
}

/// Pairs by count: the highest count first, then the smallest pair key.
enum MostFrequentPairFirst: HeapOrder {
    static func before(_ a: (count: Int, pair: UInt64), _ b: (count: Int, pair: UInt64)) -> Bool {
        a.count != b.count ? a.count > b.count : a.pair < b.pair
    }
}
