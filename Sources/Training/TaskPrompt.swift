// The policy's prompt and target for one task, in token ids:
//
//   <|issue|>{problem statement}<|file|>path\n{content}<|file|>path\n{content}<|patch|>
//
// followed (for SFT targets and generations) by SEARCH/REPLACE blocks and <|endoftext|>. Files
// come from the task's base commit, chosen by the context mode; what does not fit the token
// budget is cut at a line boundary, so prompt + response always fit the model's context.
import Foundation
import Evaluation
import Git
import Model
import Store

public struct PromptSettings: Codable, Sendable, Equatable {
    public var mode: ContextMode = .oracle
    /// Files shown at most (the oracle mode shows every edited file up to this).
    public var maxFiles: Int = 2
    /// Statement tokens kept at most.
    public var maxStatementTokens: Int = 160
    /// Tokens left for the response (generation length and SFT target cap).
    public var maxResponseTokens: Int = 160
    /// Extensions of the files BM25 ranks.
    public var sourceExtensions: [String] = ["py", "swift", "rs", "js", "ts", "go", "java", "c", "h", "cc", "cpp", "rb"]
    /// Prompt + response tokens at most, below the model's context (nil: the whole context). SFT
    /// at 4K costs ~4× a 1K step: a short-prompt SFT teaches the edit format and copying cheaply
    /// (retrieval still shows the lines the failure names), then SFT at full length follows.
    public var promptContext: Int?
    /// Context lines an SFT target's SEARCH block keeps around its changed lines at least (nil: 1);
    /// more are added where the block would not be unique. nil rather than 1, so run folders
    /// written before the option still resume.
    public var searchContext: Int?
    public static let defaultSearchContext = 1
    /// The context lines SEARCH blocks keep at least: `searchContext`, or the default.
    public var leastSearchContext: Int { searchContext ?? Self.defaultSearchContext }

    public init(mode: ContextMode = .oracle, maxFiles: Int = 2, maxStatementTokens: Int = 160, maxResponseTokens: Int = 160,
                promptContext: Int? = nil) {
        self.mode = mode; self.maxFiles = maxFiles; self.maxStatementTokens = maxStatementTokens; self.maxResponseTokens = maxResponseTokens
        self.promptContext = promptContext
    }
}

public struct TaskPrompt: Sendable {
    public var instanceID: String
    public var tokens: [Int]
    /// Files shown, in order.
    public var files: [String]
    /// The tokens the prompt shows of each file (whole, cut, or excerpts around the chosen lines).
    public var shownTokens: [String: [Int]] = [:]
}

public struct TrainingDataError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Builds prompts, SFT targets and scorable patches for tasks of repositories with local clones.
public final class PromptBuilder {
    /// Prompt tokens a context must leave beside the response, at least.
    public static let minimumPromptTokens = 64
    /// Tokens a ranked file may take at least in retrieval mode, however little room half of what is left is.
    static let minimumFileShare = 256
    public let tokenizer: Tokenizer
    public let settings: PromptSettings
    /// Prompt + response tokens: the model's context, or the settings' shorter `promptContext`.
    public let context: Int
    let repositories: [String: Repository]
    let issueToken: Int, fileToken: Int, patchToken: Int
    public let endToken: Int
    /// Constrained decoding of the response's markers (`EditFormatGuard`); nil samples freely.
    public var responseConstraint: EditFormatGuard?
    /// Whether `responseConstraint(for:)` also grounds SEARCH blocks in the prompt's files.
    public var groundsSearch = true
    private var bm25Cache: [String: (paths: [String], index: BM25Index)] = [:]
    /// Window indexes of files shown in excerpts, by the file's text.
    private var windowCache: [String: FileExcerpt.Windows?] = [:]
    /// Failing-test output per instance id (the "before" run of validation), read by the
    /// retrieval mode next to the statement; synthetic tasks carry theirs in the statement.
    public var failureOutput: [String: String] = [:]
    /// Lines the failure output names, per file, of the last `contextFiles` call (retrieval mode).
    private var namedLines: [String: [Int]] = [:]

    public init(tokenizer: Tokenizer, clones: [String: String], settings: PromptSettings, context: Int) throws {
        self.tokenizer = tokenizer
        self.settings = settings
        self.context = min(context, settings.promptContext ?? context)
        repositories = try clones.mapValues { try Repository.open($0) }
        func special(_ name: String) throws -> Int {
            guard let id = tokenizer.id(ofSpecialToken: name) else { throw TrainingDataError("the tokenizer has no \(name) token") }
            return id
        }
        issueToken = try special(SpecialTokens.issue); fileToken = try special(SpecialTokens.file)
        patchToken = try special(SpecialTokens.patch); endToken = try special(SpecialTokens.endOfText)
        responseConstraint = EditFormatGuard(tokenizer: tokenizer, endToken: endToken)
        guard self.context >= settings.maxResponseTokens + Self.minimumPromptTokens else {
            throw TrainingDataError("context \(self.context) is too short for \(settings.maxResponseTokens) response tokens and a prompt (at least \(Self.minimumPromptTokens) more)")
        }
    }

