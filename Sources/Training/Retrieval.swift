// Which files of the repository a prompt shows. "oracle" shows the files the gold patch edits
// (an upper bound, as in SWE-bench's oracle setting); "bm25" ranks the source files at the base
// commit against the problem statement without looking at the patch (SWE-bench's BM25 setting:
// Okapi BM25 with k1 = 0.9, b = 0.4 as in Pyserini's defaults); "retrieval" shows the source files
// the failing tests' output names first, then BM25's ranking of the non-test source files against
// the statement and that output; a file too long to show whole shows the lines the output names,
// the functions the statement names and the windows that match best (TaskPrompt.swift).
import Foundation

public enum ContextMode: String, Codable, Sendable, CaseIterable {
    case oracle, bm25, retrieval
}

/// Okapi BM25 over a fixed set of documents.
public struct BM25Index: Sendable {
    public let k1: Double, b: Double
    let documentTerms: [[String: Int]]
    let lengths: [Int]
    let averageLength: Double
    let documentFrequency: [String: Int]

    public init(documents: [String], k1: Double = 0.9, b: Double = 0.4) {
        self.k1 = k1; self.b = b
        documentTerms = documents.map { text in BM25Index.terms(text).reduce(into: [:]) { $0[$1, default: 0] += 1 } }
        lengths = documentTerms.map { $0.values.reduce(0, +) }
        averageLength = max(1, Double(lengths.reduce(0, +)) / Double(max(1, documents.count)))
        var frequency: [String: Int] = [:]
        for terms in documentTerms { for term in terms.keys { frequency[term, default: 0] += 1 } }
        documentFrequency = frequency
    }

    /// Lower-cased word pieces: identifiers split at underscores, digits and camel-case humps,
    /// and kept whole too, so `parse_header` matches both "parse header" and `parse_header`.
    public static func terms(_ text: String) -> [String] {
        var result: [String] = []
        for word in text.split(whereSeparator: { !($0.isLetter || $0.isNumber || $0 == "_") }) {
            let whole = word.lowercased()
            if whole.count > 1 { result.append(whole) }
            var piece = ""
            var previousLower = false
            for character in word {
                if character == "_" || character.isNumber || (character.isUppercase && previousLower) {
                    if piece.count > 1, piece != whole { result.append(piece) }
                    piece = ""
                }
                if character != "_" && !character.isNumber { piece.append(Character(character.lowercased())) }
                previousLower = character.isLowercase
            }
            if piece.count > 1, piece != whole { result.append(piece) }
        }
        return result
    }

    /// Document indices by descending score for `query` (ties: lower index first).
    public func rank(_ query: String) -> [(index: Int, score: Double)] {
        let queryTerms = Set(BM25Index.terms(query))
        let count = Double(documentTerms.count)
        var scored: [(index: Int, score: Double)] = []
        for (index, terms) in documentTerms.enumerated() {
            var score = 0.0
            for term in queryTerms {
                guard let frequency = terms[term].map(Double.init), let documents = documentFrequency[term] else { continue }
                let idf = log(1 + (count - Double(documents) + 0.5) / (Double(documents) + 0.5))
                let norm = k1 * (1 - b + b * Double(lengths[index]) / averageLength)
                score += idf * frequency * (k1 + 1) / (frequency + norm)
            }
            scored.append((index, score))
        }
        return scored.sorted { $0.score != $1.score ? $0.score > $1.score : $0.index < $1.index }
    }
}
