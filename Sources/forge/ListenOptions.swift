import ArgumentParser
import Serving

/// Where an HTTP server of Forge's listens and the key it asks for: `forge serve` and
/// `forge sandbox serve`, each with its own port and words for the key.
struct ListenOptions<Defaults: ListenOptionDefaults>: ParsableArguments {
    @Option(help: "Port to listen on (0: any free port).")
    var port: Int = Defaults.port

    @Option(help: "Address to listen on. Anything but loopback needs --api-key.")
    var host: String = "127.0.0.1"

    @Option(help: ArgumentHelp(Defaults.apiKeyHelp, valueName: "key"))
    var apiKey: String?

    func validate() throws {
        if !(0...65535).contains(port) { throw ValidationError("--port must be in 0...65535") }
        if let apiKey, apiKey.isEmpty { throw ValidationError("--api-key must not be empty") }
        // A key-less server reachable from other machines would hand out test runs to anyone.
        if apiKey == nil && !APIKey.isLoopback(host) { throw CommandFailure(APIKey.refusal(host: host)) }
    }
}

protocol ListenOptionDefaults {
    static var port: Int { get }
    static var apiKeyHelp: String { get }
}
