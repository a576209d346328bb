// Repair drills: SFT examples made from the training repositories' own code, no test run needed.
// A drill mutates one line of a source file at a training task's base commit the way `forge
// synth` mutates code (an inverted condition, a flipped comparison or boolean, an off-by-one
// index, swapped arguments, a statement or return removed), shows the mutated file through the
// same retrieval prompt real tasks get, and targets the SEARCH/REPLACE block that restores it. Real validated tasks are a
// few hundred per repository; drills are as many as the code has lines, so a small policy sees
// the repair patterns (find the odd line, write it back as it was) thousands of times.
//
// No peeking: a drill never mutates a line that a held-out task's gold patch adds or removes, and
// drills come only from the base commits of mined training tasks (a synthetic task's base commit
// is its mutant).
import Foundation
import Basics
import Evaluation
import Git
import Model
import Store

/// One-line mutations of Python code, each undone by a one-line fix: a line changed, or (as
/// `forge synth`'s drop_statement and remove_return do) a one-line statement removed.
public enum LineMutation: String, CaseIterable, Sendable {
    case invertCondition = "invert_condition"
    case flipComparison = "flip_comparison"
    case flipBoolean = "flip_boolean"
    case offByOne = "off_by_one"
    case swapArguments = "swap_arguments"
    case dropStatement = "drop_statement"
    case removeReturn = "remove_return"

