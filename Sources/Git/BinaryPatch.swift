import CGit2

/// `git diff --binary`'s "GIT binary patch" sections, byte for byte.
///
/// libgit2 writes the same format but deflates with zlib's default level; git deflates with
/// `Z_BEST_SPEED`, and the level also decides literal-vs-delta. So Forge re-encodes each section the
/// way git does: deflate the literal and (if libgit2 computed one) the delta at level 1, and keep
/// the delta only when git's `diff_delta(…, max_size = deflated literal size)` would have produced it
/// and it deflates smaller.
enum BinaryPatch {
    static let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$%&()*+-;<=>?@^_`{|}~".utf8)
    /// base85 digit values by character; -1 outside the alphabet.
    static let digitValues: [Int16] = {
        var table = [Int16](repeating: -1, count: 256)
        for (value, char) in alphabet.enumerated() { table[Int(char)] = Int16(value) }
        return table
    }()

    /// One section as libgit2 printed it: `literal`/`delta`, the inflated size, the deflated bytes.
    struct Section { var isDelta: Bool; var inflatedSize: Int; var deflated: [UInt8] }

    /// git's deflate (`deflate_it` at `core.compression`'s default, Z_BEST_SPEED).
    static func deflate(_ data: [UInt8]) throws -> [UInt8] {
        var size = compressBound(uLong(data.count))
        var out = [UInt8](repeating: 0, count: Int(size))
        let rc = data.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { output in
                compress2(output.baseAddress, &size, input.baseAddress, uLong(input.count), Z_BEST_SPEED)
            }
        }
        guard rc == Z_OK else {
            throw GitError(code: .other(rc), operation: "deflating a binary patch section", message: "zlib error \(rc)")
        }
        out.removeSubrange(Int(size)...)
        return out
    }

    static func inflate(_ data: [UInt8], size: Int) throws -> [UInt8] {
        var length = uLong(size)
        var out = [UInt8](repeating: 0, count: max(size, 1))
        let rc = data.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { output in
                uncompress(output.baseAddress, &length, input.baseAddress, uLong(input.count))
            }
        }
        guard rc == Z_OK, Int(length) == size else {
            throw GitError(code: .corrupt, operation: "inflating a binary patch section", message: "zlib error \(rc)")
        }
        return Array(out.prefix(size))
    }

    /// Appends one section: header line, base85 lines of at most 52 input bytes, blank line.
    static func encode(_ section: Section, into out: inout [UInt8]) {
        out.append(contentsOf: "\(section.isDelta ? "delta" : "literal") \(section.inflatedSize)\n".utf8)
        let data = section.deflated
        out.reserveCapacity(out.count + (data.count + 51) / 52 * 67 + 1)
        alphabet.withUnsafeBufferPointer { alphabet in
            data.withUnsafeBufferPointer { data in
                var start = 0
                while start < data.count {
                    let count = min(52, data.count - start)
                    out.append(count <= 26 ? UInt8(count) + 64 : UInt8(count - 26) + 96)   // 'A'-1+n / 'a'-1+n-26
                    var index = start
                    while index < start + count {
                        var word: UInt32 = 0
                        for shift in stride(from: 24, through: 0, by: -8) {
                            let byte = index < start + count ? data[index] : 0
                            word |= UInt32(byte) << UInt32(shift)
                            index += 1
                        }
                        // Five digits, most significant first, without an array per word.
                        let d4 = alphabet[Int(word % 85)]; word /= 85
                        let d3 = alphabet[Int(word % 85)]; word /= 85
                        let d2 = alphabet[Int(word % 85)]; word /= 85
                        let d1 = alphabet[Int(word % 85)]; word /= 85
                        out.append(alphabet[Int(word % 85)]); out.append(d1); out.append(d2); out.append(d3); out.append(d4)
                    }
                    out.append(10)
                    start += count
                }
            }
        }
        out.append(10)
    }

    /// Parses the two sections following a "GIT binary patch" line.
    static func parseSections(_ body: ArraySlice<UInt8>) throws -> [Section] {
        var sections: [Section] = []
        var current: Section?
        var lineStart = body.startIndex
        while lineStart <= body.endIndex {
            let lineEnd = body[lineStart...].firstIndex(of: 10) ?? body.endIndex
            let line = body[lineStart..<lineEnd]
            lineStart = lineEnd + 1
            if current == nil {
                if line.isEmpty { continue }
                let text = String(decoding: line, as: UTF8.self)
                let parts = text.split(separator: " ")
                guard parts.count == 2, let size = Int(parts[1]), parts[0] == "literal" || parts[0] == "delta" else {
                    throw GitError(code: .invalid, operation: "reading libgit2's binary patch", message: "unexpected line \(text)")
                }
                current = Section(isDelta: parts[0] == "delta", inflatedSize: size, deflated: [])
            } else if line.isEmpty {
                sections.append(current!)
                current = nil
            } else {
                let first = line[line.startIndex]
                let length = first <= 90 ? Int(first) - 64 : Int(first) - 96 + 26
                var kept = 0
                var index = line.startIndex + 1
                while index + 5 <= line.endIndex {
                    var word: UInt32 = 0
                    for char in line[index..<index + 5] {
                        let digit = digitValues[Int(char)]
                        guard digit >= 0 else {
                            throw GitError(code: .invalid, operation: "reading libgit2's binary patch", message: "bad base85")
                        }
                        word = word &* 85 &+ UInt32(digit)
                    }
                    for shift in stride(from: 24, through: 0, by: -8) where kept < length {
                        current!.deflated.append(UInt8(truncatingIfNeeded: word >> UInt32(shift)))
                        kept += 1
                    }
                    index += 5
                }
            }
        }
        return sections
    }

    /// git's choice for one direction: `target` is the side being produced, `libgitSection` what
    /// libgit2 chose for the same direction (its delta, when it made one, is git's delta too).
    static func gitSection(target: [UInt8], libgitSection: Section) throws -> Section {
        let literal = try deflate(target)
        if libgitSection.isDelta {
            let delta = try inflate(libgitSection.deflated, size: libgitSection.inflatedSize)
            if delta.count <= literal.count {
                let deflatedDelta = try deflate(delta)
                if deflatedDelta.count < literal.count {
                    return Section(isDelta: true, inflatedSize: delta.count, deflated: deflatedDelta)
                }
            }
        }
        return Section(isDelta: false, inflatedSize: target.count, deflated: literal)
    }

    /// Rewrites libgit2's binary patch body as git prints it.
    static func rewrite(body: ArraySlice<UInt8>, old: [UInt8], new: [UInt8]) throws -> [UInt8] {
        let sections = try parseSections(body)
        guard sections.count == 2 else {
            throw GitError(code: .invalid, operation: "reading libgit2's binary patch", message: "expected 2 sections, found \(sections.count)")
        }
        var out: [UInt8] = []
        encode(try gitSection(target: new, libgitSection: sections[0]), into: &out)
        encode(try gitSection(target: old, libgitSection: sections[1]), into: &out)
        return out
    }

    /// A binary patch made of two literal sections (always valid for `git apply`).
    static func literalBody(old: [UInt8], new: [UInt8]) throws -> [UInt8] {
        var out = Array("GIT binary patch\n".utf8)
        encode(Section(isDelta: false, inflatedSize: new.count, deflated: try deflate(new)), into: &out)
        encode(Section(isDelta: false, inflatedSize: old.count, deflated: try deflate(old)), into: &out)
        return out
    }
}
