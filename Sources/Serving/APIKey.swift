import Foundation

/// A shared secret that requests carry in `X-API-Key`, checked in constant time: the work done
/// depends only on the length of what the client sent, never on where it first differs from
/// the key, so timing a guess says nothing about how much of it was right.
public struct APIKey: Sendable, Hashable {
    private let bytes: [UInt8]

    /// nil for an empty key (no key is not a key that everything matches).
    public init?(_ key: String) {
        guard !key.isEmpty else { return nil }
        bytes = Array(key.utf8)
    }

    /// Whether `given` is the key.
    public func accepts(_ given: String) -> Bool {
        var difference = UInt(bitPattern: given.utf8.count ^ bytes.count)
        var index = 0
        for byte in given.utf8 {
            difference |= UInt(byte ^ bytes[index])
            index += 1
            if index == bytes.count { index = 0 }
        }
        return difference == 0
    }

    /// Hosts `forge serve` and `forge sandbox serve` may listen on without a key: the loopback
    /// interface only (`localhost`, 127.0.0.0/8, ::1).
    public static func isLoopback(_ host: String) -> Bool {
        let name = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        if name.lowercased() == "localhost" { return true }
        var v4 = in_addr()
        if inet_pton(AF_INET, name, &v4) == 1 { return UInt32(bigEndian: v4.s_addr) >> 24 == 127 }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, name, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { Array($0) } == [UInt8](repeating: 0, count: 15) + [1]
        }
        return false
    }

    /// The one-line refusal both commands give for a non-loopback `--host` without `--api-key`.
    public static func refusal(host: String) -> String {
        "--host \(host) is not a loopback address: anyone who can reach it could use the server; pass --api-key KEY (or keep --host 127.0.0.1)"
    }
}
