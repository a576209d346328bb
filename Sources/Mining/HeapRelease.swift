#if canImport(Glibc)
import Glibc

// glibc's malloc.h is not part of the Glibc module: declare the two calls used here.
@_silgen_name("mallopt") private func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32
@_silgen_name("malloc_trim") private func glibcMallocTrim(_ pad: Int) -> Int32
#endif

/// The C heap's hold on freed memory during mining. Task building makes patches of up to tens of
/// MB (old pull requests of big projects) on several threads; glibc raises its mmap threshold to
/// the largest block freed (up to 32 MiB), after which such blocks come from per-thread arenas
/// that keep their pages when freed, and resident memory stays at its highest point for the rest
/// of the run. No-ops off glibc.
enum HeapRelease {
    /// Blocks of at least `bytes` are mapped on their own and unmapped when freed. Process-wide;
    /// a fixed threshold also stops glibc from raising it.
    static func keepLargeBlocksMapped(atLeast bytes: Int32 = 1 << 20) {
        #if canImport(Glibc)
        _ = glibcMallopt(-3, bytes)   // M_MMAP_THRESHOLD
        #endif
    }

    /// Returns the free pages of every arena to the system.
    static func returnFreePages() {
        #if canImport(Glibc)
        _ = glibcMallocTrim(0)
        #endif
    }
}
