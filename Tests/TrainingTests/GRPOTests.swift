// GRPO's pieces against values computed by hand, and the whole policy-gradient path through
// the transformer against central finite differences.
import Foundation
import Model
import ModelFixtures
import Basics
import Tensor
import XCTest
@testable import Training

final class GRPOTests: XCTestCase {
    func testAdvantagesAreRewardMinusGroupMeanWithoutStdDivision() {
        XCTAssertEqual(GRPO.advantages([1, 0, 0, 1]), [0.5, -0.5, -0.5, 0.5])
        XCTAssertEqual(GRPO.advantages([1, 1, 1]), [0, 0, 0])
        XCTAssertEqual(GRPO.advantages([-0.5, 1]), [-0.75, 0.75])
        XCTAssertEqual(GRPO.advantages([]), [])
    }

    func testUnbiasedKLAndItsGradientByHand() {
        // π_θ = π_old = 0.5, π_ref = 0.25: r = 1, u = log(0.5); D = 0.5 − log 0.5 − 1; dD/dx = r (x − ref) = log 2.
        let kl = GRPO.unbiasedKL(logPolicy: log(0.5), logOld: log(0.5), logReference: log(0.25))
        XCTAssertEqual(kl.value, 0.5 - log(0.5) - 1, accuracy: 1e-12)
        XCTAssertEqual(kl.gradient, log(2.0), accuracy: 1e-12)
        // Off-policy: π_θ = 0.6, π_old = 0.3 → r = 2; π_ref = 0.6 → u = 0, D = 0, dD/dx = r·(x − ref) = 0.
        let onReference = GRPO.unbiasedKL(logPolicy: log(0.6), logOld: log(0.3), logReference: log(0.6))
        XCTAssertEqual(onReference.value, 0, accuracy: 1e-12)
        XCTAssertEqual(onReference.gradient, 0, accuracy: 1e-12)
        // The importance ratio scales the estimate: same u, r = 2.
        let scaled = GRPO.unbiasedKL(logPolicy: log(0.5), logOld: log(0.25), logReference: log(0.25))
        XCTAssertEqual(scaled.value, 2 * (0.5 - log(0.5) - 1), accuracy: 1e-12)
        XCTAssertEqual(scaled.gradient, 2 * log(2.0), accuracy: 1e-12)
    }

    func testKLClampsLogRatiosSoNothingOverflows() {
        // log(π_ref/π_θ) = −30 is clamped to −20: D = e^−20 + 19 and u no longer moves with x.
        let clamped = GRPO.unbiasedKL(logPolicy: 0, logOld: 0, logReference: -30)
        XCTAssertEqual(clamped.value, exp(-20) + 19, accuracy: 1e-9)
        XCTAssertEqual(clamped.gradient, exp(-20) + 19, accuracy: 1e-9)
        // A huge ratio to π_old is clamped at e^20, and finite.
        let huge = GRPO.unbiasedKL(logPolicy: 0, logOld: -100, logReference: 0)
        XCTAssertEqual(huge.value, 0, accuracy: 1e-6)
        XCTAssertTrue(huge.gradient.isFinite)
        let term = GRPO.tokenTerm(logPolicy: 0, logOld: -100, logReference: -100, advantage: -1, keep: true, settings: GRPOSettings())
        XCTAssertTrue(term.objective.isFinite && term.gradient.isFinite)
        XCTAssertEqual(term.ratio, exp(20), accuracy: 1)
    }

