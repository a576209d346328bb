import Foundation

/// One coloured piece of a horizontal bar; a bar with several segments is stacked left to right.
public struct BarSegment: Hashable, Sendable {
    public var value: Double
    /// Any CSS colour.
    public var color: String
    /// Shown as the segment's tooltip, e.g. `valid`.
    public var name: String

    public init(value: Double, color: String, name: String) {
        self.value = value; self.color = color; self.name = name
    }
}

/// One row of a horizontal bar chart: a label on the left, the bar, a note at the bar's end.
public struct BarRow: Hashable, Sendable {
    public var label: String
    public var segments: [BarSegment]
    /// Text after the bar (defaults to the total).
    public var note: String?

    public init(label: String, segments: [BarSegment], note: String? = nil) {
        self.label = label; self.segments = segments; self.note = note
    }

    public init(label: String, value: Double, color: String, note: String? = nil) {
        self.init(label: label, segments: [BarSegment(value: value, color: color, name: label)], note: note)
    }

    public var total: Double { segments.reduce(0) { $0 + $1.value } }
}

/// Counts per bin, for one or more stacked series; `edges` has one more element than each series.
public struct Histogram: Hashable, Sendable {
    public struct Series: Hashable, Sendable {
        public var name: String
        public var color: String
        public var counts: [Int]
    }

    public var edges: [Double]
    public var series: [Series]

    /// Round durations (seconds), ×2–×2.5 apart: a log scale a person reads without thinking.
    public static let durationEdges: [Double] = [
        0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600,
        7200, 14400, 28800, 86400,
    ]

    /// Finer round durations, ×1.4–×1.7 apart, for values that span little.
    public static let fineDurationEdges: [Double] = [
        0, 0.01, 0.015, 0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2, 0.3, 0.5, 0.7, 1, 1.5, 2, 3, 5, 7, 10, 15,
        20, 30, 45, 60, 90, 120, 180, 300, 450, 600, 900, 1200, 1800, 2700, 3600, 5400, 7200, 10800, 14400,
        21600, 28800, 43200, 86400,
    ]

    /// Bins `values` (grouped into named, coloured series) on round duration edges, keeping only
    /// the span of edges the values need, widened to at least `minimumBins` bins. The fine ladder
    /// is used when the values need at most `maximumBins` of its bins, the coarse one otherwise.
    public static func durations(minimumBins: Int = 6, maximumBins: Int = 16,
                                 _ groups: [(name: String, color: String, values: [Double])]) -> Histogram {
        let all = groups.flatMap(\.values)
        func span(_ ladder: [Double]) -> (low: Int, high: Int) {
            guard let smallest = all.min(), let largest = all.max() else { return (0, 1) }
            let low = max(0, (ladder.lastIndex { $0 <= smallest }) ?? 0)
            let high = (ladder.firstIndex { $0 > largest }) ?? ladder.count - 1
            return (low, max(high, low + 1))
        }
        let fine = span(fineDurationEdges)
        let ladder = fine.high - fine.low <= maximumBins ? fineDurationEdges : durationEdges
        var (low, high) = ladder == fineDurationEdges ? fine : span(durationEdges)
        // Widen alternately upward and downward so a narrow spread sits mid-chart.
        var upward = true
        while high - low < minimumBins, low > 0 || high < ladder.count - 1 {
            if upward, high < ladder.count - 1 { high += 1 } else if low > 0 { low -= 1 } else { high += 1 }
            upward.toggle()
        }
        let edges = Array(ladder[low...high])
        let series = groups.map { group in
            var counts = Array(repeating: 0, count: edges.count - 1)
            for value in group.values {
                // Values past the last rung (over a day) land in the last bin.
                let bin = (edges.lastIndex { $0 <= value } ?? 0)
                counts[min(bin, counts.count - 1)] += 1
            }
            return Series(name: group.name, color: group.color, counts: counts)
        }
        return Histogram(edges: edges, series: series)
    }

    /// Total count per bin, over all series.
    public var totals: [Int] {
        (0..<(edges.count - 1)).map { bin in series.reduce(0) { $0 + $1.counts[bin] } }
    }
}

/// Small SVG charts drawn by Forge: a horizontal (stacked) bar chart and a histogram, with axes,
/// ticks and labels. All text is escaped; every chart is a standalone, well-formed `<svg>` element
/// that scales to its container's width. Rects carry `data-label`/`data-value` for tests and tools.
public enum SVGPlot {
    static let font = "font-family=\"inherit\" font-size=\"12\""
    static let charWidth = 6.8          // average advance of a 12px sans-serif glyph (DejaVu Sans is wide)
    static let inkColor = "#4b5563", gridColor = "#e5e7eb", axisColor = "#9ca3af"

