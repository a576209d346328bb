import Foundation
import Pipeline
import Synchronization

/// A progress bar on standard error with count, rate and ETA.
///
/// On a terminal it redraws one line; elsewhere (CI logs, pipes) it prints a plain line at most
/// every `logInterval` seconds, so long runs stay visible without flooding logs.
final class ProgressBar: Sendable {
    private let label: String
    private let start = Date()
    private let isTerminal = isatty(STDERR_FILENO) != 0
    private let logInterval: TimeInterval = 10
    private struct Drawn {
        var lastDraw = Date.distantPast
        var finished = false
    }
    /// Held while a line is drawn: workers report from several threads.
    private let drawn = Mutex(Drawn())

    init(_ label: String) { self.label = label }

    func update(done: Int, total: Int?) {
        drawn.withLock { drawn in
            let now = Date()
            let interval = isTerminal ? 0.1 : logInterval
            let complete = total.map { done >= $0 } ?? false
            guard now.timeIntervalSince(drawn.lastDraw) >= interval || complete else { return }
            drawn.lastDraw = now
            let line = Self.render(label: label, done: done, total: total, elapsed: now.timeIntervalSince(start))
            FileHandle.standardError.write(Data((isTerminal ? "\r\u{1B}[2K" + line : line + "\n").utf8))
        }
    }

    /// Erases the bar's line on a terminal, so a message printed next starts clean (the bar
    /// redraws on its next update).
    func clearLine() {
        drawn.withLock { drawn in
            if isTerminal && !drawn.finished { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) }
        }
    }

    func finish() {
        drawn.withLock { drawn in
            guard !drawn.finished else { return }
            drawn.finished = true
            if isTerminal { FileHandle.standardError.write(Data("\n".utf8)) }
        }
    }

    static func render(label: String, done: Int, total: Int?, elapsed: TimeInterval) -> String {
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let rateText = String(format: "%.1f/s", rate)
        guard let total, total > 0 else {
            return "\(label) \(done) \(rateText) \(clock(elapsed))"
        }
        let fraction = min(1, Double(done) / Double(total))
        let width = 24
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        let eta = rate > 0 ? clock(Double(total - done) / rate) : "--:--"
        return "\(label) [\(bar)] \(done)/\(total) \(rateText) ETA \(eta)"
    }

    private static func clock(_ seconds: TimeInterval) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
                         : String(format: "%02d:%02d", s / 60, s % 60)
    }
}

extension ProgressBar {
    /// Runs `body` with a bar labelled `label` fed by the progress it is given; the bar is
    /// finished however `body` ends.
    static func showing<T>(_ label: String, _ body: (_ progress: @escaping PipelineProgress) throws -> T) rethrows -> T {
        let bar = ProgressBar(label)
        defer { bar.finish() }
        return try body { bar.update(done: $0, total: $1) }
    }
}

/// A notice (a warning, a note about resuming) on standard error, apart from the results.
func printToStandardError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}
