// AdamW with decoupled weight decay, global-norm gradient clipping and a cosine learning-rate
// schedule with linear warm-up, each one flat loop over the parameter buffer.
import Foundation
import Tensor

public struct CosineSchedule: Codable, Sendable, Equatable {
    public var maxLearningRate: Float
    public var minLearningRate: Float
    public var warmupSteps: Int
    public var totalSteps: Int

    public init(maxLearningRate: Float, minLearningRate: Float = 0, warmupSteps: Int, totalSteps: Int) {
        self.maxLearningRate = maxLearningRate
        self.minLearningRate = minLearningRate
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
    }

    /// Learning rate at `step` (0-based): linear ramp to the maximum over the warm-up, then a
    /// half cosine down to the minimum at totalSteps, held there afterwards.
    public func learningRate(step: Int) -> Float {
        if step < warmupSteps { return maxLearningRate * Float(step + 1) / Float(warmupSteps) }
        let span = max(1, totalSteps - warmupSteps)
        let progress = min(1, Float(step - warmupSteps) / Float(span))
        return minLearningRate + 0.5 * (maxLearningRate - minLearningRate) * (1 + cos(.pi * progress))
    }
}

public struct AdamWSettings: Codable, Sendable, Equatable {
    public var beta1: Float = 0.9
    public var beta2: Float = 0.95
    public var epsilon: Float = 1e-8
    public var weightDecay: Float = 0.1
    /// Clip the global gradient norm to this (0 turns clipping off).
    public var clipNorm: Float = 1
    public init(beta1: Float = 0.9, beta2: Float = 0.95, epsilon: Float = 1e-8, weightDecay: Float = 0.1, clipNorm: Float = 1) {
        self.beta1 = beta1; self.beta2 = beta2; self.epsilon = epsilon; self.weightDecay = weightDecay; self.clipNorm = clipNorm
    }
}

public final class AdamW {
    public let settings: AdamWSettings
    public private(set) var step = 0
    let m: FloatBuffer, v: FloatBuffer
    /// 1 where weight decay applies (matrices), 0 for norm gains and biases.
    let decayMask: [Float]

    public init(layout: ParameterLayout, settings: AdamWSettings = AdamWSettings()) {
        self.settings = settings
        m = FloatBuffer(count: layout.count)
        v = FloatBuffer(count: layout.count)
        var mask = [Float](repeating: 0, count: layout.count)
        for entry in layout.entries where entry.decays { for i in entry.offset..<(entry.offset + entry.count) { mask[i] = 1 } }
        decayMask = mask
    }

    /// Global L2 norm of the gradient over `ranges`.
    public static func gradientNorm(_ grads: FloatBuffer, ranges: [Range<Int>]) -> Float {
        var sum = 0.0
        for range in ranges {
            let p = grads.pointer + range.lowerBound, n = range.count
            var i = 0, partial: SIMD8<Float> = .zero
            while i + 8 <= n {
                let x = UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self)
                partial += x * x
                i += 8
                if i % 65536 == 0 { sum += Double(partial.sum()); partial = .zero }   // bounded float accumulation
            }
            sum += Double(partial.sum())
            while i < n { sum += Double(p[i] * p[i]); i += 1 }
        }
        return Float(sum.squareRoot())
    }

    /// One update of the parameters in `ranges` (default: all). Returns the gradient norm before clipping.
    @discardableResult
    public func update(params: FloatBuffer, grads: FloatBuffer, learningRate lr: Float, ranges: [Range<Int>]? = nil) -> Float {
        let ranges = ranges ?? [0..<params.count]
        let norm = AdamW.gradientNorm(grads, ranges: ranges)
        let clip: Float = settings.clipNorm > 0 && norm > settings.clipNorm ? settings.clipNorm / norm : 1
        step += 1
        let b1 = settings.beta1, b2 = settings.beta2, eps = settings.epsilon, wd = settings.weightDecay
        let correction1 = 1 - pow(b1, Float(step)), correction2 = 1 - pow(b2, Float(step))
        let p = params.pointer, gp = grads.pointer, mp = m.pointer, vp = v.pointer
        decayMask.withUnsafeBufferPointer { mask in
            for range in ranges {
                for i in range {
                    let grad = gp[i] * clip
                    let mi = b1 * mp[i] + (1 - b1) * grad
                    let vi = b2 * vp[i] + (1 - b2) * grad * grad
                    mp[i] = mi
                    vp[i] = vi
                    let update = (mi / correction1) / ((vi / correction2).squareRoot() + eps)
                    p[i] -= lr * (update + wd * mask[i] * p[i])
                }
            }
        }
        return norm
    }
}

extension AdamW {
    /// Saves the moments and step count (safetensors: tensors `m`, `v`; metadata `step`), so a
    /// resumed run continues with the same updates it would have made.
    public func saveState(to url: URL) throws {
        try SafetensorsFile.write(tensors: [(name: "m", shape: [m.count], values: m.array), (name: "v", shape: [v.count], values: v.array)],
                                  metadata: ["step": "\(step)", "format": "forge-adamw-1"], to: url)
    }

    public func loadState(from url: URL) throws {
        let reader = try SafetensorsReader(url: url)
        guard let stepText = reader.metadata["step"], let savedStep = Int(stepText) else {
            throw ModelError("optimizer state \(url.path) has no step in its metadata")
        }
        for (name, buffer) in [("m", m), ("v", v)] {
            let values = try reader.values(name)
            guard values.count == buffer.count else {
                throw ModelError("optimizer state \(url.path): \(name) has \(values.count) values, the model has \(buffer.count) parameters")
            }
            values.withUnsafeBufferPointer { buffer.pointer.update(from: $0.baseAddress!, count: values.count) }
        }
        step = savedStep
    }
}
