// A pointer-generator output (See et al., 2017): the next-token distribution mixes the
// vocabulary softmax with a copy distribution that puts each earlier position's attention weight
// on the token that followed it, p = g·softmax(logits) + (1 − g)·Σ_j α_j·[x_{j+1} = w]. A patch's
// SEARCH lines repeat the prompt; with the copy term a small model can reproduce them by pointing
// at where they are instead of rebuilding them from its weights token by token.
// The row's output is log p, so everything downstream (cross-entropy, sampling, policy-gradient
// log-probabilities) reads it as logits: softmax(log p) = p.
import Foundation

public enum PointerMixture {
    /// The smallest probability the log is taken of (softmax can underflow to 0 in float).
    static let floor: Float = 1e-30

    /// One row's forward. In: `logits` (raw), `scores` over `sources` earlier positions
    /// (scaled), `gateLogit`. Out: `generation` = softmax(logits), `scores` = α (zero from
    /// `sources` to `total`), `logits` = log p. `copied[j]` is the token α_j votes for. A row with
    /// no source is pure generation (g = 1). Returns g.
    @discardableResult
    public static func forwardRow(logits: FloatPointer, generation: FloatPointer, scores: FloatPointer, sources: Int, total: Int,
                                  copied: UnsafePointer<Int>, gateLogit: Float, vocab: Int) -> Float {
        generation.update(from: logits, count: vocab)
        _ = Attention.softmaxPrefix(generation, valid: vocab, total: vocab)
        let g: Float = sources == 0 ? 1 : 1 / (1 + exp(-gateLogit))
        for w in 0..<vocab { logits[w] = g * generation[w] }
        if sources > 0 {
            _ = Attention.softmaxPrefix(scores, valid: sources, total: total)
            let share = 1 - g
            for j in 0..<sources { logits[copied[j]] += share * scores[j] }
        } else {
            for j in 0..<total { scores[j] = 0 }
        }
        for w in 0..<vocab { logits[w] = log(max(logits[w], floor)) }
        return g
    }

    /// One row's backward. In: `gradient` = dL/d(log p), `logProbs` and `generation` and `attention`
    /// (α) as the forward left them, `gate` = g, and `attentionGradient`: any further dL/dα of
    /// the row (a later row's scores read it). Out: `gradient` = dL/d(logits), `attention` =
    /// dL/d(scores) (before the scale). Returns dL/d(gate logit) (0 for a row with no source).
    public static func backwardRow(gradient: FloatPointer, logProbs: ConstFloatPointer, generation: ConstFloatPointer,
                                   attention: FloatPointer, sources: Int, copied: UnsafePointer<Int>, gate g: Float, vocab: Int,
                                   attentionGradient: ConstFloatPointer? = nil) -> Float {
        // u = dL/dp; p = g·gen + (1 − g)·copy.
        var generationDot: Float = 0
        for w in 0..<vocab {
            gradient[w] /= max(exp(logProbs[w]), floor)
            generationDot += generation[w] * gradient[w]
        }
        var copyDot: Float = 0
        for j in 0..<sources { copyDot += attention[j] * gradient[copied[j]] }
        // dL/dα_j = (1 − g)·u[x_{j+1}] (+ the further gradient); softmax backward: α_j·(dα_j − Σ α·dα).
        let share = 1 - g
        if let further = attentionGradient {
            var furtherDot: Float = 0
            for j in 0..<sources { furtherDot += attention[j] * further[j] }
            for j in 0..<sources { attention[j] *= share * (gradient[copied[j]] - copyDot) + further[j] - furtherDot }
        } else {
            for j in 0..<sources { attention[j] *= share * (gradient[copied[j]] - copyDot) }
        }
        for w in 0..<vocab { gradient[w] = g * generation[w] * (gradient[w] - generationDot) }
        return sources == 0 ? 0 : (generationDot - copyDot) * g * (1 - g)
    }
}