    func testClippedSurrogateByHand() {
        var settings = GRPOSettings()
        settings.clipEpsilon = 0.2
        settings.klCoefficient = 0
        func term(_ policy: Double, _ advantage: Double) -> TokenTerm {
            GRPO.tokenTerm(logPolicy: log(policy), logOld: log(0.5), logReference: log(0.5), advantage: advantage, keep: true, settings: settings)
        }
        // r = 1.4, Â = 1: min(1.4, 1.2) = 1.2, clipped, no gradient.
        let high = term(0.7, 1)
        XCTAssertEqual(high.objective, 1.2, accuracy: 1e-12)
        XCTAssertEqual(high.gradient, 0)
        XCTAssertTrue(high.clipped)
        // r = 1.4, Â = −1: min(−1.4, −1.2) = −1.4, unclipped, d/dx (r Â) = r Â = −1.4.
        let pushedDown = term(0.7, -1)
        XCTAssertEqual(pushedDown.objective, -1.4, accuracy: 1e-12)
        XCTAssertEqual(pushedDown.gradient, -1.4, accuracy: 1e-12)
        XCTAssertFalse(pushedDown.clipped)
        // r = 0.6, Â = 1: min(0.6, 0.8) = 0.6, gradient 0.6.
        let low = term(0.3, 1)
        XCTAssertEqual(low.objective, 0.6, accuracy: 1e-12)
        XCTAssertEqual(low.gradient, 0.6, accuracy: 1e-12)
        // r = 0.6, Â = −1: min(−0.6, −0.8) = −0.8, clipped.
        let lowNegative = term(0.3, -1)
        XCTAssertEqual(lowNegative.objective, -0.8, accuracy: 1e-12)
        XCTAssertEqual(lowNegative.gradient, 0)
        XCTAssertTrue(lowNegative.clipped)
        // With β: the KL term is subtracted, its gradient too (π_ref = 0.25, on-policy).
        settings.klCoefficient = 0.1
        let withKL = GRPO.tokenTerm(logPolicy: log(0.5), logOld: log(0.5), logReference: log(0.25), advantage: 0.5, keep: true, settings: settings)
        XCTAssertEqual(withKL.objective, 0.5 - 0.1 * (0.5 - log(0.5) - 1), accuracy: 1e-12)
        XCTAssertEqual(withKL.gradient, 0.5 - 0.1 * log(2.0), accuracy: 1e-12)
        // A masked sequence keeps only the KL penalty.
        let masked = GRPO.tokenTerm(logPolicy: log(0.5), logOld: log(0.5), logReference: log(0.25), advantage: -0.5, keep: false, settings: settings)
        XCTAssertEqual(masked.objective, -0.1 * (0.5 - log(0.5) - 1), accuracy: 1e-12)
        XCTAssertEqual(masked.gradient, -0.1 * log(2.0), accuracy: 1e-12)
    }

    func testSequenceMaskingOnlyMasksNegativeAdvantageHighDivergenceSequences() {
        let old = [log(0.5), log(0.5)]
        // mean log(π_old/π_θ) = log 5 ≈ 1.61 > δ = 0.5
        XCTAssertFalse(GRPO.keepsSequence(advantage: -0.5, logOld: old, logPolicy: [log(0.1), log(0.1)], threshold: 0.5))
        XCTAssertTrue(GRPO.keepsSequence(advantage: 0.5, logOld: old, logPolicy: [log(0.1), log(0.1)], threshold: 0.5))
        XCTAssertTrue(GRPO.keepsSequence(advantage: 0, logOld: old, logPolicy: [log(0.1), log(0.1)], threshold: 0.5))
        // log(0.5/0.45) ≈ 0.105 ≤ δ
        XCTAssertTrue(GRPO.keepsSequence(advantage: -0.5, logOld: old, logPolicy: [log(0.45), log(0.45)], threshold: 0.5))
        // The mean, not the worst token: log 5 and log(0.5/0.9) average to ≈ 0.51 > 0.5.
        XCTAssertFalse(GRPO.keepsSequence(advantage: -1, logOld: old, logPolicy: [log(0.1), log(0.9)], threshold: 0.5))
        XCTAssertTrue(GRPO.keepsSequence(advantage: -1, logOld: old, logPolicy: [log(0.1), log(0.9)], threshold: 0.52))
    }

