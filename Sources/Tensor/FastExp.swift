// A vectorised exp for softmax rows: Cephes' expf polynomial on SIMD8 lanes (max relative error
// about 2e-7). Scalar expf per element was the largest cost of attention at long context.

extension Vector {
    @inline(__always)
    static func exp8(_ input: SIMD8<Float>) -> SIMD8<Float> {
        // Below −87 the result would be subnormal; softmax rows never need those.
        var x = input.clamped(lowerBound: SIMD8(repeating: -87), upperBound: SIMD8(repeating: 88.3))
        let fx = (x * 1.44269504088896341 + 0.5).rounded(.down)
        x = x - fx * 0.693359375 + fx * 2.12194440e-4
        let z = x * x
        var y = SIMD8<Float>(repeating: 1.9875691500e-4)
        y = y * x + 1.3981999507e-3
        y = y * x + 8.3334519073e-3
        y = y * x + 4.1665795894e-2
        y = y * x + 1.6666665459e-1
        y = y * x + 5.0000001201e-1
        y = y * z + x + 1
        let exponent = (SIMD8<Int32>(fx, rounding: .towardZero) &+ 127) &<< 23
        return y * unsafeBitCast(exponent, to: SIMD8<Float>.self)
    }

    /// x[i] = exp(x[i] − shift) for i in 0..<n; returns the sum of the results.
    @inline(__always)
    public static func expShiftInPlace(_ x: FloatPointer, _ n: Int, shift: Float) -> Float {
        var i = 0
        var sum = SIMD8<Float>.zero
        let s = SIMD8<Float>(repeating: shift)
        while i + 8 <= n {
            let raw = UnsafeMutableRawPointer(x + i)
            let e = exp8(raw.loadUnaligned(as: SIMD8<Float>.self) - s)
            raw.storeBytes(of: e, as: SIMD8<Float>.self)
            sum += e
            i += 8
        }
        var total = sum.sum()
        if i < n {
            var tail = SIMD8<Float>(repeating: -1000)
            for j in i..<n { tail[j - i] = x[j] - shift }
            let e = exp8(tail)
            for j in i..<n { x[j] = e[j - i]; total += e[j - i] }
        }
        return total
    }

    /// Scalar exp through the same polynomial (for odd spots that want identical rounding).
    public static func exp(_ value: Float) -> Float { exp8(SIMD8(repeating: value))[0] }
}
