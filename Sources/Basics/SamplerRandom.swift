// A small, fast, seedable generator so that rollouts are reproducible from a seed on any platform
// (Swift's SystemRandomNumberGenerator cannot be seeded).

/// xoshiro256** (Blackman & Vigna), its 256-bit state filled from the seed by SplitMix64.
public struct SamplerRandom: RandomNumberGenerator, Sendable, Equatable {
    private var state: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        var mixer = SplitMix64(seed: seed)
        func splitMix() -> UInt64 { mixer.next() }
        state = (splitMix(), splitMix(), splitMix(), splitMix())
    }

    /// The four state words, to save a generator mid-stream and resume it exactly.
    public var stateWords: [UInt64] { [state.0, state.1, state.2, state.3] }

    public init?(stateWords words: [UInt64]) {
        guard words.count == 4, words.contains(where: { $0 != 0 }) else { return nil }
        state = (words[0], words[1], words[2], words[3])
    }

    public mutating func next() -> UInt64 {
        let result = rotate(state.1 &* 5, 7) &* 9
        let shifted = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= shifted
        state.3 = rotate(state.3, 45)
        return result
    }

    /// A uniform Double in [0, 1) from the top 53 bits.
    public mutating func nextUnit() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    private func rotate(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    public static func == (a: SamplerRandom, b: SamplerRandom) -> Bool {
        a.state == b.state
    }
}
