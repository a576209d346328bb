// Language-model training on a token stream: random windows from the training stream, AdamW
// with clipping and a cosine schedule, a fixed set of validation windows evaluated periodically.
// In sparse mode the indexer trains at the same time on its KL over the selected set (input
// detached), which is DeepSeek-V3.2's sparse stage; dense mode trains only the language model.
import Foundation
import Basics
import Tensor

public struct TrainingSettings: Codable, Sendable, Equatable {
    public var batch: Int
    public var sequenceLength: Int
    public var steps: Int
    public var maxLearningRate: Float
    public var minLearningRate: Float
    public var warmupSteps: Int
    public var evalEvery: Int
    /// Validation windows evaluated each time (fixed, evenly spaced through the validation stream).
    public var evalWindows: Int
    /// Stop early once this much wall time has passed (0: no limit).
    public var maxSeconds: Double
    public var seed: UInt64
    public var optimizer: AdamWSettings
    /// DSA's dense warm-up for sparse models: this many first steps run dense attention and train
    /// only the indexer, on KL(p ‖ softmax(I)) over every earlier position, at `indexerWarmupLearningRate`.
    public var indexerWarmupSteps: Int = 0
    public var indexerWarmupLearningRate: Float = 1e-3
    /// Share of training windows whose last part repeats a span of the window (nil or 0: none).
    /// A policy's SEARCH block copies lines of its prompt; a small model trained on a few million
    /// tokens of code did not learn to copy (its responses named files and lines that were not in
    /// the prompt). Repeated spans train that copying directly; `copyValidationLoss` measures
    /// whether the model picks it up (at lr 1e-3 over a few hundred steps it did not:
    /// Benchmarks/learning-real.md).
    public var copyShare: Double?

    public init(batch: Int = 8, sequenceLength: Int = 256, steps: Int = 300, maxLearningRate: Float = 3e-3, minLearningRate: Float = 3e-4,
                warmupSteps: Int = 30, evalEvery: Int = 25, evalWindows: Int = 16, maxSeconds: Double = 0, seed: UInt64 = 1,
                optimizer: AdamWSettings = AdamWSettings()) {
        self.batch = batch; self.sequenceLength = sequenceLength; self.steps = steps
        self.maxLearningRate = maxLearningRate; self.minLearningRate = minLearningRate; self.warmupSteps = warmupSteps
        self.evalEvery = evalEvery; self.evalWindows = evalWindows; self.maxSeconds = maxSeconds; self.seed = seed
        self.optimizer = optimizer
    }
}

/// One line of the metrics log.
public struct TrainingMetrics: Codable, Sendable {
    public var step: Int
    public var trainLoss: Float
    public var indexerKL: Float?
    public var validationLoss: Float?
    /// Loss on copied spans (`copyValidationLoss()`), measured when training on copy windows.
    public var copyValidationLoss: Float? = nil
    public var learningRate: Float
    public var gradientNorm: Float
    public var tokensSeen: Int
    public var seconds: Double
    /// Set on the dense warm-up's steps (which train only the indexer and count no main steps).
    public var indexerWarmupStep: Int? = nil
}

public final class LanguageModelTrainer {
    public let model: Transformer
    public let settings: TrainingSettings
    let train: [Int], validation: [Int]
    public let optimizer: AdamW
    var random: SamplerRandom

    public init(model: Transformer, settings: TrainingSettings, train: [Int], validation: [Int]) throws {
        let T = settings.sequenceLength
        guard T <= model.config.context else { throw ModelError("sequence length \(T) exceeds the model context \(model.config.context)") }
        guard settings.batch > 0, settings.steps > 0, settings.evalEvery > 0 else { throw ModelError("batch, steps and evalEvery must be positive") }
        guard train.count > T + 1 else { throw ModelError("training stream of \(train.count) tokens is shorter than one window of \(T + 1)") }
        guard validation.count > T + 1 else { throw ModelError("validation stream of \(validation.count) tokens is shorter than one window of \(T + 1)") }
        self.model = model
        self.settings = settings
        self.train = train
        self.validation = validation
        optimizer = AdamW(layout: model.layout, settings: settings.optimizer)
        random = SamplerRandom(seed: settings.seed)
    }

    /// Inputs and next-token targets of windows starting at `starts`.
    func windows(_ stream: [Int], starts: [Int]) -> (tokens: [Int], targets: [Int]) {
        let T = settings.sequenceLength
        var tokens: [Int] = [], targets: [Int] = []
        for start in starts {
            tokens += stream[start..<(start + T)]
            targets += stream[(start + 1)...(start + T)]
        }
        return (tokens, targets)
    }

