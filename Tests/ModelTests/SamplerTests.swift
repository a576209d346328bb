import Foundation
import Basics
import XCTest
@testable import Model

final class SamplerTests: XCTestCase {
    let ln = { (x: Float) in Float(Foundation.log(Double(x))) }

    func kept(_ logits: [Float], _ settings: SamplingSettings) throws -> [Int] {
        try Sampler.finalDistribution(logits: logits, settings: settings).tokens.sorted()
    }

    func testGreedyPicksTheArgmaxWithLowestIdOnTies() throws {
        var sampler = try Sampler(settings: SamplingSettings(temperature: 0), seed: 1)
        let token = try sampler.sample(logits: [1, 3, 3, -.infinity])
        XCTAssertEqual(token, SampledToken(token: 1, logProbability: 0, untruncatedLogProbability: 0, keptTokens: [1]))
        XCTAssertEqual(sampler.random, SamplerRandom(seed: 1), "greedy decoding must not consume randomness")
    }

    func testLogProbabilitiesMatchHandComputedValues() throws {
        let logits: [Float] = [2, 1, 0, -1]
        // top-k 2 keeps {0, 1}: final p0 = e²/(e² + e), untruncated p0 = e²/(e² + e + 1 + e⁻¹).
        var sampler = try Sampler(settings: SamplingSettings(temperature: 1, topK: 2), seed: 3)
        var seen: [Int: SampledToken] = [:]
        for _ in 0..<200 { let s = try sampler.sample(logits: logits); seen[s.token] = s }
        XCTAssertEqual(Set(seen.keys), [0, 1])
        XCTAssertEqual(seen[0]!.logProbability, -0.3132617, accuracy: 1e-6)
        XCTAssertEqual(seen[0]!.untruncatedLogProbability, -0.4401897, accuracy: 1e-6)
        XCTAssertEqual(seen[1]!.logProbability, -1.3132617, accuracy: 1e-6)
        XCTAssertEqual(seen[1]!.untruncatedLogProbability, -1.4401897, accuracy: 1e-6)
        XCTAssertEqual(seen[1]!.keptTokens, [0, 1])
        // Temperature 2 without truncation: both log-probabilities are log softmax(logits / 2).
        var warm = try Sampler(settings: SamplingSettings(temperature: 2), seed: 3)
        let expected: [Float] = [-0.7873387, -1.2873387, -1.7873387, -2.2873387]
        for _ in 0..<50 {
            let s = try warm.sample(logits: logits)
            XCTAssertEqual(s.logProbability, expected[s.token], accuracy: 1e-6)
            XCTAssertEqual(s.untruncatedLogProbability, expected[s.token], accuracy: 1e-6)
            XCTAssertEqual(s.keptTokens, [0, 1, 2, 3])
        }
    }

    func testTopPKeepsTheSmallestSetReachingP() throws {
        // Probabilities exactly 1/2, 1/4, 1/8, 1/8.
        let logits: [Float] = [ln(4), ln(2), 0, 0]
        XCTAssertEqual(try kept(logits, SamplingSettings(topP: 0.75)), [0, 1], "mass 0.75 reaches p = 0.75 exactly")
        XCTAssertEqual(try kept(logits, SamplingSettings(topP: 0.7501)), [0, 1, 2], "ties at the boundary keep the lower id")
        XCTAssertEqual(try kept(logits, SamplingSettings(topP: 0.7499)), [0, 1])
        XCTAssertEqual(try kept(logits, SamplingSettings(topP: 0.5)), [0])
        XCTAssertEqual(try kept(logits, SamplingSettings(topP: 0.01)), [0], "at least one token is always kept")
        XCTAssertEqual(try kept(logits, SamplingSettings(topP: 0.875)), [0, 1, 2])
        XCTAssertEqual(try kept(logits, SamplingSettings(topP: 1)), [0, 1, 2, 3])
        let final = try Sampler.finalDistribution(logits: logits, settings: SamplingSettings(topP: 0.75))
        XCTAssertEqual(final.probabilities[0], 2.0 / 3.0, accuracy: 1e-6)
        XCTAssertEqual(final.probabilities[1], 1.0 / 3.0, accuracy: 1e-6)
        // Top-k first, then top-p over the renormalised top-k: {4/7, 2/7, 1/7} reaches 0.8 after two.
        XCTAssertEqual(try kept(logits, SamplingSettings(topK: 3, topP: 0.8)), [0, 1])
        XCTAssertEqual(try kept(logits, SamplingSettings(topP: 0.8)), [0, 1, 2])
        XCTAssertEqual(try kept([0, 5, -.infinity, 5], SamplingSettings(topK: 1)), [1], "top-k ties keep the lower id")
        XCTAssertEqual(try kept([0, -.infinity, 1], SamplingSettings()), [0, 2], "−∞ logits are never kept")
    }

