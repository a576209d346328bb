// GRPO with DeepSeek-V3.2's stabilisers, as plain functions of per-token log-probabilities so
// that each piece can be checked by hand (see ../shared/reference/dsa-grpo.md):
//   Â_i = R_i − mean(R of its group)                  (no division by the std)
//   r   = π_θ / π_old                                  per token, log-ratios clamped to ±20
//   J   = 1/G Σ_i 1/|o_i| Σ_t [ min(r Â, clip(r, 1−ε, 1+ε) Â) · M_i − β · D_KL ]
//   D_KL = r · (π_ref/π_θ − log(π_ref/π_θ) − 1)        the unbiased (importance-corrected) k3
//   M_i = 0 iff Â_i < 0 and mean_t log(π_old/π_θ) > δ  (off-policy sequence masking)
// Every log-probability is over the token set kept when sampling (the keep-sampling mask).
import Foundation

public struct GRPOSettings: Codable, Sendable, Equatable {
    /// Samples per task (G).
    public var groupSize: Int = 4
    /// ε of the clipped ratio.
    public var clipEpsilon: Double = 0.2
    /// β of the KL penalty against the reference (SFT) model.
    public var klCoefficient: Double = 0.02
    /// δ of off-policy sequence masking.
    public var maskThreshold: Double = 0.5
    /// Log-ratios are clamped to ±this before exponentiating.
    public var logRatioClamp: Double = 20
    /// Reward of output that is not a usable edit (no block, SEARCH not found...).
    public var formatReward: Double = -0.5

    public init() {}
}

/// One token's part of the objective.
public struct TokenTerm: Equatable, Sendable {
    /// min(r Â, clip(r) Â) · M − β D_KL.
    public var objective: Double
    /// d(objective)/d(log π_θ of this token).
    public var gradient: Double
    /// The ratio, the KL estimate and whether the clipped branch of the min was taken.
    public var ratio: Double
    public var kl: Double
    public var clipped: Bool
}

public enum GRPO {
    /// Â_i = R_i − mean(R); an empty group has none.
    public static func advantages(_ rewards: [Double]) -> [Double] {
        guard !rewards.isEmpty else { return [] }
        let mean = rewards.reduce(0, +) / Double(rewards.count)
        return rewards.map { $0 - mean }
    }

    static func clamp(_ value: Double, _ bound: Double) -> Double { min(bound, max(-bound, value)) }

    /// The unbiased KL estimate at one token and its derivative with respect to log π_θ.
    public static func unbiasedKL(logPolicy: Double, logOld: Double, logReference: Double, clampBound: Double = 20)
        -> (value: Double, gradient: Double) {
        let logRatio = logPolicy - logOld, logReferenceRatio = logReference - logPolicy
        let ratio = exp(clamp(logRatio, clampBound)), u = clamp(logReferenceRatio, clampBound)
        let inner = exp(u) - u - 1
        let dRatio = abs(logRatio) <= clampBound ? ratio : 0          // d r / d log π_θ
        let dU: Double = abs(logReferenceRatio) <= clampBound ? -1 : 0 // d u / d log π_θ
        return (ratio * inner, dRatio * inner + ratio * (exp(u) - 1) * dU)
    }

    /// M_i: false masks the sequence (negative advantage and drifted too far from π_old).
    public static func keepsSequence(advantage: Double, logOld: [Double], logPolicy: [Double], threshold: Double) -> Bool {
        guard advantage < 0, !logOld.isEmpty else { return true }
        let divergence = zip(logOld, logPolicy).reduce(0) { $0 + ($1.0 - $1.1) } / Double(logOld.count)
        return divergence <= threshold
    }

    /// One token's objective term and gradient.
    public static func tokenTerm(logPolicy: Double, logOld: Double, logReference: Double, advantage: Double,
                                 keep: Bool, settings: GRPOSettings) -> TokenTerm {
        let logRatio = logPolicy - logOld
        let ratio = exp(clamp(logRatio, settings.logRatioClamp))
        let clippedRatio = min(1 + settings.clipEpsilon, max(1 - settings.clipEpsilon, ratio))
        let unclipped = ratio * advantage, clippedValue = clippedRatio * advantage
        let clipped = clippedValue < unclipped
        let surrogate = min(unclipped, clippedValue)
        let dRatio = abs(logRatio) <= settings.logRatioClamp ? ratio : 0
        let surrogateGradient = clipped ? 0 : dRatio * advantage
        let kl = unbiasedKL(logPolicy: logPolicy, logOld: logOld, logReference: logReference, clampBound: settings.logRatioClamp)
        let mask: Double = keep ? 1 : 0
        return TokenTerm(objective: surrogate * mask - settings.klCoefficient * kl.value,
                         gradient: surrogateGradient * mask - settings.klCoefficient * kl.gradient,
                         ratio: ratio, kl: kl.value, clipped: clipped && keep)
    }
}

/// One sampled completion with what training needs from it.
public struct Rollout: Sendable {
    /// The task (group) it answers; advantages are computed within each group id only.
    public var groupID: String
    public var prompt: [Int]
    public var response: [Int]
    /// log π_old of each response token over its kept set, and the kept sets.
    public var logOld: [Double]
    public var keptTokens: [[Int]]
    public var reward: Double
    public var resolved: Bool
    public var parsed: Bool

    public init(groupID: String, prompt: [Int], response: [Int], logOld: [Double], keptTokens: [[Int]],
                reward: Double, resolved: Bool, parsed: Bool) {
        self.groupID = groupID; self.prompt = prompt; self.response = response; self.logOld = logOld
        self.keptTokens = keptTokens; self.reward = reward; self.resolved = resolved; self.parsed = parsed
    }
}

/// Rollouts of several tasks in one batch: advantages per group, and the weight each sequence's
/// tokens get in the batch objective, 1 / (groups · G_group · |o_i|) — each group counts once and
/// each sequence's tokens are averaged once (no double length normalisation).
public struct GroupedBatch: Sendable {
    public var rollouts: [Rollout]
    public var advantages: [Double]
    public var tokenWeights: [Double]
    public var groupCount: Int

    public init(_ rollouts: [Rollout]) {
        self.rollouts = rollouts
        var members: [String: [Int]] = [:]
        var order: [String] = []
        for (index, rollout) in rollouts.enumerated() {
            if members[rollout.groupID] == nil { order.append(rollout.groupID) }
            members[rollout.groupID, default: []].append(index)
        }
        groupCount = order.count
        advantages = [Double](repeating: 0, count: rollouts.count)
        tokenWeights = [Double](repeating: 0, count: rollouts.count)
        for group in order {
            let indices = members[group]!
            let groupAdvantages = GRPO.advantages(indices.map { rollouts[$0].reward })
            for (position, index) in indices.enumerated() {
                advantages[index] = groupAdvantages[position]
                let length = max(1, rollouts[index].response.count)
                tokenWeights[index] = 1 / (Double(order.count) * Double(indices.count) * Double(length))
            }
        }
    }

    /// Groups whose rewards all agree teach nothing (every advantage is 0).
    public var informativeGroups: Int {
        Set(rollouts.indices.filter { advantages[$0] != 0 }.map { rollouts[$0].groupID }).count
    }
}