    func testGroupBookkeepingWhenBatchesMixTasks() {
        func rollout(_ group: String, _ reward: Double, length: Int) -> Rollout {
            Rollout(groupID: group, prompt: [1], response: Array(repeating: 2, count: length), logOld: Array(repeating: 0, count: length),
                    keptTokens: Array(repeating: [2], count: length), reward: reward, resolved: reward == 1, parsed: true)
        }
        // Interleaved tasks A and B, groups of different sizes and lengths.
        let batch = GroupedBatch([rollout("A", 1, length: 2), rollout("B", 0, length: 4), rollout("A", 0, length: 5),
                                  rollout("B", 0, length: 1), rollout("A", 0, length: 3), rollout("B", 1, length: 2)])
        XCTAssertEqual(batch.groupCount, 2)
        let third = 1.0 / 3
        let expected = [1 - third, -third, -third, -third, -third, 1 - third]
        for (a, b) in zip(batch.advantages, expected) { XCTAssertEqual(a, b, accuracy: 1e-12) }
        // weight = 1 / (groups · G · |o|)
        let lengths: [Double] = [2, 4, 5, 1, 3, 2]
        let weights = lengths.map { 1 / (2 * 3 * $0) }
        for (a, b) in zip(batch.tokenWeights, weights) { XCTAssertEqual(a, b, accuracy: 1e-12) }
        XCTAssertEqual(batch.informativeGroups, 2)
        XCTAssertEqual(GroupedBatch([rollout("C", 0, length: 1), rollout("C", 0, length: 2)]).informativeGroups, 0)
    }

    /// J of one group of two, by hand: rewards [1, 0] → Â = [0.5, −0.5], ε = 0.1, β = 0.
    /// Sequence 1: r = 1.2 (clipped: 1.1 · 0.5 = 0.55) and r = 1 (0.5) → mean 0.525.
    /// Sequence 2: r = 0.8 with Â < 0 → min(−0.4, −0.45) = −0.45 (kept: log(0.5/0.4) < δ).
    /// J = (0.525 − 0.45) / 2 = 0.0375; only the unclipped token has a gradient: 1 · 0.5 / (2 · 2).
    func testGroupObjectiveByHand() {
        var settings = GRPOSettings()
        settings.clipEpsilon = 0.1
        settings.klCoefficient = 0
        let first = Rollout(groupID: "t", prompt: [0], response: [1, 2], logOld: [log(0.5), log(0.5)], keptTokens: [[1], [2]],
                            reward: 1, resolved: true, parsed: true)
        let second = Rollout(groupID: "t", prompt: [0], response: [3], logOld: [log(0.5)], keptTokens: [[3]], reward: 0, resolved: false, parsed: true)
        let batch = GroupedBatch([first, second])
        let policy = [[log(0.6), log(0.5)], [log(0.4)]]
        var objective = 0.0
        var gradients: [Double] = []
        for (index, rollout) in batch.rollouts.enumerated() {
            let keep = GRPO.keepsSequence(advantage: batch.advantages[index], logOld: rollout.logOld, logPolicy: policy[index], threshold: settings.maskThreshold)
            XCTAssertTrue(keep)
            for t in rollout.response.indices {
                let term = GRPO.tokenTerm(logPolicy: policy[index][t], logOld: rollout.logOld[t], logReference: policy[index][t],
                                          advantage: batch.advantages[index], keep: keep, settings: settings)
                objective += batch.tokenWeights[index] * term.objective
                gradients.append(batch.tokenWeights[index] * term.gradient)
            }
        }
        XCTAssertEqual(objective, 0.0375, accuracy: 1e-12)
        XCTAssertEqual(gradients[0], 0)
        XCTAssertEqual(gradients[1], 0.125, accuracy: 1e-12)
        XCTAssertEqual(gradients[2], 0)
    }

    func testKeepSamplingMaskRenormalisesOverTheKeptSet() throws {
        // Logits log 1..4: over kept {1, 3} the probabilities are 2/6 and 4/6; others are −∞.
        let logits: [Float] = [0, log(2), log(3), log(4)]
        let renormalised = try Sampler.logSoftmax(logits: logits, over: [1, 3])
        XCTAssertEqual(Double(renormalised[1]), log(2.0 / 6), accuracy: 1e-6)
        XCTAssertEqual(Double(renormalised[3]), log(4.0 / 6), accuracy: 1e-6)
        XCTAssertEqual(renormalised[0], -.infinity)
        // With temperature 2 the kept logits are halved before renormalising: √2 : 2.
        let tempered = try Sampler.logSoftmax(logits: logits, over: [1, 3], temperature: 2)
        XCTAssertEqual(Double(tempered[1]), log(2.0.squareRoot() / (2.0.squareRoot() + 2)), accuracy: 1e-6)
    }

