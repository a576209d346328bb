import CGit2

/// libgit2's own rename metric (`git_hashsig` line-hash signatures, as `git_diff_find_similar`
/// uses when no metric is given), with every pair's score kept for the rest of the call.
///
/// `git_diff_find_similar` compares every rename target with every source, and whenever a
/// better match ejects an earlier pairing it starts the whole pass again; each pass asks for the
/// same scores from the same (cached) signatures. On pull requests that move hundreds of similar
/// files those repeated passes were most of the rename detection's time. The scores are the
/// same function of the same signatures, so the pairing, and the diff, are unchanged.
///
/// One instance per `git_diff_find_similar` call; libgit2 calls it on the calling thread only.
final class RenameSimilarity {
    /// A signature as libgit2 stores it in its cache: the hashsig and a serial number for the memo.
    struct Signature {
        let hashsig: OpaquePointer
        let serial: UInt64
    }

    /// `GIT_HASHSIG_NORMAL | GIT_HASHSIG_ALLOW_SMALL_FILES`: what libgit2 passes its default
    /// metric with `GIT_DIFF_FIND_DONT_IGNORE_WHITESPACE` (git's rename detection compares
    /// whitespace too).
    let options = git_hashsig_option_t(GIT_HASHSIG_NORMAL.rawValue | GIT_HASHSIG_ALLOW_SMALL_FILES.rawValue)
    private var nextSerial: UInt64 = 0
    private var scores = PairScores()

    /// Runs `body` with a metric bound to this memo (valid only inside `body`).
    func withMetric<T>(_ body: (UnsafeMutablePointer<git_diff_similarity_metric>) throws -> T) rethrows -> T {
        var metric = git_diff_similarity_metric(
            file_signature: { out, _, path, payload in
                let memo = Unmanaged<RenameSimilarity>.fromOpaque(payload!).takeUnretainedValue()
                var sig: OpaquePointer?
                let rc = git_hashsig_create_fromfile(&sig, path, memo.options)
                if rc < 0 { return rc }
                out!.pointee = memo.box(sig!)
                return 0
            },
            buffer_signature: { out, _, buffer, length, payload in
                let memo = Unmanaged<RenameSimilarity>.fromOpaque(payload!).takeUnretainedValue()
                var sig: OpaquePointer?
                let rc = git_hashsig_create(&sig, buffer, length, memo.options)
                if rc < 0 { return rc }
                out!.pointee = memo.box(sig!)
                return 0
            },
            free_signature: { signature, _ in
                let box = signature!.assumingMemoryBound(to: Signature.self)
                git_hashsig_free(box.pointee.hashsig)
                box.deinitialize(count: 1)
                box.deallocate()
            },
            similarity: { score, a, b, payload in
                let memo = Unmanaged<RenameSimilarity>.fromOpaque(payload!).takeUnretainedValue()
                let first = a!.assumingMemoryBound(to: Signature.self).pointee
                let second = b!.assumingMemoryBound(to: Signature.self).pointee
                let key = first.serial << 32 | second.serial
                if let known = memo.scores[key] { score!.pointee = Int32(known); return 0 }
                let result = git_hashsig_compare(first.hashsig, second.hashsig)
                if result < 0 { return result }
                memo.scores.insert(key, UInt8(clamping: result))
                score!.pointee = result
                return 0
            },
            payload: Unmanaged.passUnretained(self).toOpaque())
        return try withExtendedLifetime(self) { try body(&metric) }
    }

    private func box(_ hashsig: OpaquePointer) -> UnsafeMutableRawPointer {
        let box = UnsafeMutablePointer<Signature>.allocate(capacity: 1)
        box.initialize(to: Signature(hashsig: hashsig, serial: nextSerial))
        nextSerial += 1
        return UnsafeMutableRawPointer(box)
    }
}

/// Scores (0…100) by signature pair: open addressing over a power-of-two table kept at most half
/// full. It stops growing at `maxSlots` (18 MiB), after which new pairs are computed again
/// each pass rather than kept, so a pull request moving thousands of files cannot hold
/// hundreds of MB of scores. Faster than a Dictionary here: millions of lookups per big PR.
private struct PairScores: ~Copyable {
    static let maxSlots = 1 << 21
    private var keys: UnsafeMutablePointer<UInt64>   // pair + 1; 0 marks an empty slot
    private var values: UnsafeMutablePointer<UInt8>
    private var slots = 1 << 10
    private var count = 0

    init() {
        keys = .allocate(capacity: slots); keys.initialize(repeating: 0, count: slots)
        values = .allocate(capacity: slots)
    }

    deinit { keys.deallocate(); values.deallocate() }

    private func slot(of key: UInt64) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> UInt64(64 - slots.trailingZeroBitCount))
    }

    subscript(pair: UInt64) -> UInt8? {
        let key = pair &+ 1
        var index = slot(of: key)
        while true {
            let found = keys[index]
            if found == key { return values[index] }
            if found == 0 { return nil }
            index = (index + 1) & (slots - 1)
        }
    }

    mutating func insert(_ pair: UInt64, _ value: UInt8) {
        if (count + 1) * 2 > slots {
            guard slots < PairScores.maxSlots else { return }
            grow()
        }
        let key = pair &+ 1
        var index = slot(of: key)
        while keys[index] != 0 && keys[index] != key { index = (index + 1) & (slots - 1) }
        if keys[index] == 0 { count += 1 }
        keys[index] = key
        values[index] = value
    }

    private mutating func grow() {
        let (oldKeys, oldValues, oldSlots) = (keys, values, slots)
        slots *= 2
        keys = .allocate(capacity: slots); keys.initialize(repeating: 0, count: slots)
        values = .allocate(capacity: slots)
        for index in 0..<oldSlots where oldKeys[index] != 0 {
            var target = slot(of: oldKeys[index])
            while keys[target] != 0 { target = (target + 1) & (slots - 1) }
            keys[target] = oldKeys[index]
            values[target] = oldValues[index]
        }
        oldKeys.deallocate(); oldValues.deallocate()
    }
}