    /// Starts of the fixed validation windows, evenly spaced through the validation stream.
    func validationStarts() -> [Int] {
        let T = settings.sequenceLength, span = validation.count - T - 1
        let count = max(1, min(settings.evalWindows, span / T + 1))
        return (0..<count).map { count == 1 ? 0 : $0 * span / (count - 1) }
    }

    /// Mean loss over the fixed validation windows, `batch` windows per forward; `inputs` gives a
    /// chunk's tokens and targets.
    func meanValidationLoss(_ inputs: ([Int]) -> (tokens: [Int], targets: [Int])) throws -> Float {
        let starts = validationStarts()
        var total: Float = 0
        for chunk in stride(from: 0, to: starts.count, by: settings.batch) {
            let part = Array(starts[chunk..<min(starts.count, chunk + settings.batch)])
            let (tokens, targets) = inputs(part)
            total += try model.forward(tokens: tokens, targets: targets, batch: part.count).language * Float(part.count)
        }
        return total / Float(starts.count)
    }

    /// Mean loss over the fixed validation windows.
    public func validationLoss() throws -> Float {
        try meanValidationLoss { windows(validation, starts: $0) }
    }

    /// The T + 1 tokens of `stream` from `start`, the last `span` of them replaced by the `span`
    /// tokens from position `from` of the window.
    func copyWindow(_ stream: [Int], start: Int, span: Int, from: Int) -> [Int] {
        var sequence = Array(stream[start...(start + settings.sequenceLength)])
        sequence.replaceSubrange((sequence.count - span)..., with: sequence[from..<(from + span)])
        return sequence
    }

    /// A copy window's targets: the copy from its second token on (its first cannot be
    /// predicted), nothing before it. Scoring the whole window drowns the copy's gradient in the
    /// rest (on the copy probe with every target scored, copying had not formed after 400 steps:
    /// 2.35 nats, against 0.46 when only the copy is scored), and the splice is not text to learn.
    func copyTargets(_ sequence: [Int], span: Int) -> [Int] {
        let copyStart = sequence.count - span
        return sequence.indices.dropFirst().map { $0 > copyStart ? sequence[$0] : -1 }
    }

    /// Loss on copied spans only: each validation window's last quarter replaced by a span of its
    /// first half, scored from the copy's second token on (its first cannot be predicted). Near 0
    /// once the model continues what it has already seen; a plain window's loss if it does not.
    public func copyValidationLoss() throws -> Float {
        let T = settings.sequenceLength
        let length = max(2, (T + 1) / 4), head = T + 1 - length
        return try meanValidationLoss { part in
            var tokens: [Int] = [], targets: [Int] = []
            for start in part {
                let sequence = copyWindow(validation, start: start, span: length, from: head / 4)
                tokens += sequence.dropLast()
                targets += copyTargets(sequence, span: length)
            }
            return (tokens, targets)
        }
    }

    /// The copy loss when the run trains on copy windows (nil otherwise).
    func copyLossIfCopying() throws -> Float? { (settings.copyShare ?? 0) > 0 ? try copyValidationLoss() : nil }

    /// The untrained (or resumed) model on the first window and the validation windows: step 0's line.
    public func initialMetrics(started: Date = Date()) throws -> TrainingMetrics {
        let (tokens, targets) = windows(train, starts: [0])
        let initial = try model.forward(tokens: tokens, targets: targets, batch: 1)
        return TrainingMetrics(step: 0, trainLoss: initial.language, indexerKL: nil, validationLoss: try validationLoss(),
                               copyValidationLoss: try copyLossIfCopying(),
                               learningRate: 0, gradientNorm: 0, tokensSeen: 0, seconds: Date().timeIntervalSince(started))
    }

    /// The random generator that picks windows; saved with checkpoints so a resumed run draws
    /// the same windows it would have.
    public var randomState: SamplerRandom {
        get { random }
        set { random = newValue }
    }

    func randomStarts() -> [Int] {
        let T = settings.sequenceLength
        return (0..<settings.batch).map { _ in Int(random.next() % UInt64(train.count - T - 1)) }
    }

    /// A training batch: windows at random starts, `copyShare` of them ending in a copy of an
    /// earlier span of themselves (16 tokens to a quarter of the window, from a random place).
    func trainingWindows() -> (tokens: [Int], targets: [Int]) {
        let starts = randomStarts()
        guard let share = settings.copyShare, share > 0 else { return windows(train, starts: starts) }
        let T = settings.sequenceLength
        var tokens: [Int] = [], targets: [Int] = []
        let longest = max(1, (T + 1) / 4), shortest = min(16, longest)
        for start in starts {
            if Double(random.next() % 1_000_000) < share * 1_000_000 {
                let span = shortest + Int(random.next() % UInt64(longest - shortest + 1))
                let from = Int(random.next() % UInt64(T + 1 - 2 * span + 1))
                let sequence = copyWindow(train, start: start, span: span, from: from)
                tokens += sequence.dropLast()
                targets += copyTargets(sequence, span: span)
            } else {
                let sequence = train[start...(start + T)]
                tokens += sequence.dropLast()
                targets += sequence.dropFirst()
            }
        }
        return (tokens, targets)
    }

