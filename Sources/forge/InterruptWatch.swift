import Foundation
import Validation

/// Ctrl-C for batch commands: the first SIGINT says so on stderr and raises `stop`, so the batch
/// finishes the work in flight and stops; `cancel()` puts SIGINT back to its default.
final class InterruptWatch {
    let stop = StopFlag()
    private let source: DispatchSourceSignal

    /// `inFlight` names what is finished before stopping, e.g. "tasks".
    init(finishing inFlight: String) {
        signal(SIGINT, SIG_IGN)
        source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        let stop = self.stop
        source.setEventHandler {
            FileHandle.standardError.write(Data("\ninterrupted: finishing the \(inFlight) in flight, then stopping\n".utf8))
            stop.stop()
        }
        source.resume()
    }

    func cancel() {
        source.cancel()
        signal(SIGINT, SIG_DFL)
    }
}