    func testTopPOnALargeVocabularyMatchesAFullSort() throws {
        // Peaked and flat rows exercise both of the sampler's shortcuts before sorting.
        var random = SamplerRandom(seed: 17)
        for (scale, topP) in [(8.0, 0.9), (3.0, 0.95), (0.5, 0.9), (0.01, 0.5), (20.0, 0.999)] {
            let logits = (0..<3000).map { _ in Float((random.nextUnit() - 0.5) * scale) }
            let scaled = logits.map(Double.init)
            let order = scaled.indices.sorted { scaled[$0] != scaled[$1] ? scaled[$0] > scaled[$1] : $0 < $1 }
            let total = order.map { exp(scaled[$0]) }.reduce(0, +)
            var expected: [Int] = [], mass = 0.0
            for token in order where mass < topP - Sampler.topPTolerance {
                expected.append(token)
                mass += exp(scaled[token]) / total
            }
            let kept = try kept(logits, SamplingSettings(topP: Float(topP)))
            XCTAssertEqual(kept, expected.sorted(), "scale \(scale), p \(topP)")
        }
    }

    func testSameSeedGivesTheSameTokens() throws {
        let logits = (0..<50).map { Float(sin(Double($0))) * 2 }
        let settings = SamplingSettings(temperature: 0.9, topK: 20, topP: 0.95)
        var first = try Sampler(settings: settings, seed: 2024), second = try Sampler(settings: settings, seed: 2024)
        var other = try Sampler(settings: settings, seed: 2025)
        let a = try (0..<200).map { _ in try first.sample(logits: logits) }
        let b = try (0..<200).map { _ in try second.sample(logits: logits) }
        let c = try (0..<200).map { _ in try other.sample(logits: logits).token }
        XCTAssertEqual(a, b)
        XCTAssertNotEqual(a.map(\.token), c)
        XCTAssertTrue(a.allSatisfy { $0.keptTokens == a[0].keptTokens && $0.keptTokens.contains($0.token) })
    }

    func testEmpiricalFrequenciesMatchTheTruncatedDistribution() throws {
        let logits: [Float] = [1.0, 0.2, 2.0, -0.5, 1.5, 0.0]
        let temperature: Float = 0.8, topK = 5, topP: Float = 0.95
        // Expected distribution computed here from scratch: temper, keep top 5, keep the top-p prefix.
        let scaled = logits.map { Double($0 / temperature) }
        let order = scaled.indices.sorted { scaled[$0] > scaled[$1] }.prefix(topK)
        let topKMass = order.map { exp(scaled[$0]) }.reduce(0, +)
        var keptTokens: [Int] = [], mass = 0.0
        for token in order where mass < Double(topP) {
            keptTokens.append(token)
            mass += exp(scaled[token]) / topKMass
        }
        let keptMass = keptTokens.map { exp(scaled[$0]) }.reduce(0, +)
        var expected = [Double](repeating: 0, count: logits.count)
        for token in keptTokens { expected[token] = exp(scaled[token]) / keptMass }
        XCTAssertEqual(keptTokens.count, 4, "the setup should truncate by both top-k and top-p")

        var sampler = try Sampler(settings: SamplingSettings(temperature: temperature, topK: topK, topP: topP), seed: 99)
        let draws = 40_000
        var counts = [Int](repeating: 0, count: logits.count)
        for _ in 0..<draws {
            let sample = try sampler.sample(logits: logits)
            counts[sample.token] += 1
            XCTAssertEqual(sample.keptTokens, keptTokens.sorted())
        }
        var chiSquare = 0.0
        for token in logits.indices {
            let frequency = Double(counts[token]) / Double(draws)
            if expected[token] == 0 { XCTAssertEqual(counts[token], 0); continue }
            let sigma = (expected[token] * (1 - expected[token]) / Double(draws)).squareRoot()
            XCTAssertEqual(frequency, expected[token], accuracy: 5 * sigma, "token \(token)")
            chiSquare += pow(Double(counts[token]) - expected[token] * Double(draws), 2) / (expected[token] * Double(draws))
        }
        XCTAssertLessThan(chiSquare, 16.27, "χ² with 3 degrees of freedom, p = 0.001")
    }

