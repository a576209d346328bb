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
    private var scores: [UInt64: Int32] = [:]

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
                if let known = memo.scores[key] { score!.pointee = known; return 0 }
                let result = git_hashsig_compare(first.hashsig, second.hashsig)
                if result < 0 { return result }
                memo.scores[key] = result
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
