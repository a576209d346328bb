import Model
import Basics

/// A model with weights of order 1/√fan-in (and norm gains around 1) instead of the 0.02
/// training init, so that gradients and sampling differences stand well above float32 rounding.
public func scrambledModel(_ config: TransformerConfig, seed: UInt64) throws -> Transformer {
    let model = try Transformer(config: config, seed: seed)
    var random = SamplerRandom(seed: seed ^ 0xABCD)
    for entry in model.layout.entries {
        let scale: Float = entry.shape.count == 2 ? 1.5 / Float(entry.shape[1]).squareRoot() : 0.3
        for i in entry.offset..<(entry.offset + entry.count) {
            let u = Float(random.nextUnit() * 2 - 1) * scale
            model.params[i] = entry.shape.count == 2 ? u : (entry.name.hasSuffix(".bias") ? u : 1 + u)
        }
    }
    return model
}
