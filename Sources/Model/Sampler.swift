// Token sampling with temperature, top-k and top-p, recording what GRPO needs afterwards: the
// token's log-probability under the distribution actually sampled from, under the untruncated
// tempered distribution, and the kept set itself (DeepSeek-V3.2's "keep sampling mask": training
// recomputes π_θ and π_ref renormalised over the same set, see `Sampler.logSoftmax(logits:over:)`).
// Order of operations (as in Hugging Face transformers and vLLM): logits / T → top-k → top-p over
// the renormalised top-k distribution → renormalise → draw.
import Foundation
import Basics

/// How to turn logits into a distribution.
public struct SamplingSettings: Sendable, Equatable {
    /// 0 means greedy (argmax, lowest id on ties).
    public var temperature: Float
    /// Keep only the k most likely tokens; 0 turns top-k off.
    public var topK: Int
    /// Keep the smallest set of most likely tokens whose probability reaches p; 1 turns it off.
    public var topP: Float

    public init(temperature: Float = 1, topK: Int = 0, topP: Float = 1) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
    }
}

/// Rules on what a generation may say next (constrained decoding, a grammar): the tokens a rule
/// forbids get a logit of −∞ before sampling, so they are never drawn nor kept (`keptTokens`),
/// and policy-gradient training renormalises over what the rules allowed. A value type: each
/// sample starts from a copy of the initial state.
public protocol GenerationConstraint: Sendable {
    /// Sets the logits of the tokens that may not come next to −∞ (never all of them).
    func mask(_ logits: inout [Float])
    /// Takes `token` as generated.
    mutating func advance(with token: Int)
}

/// One sampled token and the facts about its distribution that training needs.
public struct SampledToken: Sendable, Equatable {
    public let token: Int
    /// log π(token) under the final (truncated, renormalised) distribution it was drawn from.
    public let logProbability: Float
    /// log π(token) under softmax(logits / T) over the whole vocabulary, before truncation.
    public let untruncatedLogProbability: Float
    /// Token ids the final distribution gives non-zero probability, ascending. Tokens with a
    /// logit of −∞ are never kept. With temperature 0 this is just the argmax.
    public let keptTokens: [Int]
}

/// Invalid settings or logits.
public struct SamplerError: Error, CustomStringConvertible, Equatable {
    public let description: String
}

/// Draws tokens from logits reproducibly: the same seed and logits give the same tokens.
public struct Sampler: Sendable {
    public let settings: SamplingSettings
    public var random: SamplerRandom

    /// Top-p stops once the kept mass reaches p minus this, so a boundary that float rounding
    /// lands a hair below p still counts as reached.
    public static let topPTolerance = 1e-6

    public init(settings: SamplingSettings, seed: UInt64) throws {
        guard settings.temperature.isFinite, settings.temperature >= 0 else {
            throw SamplerError(description: "temperature \(settings.temperature) must be finite and ≥ 0")
        }
        guard settings.topK >= 0 else { throw SamplerError(description: "top-k \(settings.topK) must be ≥ 0") }
        guard settings.topP > 0, settings.topP <= 1 else {
            throw SamplerError(description: "top-p \(settings.topP) must be in (0, 1]")
        }
        self.settings = settings
        self.random = SamplerRandom(seed: seed)
    }

    /// Samples one token from a row of logits (one per vocabulary id).
    public mutating func sample(logits: [Float]) throws -> SampledToken {
        let distribution = try Sampler.finalDistribution(logits: logits, settings: settings)
        guard settings.temperature > 0 else {
            return SampledToken(token: distribution.tokens[0], logProbability: 0, untruncatedLogProbability: 0,
                                keptTokens: distribution.tokens)
        }
        let draw = random.nextUnit()
        var cumulative = 0.0
        var chosen = distribution.tokens.count - 1       // rounding may leave the total a hair below 1
        for (index, probability) in distribution.probabilities.enumerated() {
            cumulative += probability
            if draw < cumulative { chosen = index; break }
        }
        let token = distribution.tokens[chosen]
        let scaled = Double(logits[token]) / Double(settings.temperature)
        return SampledToken(token: token,
                            logProbability: Float(scaled - distribution.logNormalizer),
                            untruncatedLogProbability: Float(scaled - distribution.fullLogNormalizer),
                            keptTokens: distribution.tokens.sorted())
    }

