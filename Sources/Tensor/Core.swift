// Shared plumbing for the kernels: owned float storage, row-parallel loops and BLAS threading.
// Kernels take raw pointers (llm.c style): callers own flat buffers and pass views into them.
import COpenBLAS
import Dispatch
import Foundation
import Synchronization

public typealias FloatPointer = UnsafeMutablePointer<Float>
public typealias ConstFloatPointer = UnsafePointer<Float>

/// A fixed-size, zero-initialised Float buffer that frees itself.
public final class FloatBuffer {
    public let count: Int
    public let pointer: FloatPointer

    public init(count: Int) {
        self.count = count
        pointer = FloatPointer.allocate(capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
    }

    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: values.count) }
    }

    deinit { pointer.deallocate() }

    public subscript(index: Int) -> Float {
        get { pointer[index] }
        set { pointer[index] = newValue }
    }

    public var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }
    public func zero() { pointer.update(repeating: 0, count: count) }
    public func copy(from other: FloatBuffer) {
        precondition(other.count == count)
        pointer.update(from: other.pointer, count: count)
    }
}

/// Row-parallel loops over the machine's cores.
public enum Parallel {
    /// Worker count; OpenBLAS is switched to one thread inside parallel regions so the two
    /// thread pools do not oversubscribe the cores.
    public static let threads = max(1, ProcessInfo.processInfo.activeProcessorCount)
    /// OpenBLAS's own thread count (outside parallel regions).
    public static var blasThreads: Int { Int(openblas_get_num_threads()) }

    /// Splits 0..<count into contiguous chunks (at least `minimumChunk` items each) and runs
    /// `body(chunkIndex, range)` on them concurrently; runs inline when one chunk suffices.
    public static func chunks(_ count: Int, minimumChunk: Int = 1, _ body: (Int, Range<Int>) -> Void) {
        guard count > 0 else { return }
        let workers = max(1, min(threads, count / max(minimumChunk, 1)))
        if workers == 1 { body(0, 0..<count); return }
        let previous = openblas_get_num_threads()
        openblas_set_num_threads(1)
        defer { openblas_set_num_threads(previous) }
        let per = (count + workers - 1) / workers
        withoutActuallyEscaping(body) { body in
            // Kernels hand raw pointers into flat buffers (llm.c style), which Sendable cannot
            // describe; each worker writes only its own rows, and concurrentPerform returns only
            // after every worker has finished, so the closure never outlives this call.
            nonisolated(unsafe) let body = body
            DispatchQueue.concurrentPerform(iterations: workers) { worker in
                let start = worker * per
                let end = min(count, start + per)
                if start < end { body(worker, start..<end) }
            }
        }
    }

    /// Like `chunks` but hands out items one at a time from a shared counter, for rows whose
    /// cost varies (causal attention: later rows see more keys).
    public static func dynamic(_ count: Int, _ body: (Int, Int) -> Void) {
        guard count > 0 else { return }
        let workers = min(threads, count)
        if workers == 1 { for item in 0..<count { body(0, item) }; return }
        let previous = openblas_get_num_threads()
        openblas_set_num_threads(1)
        defer { openblas_set_num_threads(previous) }
        let next = Atomic<Int>(0)
        withoutActuallyEscaping(body) { body in
            // As in `chunks`: items are disjoint rows and the closure does not outlive the call.
            nonisolated(unsafe) let body = body
            DispatchQueue.concurrentPerform(iterations: workers) { worker in
                while true {
                    let item = next.wrappingAdd(1, ordering: .relaxed).oldValue
                    if item >= count { return }
                    body(worker, item)
                }
            }
        }
    }
}

/// Small vector helpers that the compiler vectorises.
public enum Vector {
    @inline(__always)
    public static func dot(_ a: ConstFloatPointer, _ b: ConstFloatPointer, _ n: Int) -> Float {
        var s0: SIMD8<Float> = .zero
        var i = 0
        while i + 8 <= n {
            s0 += UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<Float>.self) * UnsafeRawPointer(b + i).loadUnaligned(as: SIMD8<Float>.self)
            i += 8
        }
        var s = s0.sum()
        while i < n { s += a[i] * b[i]; i += 1 }
        return s
    }

    /// y += alpha · x
    @inline(__always)
    public static func axpy(_ alpha: Float, _ x: ConstFloatPointer, _ y: FloatPointer, _ n: Int) {
        for i in 0..<n { y[i] += alpha * x[i] }
    }

    /// y += x
    public static func add(_ x: ConstFloatPointer, into y: FloatPointer, _ n: Int) {
        for i in 0..<n { y[i] += x[i] }
    }
}
