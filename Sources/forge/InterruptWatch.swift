import ArgumentParser
import Foundation
import Sandbox
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
            InterruptWatch.interrupted.stop()
        }
        source.resume()
    }

    /// Raised by any watch's first Ctrl-C in this process.
    private static let interrupted = StopFlag()

    /// After a batch command has printed what it finished: exit status 130 (as a shell reports a
    /// command killed by SIGINT) when Ctrl-C stopped it, so scripts can tell a cut-short batch
    /// from a finished one; the same command again resumes.
    static func exitIfInterrupted() throws {
        if interrupted.isStopped { throw ExitCode(130) }
    }

    func cancel() {
        source.cancel()
        signal(SIGINT, SIG_DFL)
    }
}