    /// Round tick values from 0 to at least `maximum`, about `count` of them (1-2-5 steps; whole
    /// numbers when `integers`).
    public static func ticks(upTo maximum: Double, count: Int = 5, integers: Bool = false) -> [Double] {
        guard maximum > 0, maximum.isFinite else { return [0, 1] }
        let raw = maximum / Double(max(1, count))
        let magnitude = pow(10, floor(log10(raw)))
        let residual = raw / magnitude
        var step = (residual <= 1 ? 1 : residual <= 2 ? 2 : residual <= 5 ? 5 : 10) * magnitude
        if integers { step = max(1, step.rounded()) }
        let last = (maximum / step).rounded(.up)
        // Rounded so 3 × 0.2 is written (and compared) as 0.6.
        return (0...Int(last)).map { (Double($0) * step * 1e9).rounded() / 1e9 }
    }

    /// A horizontal bar chart; bars share one value axis that starts at 0.
    /// - Parameters:
    ///   - axisLabel: caption under the value axis.
    ///   - maximum: the axis end (defaults to the largest total, rounded up to a tick).
    ///   - tickFormat: how tick values are written.
    ///   - normalized: draw every bar full length, its segments as shares of the row's total (a
    ///     0–100% axis); `data-value` keeps the raw values.
    public static func horizontalBars(_ rows: [BarRow], width: Double = 560, axisLabel: String? = nil,
                                      maximum: Double? = nil, integers: Bool = true,
                                      tickFormat: @escaping (Double) -> String = Format.trimmed,
                                      normalized: Bool = false) -> String {
        let rowHeight = 26.0, barHeight = 16.0, top = 6.0
        guard !rows.isEmpty else { return empty(width: width) }
        // Labels get up to 38% of the width; longer ones are cut with an ellipsis (the tooltip has them whole).
        let maxChars = max(4, min(rows.map(\.label.count).max() ?? 0, Int(width * 0.38 / charWidth)))
        let labelWidth = Double(maxChars) * charWidth
        let notes = rows.map { $0.note ?? Format.trimmed($0.total) }
        let noteWidth = (notes.map { Double($0.count) }.max() ?? 0) * charWidth + 10
        let x0 = labelWidth + 12, x1 = width - noteWidth - 4
        let ticks = normalized ? [0, 0.25, 0.5, 0.75, 1]
            : Self.ticks(upTo: max(maximum ?? 0, rows.map(\.total).max() ?? 0), integers: integers)
        let tickFormat = normalized ? { "\(Int(($0 * 100).rounded()))%" } : tickFormat
        let scale = (x1 - x0) / (ticks.last ?? 1)
        let plotBottom = top + Double(rows.count) * rowHeight
        let height = plotBottom + 22 + (axisLabel == nil ? 0 : 18)

        var svg = open(width: width, height: height)
        for tick in ticks {   // vertical grid lines and tick labels
            let x = x0 + tick * scale
            svg += line(x, top - 2, x, plotBottom, color: tick == 0 ? axisColor : gridColor)
            svg += text(tickFormat(tick), x: x, y: plotBottom + 15, anchor: "middle", color: inkColor, size: 11)
        }
        for (index, row) in rows.enumerated() {
            let y = top + Double(index) * rowHeight + (rowHeight - barHeight) / 2
            let shown = row.label.count > maxChars ? String(row.label.prefix(maxChars - 1)) + "…" : row.label
            svg += "<g><title>\(Markup.escape(row.label)): \(Markup.escape(notes[index]))</title>"
            svg += text(shown, x: x0 - 8, y: y + barHeight - 4, anchor: "end", color: "#111827")
            var x = x0
            let share = normalized && row.total > 0 ? 1 / row.total : 1
            for segment in row.segments where segment.value > 0 {
                let w = segment.value * share * scale
                svg += "<rect x=\"\(n(x))\" y=\"\(n(y))\" width=\"\(n(max(w, 1)))\" height=\"\(n(barHeight))\" rx=\"2\""
                    + " fill=\"\(Markup.escape(segment.color))\" data-label=\"\(Markup.escape(row.label))\""
                    + " data-series=\"\(Markup.escape(segment.name))\" data-value=\"\(Format.trimmed(segment.value))\">"
                    + "<title>\(Markup.escape(segment.name)): \(Format.trimmed(segment.value))</title></rect>"
                x += w
            }
            svg += text(notes[index], x: x + 6, y: y + barHeight - 4, anchor: "start", color: inkColor)
            svg += "</g>"
        }
        if let axisLabel {
            svg += text(axisLabel, x: (x0 + x1) / 2, y: height - 4, anchor: "middle", color: inkColor, size: 11)
        }
        return svg + "</svg>"
    }

