// The GRPO loss on the transformer: per rollout, one forward of the reference model and one of
// the policy over prompt + response, log-probabilities renormalised over each token's kept set
// (the keep-sampling mask), GRPO's per-token gradient d J / d log π, and through the softmax over
// the kept set into the logits: d log π(o) / d z_j = (1[j = o] − p_j) / τ for j kept, 0 outside.
import Foundation
import Model
import Tensor

/// Totals over one batch's token terms.
public struct PolicyStepStatistics: Sendable, Codable {
    public var objective = 0.0
    public var meanKL = 0.0
    public var clipFraction = 0.0
    public var maskedFraction = 0.0
    public var entropy = 0.0
    public var tokens = 0
}

public enum PolicyGradient {
    /// log-probabilities of each response token under `model`, over its kept set, with the kept
    /// distributions (for the gradient and the entropy). The model's last forward is this one.
    static func responseDistributions(model: Transformer, rollout: Rollout, temperature: Float) throws
        -> (logProbabilities: [Double], kept: [[Double]]) {
        guard !rollout.response.isEmpty else { return ([], []) }
        let tokens = rollout.prompt + rollout.response.dropLast()
        try model.forward(tokens: tokens, targets: nil)
        var logProbabilities: [Double] = [], kept: [[Double]] = []
        for (index, token) in rollout.response.enumerated() {
            let row = rollout.prompt.count - 1 + index
            let logSoftmax = try Sampler.logSoftmax(logits: model.logits(row: row), over: rollout.keptTokens[index], temperature: temperature)
            guard logSoftmax[token] > -.infinity else {
                throw TrainingDataError("response token \(token) at \(index) is outside its kept set")
            }
            logProbabilities.append(Double(logSoftmax[token]))
            kept.append(rollout.keptTokens[index].map { Double(logSoftmax[$0]) })
        }
        return (logProbabilities, kept)
    }

    /// Reference log-probabilities (the frozen SFT model) for each rollout's response tokens.
    public static func referenceLogProbabilities(reference: Transformer, rollouts: [Rollout], temperature: Float) throws -> [[Double]] {
        try rollouts.map { try responseDistributions(model: reference, rollout: $0, temperature: temperature).logProbabilities }
    }

    /// Accumulates −J's gradient for `batch` into `model.grads` (zero them first) and returns the
    /// batch's statistics. `reference[i]` are rollout i's reference log-probabilities. With
    /// `backward: false` only the objective and statistics are computed.
    @discardableResult
    public static func accumulate(model: Transformer, batch: GroupedBatch, reference: [[Double]], settings: GRPOSettings,
                                  temperature: Float, backward: Bool = true) throws -> PolicyStepStatistics {
        var stats = PolicyStepStatistics()
        var maskedTokens = 0, clippedTokens = 0
        for (index, rollout) in batch.rollouts.enumerated() where !rollout.response.isEmpty {
            let (logPolicy, kept) = try responseDistributions(model: model, rollout: rollout, temperature: temperature)
            let advantage = batch.advantages[index], weight = batch.tokenWeights[index]
            let keep = GRPO.keepsSequence(advantage: advantage, logOld: rollout.logOld, logPolicy: logPolicy, threshold: settings.maskThreshold)
            var rowGradients: [Int: (token: Int, scale: Double, kept: [Double])] = [:]
            for t in rollout.response.indices {
                let term = GRPO.tokenTerm(logPolicy: logPolicy[t], logOld: rollout.logOld[t], logReference: reference[index][t],
                                          advantage: advantage, keep: keep, settings: settings)
                stats.objective += weight * term.objective
                stats.meanKL += term.kl
                stats.entropy -= kept[t].reduce(0) { $0 + exp($1) * $1 }
                if term.clipped { clippedTokens += 1 }
                if !keep { maskedTokens += 1 }
                stats.tokens += 1
                rowGradients[rollout.prompt.count - 1 + t] = (rollout.response[t], -weight * term.gradient, kept[t])
            }
            guard backward else { continue }
            let inverseTemperature = 1 / Double(temperature)
            try model.backward { row, gradient in
                guard let entry = rowGradients[row], entry.scale != 0 else { return }
                let keptTokens = rollout.keptTokens[row - rollout.prompt.count + 1]
                for (slot, token) in keptTokens.enumerated() {
                    let indicator: Double = token == entry.token ? 1 : 0
                    gradient[token] = Float(entry.scale * (indicator - exp(entry.kept[slot])) * inverseTemperature)
                }
            }
        }
        if stats.tokens > 0 {
            stats.meanKL /= Double(stats.tokens)
            stats.entropy /= Double(stats.tokens)
            stats.clipFraction = Double(clippedTokens) / Double(stats.tokens)
            stats.maskedFraction = Double(maskedTokens) / Double(stats.tokens)
        }
        return stats
    }
}