    /// The GRPO loss through a real (tiny) transformer: a batch of two groups whose tokens have
    /// restricted kept sets, an off-policy π_old and a different reference model; the gradient
    /// accumulated into the parameters must match finite differences of −J.
    func testPolicyGradientThroughTheModelMatchesFiniteDifferences() throws {
        let config = TransformerConfig(layers: 1, dModel: 16, heads: 2, headDim: 8, ffnHidden: 24, context: 32, vocab: 19,
                                       indexerHeads: 2, indexerDim: 8, indexerRopeDims: 4, topK: 8, attention: .dense)
        let policy = try scrambledModel(config, seed: 3), reference = try scrambledModel(config, seed: 9)
        var random = SamplerRandom(seed: 5)
        var rollouts: [Rollout] = []
        for (group, rewards) in [("A", [1.0, 0.0, 0.0]), ("B", [-0.5, 1.0])] {
            for reward in rewards {
                let prompt = (0..<5).map { _ in Int(random.next() % 19) }
                let length = 3 + Int(random.next() % 4)
                var response: [Int] = [], kept: [[Int]] = []
                for _ in 0..<length {
                    let set = Array(Set((0..<(2 + Int(random.next() % 5))).map { _ in Int(random.next() % 19) })).sorted()
                    kept.append(set)
                    response.append(set[Int(random.next() % UInt64(set.count))])
                }
                rollouts.append(Rollout(groupID: group, prompt: prompt, response: response, logOld: [], keptTokens: kept,
                                        reward: reward, resolved: reward == 1, parsed: true))
            }
        }
        // π_old: the policy's own log-probabilities nudged, so ratios differ from 1 but stay inside the clip range.
        for index in rollouts.indices {
            let current = try PolicyGradient.responseDistributions(model: policy, rollout: rollouts[index], temperature: 0.8).logProbabilities
            rollouts[index].logOld = current.map { $0 + Double(random.nextUnit() - 0.5) * 0.2 }
        }
        let batch = GroupedBatch(rollouts)
        let referenceLogProbabilities = try PolicyGradient.referenceLogProbabilities(reference: reference, rollouts: rollouts, temperature: 0.8)
        var settings = GRPOSettings()
        settings.clipEpsilon = 0.5
        settings.klCoefficient = 0.3
        policy.zeroGradients()
        let stats = try PolicyGradient.accumulate(model: policy, batch: batch, reference: referenceLogProbabilities, settings: settings, temperature: 0.8)
        XCTAssertEqual(stats.clipFraction, 0, "the check needs a smooth objective: no token at a clip boundary")
        XCTAssertGreaterThan(stats.tokens, 10)
        let analytic = policy.grads.array
        var worst = 0.0
        var checked = 0
        let candidates = analytic.indices.sorted { abs(analytic[$0]) > abs(analytic[$1]) }.prefix(24)
        for i in candidates {
            let saved = policy.params[i], eps: Float = 1e-2
            policy.params[i] = saved + eps
            let plus = try PolicyGradient.accumulate(model: policy, batch: batch, reference: referenceLogProbabilities, settings: settings,
                                                     temperature: 0.8, backward: false).objective
            policy.params[i] = saved - eps
            let minus = try PolicyGradient.accumulate(model: policy, batch: batch, reference: referenceLogProbabilities, settings: settings,
                                                      temperature: 0.8, backward: false).objective
            policy.params[i] = saved
            let numeric = -(plus - minus) / (2 * Double(eps))   // the accumulated gradient is that of −J
            worst = max(worst, abs(numeric - Double(analytic[i])) / max(abs(numeric), abs(Double(analytic[i])), 1e-6))
            checked += 1
        }
        XCTAssertEqual(checked, 24)
        XCTAssertLessThan(worst, 2e-2, "worst relative error of d(−J)/dθ against finite differences")
    }
}
