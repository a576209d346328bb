// The pre-training corpus: source files of each mined repository at its tasks' base commits,
// deduplicated by content (the same file at many commits is one document), each with the
// repository's license as found at that commit, plus the tasks' problem statements.
import Environments
import Foundation
import Git
import Model
import Store

public struct CorpusDocument: Codable, Sendable, Hashable {
    public var repo: String
    public var commit: String
    /// A file path, or `problem_statement:<instance_id>` for task text.
    public var path: String
    /// SHA of the content (the git blob id for files), the deduplication key.
    public var contentID: String
    public var license: String
    public var bytes: Int
}

public struct CodeCorpus: Sendable {
    public var documents: [CorpusDocument]
    public var contents: [[UInt8]]

    /// Extensions taken as source (and text a code model should read).
    public static let sourceExtensions: Set<String> = ["py", "pyi", "swift", "rs", "js", "ts", "go", "java", "c", "h", "cc", "cpp", "rb",
                                                       "toml", "cfg", "ini", "md", "rst", "txt", "yaml", "yml"]
    static let maximumFileBytes = 256 << 10

    /// At most `commitsPerRepository` base commits per repository (the latest ones), so the
    /// corpus tracks each code base without being dominated by near-copies of old states.
    public static func build(tasks: [TaskRecord], clones: [String: String], commitsPerRepository: Int = 4) throws -> CodeCorpus {
        var corpus = CodeCorpus(documents: [], contents: [])
        var seen = Set<String>()
        let byRepo = Dictionary(grouping: tasks, by: \.repo)
        for repo in byRepo.keys.sorted() {
            guard let path = clones[repo] else { throw TrainingDataError("no clone of \(repo) given (--clone \(repo)=PATH)") }
            let repository = try Repository.open(path)
            // Synthetic tasks sit on mutant commits: the corpus reads the real history only (and
            // their statements describe held-out bugs), unless a repository has nothing else.
            let real = byRepo[repo]!.filter { $0.statementSource != .synthetic }
            let repoTasks = (real.isEmpty ? byRepo[repo]! : real).sorted { ($0.createdAt, $0.instanceID) < ($1.createdAt, $1.instanceID) }
            var commits: [String] = []
            for task in repoTasks.reversed() where !commits.contains(task.baseCommit) {
                commits.append(task.baseCommit)
                if commits.count == commitsPerRepository { break }
            }
            for commit in commits {
                guard let id = ObjectID(hex: commit) else { throw TrainingDataError("malformed base_commit \(commit) in \(repo)") }
                let files = try repository.files(in: id)
                let license = try detectLicense(files: files, repository: repository)
                for file in files where sourceExtensions.contains(URL(fileURLWithPath: file.path).pathExtension.lowercased()) {
                    let key = file.id.description
                    guard !seen.contains(key) else { continue }
                    let bytes = try repository.blob(file.id)
                    guard bytes.count <= maximumFileBytes, !bytes.contains(0) else { continue }
                    seen.insert(key)
                    corpus.documents.append(CorpusDocument(repo: repo, commit: commit, path: file.path, contentID: key, license: license, bytes: bytes.count))
                    corpus.contents.append(bytes)
                }
            }
            for task in repoTasks where !task.problemStatement.isEmpty {
                let bytes = Array(task.problemStatement.utf8)
                let key = "statement:" + SHA256.hex(Data(bytes))
                guard !seen.contains(key) else { continue }
                seen.insert(key)
                corpus.documents.append(CorpusDocument(repo: repo, commit: task.baseCommit, path: "problem_statement:\(task.instanceID)",
                                                       contentID: key, license: task.license ?? "unknown", bytes: bytes.count))
                corpus.contents.append(bytes)
            }
        }
        return corpus
    }

    /// Source files under `folders` (hidden entries, binary and oversized files skipped), in
    /// path order, deduplicated by content; repo and commit are empty, license "unknown".
    public static func build(folders: [URL]) throws -> CodeCorpus {
        var corpus = CodeCorpus(documents: [], contents: [])
        var seen = Set<String>()
        let files = try TokenizerCorpus.files(in: folders)
            .filter { sourceExtensions.contains($0.pathExtension.lowercased()) }.sorted { $0.path < $1.path }
        for file in files {
            let bytes = try TokenizerCorpus.contents(of: file)
            let key = SHA256.hex(Data(bytes))
            guard bytes.count <= maximumFileBytes, !bytes.contains(0), seen.insert(key).inserted else { continue }
            corpus.documents.append(CorpusDocument(repo: "", commit: "", path: file.path, contentID: key, license: "unknown", bytes: bytes.count))
            corpus.contents.append(bytes)
        }
        return corpus
    }

    /// An SPDX id guessed from the license file at the root, or "unknown".
    static func detectLicense(files: [(path: String, id: ObjectID)], repository: Repository) throws -> String {
        guard let file = files.first(where: { !$0.path.contains("/") && ["LICENSE", "LICENCE", "COPYING"].contains(where: $0.path.uppercased().hasPrefix) })
        else { return "unknown" }
        let text = String(decoding: try repository.blob(file.id), as: UTF8.self)
        let rules: [(String, [String])] = [
            ("Apache-2.0", ["Apache License", "Version 2.0"]),
            ("MIT", ["Permission is hereby granted, free of charge"]),
            ("BSD-3-Clause", ["Redistribution and use in source and binary forms", "Neither the name"]),
            ("BSD-2-Clause", ["Redistribution and use in source and binary forms"]),
            ("GPL-3.0", ["GNU GENERAL PUBLIC LICENSE", "Version 3"]),
            ("GPL-2.0", ["GNU GENERAL PUBLIC LICENSE", "Version 2"]),
            ("LGPL", ["GNU LESSER GENERAL PUBLIC LICENSE"]),
            ("MPL-2.0", ["Mozilla Public License"]),
        ]
        for (spdx, phrases) in rules where phrases.allSatisfy({ text.range(of: $0, options: .caseInsensitive) != nil }) { return spdx }
        return "unknown"
    }
}
