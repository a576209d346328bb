import ArgumentParser
import Foundation
import Workers
import Sandbox
import Training
import Validation

/// Ctrl-C for every long command (mine, validate, eval, synth, train, demo) — the one way they
/// stop early. The first SIGINT says so on stderr and raises `stop` (and the training stages'
/// request), so the command finishes the work in flight (a task, a prediction, a candidate, a
/// batch of mined tasks, a training step), keeps it, prints what it finished and exits 130 (as a
/// shell reports a command killed by SIGINT), so scripts can tell a cut-short run from a finished
/// one; the same command again resumes. A second SIGINT exits 130 at once: every write is a
/// transaction (or a renamed file), so nothing half-written is left.
final class InterruptWatch {
    let stop = StopFlag()
    private let signals: [Int32]
    private let sources: [DispatchSourceSignal]

    /// `inFlight` names what is finished before stopping, e.g. "tasks". `signals` are the ones
    /// that stop the command (training also stops on SIGTERM, as a scheduler's cancel sends).
    init(finishing inFlight: String, signals: [Int32] = [SIGINT]) {
        let stop = self.stop
        self.signals = signals
        sources = signals.map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                if stop.isStopped {
                    FileHandle.standardError.write(Data("\ninterrupted again: stopping now\n".utf8))
                    _exit(130)
                }
                FileHandle.standardError.write(Data("\ninterrupted: finishing the \(inFlight) in flight, then stopping (Ctrl-C again stops at once)\n".utf8))
                stop.stop()
                Interruption.request()
            }
            source.resume()
            return source
        }
    }

    var interrupted: Bool { stop.isStopped }

    /// After the command has printed what it finished: exit status 130 when interrupted.
    func exitIfInterrupted() throws {
        if stop.isStopped { throw ExitCode(130) }
    }

    func cancel() {
        for source in sources { source.cancel() }
        for number in signals { signal(number, SIG_DFL) }
    }
}

/// Runs training stages, which stop on the watch's request after checkpointing and throw
/// `TrainingInterrupted`: that says where the checkpoint is, and the command exits 130.
func exitingOnTrainingInterruption(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let interrupted as TrainingInterrupted {
        printToStandardError("\(interrupted)")
        throw ExitCode(130)
    }
}
