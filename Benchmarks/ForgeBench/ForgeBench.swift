import ArgumentParser
import Foundation
import Dispatch

@main
struct ForgeBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forge-bench",
        abstract: "Forge's benchmarks: each prints a table with Forge against a baseline run side by side.",
        discussion: "Build with -c release: swift run -c release forge-bench <benchmark>.",
        subcommands: [MiningBenchmark.self, MiningGitBaseline.self, ValidationBenchmark.self, EvalBenchmark.self, ModelBenchmark.self, SandboxBenchmark.self,
                      SynthBenchmark.self, ConfinementBenchmark.self, JobsBenchmark.self, DSATrainBenchmark.self])
}

/// Prints rows as an aligned text table.
func printTable(_ header: [String], _ rows: [[String]]) {
    let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }
            .joined(separator: "  ")
    }
    print(line(header))
    print(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  "))
    rows.forEach { print(line($0)) }
}

/// Seconds on a monotonic clock.
func monotonic() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

func median(_ values: [Double]) -> Double { percentile(values, 0.5) }

/// The value at fraction `p` of the sorted values (nearest rank); 0 for none.
func percentile(_ values: [Double], _ p: Double) -> Double {
    let sorted = values.sorted()
    return sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * p).rounded()))]
}

/// The `forge` binary of the same build, beside `forge-bench`.
func forgeBesideBench() throws -> String {
    let bench = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    let forge = bench.deletingLastPathComponent().appendingPathComponent("forge").path
    guard FileManager.default.isExecutableFile(atPath: forge) else {
        throw BenchError("no forge binary beside forge-bench (\(forge)): swift build -c release --product forge first")
    }
    return forge
}
