import Foundation

/// One curve of a line chart: (x, y) points in x order.
public struct LineSeries: Hashable, Sendable {
    public var name: String
    public var color: String
    public var points: [Point]

    public struct Point: Hashable, Sendable {
        public var x: Double, y: Double
        public init(x: Double, y: Double) { self.x = x; self.y = y }
    }

    public init(name: String, color: String, points: [(Double, Double)]) {
        self.name = name; self.color = color
        self.points = points.filter { $0.0.isFinite && $0.1.isFinite }.map { Point(x: $0.0, y: $0.1) }
    }
}

extension SVGPlot {
    /// Training curves: one polyline per series over shared axes (the y axis spans the data,
    /// not from 0, since losses live far from it), a legend at the top and axis captions.
    public static func lines(_ series: [LineSeries], width: Double = 560, height: Double = 260,
                             xLabel: String, yLabel: String) -> String {
        let all = series.flatMap(\.points)
        guard let minX = all.map(\.x).min(), let maxX = all.map(\.x).max(),
              let minY = all.map(\.y).min(), let maxY = all.map(\.y).max() else { return empty(width: width) }
        let left = 56.0, right = 14.0, top = 28.0, bottom = height - 40
        let spanX = maxX > minX ? maxX - minX : 1
        let padding = maxY > minY ? (maxY - minY) * 0.05 : max(abs(maxY) * 0.05, 0.5)
        let low = minY - padding, high = maxY + padding
        func px(_ x: Double) -> Double { left + (x - minX) / spanX * (width - left - right) }
        func py(_ y: Double) -> Double { bottom - (y - low) / (high - low) * (bottom - top) }

        var svg = open(width: width, height: height)
        for step in 0...4 {   // horizontal grid with y labels
            let value = low + (high - low) * Double(step) / 4
            svg += line(left, py(value), width - right, py(value), color: step == 0 ? axisColor : gridColor)
            svg += text(String(format: "%.3g", value), x: left - 6, y: py(value) + 4, anchor: "end", color: inkColor, size: 11)
        }
        for step in 0...4 {
            let value = minX + spanX * Double(step) / 4
            svg += text(Format.trimmed((value * 10).rounded() / 10), x: px(value), y: bottom + 15, anchor: "middle", color: inkColor, size: 11)
        }
        var legendX = left
        for curve in series where !curve.points.isEmpty {
            let path = curve.points.map { "\(n(px($0.x))),\(n(py($0.y)))" }.joined(separator: " ")
            svg += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(Markup.escape(curve.color))\" stroke-width=\"1.5\""
                + " data-series=\"\(Markup.escape(curve.name))\"><title>\(Markup.escape(curve.name))</title></polyline>"
            svg += "<rect x=\"\(n(legendX))\" y=\"8\" width=\"10\" height=\"10\" fill=\"\(Markup.escape(curve.color))\"/>"
            svg += text(curve.name, x: legendX + 14, y: 17, anchor: "start", color: inkColor, size: 11)
            legendX += 24 + Double(curve.name.count) * charWidth
        }
        svg += text(xLabel, x: left + (width - left - right) / 2, y: height - 6, anchor: "middle", color: inkColor, size: 11)
        let middle = (top + bottom) / 2
        svg += "<text x=\"12\" y=\"\(n(middle))\" transform=\"rotate(-90 12 \(n(middle)))\" text-anchor=\"middle\""
            + " fill=\"\(inkColor)\" font-size=\"11\">\(Markup.escape(yLabel))</text>"
        return svg + "</svg>"
    }
}
