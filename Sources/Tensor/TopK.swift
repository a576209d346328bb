// Top-k selection without sorting: a radix select on the floats' order-preserving bit patterns.
// One pass histograms the top 11 bits; only the boundary bucket's members are refined further.
// O(n) per row, which matters because DSA's win depends on selection being cheap.

public enum TopK {
    /// Scratch one worker needs for rows of up to `maxCount` values.
    public static func scratchCount(maxCount: Int) -> Int { 2 * maxCount + 2048 }

    /// Indices of the `k` largest of values[0..<n] written to `out` (in index order); returns
    /// min(k, n). Ties at the threshold go to the lowest indices. NaN never appears in DSA scores.
    /// `scratch` must hold `scratchCount(maxCount: n)` UInt32s.
    public static func select(_ values: UnsafePointer<Float>, count n: Int, k: Int, into out: UnsafeMutablePointer<Int32>,
                              scratch: UnsafeMutablePointer<UInt32>) -> Int {
        if n <= k {
            for i in 0..<n { out[i] = Int32(i) }
            return n
        }
        if k <= 0 { return 0 }
        let keys = scratch, candidates = scratch + n, histogram = scratch + 2 * n
        // Pass 1: keys and a histogram of their top 11 bits.
        histogram.update(repeating: 0, count: 2048)
        for i in 0..<n {
            let key = orderKey(values[i])
            keys[i] = key
            histogram[Int(key >> 21)] &+= 1
        }
        var remaining = UInt32(k)
        var bucket = 2047
        while histogram[bucket] < remaining { remaining -= histogram[bucket]; bucket -= 1 }
        var prefix = UInt32(bucket) << 21
        // Gather the boundary bucket's keys, then refine on the next 11 and last 10 bits.
        var candidateCount = 0
        for i in 0..<n where keys[i] >> 21 == UInt32(bucket) { candidates[candidateCount] = keys[i]; candidateCount += 1 }
        for (shift, width) in [(10, 11), (0, 10)] {
            let buckets = 1 << width, mask = UInt32(buckets - 1)
            histogram.update(repeating: 0, count: buckets)
            for c in 0..<candidateCount { histogram[Int((candidates[c] >> UInt32(shift)) & mask)] &+= 1 }
            var b = buckets - 1
            while histogram[b] < remaining { remaining -= histogram[b]; b -= 1 }
            prefix |= UInt32(b) << UInt32(shift)
            var kept = 0
            for c in 0..<candidateCount where (candidates[c] >> UInt32(shift)) & mask == UInt32(b) {
                candidates[kept] = candidates[c]; kept += 1
            }
            candidateCount = kept
        }
        // prefix is now the k-th largest key; `remaining` of its copies belong in the top k.
        var written = 0
        var ties = remaining
        for i in 0..<n {
            let key = keys[i]
            if key > prefix || (key == prefix && ties > 0) {
                if key == prefix { ties -= 1 }
                out[written] = Int32(i)
                written += 1
            }
        }
        return written
    }

    /// Monotone map from Float to UInt32: a < b ⇔ key(a) < key(b) (for non-NaN values).
    @inline(__always)
    public static func orderKey(_ value: Float) -> UInt32 {
        let bits = value.bitPattern
        return bits & 0x8000_0000 != 0 ? ~bits : bits | 0x8000_0000
    }
}
