// Element conversion between safetensors' little-endian storage and Float.
#if !_endian(little)
#error("safetensors conversion assumes a little-endian host")
#endif

enum SafetensorsConversion {
    /// Elements converted per chunk when writing a non-F32 dtype (bounds the scratch memory).
    static let chunkSize = 1 << 16

    /// Converts `source` (elements of `dtype`, any alignment) into `destination`.
    static func decode(_ source: UnsafeRawBufferPointer, dtype: SafetensorsDType, into destination: UnsafeMutableBufferPointer<Float>) {
        let count = destination.count
        guard count > 0, let base = source.baseAddress else { return }
        switch dtype {
        case .f32:
            UnsafeMutableRawPointer(destination.baseAddress!).copyMemory(from: base, byteCount: count * 4)
        case .f16:
            for i in 0..<count { destination[i] = Float(Float16(bitPattern: base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
        case .bf16:
            for i in 0..<count {
                destination[i] = Float(bitPattern: UInt32(base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16)
            }
        case .i32:
            for i in 0..<count { destination[i] = Float(base.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)) }
        case .i64:
            for i in 0..<count { destination[i] = Float(base.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self)) }
        case .u8:
            for i in 0..<count { destination[i] = Float(base.load(fromByteOffset: i, as: UInt8.self)) }
        }
    }

    /// Index of the first value an integer dtype cannot hold exactly (floating dtypes round).
    static func firstUnrepresentable(_ values: [Float], as dtype: SafetensorsDType) -> Int? {
        let range: ClosedRange<Float>
        switch dtype {
        case .f32, .f16, .bf16: return nil
        case .u8: range = 0...255
        case .i32: range = -2147483648...2147483520          // largest Float below 2^31
        case .i64: range = -9223372036854775808...9223371487098961920   // largest Float below 2^63
        }
        return values.firstIndex { !($0.rounded() == $0 && range.contains($0)) }
    }

    /// Hands the encoded bytes of `values` to `sink`: F32 straight from the array's storage, other
    /// dtypes in chunks of `chunkSize` elements.
    static func encode(_ values: [Float], as dtype: SafetensorsDType, _ sink: (UnsafeRawBufferPointer) throws -> Void) rethrows {
        if dtype == .f32 {
            try values.withUnsafeBytes { try sink($0) }
            return
        }
        var scratch = [UInt8](repeating: 0, count: min(values.count, chunkSize) * dtype.byteSize)
        var start = 0
        while start < values.count {
            let end = min(start + chunkSize, values.count)
            scratch.withUnsafeMutableBytes { out in
                for i in start..<end {
                    let offset = (i - start) * dtype.byteSize
                    let value = values[i]
                    switch dtype {
                    case .f32: out.storeBytes(of: value.bitPattern, toByteOffset: offset, as: UInt32.self)
                    case .f16: out.storeBytes(of: Float16(value).bitPattern, toByteOffset: offset, as: UInt16.self)
                    case .bf16: out.storeBytes(of: bfloat16Bits(value), toByteOffset: offset, as: UInt16.self)
                    case .i32: out.storeBytes(of: Int32(value), toByteOffset: offset, as: Int32.self)
                    case .i64: out.storeBytes(of: Int64(value), toByteOffset: offset, as: Int64.self)
                    case .u8: out.storeBytes(of: UInt8(value), toByteOffset: offset, as: UInt8.self)
                    }
                }
            }
            try scratch.withUnsafeBytes { try sink(UnsafeRawBufferPointer(rebasing: $0[0..<((end - start) * dtype.byteSize)])) }
            start = end
        }
    }

    /// Float → bfloat16 with round-to-nearest-even; NaN stays a (quiet) NaN.
    static func bfloat16Bits(_ value: Float) -> UInt16 {
        if value.isNaN { return 0x7FC0 | UInt16(value.bitPattern >> 16 & 0x8000) }
        let bits = value.bitPattern
        let rounded = bits &+ 0x7FFF &+ ((bits >> 16) & 1)
        return UInt16(truncatingIfNeeded: rounded >> 16)
    }
}