    // Compiled once: drills try thousands of lines.
    static let condition = try! NSRegularExpression(pattern: #"^(\s*)(if|elif|while) (.+):\s*$"#)
    static let digitIndex = try! NSRegularExpression(pattern: #"\[(\d)\]"#)
    /// A call's two simple arguments: names, attributes, numbers or short string literals.
    static let twoArguments = try! NSRegularExpression(
        pattern: #"\(([A-Za-z_][A-Za-z0-9_.]*|\d+|"[^"\\]{0,40}"|'[^'\\]{0,40}'), ([A-Za-z_][A-Za-z0-9_.]*|\d+|"[^"\\]{0,40}"|'[^'\\]{0,40}')\)"#)
    static let boolean = try! NSRegularExpression(pattern: #"\b(False|True)\b"#)
    static let definition = try! NSRegularExpression(pattern: #"^\s*(?:async\s+)?def\s+([A-Za-z_][A-Za-z0-9_]*)"#)

    /// The lines that replace line `index` of `lines` under this mutation (none: it is removed);
    /// nil where it does not apply.
    public func apply(at index: Int, of lines: [String]) -> [String]? {
        let line = lines[index]
        switch self {
        case .dropStatement, .removeReturn:
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            let isReturn = trimmed.hasPrefix("return ")
            guard isReturn == (self == .removeReturn), Self.isWholeStatement(at: index, of: lines),
                  !["pass", "continue", "break", "global ", "nonlocal ", "import ", "from ", "yield", "@", "return"].contains(where: { trimmed.hasPrefix($0) }) || isReturn
            else { return nil }
            // A statement alone in its block leaves `pass` (forge synth's form for a lone return); a lone other one stays.
            if Self.hasSibling(at: index, of: lines) { return [] }
            return isReturn ? [String(line.prefix { $0 == " " }) + "pass"] : nil
        default:
            return apply(to: line).map { [$0] }
        }
    }

    /// Whether line `index` is a whole one-line statement (not a continuation, not continued).
    static func isWholeStatement(at index: Int, of lines: [String]) -> Bool {
        let line = lines[index], trimmed = line.trimmingCharacters(in: .whitespaces)
        let mask = codeMask(line)
        guard !trimmed.isEmpty, !hasComment(line, mask: mask), balanced(line),
              let last = trimmed.last, !":,([{\\".contains(last), let first = trimmed.first, !")]}.".contains(first) else { return false }
        let previous = lines[..<index].last { !$0.trimmingCharacters(in: .whitespaces).isEmpty }?.trimmingCharacters(in: .whitespaces)
        if let previous, let end = previous.last, ",([{\\".contains(end) { return false }
        let next = lines[(index + 1)...].first { !$0.trimmingCharacters(in: .whitespaces).isEmpty }?.trimmingCharacters(in: .whitespaces)
        if let next, let start = next.first, ".)]}".contains(start) { return false }
        return true
    }

    /// Whether another statement shares line `index`'s block (same indentation, before or after,
    /// deeper lines skipped), so removing the line leaves the block valid.
    static func hasSibling(at index: Int, of lines: [String]) -> Bool {
        func indentation(_ line: String) -> Int { line.prefix { $0 == " " }.count }
        let own = indentation(lines[index])
        for range in [Array((0..<index).reversed()), Array((index + 1)..<lines.count)] {
            for other in range where !lines[other].trimmingCharacters(in: .whitespaces).isEmpty {
                let depth = indentation(lines[other])
                if depth < own { break }
                if depth == own { return !lines[other].trimmingCharacters(in: .whitespaces).hasPrefix("@") }
            }
        }
        return false
    }

    /// `line` as this one-line-change mutation changes it; nil where it does not apply (or changes
    /// nothing, or this mutation removes lines).
    public func apply(to line: String) -> String? {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        // Comments, and lines with one (a mutation inside it would be no mutation), stay.
        let mask = Self.codeMask(line)
        guard !trimmed.isEmpty, !Self.hasComment(line, mask: mask) else { return nil }
        let mutated: String?
        switch self {
        case .invertCondition:
            guard let match = Self.firstMatch(Self.condition, in: line), !match[3].hasPrefix("not ("),
                  Self.balanced(match[3]) else { return nil }
            mutated = "\(match[1])\(match[2]) not (\(match[3])):"
        case .flipComparison:
            // `for x in y` and comprehensions use `in` without comparing.
            guard !trimmed.hasPrefix("for "), !trimmed.contains(" for "), !trimmed.hasPrefix("import "), !trimmed.hasPrefix("from ") else { return nil }
            mutated = Self.replaceFirst(in: line, mask: mask, [(" is not ", " is "), (" not in ", " in "), (" == ", " != "), (" != ", " == "),
                                                               (" is ", " is not "), (" in ", " not in "), (" >= ", " < "), (" <= ", " > "),
                                                               (" < ", " >= "), (" > ", " <= ")])
        case .flipBoolean:
            guard let range = Self.codeRange(Self.boolean, in: line, mask: mask) else { return nil }
            mutated = line.replacingCharacters(in: range, with: line[range] == "True" ? "False" : "True")
        case .offByOne:
            guard let range = Self.codeRange(Self.digitIndex, in: line, mask: mask), let digit = Int(line[range].dropFirst().dropLast()) else { return nil }
            mutated = line.replacingCharacters(in: range, with: "[\(digit + 1)]")
        case .swapArguments:
            // The parentheses and the comma must be code; the arguments may be strings.
            let matches = Self.twoArguments.matches(in: line, range: NSRange(line.startIndex..., in: line))
            guard let match = matches.first(where: { match in
                [match.range.location, match.range(at: 1).location + match.range(at: 1).length, match.range.location + match.range.length - 1]
                    .allSatisfy { utf16 in Self.isCode(utf16Offset: utf16, in: line, mask: mask) }
            }), let range = Range(match.range, in: line), let first = Range(match.range(at: 1), in: line),
                  let second = Range(match.range(at: 2), in: line), line[first] != line[second] else { return nil }
            mutated = line.replacingCharacters(in: range, with: "(\(line[second]), \(line[first]))")
        case .dropStatement, .removeReturn:
            return nil
        }
        return mutated == line ? nil : mutated
    }

    /// Per character: true outside string literals (quotes toggle; a backslash escapes).
    static func codeMask(_ line: String) -> [Bool] {
        var mask: [Bool] = [], quote: Character?, escaped = false
        for character in line {
            if let open = quote {
                mask.append(false)
                if escaped { escaped = false } else if character == "\\" { escaped = true } else if character == open { quote = nil }
            } else if character == "\"" || character == "'" {
                mask.append(false); quote = character
            } else {
                mask.append(true)
            }
        }
        return mask
    }

    /// Whether `line` holds a comment (a `#` outside string literals).
    static func hasComment(_ line: String, mask: [Bool]) -> Bool { zip(line, mask).contains { $0 == "#" && $1 } }

    static func isCode(utf16Offset: Int, in line: String, mask: [Bool]) -> Bool {
        let index = String.Index(utf16Offset: utf16Offset, in: line)
        return mask[line.distance(from: line.startIndex, to: index)]
    }

    static func balanced(_ text: String) -> Bool {
        var depth = 0
        for (character, code) in zip(text, codeMask(text)) where code {
            if "([{".contains(character) { depth += 1 } else if ")]}".contains(character) { depth -= 1; if depth < 0 { return false } }
        }
        return depth == 0
    }

    static func firstMatch(_ expression: NSRegularExpression, in line: String) -> [String]? {
        guard let match = expression.firstMatch(in: line, range: NSRange(line.startIndex..., in: line)) else { return nil }
        return (0..<match.numberOfRanges).map { Range(match.range(at: $0), in: line).map { String(line[$0]) } ?? "" }
    }

    /// The first match of `expression` that lies wholly outside string literals.
    static func codeRange(_ expression: NSRegularExpression, in line: String, mask: [Bool]) -> Range<String.Index>? {
        for match in expression.matches(in: line, range: NSRange(line.startIndex..., in: line)) {
            guard let range = Range(match.range, in: line) else { continue }
            let start = line.distance(from: line.startIndex, to: range.lowerBound), end = line.distance(from: line.startIndex, to: range.upperBound)
            if mask[start..<end].allSatisfy({ $0 }) { return range }
        }
        return nil
    }

    /// The earliest code occurrence of any `pairs` needle (the first listed wins a tie) replaced.
    static func replaceFirst(in line: String, mask: [Bool], _ pairs: [(String, String)]) -> String? {
        var best: (range: Range<String.Index>, replacement: String)?
        for (needle, replacement) in pairs {
            var start = line.startIndex
            while let found = line.range(of: needle, range: start..<line.endIndex) {
                let lower = line.distance(from: line.startIndex, to: found.lowerBound), upper = line.distance(from: line.startIndex, to: found.upperBound)
                if mask[lower..<upper].allSatisfy({ $0 }) {
                    if best == nil || found.lowerBound < best!.range.lowerBound { best = (found, replacement) }
                    break
                }
                start = line.index(after: found.lowerBound)
            }
        }
        return best.map { line.replacingCharacters(in: $0.range, with: $0.replacement) }
    }
}

public struct RepairDrillSettings: Codable, Sendable, Equatable {
    /// Drills made for the run (only those whose prompt shows the mutated line are kept).
    public var count: Int
    /// Share of each SFT batch drawn from the drills; the rest are the tasks' own examples.
    public var share: Double
    /// Mined training tasks' base commits per repository the drills read, the latest first.
    public var commitsPerRepository = 4
    public init(count: Int, share: Double) { self.count = count; self.share = share }
}

/// One drill: its SFT example, the prompt it was built from, and the file before and after the
/// mutation, so that a generated response can be checked for restoring the file.
public struct RepairDrill: Sendable {
    public var example: SFTExample
    public var prompt: TaskPrompt
    public var path: String
    public var mutated: [UInt8]
    public var original: [UInt8]
    /// The mutation's name (`invert_condition`, …).
    public var kind: String

    /// Whether `response` (tokens, <|endoftext|> optional) edits the mutated file back to the original, and nothing else.
    public func restores(_ response: [Int], tokenizer: Tokenizer, endToken: Int) -> Bool {
        let body = response.last == endToken ? Array(response.dropLast()) : response
        guard let text = try? tokenizer.decodeText(body), let blocks = try? EditFormat.parse(text),
              let edits = try? EditFormat.apply(blocks, read: { $0 == path ? mutated : nil }) else { return false }
        return edits.count == 1 && edits[0].path == path && edits[0].new == original
    }
}

public enum RepairDrills {
    /// A mutable line of `text`: 0-based index, and the function it sits in (name, `def` line index).
    struct Site { var line: Int; var function: String; var definition: Int }

    /// Lines inside function bodies (docstrings and comments skipped), with their functions.
    static func sites(in text: String) -> [Site] {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        func indentation(_ line: String) -> Int { line.prefix { $0 == " " }.count }
        var result: [Site] = [], functions: [(name: String, line: Int, indent: Int)] = [], inDocstring = false
        for (index, line) in lines.enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            let quotes = line.components(separatedBy: "\"\"\"").count - 1 + line.components(separatedBy: "'''").count - 1
            if inDocstring || quotes > 0 {
                if quotes % 2 == 1 { inDocstring.toggle() }
                continue
            }
            guard !trimmed.isEmpty else { continue }
            let indent = indentation(line)
            while let last = functions.last, last.indent >= indent { functions.removeLast() }
            if let match = LineMutation.firstMatch(LineMutation.definition, in: line) {
                functions.append((match[1], index, indent))
            } else if let function = functions.last {
                result.append(Site(line: index, function: function.name, definition: function.line))
            }
        }
        return result
    }

    /// The statement a drill shows, phrased as `forge synth`'s statements are, in one of two forms:
    /// the failing test named after the function (`tests/test_upload.py::test_send`: the file and
    /// function are for retrieval to find, as a real task's test names are), or, as a plainer
    /// lesson, a traceback frame at the function's `def` line (its file comes first in the prompt).
    /// Never the mutated line.
    static func statement(path: String, function: String, definitionLine: Int, seed: UInt64) -> String {
        let module = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        let behaviour = "\(module): " + function.split(separator: "_").joined(separator: " ")
        let openings = ["\(behaviour.prefix(1).uppercased() + behaviour.dropFirst()) no longer works", "Regression: \(behaviour) is broken",
                        "Unexpected failure in \(behaviour)"]
        var text = openings[Int(seed % 3)] + "\n\nWith the current code, one test of the suite fails:\n\n"
        let test = "tests/test_\(module).py::test_\(function.drop { $0 == "_" })"
        text += "- `\(test)`\n"
        if (seed / 3) % 2 == 0 {
            text += "\nTraceback (last lines):\n\n```\n  File \"\(path)\", line \(definitionLine), in \(function)\n```\n"
        }
        return text + "\nExpected: these tests pass; the other tests must keep passing.\n"
    }

    /// Lines a held-out gold patch adds or removes, trimmed: a drill never mutates one of them.
    static func heldOutLines(_ tasks: [TaskRecord]) -> Set<String> {
        var lines = Set<String>()
        for task in tasks {
            for line in task.patch.split(separator: "\n") where (line.hasPrefix("+") || line.hasPrefix("-")) && !line.hasPrefix("+++") && !line.hasPrefix("---") {
                let text = line.dropFirst().trimmingCharacters(in: .whitespaces)
                if !text.isEmpty { lines.insert(text) }
            }
        }
        return lines
    }

    /// Up to `settings.count` drills from the files at the mined training tasks' base commits, each
    /// with a prompt that shows the mutated line; deterministic in `seed`.
    public static func examples(settings: RepairDrillSettings, training: [TaskRecord], heldOut: [TaskRecord], builder: PromptBuilder,
                                seed: UInt64) throws -> [RepairDrill] {
        let forbidden = heldOutLines(heldOut)
        var commits: [(task: TaskRecord, files: [String])] = []
        for (_, tasks) in Dictionary(grouping: training.filter { $0.synthesisStrategy == nil }, by: \.repo).sorted(by: { $0.key < $1.key }) {
            var seen = Set<String>()
            for task in tasks.sorted(by: { $0.createdAt > $1.createdAt }) where seen.count < settings.commitsPerRepository && seen.insert(task.baseCommit).inserted {
                let repository = try builder.repository(task)
                let files = try repository.files(in: try builder.baseCommit(task)).map(\.path)
                    .filter { $0.hasSuffix(".py") && !TestPaths.isTestOrInfrastructure($0) }
                if !files.isEmpty { commits.append((task, files)) }
            }
        }
        guard !commits.isEmpty, settings.count > 0 else { return [] }
        var random = SamplerRandom(seed: seed)
        func pick(_ count: Int) -> Int { Int(random.next() % UInt64(count)) }
        var examples: [RepairDrill] = [], attempts = 0
        var files: [String: (bytes: [UInt8], lines: [String], sites: [Site])?] = [:]   // by commit and path: drills draw from them again and again
        while examples.count < settings.count && attempts < settings.count * 20 {
            attempts += 1
            let (task, paths) = commits[pick(commits.count)]
            let path = paths[pick(paths.count)], key = task.baseCommit + "/" + path
            if files[key] == nil {
                files[key] = try builder.reader(for: task)(path).map { bytes in
                    let text = String(decoding: bytes, as: UTF8.self)
                    return (Array(text.utf8), text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init), sites(in: text))
                }
            }
            guard case let (originalBytes, fileLines, sites)? = files[key]!, !sites.isEmpty else { continue }
            var lines = fileLines
            let site = sites[pick(sites.count)]
            let original = lines[site.line]
            guard !forbidden.contains(original.trimmingCharacters(in: .whitespaces)) else { continue }
            let mutations = LineMutation.allCases.compactMap { mutation in mutation.apply(at: site.line, of: lines).map { (mutation, $0) } }
            guard !mutations.isEmpty else { continue }
            let (mutation, mutant) = mutations[pick(mutations.count)]
            let first = max(0, site.line - 3), last = min(lines.count - 1, site.line + 3)
            var hunk = "@@ -\(first + 1),\(last - first + mutant.count) +\(first + 1),\(last - first + 1) @@\n"
            for index in first...last {
                hunk += index == site.line ? mutant.map { "-\($0)\n" }.joined() + "+\(original)\n" : " \(lines[index])\n"
            }
            lines.replaceSubrange(site.line...site.line, with: mutant)
            let mutated = lines.joined(separator: "\n")
            let fix = "diff --git a/\(path) b/\(path)\n--- a/\(path)\n+++ b/\(path)\n" + hunk
            let mutatedBytes = Array(mutated.utf8), overlay = [path: mutatedBytes]
            let read: (String) -> [UInt8]? = { overlay[$0] }   // the fix's diff names only the drill's file
            guard let blocks = try? EditFormat.blocks(fromUnifiedDiff: fix, read: read, leastContext: builder.settings.leastSearchContext), let target = builder.target(from: blocks) else { continue }
            var drill = task
            drill.instanceID = "drill-\(examples.count)-\(mutation.rawValue)"
            drill.problemStatement = statement(path: path, function: site.function, definitionLine: site.definition + 1, seed: random.next())
            drill.patch = fix
            drill.synthesisStrategy = "drill:\(mutation.rawValue)"
            let prompt = try builder.prompt(for: drill, overlay: overlay)
            guard builder.showsEditSite(blocks, in: prompt) else { continue }
            examples.append(RepairDrill(example: SFTExample(instanceID: drill.instanceID, prompt: prompt.tokens, target: target, siteShown: true),
                                        prompt: prompt, path: path, mutated: mutatedBytes, original: originalBytes, kind: mutation.rawValue))
        }
        return examples
    }

    /// How many of `drills` the model restores, greedy, its SEARCH blocks grounded as in `agent solve`.
    public static func restored(model: Transformer, drills: [RepairDrill], builder: PromptBuilder) throws -> Int {
        let session = InferenceSession(model: model)
        var count = 0
        for drill in drills {
            let response = try session.generate(prompt: drill.example.prompt, maxNewTokens: builder.settings.maxResponseTokens,
                                                settings: SamplingSettings(temperature: 0), seed: 0, stopToken: builder.endToken,
                                                constraint: builder.responseConstraint(for: drill.prompt))
            if drill.restores(response.map(\.token), tokenizer: builder.tokenizer, endToken: builder.endToken) { count += 1 }
        }
        return count
    }
}