    /// The distribution `sample` draws from: kept tokens in the order draws walk them (most likely
    /// first, lowest id on ties, when truncating; by id otherwise) with their probabilities, and
    /// the log-normalisers over the kept set and over the whole vocabulary.
    public static func finalDistribution(logits: [Float], settings: SamplingSettings)
        throws -> (tokens: [Int], probabilities: [Double], logNormalizer: Double, fullLogNormalizer: Double) {
        guard !logits.isEmpty else { throw SamplerError(description: "empty logits row") }
        if let bad = logits.firstIndex(where: { $0.isNaN || $0 == .infinity }) {
            throw SamplerError(description: "logit of token \(bad) is \(logits[bad]); logits must be finite or −∞")
        }
        var best = 0
        for index in logits.indices where logits[index] > logits[best] { best = index }
        guard logits[best] > -.infinity else { throw SamplerError(description: "every logit is −∞") }
        if settings.temperature == 0 { return ([best], [1], 0, 0) }

        let inverseTemperature = 1 / Double(settings.temperature)
        let scaled = logits.map { Double($0) * inverseTemperature }
        let moreLikely = { (a: Int, b: Int) in scaled[a] != scaled[b] ? scaled[a] > scaled[b] : a < b }

        let finite = scaled.indices.filter { scaled[$0] > -.infinity }
        let fullLogNormalizer = logSumExp(scaled, over: finite)
        let target = Double(settings.topP) - topPTolerance
        var candidates: [Int]
        var candidatesLogNormalizer = fullLogNormalizer   // what top-p renormalises over
        if settings.topK > 0 && settings.topK < finite.count {
            candidates = smallest(settings.topK, of: finite, by: moreLikely)
            candidatesLogNormalizer = logSumExp(scaled, over: candidates)
        } else if settings.topP < 1 {
            candidates = topPCandidates(scaled, finite, logNormalizer: fullLogNormalizer, target: target)
        } else {
            candidates = finite   // nothing to truncate: draws walk the ids in order
        }
        if settings.topP < 1 {
            var mass = 0.0
            var keep = 0
            while keep < candidates.count {
                mass += exp(scaled[candidates[keep]] - candidatesLogNormalizer)
                keep += 1
                if mass >= target { break }
            }
            candidates.removeSubrange(keep...)
        }
        let logNormalizer = logSumExp(scaled, over: candidates)
        let probabilities = candidates.map { exp(scaled[$0] - logNormalizer) }
        return (candidates, probabilities, logNormalizer, fullLogNormalizer)
    }

    /// A superset of the top-p set, most likely first, without sorting the whole vocabulary:
    /// if the tokens with probability ≥ t already carry mass ≥ target, the top-p prefix stops
    /// inside them. t = 1/n (above-average tokens) usually suffices for a peaked distribution;
    /// t = (1 − target)/n always does, since the tokens below it carry less than n·t.
    static func topPCandidates(_ scaled: [Double], _ finite: [Int], logNormalizer normalizer: Double, target: Double) -> [Int] {
        let count = Double(finite.count)
        var chosen = finite
        for threshold in [1 / count, max(0, 1 - target) / count] {
            let logThreshold = log(threshold) + normalizer
            let above = finite.filter { scaled[$0] >= logThreshold }
            // A margin far above summation-order rounding, so the prefix loop surely ends inside.
            if above.reduce(0.0, { $0 + exp(scaled[$1] - normalizer) }) >= target + 1e-9 { chosen = above; break }
        }
        var ranked = chosen.map { (scaled[$0], $0) }   // values inline: cheaper to sort than ids
        ranked.sort { $0.0 != $1.0 ? $0.0 > $1.0 : $0.1 < $1.1 }
        return ranked.map(\.1)
    }

    /// log-softmax of logits / T renormalised over `keptTokens`: entries outside the set are −∞.
    /// This is how training recomputes π_θ (and π_ref) over the set that was kept when sampling.
    public static func logSoftmax(logits: [Float], over keptTokens: [Int], temperature: Float = 1) throws -> [Float] {
        guard temperature.isFinite, temperature > 0 else {
            throw SamplerError(description: "temperature \(temperature) must be finite and > 0 to renormalise")
        }
        guard !keptTokens.isEmpty else { throw SamplerError(description: "empty kept-token set") }
        if let bad = keptTokens.first(where: { !logits.indices.contains($0) }) {
            throw SamplerError(description: "kept token \(bad) is outside the \(logits.count) logits")
        }
        if let bad = keptTokens.first(where: { logits[$0].isNaN || logits[$0] == .infinity }) {
            throw SamplerError(description: "logit of kept token \(bad) is \(logits[bad])")
        }
        let inverseTemperature = 1 / Double(temperature)
        let scaled = keptTokens.map { Double(logits[$0]) * inverseTemperature }
        let normalizer = logSumExp(scaled, over: Array(scaled.indices))
        guard normalizer > -.infinity else { throw SamplerError(description: "every kept token has logit −∞") }
        var result = [Float](repeating: -.infinity, count: logits.count)
        for (index, token) in keptTokens.enumerated() { result[token] = Float(scaled[index] - normalizer) }
        return result
    }

    static func logSumExp(_ values: [Double], over indices: [Int]) -> Double {
        guard let maximum = indices.lazy.map({ values[$0] }).max(), maximum > -.infinity else { return -.infinity }
        var sum = 0.0
        for index in indices { sum += exp(values[index] - maximum) }
        return maximum + log(sum)
    }

    /// The first `count` elements of `items` under `ordered`, sorted, via a bounded heap
    /// (O(n log k) rather than sorting the whole vocabulary).
    static func smallest(_ count: Int, of items: [Int], by ordered: (Int, Int) -> Bool) -> [Int] {
        var heap: [Int] = []   // max-heap under `ordered`: heap[0] is the worst kept item
        heap.reserveCapacity(count)
        func siftDown(_ start: Int) {
            var parent = start
            while true {
                let left = 2 * parent + 1
                guard left < heap.count else { return }
                let worse = left + 1 < heap.count && ordered(heap[left], heap[left + 1]) ? left + 1 : left
                guard ordered(heap[parent], heap[worse]) else { return }
                heap.swapAt(parent, worse)
                parent = worse
            }
        }
        for item in items {
            if heap.count < count {
                heap.append(item)
                var child = heap.count - 1
                while child > 0, ordered(heap[(child - 1) / 2], heap[child]) {
                    heap.swapAt(child, (child - 1) / 2)
                    child = (child - 1) / 2
                }
            } else if ordered(item, heap[0]) {
                heap[0] = item
                siftDown(0)
            }
        }
        return heap.sorted(by: ordered)
    }
}