    func repository(_ task: TaskRecord) throws -> Repository {
        guard let repository = repositories[task.repo] else { throw TrainingDataError("no clone of \(task.repo) given for task \(task.instanceID)") }
        return repository
    }

    func baseCommit(_ task: TaskRecord) throws -> ObjectID {
        guard let id = ObjectID(hex: task.baseCommit) else { throw TrainingDataError("task \(task.instanceID) has a malformed base_commit \(task.baseCommit)") }
        return id
    }

    /// A reader of the files at the task's base commit.
    public func reader(for task: TaskRecord) throws -> (String) throws -> [UInt8]? {
        let repository = try repository(task)
        let base = try baseCommit(task)
        return { path in try repository.fileContent(atPath: path, in: base) }
    }

    /// The files a prompt for `task` shows, best first.
    public func contextFiles(for task: TaskRecord) throws -> [String] {
        switch settings.mode {
        case .oracle:
            return Array(PatchText.touchedPaths(task.patch).prefix(settings.maxFiles))
        case .bm25:
            let (paths, index) = try bm25(task, excludingTests: false)
            return index.rank(task.problemStatement).prefix(settings.maxFiles).map { paths[$0.index] }
        case .retrieval:
            let (paths, index) = try bm25(task, excludingTests: true)
            let query = retrievalQuery(task)
            let named = TracebackFiles.files(in: query, repositoryFiles: paths)
            namedLines = Dictionary(named.map { ($0.path, $0.lines) }, uniquingKeysWith: { $0 + $1 })
            var chosen = named.map(\.path)
            for ranked in index.rank(query) where chosen.count < settings.maxFiles && !chosen.contains(paths[ranked.index]) {
                chosen.append(paths[ranked.index])
            }
            return Array(chosen.prefix(settings.maxFiles))
        }
    }

    /// What retrieval searches with: the statement and the failing tests' output.
    func retrievalQuery(_ task: TaskRecord) -> String { task.problemStatement + "\n" + (failureOutput[task.instanceID] ?? "") }

    /// The BM25 index of the source files at the task's base commit (without tests and test
    /// infrastructure when `excludingTests`), built once per commit.
    private func bm25(_ task: TaskRecord, excludingTests: Bool) throws -> (paths: [String], index: BM25Index) {
        let key = "\(task.repo)@\(task.baseCommit)\(excludingTests ? "-source" : "")"
        if let cached = bm25Cache[key] { return cached }
        let repository = try repository(task)
        let base = try baseCommit(task)
        let files = try repository.files(in: base).filter {
            settings.sourceExtensions.contains(URL(fileURLWithPath: $0.path).pathExtension) && !(excludingTests && TestPaths.isTestOrInfrastructure($0.path))
        }
        let documents = try files.map { $0.path + "\n" + String(decoding: try repository.blob($0.id), as: UTF8.self) }
        bm25Cache[key] = (files.map(\.path), BM25Index(documents: documents))
        return bm25Cache[key]!
    }

    /// `FileExcerpt.relevantLines`, with the file's window index kept: RL prompts a task many
    /// times, and repair drills prompt from the same files thousands of times.
    private func relevantLines(of text: String, query: String) -> [Int] {
        if windowCache[text] == nil {
            if windowCache.count >= 512 { windowCache.removeAll() }
            windowCache[text] = .some(FileExcerpt.windows(of: text))
        }
        return windowCache[text]!.map { FileExcerpt.relevantLines(in: $0, query: query) } ?? []
    }