    func testLogSoftmaxOverTheKeptSetMatchesSampling() throws {
        let logits: [Float] = [2, 1, 0, -1]
        let row = try Sampler.logSoftmax(logits: logits, over: [0, 1])
        XCTAssertEqual(row[0], -0.3132617, accuracy: 1e-6)
        XCTAssertEqual(row[1], -1.3132617, accuracy: 1e-6)
        XCTAssertEqual(row[2], -.infinity)
        XCTAssertEqual(row[3], -.infinity)
        let warm = try Sampler.logSoftmax(logits: logits, over: [3, 0], temperature: 2)
        XCTAssertEqual(warm[0], -0.2014133, accuracy: 1e-6)
        XCTAssertEqual(warm[3], -1.7014133, accuracy: 1e-6)

        let big = (0..<300).map { Float(cos(Double($0) * 0.37)) * 4 }
        var sampler = try Sampler(settings: SamplingSettings(temperature: 0.7, topK: 40, topP: 0.8), seed: 5)
        for _ in 0..<20 {
            let sample = try sampler.sample(logits: big)
            let recomputed = try Sampler.logSoftmax(logits: big, over: sample.keptTokens, temperature: 0.7)
            XCTAssertEqual(recomputed[sample.token], sample.logProbability, accuracy: 1e-5)
            let total = sample.keptTokens.map { exp(Double(recomputed[$0])) }.reduce(0, +)
            XCTAssertEqual(total, 1, accuracy: 1e-5)
            XCTAssertLessThan(sample.untruncatedLogProbability, sample.logProbability)
        }
    }

    func testInvalidSettingsAndLogitsAreRejected() throws {
        XCTAssertThrowsError(try Sampler(settings: SamplingSettings(temperature: -1), seed: 0))
        XCTAssertThrowsError(try Sampler(settings: SamplingSettings(topK: -1), seed: 0))
        XCTAssertThrowsError(try Sampler(settings: SamplingSettings(topP: 0), seed: 0))
        XCTAssertThrowsError(try Sampler(settings: SamplingSettings(topP: 1.5), seed: 0))
        var sampler = try Sampler(settings: SamplingSettings(), seed: 0)
        XCTAssertThrowsError(try sampler.sample(logits: [0, .nan])) { error in
            XCTAssertEqual("\(error)", "logit of token 1 is nan; logits must be finite or −∞")
        }
        XCTAssertThrowsError(try sampler.sample(logits: [-.infinity, -.infinity]))
        XCTAssertThrowsError(try sampler.sample(logits: []))
        XCTAssertThrowsError(try Sampler.logSoftmax(logits: [0, 1], over: [2]))
        XCTAssertThrowsError(try Sampler.logSoftmax(logits: [0, 1], over: []))
        XCTAssertThrowsError(try Sampler.logSoftmax(logits: [0, 1], over: [0], temperature: 0))
    }

    func testRandomUnitsAreUniformInTheHalfOpenInterval() {
        var random = SamplerRandom(seed: 11)
        var sum = 0.0, buckets = [Int](repeating: 0, count: 10)
        for _ in 0..<20_000 {
            let u = random.nextUnit()
            XCTAssertTrue(u >= 0 && u < 1)
            sum += u
            buckets[Int(u * 10)] += 1
        }
        XCTAssertEqual(sum / 20_000, 0.5, accuracy: 0.01)
        XCTAssertTrue(buckets.allSatisfy { abs($0 - 2000) < 250 }, "\(buckets)")
        var zero = SamplerRandom(seed: 0), one = SamplerRandom(seed: 1)
        XCTAssertNotEqual(zero.next(), one.next())
    }
}