    /// One step of DSA's dense warm-up: dense attention, only the indexer's parameters move, on
    /// KL(p ‖ softmax(I)) over every earlier position. The caller switches the model to dense.
    public func indexerWarmupStep(_ warmupStep: Int, optimizer warmupOptimizer: AdamW, started: Date) throws -> TrainingMetrics {
        let (tokens, targets) = trainingWindows()
        model.zeroGradients()
        let losses = try model.forward(tokens: tokens, targets: targets, batch: settings.batch, indexerLoss: true)
        try model.backward(language: false, indexer: true)
        let norm = warmupOptimizer.update(params: model.params, grads: model.grads, learningRate: settings.indexerWarmupLearningRate,
                                          ranges: model.layout.indexerRanges)
        return TrainingMetrics(step: 0, trainLoss: losses.language, indexerKL: losses.indexerKL, validationLoss: nil,
                               learningRate: settings.indexerWarmupLearningRate, gradientNorm: norm, tokensSeen: 0,
                               seconds: Date().timeIntervalSince(started), indexerWarmupStep: warmupStep + 1)
    }

    /// One language-model step (`step` counts from 0): in sparse mode the indexer also trains on
    /// its KL over the selected set. Validates when `evaluate`.
    public func languageStep(_ step: Int, evaluate: Bool, started: Date) throws -> TrainingMetrics {
        let T = settings.sequenceLength
        let schedule = CosineSchedule(maxLearningRate: settings.maxLearningRate, minLearningRate: settings.minLearningRate,
                                      warmupSteps: settings.warmupSteps, totalSteps: settings.steps)
        let (tokens, targets) = trainingWindows()
        let lr = schedule.learningRate(step: step)
        let (losses, norm) = try model.languageStep(tokens: tokens, targets: targets, batch: settings.batch, optimizer: optimizer, learningRate: lr)
        let sparse = model.config.attention == .sparse
        return TrainingMetrics(step: step + 1, trainLoss: losses.language, indexerKL: sparse ? losses.indexerKL : nil,
                               validationLoss: evaluate ? try validationLoss() : nil,
                               copyValidationLoss: evaluate ? try copyLossIfCopying() : nil, learningRate: lr, gradientNorm: norm,
                               tokensSeen: (step + 1) * settings.batch * T, seconds: Date().timeIntervalSince(started))
    }

    /// Trains, reporting metrics before the first step, every `evalEvery` steps and at the end
    /// (with a validation loss) and after every other step (without).
    @discardableResult
    public func run(report: (TrainingMetrics) throws -> Void) throws -> [TrainingMetrics] {
        let started = Date()
        var log = [try initialMetrics(started: started)]
        try report(log[0])
        if model.config.attention == .sparse && settings.indexerWarmupSteps > 0 {
            // Model frozen, dense attention, indexer only (its own optimizer state).
            model.setAttention(.dense)
            defer { model.setAttention(.sparse) }
            let warmupOptimizer = AdamW(layout: model.layout, settings: settings.optimizer)
            for warmupStep in 0..<settings.indexerWarmupSteps {
                let metrics = try indexerWarmupStep(warmupStep, optimizer: warmupOptimizer, started: started)
                log.append(metrics)
                try report(metrics)
            }
        }
        for step in 0..<settings.steps {
            let outOfTime = settings.maxSeconds > 0 && Date().timeIntervalSince(started) >= settings.maxSeconds
            let metrics = try languageStep(step, evaluate: (step + 1) % settings.evalEvery == 0 || step + 1 == settings.steps || outOfTime,
                                           started: started)
            log.append(metrics)
            try report(metrics)
            if outOfTime { break }
        }
        return log
    }
}

extension Transformer {
    /// One optimizer step on the next-token loss of `targets` (-1: no target). A sparse model
    /// also trains its indexer on the KL over the selected set, as in DSA's sparse stage.
    public func languageStep(tokens: [Int], targets: [Int], batch: Int, optimizer: AdamW,
                             learningRate: Float) throws -> (losses: Losses, gradientNorm: Float) {
        zeroGradients()
        let sparse = config.attention == .sparse
        let losses = try forward(tokens: tokens, targets: targets, batch: batch, indexerLoss: sparse)
        try backward(language: true, indexer: sparse)
        return (losses, optimizer.update(params: params, grads: grads, learningRate: learningRate))
    }
}