    /// A histogram with equal-width bins (the edges may be log-ish), stacked by series, count labels
    /// over the bars, edge labels under them and a count axis on the left.
    public static func histogram(_ histogram: Histogram, width: Double = 560, height: Double = 230,
                                 xLabel: String, yLabel: String = "count",
                                 edgeFormat: (Double) -> String = Format.durationTick) -> String {
        let bins = histogram.edges.count - 1
        let totals = histogram.totals
        guard bins > 0, totals.reduce(0, +) > 0 else { return empty(width: width) }
        let left = 44.0, right = 12.0, top = 16.0, bottom = height - 40
        let ticks = Self.ticks(upTo: Double(totals.max() ?? 1), count: 4, integers: true)
        let scale = (bottom - top) / (ticks.last ?? 1)
        let binWidth = (width - left - right) / Double(bins)

        var svg = open(width: width, height: height)
        for tick in ticks {   // horizontal grid lines and count labels
            let y = bottom - tick * scale
            svg += line(left, y, width - right, y, color: tick == 0 ? axisColor : gridColor)
            svg += text(Format.trimmed(tick), x: left - 6, y: y + 4, anchor: "end", color: inkColor, size: 11)
        }
        for bin in 0..<bins {
            let x = left + Double(bin) * binWidth + 1.5
            var y = bottom
            let range = "\(edgeFormat(histogram.edges[bin]))–\(edgeFormat(histogram.edges[bin + 1]))"
            for series in histogram.series where series.counts[bin] > 0 {
                let h = Double(series.counts[bin]) * scale
                y -= h
                svg += "<rect x=\"\(n(x))\" y=\"\(n(y))\" width=\"\(n(binWidth - 3))\" height=\"\(n(h))\""
                    + " fill=\"\(Markup.escape(series.color))\" data-label=\"\(Markup.escape(range))\""
                    + " data-series=\"\(Markup.escape(series.name))\" data-value=\"\(series.counts[bin])\">"
                    + "<title>\(Markup.escape(series.name)) \(Markup.escape(range)): \(series.counts[bin])</title></rect>"
            }
            if totals[bin] > 0 {
                svg += text(String(totals[bin]), x: x + (binWidth - 3) / 2, y: y - 4, anchor: "middle", color: "#111827", size: 11)
            }
        }
        // Edge labels; thin them out when they would collide.
        let labelEvery = max(1, Int((40.0 / binWidth).rounded(.up)))
        for (index, edge) in histogram.edges.enumerated() where index % labelEvery == 0 {
            let x = left + Double(index) * binWidth
            svg += line(x, bottom, x, bottom + 4, color: axisColor)
            svg += text(edgeFormat(edge), x: x, y: bottom + 16, anchor: "middle", color: inkColor, size: 11)
        }
        svg += text(xLabel, x: left + (width - left - right) / 2, y: height - 4, anchor: "middle", color: inkColor, size: 11)
        let middle = (top + bottom) / 2
        svg += "<text x=\"12\" y=\"\(n(middle))\" transform=\"rotate(-90 12 \(n(middle)))\" text-anchor=\"middle\""
            + " fill=\"\(inkColor)\" font-size=\"11\">\(Markup.escape(yLabel))</text>"
        return svg + "</svg>"
    }

    // MARK: - Pieces

    static func open(width: Double, height: Double) -> String {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" viewBox=\"0 0 \(n(width)) \(n(height))\""
            + " width=\"100%\" style=\"max-width:\(n(width))px\" role=\"img\" \(font)>"
    }

    static func empty(width: Double) -> String {
        open(width: width, height: 40) + text("no data", x: width / 2, y: 24, anchor: "middle", color: axisColor) + "</svg>"
    }

    static func text(_ content: String, x: Double, y: Double, anchor: String, color: String, size: Int = 12) -> String {
        "<text x=\"\(n(x))\" y=\"\(n(y))\" text-anchor=\"\(anchor)\" fill=\"\(color)\""
            + (size == 12 ? "" : " font-size=\"\(size)\"") + ">\(Markup.escape(content))</text>"
    }

    static func line(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, color: String) -> String {
        "<line x1=\"\(n(x1))\" y1=\"\(n(y1))\" x2=\"\(n(x2))\" y2=\"\(n(y2))\" stroke=\"\(color)\" stroke-width=\"1\"/>"
    }

    /// Coordinates to 0.1 px: short and exact enough.
    static func n(_ value: Double) -> String {
        Format.trimmed((value * 10).rounded() / 10)
    }
}