    /// The prompt for `task`; `overlay` replaces files of the base commit (a repair drill's mutant).
    public func prompt(for task: TaskRecord, overlay: [String: [UInt8]] = [:]) throws -> TaskPrompt {
        let base = try reader(for: task)
        let read: (String) throws -> [UInt8]? = { path in try overlay[path] ?? base(path) }
        namedLines = [:]
        // The statement gets at most a third of the prompt's room; the code gets the rest.
        let statementRoom = min(settings.maxStatementTokens, (context - settings.maxResponseTokens) / 3)
        var tokens = [issueToken] + tokenizer.encode(task.problemStatement).prefix(statementRoom)
        let budget = context - settings.maxResponseTokens - 1   // the patch token
        let query = retrievalQuery(task)
        var shown: [String] = [], shownTokens: [String: [Int]] = [:]
        let files = try contextFiles(for: task)
        for (position, path) in files.enumerated() {
            let header = [fileToken] + tokenizer.encode(path + "\n")
            var room = budget - tokens.count - header.count
            // A path with no room for its file after it is not shown (nor may its header overflow the budget).
            guard room >= 8, let bytes = try read(path) else { continue }
            var body = tokenizer.encode(bytes: bytes)
            if settings.mode == .retrieval {
                // A ranked file gets at most half of what is left (short files pass the rest on), so one long file
                // does not crowd out the next ones (a file the failure names keeps all of it); a file that does not
                // fit shows the lines the failure names, the functions the statement or failure output names, and
                // the windows that match them best, with what surrounds them.
                if namedLines[path] == nil && position < files.count - 1 { room = min(room, max(Self.minimumFileShare, room / 2)) }
                if body.count > room {
                    let text = String(decoding: bytes, as: UTF8.self)
                    let lines = (namedLines[path] ?? []) + FileExcerpt.definitionLines(of: text, query: query)
                        + relevantLines(of: text, query: query)
                    if !lines.isEmpty {
                        let excerpt = FileExcerpt.around(lines: lines, of: text, room: room - 16, count: { self.tokenizer.encode($0).count })
                        body = Array(tokenizer.encode(excerpt).prefix(max(0, room)))
                    }
                }
            }
            if body.count > room {
                // Cut at the last newline that fits, so the file ends on a whole line.
                let newline = tokenizer.encode("\n")
                body = Array(body.prefix(max(0, room)))
                if newline.count == 1, let cut = body.lastIndex(of: newline[0]) { body = Array(body.prefix(cut + 1)) }
            }
            tokens += header + body
            shown.append(path)
            shownTokens[path] = body
        }
        return TaskPrompt(instanceID: task.instanceID, tokens: tokens + [patchToken], files: shown, shownTokens: shownTokens)
    }

    /// The guard for a response to `prompt`: `responseConstraint`, grounded in the files the
    /// prompt shows when `groundsSearch` (nil when sampling is unconstrained).
    public func responseConstraint(for prompt: TaskPrompt) -> EditFormatGuard? {
        guard var constraint = responseConstraint else { return nil }
        if groundsSearch && !prompt.files.isEmpty {
            constraint.grounding = SearchGrounding(shown: prompt.files.compactMap { path in
                guard let tokens = prompt.shownTokens[path], let bytes = try? tokenizer.decode(tokens) else { return nil }
                return (path, String(decoding: bytes, as: UTF8.self))
            })
        }
        return constraint
    }

    /// Whether `prompt` shows every line the SEARCH blocks copy (context recall: a policy cannot put
    /// a line in its SEARCH block that the prompt did not show it). Decodes only here, off the
    /// prompt-building path that sampling and RL share.
    public func showsEditSite(_ blocks: [EditBlock], in prompt: TaskPrompt) -> Bool {
        blocks.allSatisfy { block in
            guard let tokens = prompt.shownTokens[block.path], let bytes = try? tokenizer.decode(tokens) else { return false }
            return String(decoding: bytes, as: UTF8.self).contains(block.search)
        }
    }

    /// The gold patch as SEARCH/REPLACE blocks; nil when it has no block form.
    public func goldBlocks(for task: TaskRecord) throws -> [EditBlock]? {
        try? EditFormat.blocks(fromUnifiedDiff: task.patch, read: try reader(for: task), leastContext: settings.leastSearchContext)
    }

    /// The gold patch as SEARCH/REPLACE blocks, tokenised and ended by <|endoftext|>; nil when it
    /// has no block form or does not fit the response budget.
    public func target(for task: TaskRecord) throws -> [Int]? {
        try goldBlocks(for: task).flatMap(target(from:))
    }

    /// `blocks` rendered and tokenised as a response, ended by <|endoftext|>; nil when longer than the response budget.
    public func target(from blocks: [EditBlock]) -> [Int]? {
        let tokens = tokenizer.encode(EditFormat.render(blocks)) + [endToken]
        return tokens.count <= settings.maxResponseTokens ? tokens : nil
    }

    /// What a generated response means for scoring: a unified diff at the task's base, or why not.
    public func patch(fromResponse tokens: [Int], for task: TaskRecord) -> Result<String, EditFormatError> {
        let body = tokens.last == endToken ? Array(tokens.dropLast()) : tokens
        do {
            let text = try tokenizer.decodeText(body)
            let diff = try EditFormat.unifiedDiff(try EditFormat.parse(text), read: try reader(for: task))
            guard !diff.isEmpty else { return .failure(EditFormatError(line: nil, message: "the blocks change nothing")) }
            return .success(diff)
        } catch let error as EditFormatError {
            return .failure(error)
        } catch {
            return .failure(EditFormatError(line: nil, message: "\(error)"))
        }
    }
}
