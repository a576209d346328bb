import Environments
import Evaluation
import Foundation
import Sample
import SampleFixtures
import Serving
import Store

// The validated sample, the loopback server and client and the process helpers are
// SampleFixtures'; what is the reward server's alone is here.

extension ValidatedSample {
    func configuration(workers: Int, queue: Int, timeout: Double = 120, maxBody: Int = 256 << 10) -> ServerConfiguration {
        ServerConfiguration(host: "127.0.0.1", port: 0, clones: [SampleRepository.repoName: clone],
                            evaluationsDirectory: root.appendingPathComponent("evals").path,
                            snapshotsDirectory: root.appendingPathComponent("snapshots").path,
                            scoring: ScoringOptions(workers: workers, queueCapacity: queue, requestTimeout: timeout),
                            maxBodyBytes: maxBody)
    }
}

/// A `RewardServer` over the sample (its store and environments unless given), on an ephemeral loopback port.
enum RunningServer {
    static func start(_ configuration: ServerConfiguration, sample: ValidatedSample, store: TaskStore? = nil,
                      environments: EnvironmentBuilder? = nil) async throws -> LoopbackServer {
        try await LoopbackServer.start(try RewardServer(configuration: configuration, store: store ?? sample.store,
                                                        environments: environments ?? sample.builder))
    }
}
