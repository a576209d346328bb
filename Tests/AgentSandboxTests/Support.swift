import AgentSandbox
import Foundation
import SampleFixtures

// The validated sample, the loopback server and client and the process helpers are
// SampleFixtures'; what is the sandbox server's alone is here.

extension ValidatedSample {
    /// git in the sample's clone.
    @discardableResult
    func git(_ arguments: [String]) throws -> String { try git(["-C", clone] + arguments, in: root) }
}

/// A `SandboxServer` over `host` on an ephemeral loopback port.
enum RunningSandboxServer {
    static func start(_ host: SandboxHost, apiKey: String? = "test-key", idleTimeout: Double? = nil) async throws -> LoopbackServer {
        try await LoopbackServer.start(SandboxServer(configuration: SandboxServerConfiguration(host: "127.0.0.1", port: 0, apiKey: apiKey,
                                                                                                idleTimeout: idleTimeout), host: host))
    }
}

