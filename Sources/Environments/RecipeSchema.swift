import Foundation
import Yams

/// A validated YAML value that remembers its file and line, so merged recipes still point at the
/// line a value came from.
struct RecipeNode: Sendable {
    enum Value: Sendable {
        case scalar(String)
        case list([RecipeNode])
        case map([(key: String, value: RecipeNode)])
    }
    var value: Value
    var file: String
    var line: Int?

    subscript(key: String) -> RecipeNode? {
        guard case .map(let pairs) = value else { return nil }
        return pairs.last(where: { $0.key == key })?.value
    }

    var string: String? { if case .scalar(let s) = value { return s } else { return nil } }

    var strings: [String] {
        guard case .list(let items) = value else { return [] }
        return items.compactMap(\.string)
    }

    var stringMap: [String: String] {
        guard case .map(let pairs) = value else { return [:] }
        var result: [String: String] = [:]
        for pair in pairs { result[pair.key] = pair.value.string ?? "" }
        return result
    }

    func error(_ message: String) -> RecipeError { RecipeError(file: file, line: line, message: message) }

    /// Deep merge: maps merge key by key (the override wins), everything else is replaced.
    static func merge(_ base: RecipeNode, _ override: RecipeNode) -> RecipeNode {
        guard case .map(var pairs) = base.value, case .map(let overrides) = override.value else { return override }
        for pair in overrides {
            if let index = pairs.firstIndex(where: { $0.key == pair.key }) {
                pairs[index].value = merge(pairs[index].value, pair.value)
            } else {
                pairs.append(pair)
            }
        }
        return RecipeNode(value: .map(pairs), file: base.file, line: base.line)
    }

    /// The map without the given keys.
    func removing(_ keys: Set<String>) -> RecipeNode {
        guard case .map(let pairs) = value else { return self }
        return RecipeNode(value: .map(pairs.filter { !keys.contains($0.key) }), file: file, line: line)
    }
}

/// The shape every recipe file must have. Unknown keys and wrong types are errors with file:line.
indirect enum RecipeSchema: Sendable {
    case string
    /// A string from a fixed set.
    case choice([String])
    case number
    case integer
    case stringList
    /// A list whose items must each be one of these strings.
    case choiceList([String])
    case stringMap
    case list(RecipeSchema)
    /// Fixed keys.
    case map([String: RecipeSchema])
    /// Free keys, each value of one shape.
    case dictionary(RecipeSchema)

    var noun: String {
        switch self {
        case .string, .choice: return "a string"
        case .number: return "a number"
        case .integer: return "an integer"
        case .stringList, .choiceList: return "a list of strings"
        case .stringMap: return "a map of strings"
        case .list: return "a list"
        case .map, .dictionary: return "a map"
        }
    }

    /// Keys a recipe may set, in ecosystem files, repository files and repository variants alike.
    static let recipeBody: [String: RecipeSchema] = [
        "ecosystem": .choice(Ecosystem.allCases.map(\.rawValue)),
        "description": .string,
        "detect": .map(["markers": .stringList, "priority": .integer]),
        "manifests": .stringList,
        "interpreter": .map(["requires": .string, "fallback_requires": .string,
                             "release_margin_days": .integer, "minimum": .string]),
        "toolchain": .map(["program": .string, "version_args": .stringList, "checks": .list(.stringList)]),
        "install": .map(["ladder": .choiceList(InstallStrategy.allCases.map(\.rawValue)),
                         "extras": .stringList, "requirement_files": .stringList, "packages": .stringList,
                         "runner_packages": .stringList, "runner_plugins": .stringList, "dev_tools": .stringList,
                         "env": .stringMap, "timeout": .number, "limits": .map(["processes": .number, "memory_mb": .number, "file_size_mb": .number, "tmpfs_mb": .number, "cpu_seconds": .number, "open_files": .number])]),
        "test": .map(["runner": .string,
                      "runners": .dictionary(.map(["command": .stringList,
                                                   "report": .choice(TestReportKind.allCases.map(\.rawValue)),
                                                   "reports": .stringList,
                                                   "log_format": .string,
                                                   "script": .string,
                                                   "invoked_by": .stringList,
                                                   "env": .stringMap,
                                                   "packages": .stringList])),
                      "evidence": .stringList,
                      "services": .dictionary(.map(["packages": .stringList, "python": .string, "command": .stringList,
                                                    "port": .integer, "ready_timeout": .number, "env": .stringMap])),
                      "env": .stringMap, "timeout": .number, "limits": .map(["processes": .number, "memory_mb": .number, "file_size_mb": .number, "tmpfs_mb": .number, "cpu_seconds": .number, "open_files": .number])]),
    ]

    static let ecosystemFile = RecipeSchema.map(recipeBody)

    static let repositoryFile: RecipeSchema = {
        var keys = recipeBody
        keys["repo"] = .string
        keys["versions"] = .string
        var variant = recipeBody
        variant["versions"] = .string
        keys["variants"] = .list(.map(variant))
        return .map(keys)
    }()
}

