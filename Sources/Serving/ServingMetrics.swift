import Evaluation
import Foundation

/// Counters of the scoring service, since the process started.
public final class ScoringMetrics: @unchecked Sendable {
    private let lock = NSLock()
    private var scoredCount: [String: Int] = [:] // "status|source" → count
    private var runSecondsSum = 0.0
    private var runCount = 0
    private var waitSecondsSum = 0.0
    private var waitCount = 0
    private var rejectedCount = 0
    private var expiredCount = 0

    func scored(status: EvaluationStatus, stored: Bool, seconds: Double? = nil) {
        lock.withLock {
            scoredCount["\(status.rawValue)|\(stored ? "stored" : "run")", default: 0] += 1
            if let seconds { runSecondsSum += seconds; runCount += 1 }
        }
    }

    func waited(_ seconds: Double) { lock.withLock { waitSecondsSum += seconds; waitCount += 1 } }
    func rejected() { lock.withLock { rejectedCount += 1 } }
    func expired() { lock.withLock { expiredCount += 1 } }

    /// Mean seconds of one evaluation run so far; nil before the first.
    var meanRunSeconds: Double? { lock.withLock { runCount == 0 ? nil : runSecondsSum / Double(runCount) } }

    /// Scores answered with this status (runs and stored results together).
    public func scoredTotal(status: EvaluationStatus) -> Int {
        lock.withLock { scoredCount.filter { $0.key.hasPrefix(status.rawValue + "|") }.values.reduce(0, +) }
    }

    /// Prometheus text lines for these counters.
    func render(into text: inout PrometheusText) {
        lock.withLock {
            text.family("forge_serve_scored_total", type: "counter", help: "Scores answered, by verdict and by source (run now, or stored earlier).")
            for status in EvaluationStatus.allCases {
                for source in ["run", "stored"] {
                    text.sample("forge_serve_scored_total", ["status": status.rawValue, "source": source],
                                Double(scoredCount["\(status.rawValue)|\(source)"] ?? 0))
                }
            }
            text.family("forge_serve_evaluation_seconds", type: "summary", help: "Wall time of evaluations run (environment, patching, tests).")
            text.sample("forge_serve_evaluation_seconds_sum", [:], runSecondsSum)
            text.sample("forge_serve_evaluation_seconds_count", [:], Double(runCount))
            text.family("forge_serve_queue_wait_seconds", type: "summary", help: "Time predictions waited for a worker.")
            text.sample("forge_serve_queue_wait_seconds_sum", [:], waitSecondsSum)
            text.sample("forge_serve_queue_wait_seconds_count", [:], Double(waitCount))
            text.family("forge_serve_rejected_total", type: "counter", help: "Score requests refused because the queue was full (429).")
            text.sample("forge_serve_rejected_total", [:], Double(rejectedCount))
            text.family("forge_serve_deadline_exceeded_total", type: "counter", help: "Score requests answered 504: no result within the request timeout.")
            text.sample("forge_serve_deadline_exceeded_total", [:], Double(expiredCount))
        }
    }
}

/// Per-route HTTP counters: requests by status code, and latency sums.
public final class HTTPMetrics: @unchecked Sendable {
    private let lock = NSLock()
    private var requests: [String: Int] = [:] // "route|code"
    private var seconds: [String: (sum: Double, count: Int)] = [:]

    func record(route: String, code: Int, seconds elapsed: Double) {
        lock.withLock {
            requests["\(route)|\(code)", default: 0] += 1
            let old = seconds[route] ?? (0, 0)
            seconds[route] = (old.sum + elapsed, old.count + 1)
        }
    }

    /// Requests answered so far on `route` with `code`.
    public func count(route: String, code: Int) -> Int { lock.withLock { requests["\(route)|\(code)"] ?? 0 } }

    func render(into text: inout PrometheusText) {
        lock.withLock {
            text.family("forge_serve_http_requests_total", type: "counter", help: "HTTP requests answered, by route and status code.")
            for key in requests.keys.sorted() {
                let parts = key.split(separator: "|", maxSplits: 1).map(String.init)
                text.sample("forge_serve_http_requests_total", ["route": parts[0], "code": parts[1]], Double(requests[key]!))
            }
            text.family("forge_serve_http_request_seconds", type: "summary", help: "Time to answer HTTP requests, by route.")
            for route in seconds.keys.sorted() {
                text.sample("forge_serve_http_request_seconds_sum", ["route": route], seconds[route]!.sum)
                text.sample("forge_serve_http_request_seconds_count", ["route": route], Double(seconds[route]!.count))
            }
        }
    }
}

/// The Prometheus text exposition format (version 0.0.4).
struct PrometheusText {
    private(set) var text = ""

    mutating func family(_ name: String, type: String, help: String) {
        text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
    }

    mutating func sample(_ name: String, _ labels: [String: String], _ value: Double) {
        let rendered = labels.keys.sorted().map { "\($0)=\"\(Self.escape(labels[$0]!))\"" }.joined(separator: ",")
        let number = value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
        text += labels.isEmpty ? "\(name) \(number)\n" : "\(name){\(rendered)} \(number)\n"
    }

    static func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }
}
