import Evaluation
import Foundation
import Synchronization

extension ScoringMetrics {
    /// Prometheus text lines for these counters.
    func render(into text: inout PrometheusText) {
        let counts = snapshot
        text.family("forge_serve_scored_total", type: "counter", help: "Scores answered, by verdict and by source (run now, or stored earlier).")
        for status in EvaluationStatus.allCases {
            for source in ["run", "stored"] {
                text.sample("forge_serve_scored_total", ["status": status.rawValue, "source": source],
                            Double(counts.scored["\(status.rawValue)|\(source)"] ?? 0))
            }
        }
        text.family("forge_serve_evaluation_seconds", type: "summary", help: "Wall time of evaluations run (environment, patching, tests).")
        text.sample("forge_serve_evaluation_seconds_sum", [:], counts.runSecondsSum)
        text.sample("forge_serve_evaluation_seconds_count", [:], Double(counts.runCount))
        text.family("forge_serve_queue_wait_seconds", type: "summary", help: "Time predictions waited for a worker.")
        text.sample("forge_serve_queue_wait_seconds_sum", [:], counts.waitSecondsSum)
        text.sample("forge_serve_queue_wait_seconds_count", [:], Double(counts.waitCount))
        text.family("forge_serve_rejected_total", type: "counter", help: "Score requests refused because the queue was full (429).")
        text.sample("forge_serve_rejected_total", [:], Double(counts.rejected))
        text.family("forge_serve_deadline_exceeded_total", type: "counter", help: "Score requests answered 504: no result within the request timeout.")
        text.sample("forge_serve_deadline_exceeded_total", [:], Double(counts.expired))
    }
}

/// Per-route HTTP counters: requests by status code, and latency sums.
public final class HTTPMetrics: Sendable {
    private struct Counts {
        var requests: [String: Int] = [:] // "route|code"
        var seconds: [String: (sum: Double, count: Int)] = [:]
    }
    private let counts = Mutex(Counts())

    func record(route: String, code: Int, seconds elapsed: Double) {
        counts.withLock {
            $0.requests["\(route)|\(code)", default: 0] += 1
            let old = $0.seconds[route] ?? (0, 0)
            $0.seconds[route] = (old.sum + elapsed, old.count + 1)
        }
    }

    /// Requests answered so far on `route` with `code`.
    public func count(route: String, code: Int) -> Int { counts.withLock { $0.requests["\(route)|\(code)"] ?? 0 } }

    func render(into text: inout PrometheusText) {
        let (requests, seconds) = counts.withLock { ($0.requests, $0.seconds) }
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