enum RecipeParser {
    /// Parses YAML text into a validated node tree.
    static func parse(_ text: String, file: String, schema: RecipeSchema) throws -> RecipeNode {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw RecipeError(file: file, line: yamlLine(error), message: "not valid YAML: \(yamlProblem(error))")
        }
        guard let root else { throw RecipeError(file: file, line: nil, message: "file is empty") }
        return try convert(root, schema: schema, file: file, path: "")
    }

    private static func convert(_ node: Node, schema: RecipeSchema, file: String, path: String) throws -> RecipeNode {
        let line = node.mark?.line
        let name = path.isEmpty ? "the file" : "'\(path)'"
        func wrongType() -> RecipeError {
            RecipeError(file: file, line: line, message: "\(name) must be \(schema.noun), got \(describe(node))")
        }
        switch schema {
        case .string, .choice, .number, .integer:
            guard case .scalar(let scalar) = node, node.null == nil || scalar.style != .plain else { throw wrongType() }
            let text = scalar.string
            switch schema {
            case .number where Double(text) == nil: throw wrongType()
            case .integer where Int(text) == nil: throw wrongType()
            case .choice(let allowed) where !allowed.contains(text):
                throw RecipeError(file: file, line: line,
                                  message: "\(name) is '\(text)', expected one of \(allowed.joined(separator: ", "))")
            default: break
            }
            return RecipeNode(value: .scalar(text), file: file, line: line)
        case .stringList, .choiceList:
            guard case .sequence(let sequence) = node else { throw wrongType() }
            var items: [RecipeNode] = []
            for item in sequence {
                guard case .scalar(let scalar) = item, item.null == nil || scalar.style != .plain else {
                    throw RecipeError(file: file, line: item.mark?.line ?? line,
                                      message: "\(name) must be a list of strings, got an item that is \(describe(item))")
                }
                if case .choiceList(let allowed) = schema, !allowed.contains(scalar.string) {
                    throw RecipeError(file: file, line: item.mark?.line ?? line,
                                      message: "\(name) has '\(scalar.string)', expected one of \(allowed.joined(separator: ", "))")
                }
                items.append(RecipeNode(value: .scalar(scalar.string), file: file, line: item.mark?.line ?? line))
            }
            return RecipeNode(value: .list(items), file: file, line: line)
        case .list(let itemSchema):
            guard case .sequence(let sequence) = node else { throw wrongType() }
            var items: [RecipeNode] = []
            for (index, item) in sequence.enumerated() {
                items.append(try convert(item, schema: itemSchema, file: file, path: "\(path)[\(index)]"))
            }
            return RecipeNode(value: .list(items), file: file, line: line)
        case .stringMap, .map, .dictionary:
            guard case .mapping(let mapping) = node else { throw wrongType() }
            var pairs: [(key: String, value: RecipeNode)] = []
            for (keyNode, valueNode) in mapping {
                guard case .scalar(let keyScalar) = keyNode else {
                    throw RecipeError(file: file, line: keyNode.mark?.line ?? line, message: "keys must be strings")
                }
                let key = keyScalar.string
                let keyLine = keyNode.mark?.line ?? line
                let childPath = path.isEmpty ? key : "\(path).\(key)"
                if pairs.contains(where: { $0.key == key }) {
                    throw RecipeError(file: file, line: keyLine, message: "duplicate key '\(key)'")
                }
                let child: RecipeNode
                switch schema {
                case .stringMap:
                    child = try convert(valueNode, schema: .string, file: file, path: childPath)
                case .dictionary(let valueSchema):
                    child = try convert(valueNode, schema: valueSchema, file: file, path: childPath)
                case .map(let keys):
                    guard let valueSchema = keys[key] else {
                        var message = "unknown key '\(key)'"
                        if let guess = closest(key, among: Array(keys.keys)) { message += " (did you mean '\(guess)'?)" }
                        throw RecipeError(file: file, line: keyLine, message: message)
                    }
                    child = try convert(valueNode, schema: valueSchema, file: file, path: childPath)
                default:
                    fatalError("unreachable")
                }
                pairs.append((key, RecipeNode(value: child.value, file: file, line: child.line ?? keyLine)))
            }
            return RecipeNode(value: .map(pairs), file: file, line: line)
        }
    }

    private static func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let scalar):
            return node.null != nil && scalar.style == .plain ? "nothing (null)" : "the scalar '\(scalar.string)'"
        case .sequence: return "a list"
        case .mapping: return "a map"
        case .alias: return "an alias"
        }
    }

    /// The known key within edit distance 2, for "did you mean".
    private static func closest(_ key: String, among keys: [String]) -> String? {
        let scored = keys.map { ($0, editDistance(key, $0)) }.filter { $0.1 <= 2 }
        return scored.min(by: { $0.1 < $1.1 })?.0
    }

    private static func editDistance(_ a: String, _ b: String) -> Int {
        let (x, y) = (Array(a), Array(b))
        var previous = Array(0...y.count)
        for i in 1...max(1, x.count) where !x.isEmpty {
            var current = [i] + Array(repeating: 0, count: y.count)
            for j in 1...max(1, y.count) where !y.isEmpty {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return x.isEmpty ? y.count : previous[y.count]
    }

    private static func yamlLine(_ error: YamlError) -> Int? {
        switch error {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _): return mark.line
        default: return nil
        }
    }

    private static func yamlProblem(_ error: YamlError) -> String {
        switch error {
        case .scanner(_, let problem, _, _), .parser(_, let problem, _, _), .composer(_, let problem, _, _): return problem
        default: return "\(error)".split(separator: "\n").first.map(String.init) ?? "unreadable"
        }
    }
}
