import CGit2
import Foundation

/// How a tree-to-tree diff is computed (defaults match plain `git diff --binary`).
public struct DiffOptions: Sendable {
    /// Pair deleted and added files into renames (`git diff`'s default since git 2.9).
    public var detectRenames: Bool
    /// Minimum similarity, in percent, for a rename (git's `-M50%`).
    public var renameThreshold: Int
    /// Lines of context around each hunk.
    public var contextLines: Int

    public init(detectRenames: Bool = true, renameThreshold: Int = 50, contextLines: Int = 3) {
        self.detectRenames = detectRenames; self.renameThreshold = renameThreshold; self.contextLines = contextLines
    }
}

/// What happened to one file.
public enum FileStatus: String, Sendable, Hashable {
    case added, deleted, modified, renamed, copied, typeChanged
}

/// One file of a diff.
public struct DiffEntry: Hashable, Sendable {
    /// Position in the diff (and in `git diff`'s output order).
    public let index: Int
    public let status: FileStatus
    /// Paths decoded as UTF-8 (invalid bytes become U+FFFD); the exact bytes are in `…PathBytes`.
    public let oldPath: String
    public let newPath: String
    public let oldPathBytes: [UInt8]
    public let newPathBytes: [UInt8]
    /// Blob ids (all zero for the missing side of an add or delete).
    public let oldID: ObjectID
    public let newID: ObjectID
    /// File modes as octal numbers (0o100644, 0o100755, 0o120000 symlink, 0o160000 submodule); 0 when absent.
    public let oldMode: UInt32
    public let newMode: UInt32
    /// True when git treats either side as binary (a NUL byte in the first 8000 bytes, or attributes).
    public let isBinary: Bool
    /// Rename similarity in percent (0 unless renamed).
    public let similarity: Int

    /// The path that exists after the change (the old one for deletions).
    public var path: String { status == .deleted ? oldPath : newPath }
}

/// One file's patch.
public struct FilePatch: Sendable {
    public let entry: DiffEntry
    /// Exactly what `git diff --binary` prints for this file.
    public let bytes: [UInt8]
    /// `bytes` as a String when they are valid UTF-8; otherwise the same change written as a git
    /// binary patch (ASCII, applies identically), because a lossy decode would not apply.
    public let text: String
    /// True when `text` is byte-identical to `git diff --binary`'s output.
    public let textIsExact: Bool
    /// Added and deleted lines (0 for binary files).
    public let additions: Int
    public let deletions: Int
}

/// A tree-to-tree diff. Per-file patches are generated on first use.
///
/// Two backends give identical output: libgit2's tree diff (owns the `git_diff` handle; needed for
/// rename detection, mode changes, symlinks and submodules), and — when none of those can occur —
/// one `git_patch_from_blobs` per changed file, which skips libgit2's per-diff setup and full
/// directory iteration.
public final class Diff {
    fileprivate enum Backend {
        case treeDiff(OpaquePointer)
        case blobs([FileChange])
    }
    fileprivate let backend: Backend
    private let repository: Repository
    private let options: git_diff_options
    /// The compared commits or trees, for `patchID()` on the blob backend.
    private let old: ObjectID?, new: ObjectID
    private var patches: [FilePatch?]

    init(_ pointer: OpaquePointer, repository: Repository, options: git_diff_options, old: ObjectID?, new: ObjectID) {
        backend = .treeDiff(pointer)
        self.repository = repository; self.options = options; self.old = old; self.new = new
        patches = Array(repeating: nil, count: git_diff_num_deltas(pointer))
    }

    init(changes: [FileChange], repository: Repository, options: git_diff_options, old: ObjectID?, new: ObjectID) {
        backend = .blobs(changes)
        self.repository = repository; self.options = options; self.old = old; self.new = new
        patches = Array(repeating: nil, count: changes.count)
    }

    deinit { if case .treeDiff(let pointer) = backend { git_diff_free(pointer) } }

    /// True when patches come from per-file blob diffs (for tests).
    var usesBlobBackend: Bool { if case .blobs = backend { return true } else { return false } }

    /// Rename detection merges deltas: recount afterwards.
    func deltasChanged() {
        if case .treeDiff(let pointer) = backend { patches = Array(repeating: nil, count: git_diff_num_deltas(pointer)) }
    }

    /// Number of changed files.
    public var count: Int { patches.count }

    /// Every changed file, in `git diff` order (generates the patches to learn which are binary).
    public func entries() throws -> [DiffEntry] {
        try (0..<count).map { try patch(at: $0).entry }
    }

    /// Paths and status only, without reading file contents (`isBinary` is libgit2's guess so far).
    public func quickEntries() -> [DiffEntry] {
        switch backend {
        case .treeDiff(let pointer): return (0..<count).map { makeEntry(index: $0, delta: git_diff_get_delta(pointer, $0)!) }
        case .blobs(let changes): return changes.indices.map { makeEntry(index: $0, change: changes[$0], isBinary: false) }
        }
    }

    /// The patch of file number `index`, exactly as `git diff --binary` prints it.
    public func patch(at index: Int) throws -> FilePatch {
        if let cached = patches[index] { return cached }
        var raw: OpaquePointer?
        var change: FileChange?
        switch backend {
        case .treeDiff(let pointer):
            try check(git_patch_from_diff(&raw, pointer, index), "generating the patch of file \(index)")
            guard raw != nil else {   // libgit2 returns no patch for unchanged entries
                let entry = makeEntry(index: index, delta: git_diff_get_delta(pointer, index)!)
                return FilePatch(entry: entry, bytes: [], text: "", textIsExact: true, additions: 0, deletions: 0)
            }
        case .blobs(let changes):
            change = changes[index]
            raw = try blobPatch(changes[index])
        }
        let handle = PatchHandle(raw!)
        let delta = git_patch_get_delta(handle.pointer)!
        let entry = change.map { makeEntry(index: index, change: $0, isBinary: delta.pointee.flags & GIT_DIFF_FLAG_BINARY.rawValue != 0) }
            ?? makeEntry(index: index, delta: delta)
        var buffer = git_buf()
        try check(git_patch_to_buf(&buffer, handle.pointer), "printing the patch of \(entry.path)")
        var bytes = buffer.size > 0 ? Array(UnsafeRawBufferPointer(start: buffer.ptr, count: buffer.size)) : []
        git_buf_dispose(&buffer)
        if let change, change.oldMode == 0o100755 || change.newMode == 0o100755 {
            bytes = Diff.executableModes(bytes)   // blob patches assume 100644
        }
        var additions = 0, deletions = 0, context = 0
        try check(git_patch_line_stats(&context, &additions, &deletions, handle.pointer), "counting lines of \(entry.path)")

        // The header as libgit2 printed it (full index line), for the non-UTF-8 fallback below:
        // only the part before "--- " (the contents, possibly MBs, are not copied), or all of a
        // patch without contents.
        let contentStart = Diff.lineStart(of: Array("--- ".utf8), in: bytes)
        let fullIndexHeader = contentStart.map { Array(bytes[..<$0]) } ?? bytes
        if !entry.isBinary { abbreviateIndexLine(&bytes, header: contentStart ?? bytes.count) }
        // Only a binary file's patch has a "GIT binary patch" line (a text patch's lines start
        // with a space, "+", "-", "@" or "\\"): text patches, tens of MB on some PRs, are not scanned.
        let marker = Array("GIT binary patch\n".utf8)
        if entry.isBinary, let start = Diff.lineStart(of: marker, in: bytes) {
            let body = try BinaryPatch.rewrite(body: bytes[(start + marker.count)...],
                                               old: try blobData(entry.oldID), new: try blobData(entry.newID))
            bytes = Array(bytes[..<(start + marker.count)]) + body
        }
        var text = String(validating: bytes, as: UTF8.self)
        let exact = text != nil
        if text == nil {
            // A non-UTF-8 text file: keep the header (binary patches need the full index line) and
            // carry the contents as a literal binary patch.
            let header = fullIndexHeader
            let body = try BinaryPatch.literalBody(old: try blobData(entry.oldID), new: try blobData(entry.newID))
            text = String(decoding: header + body, as: UTF8.self)
        }
        let patch = FilePatch(entry: entry, bytes: bytes, text: text!, textIsExact: exact,
                              additions: additions, deletions: deletions)
        patches[index] = patch
        return patch
    }

    /// The combined patch of the given files, in diff order — what `git diff --binary -- <those
    /// paths>` prints (modulo non-UTF-8 contents, see `FilePatch.text`).
    public func patchText(for indices: [Int]) throws -> String {
        var text = ""
        for index in indices.sorted() { text += try patch(at: index).text }
        return text
    }

    /// The whole diff's exact bytes.
    public func patchBytes() throws -> [UInt8] {
        var bytes: [UInt8] = []
        for index in 0..<count { bytes += try patch(at: index).bytes }
        return bytes
    }

    /// `git patch-id --stable` of this diff.
    public func patchID() throws -> ObjectID {
        guard case .treeDiff(let pointer) = backend else {
            return try repository.diff(from: old, to: new, options: DiffOptions(detectRenames: false), allowBlobBackend: false).patchID()
        }
        var out = git_oid()
        var options = git_diff_patchid_options()
        try check(git_diff_patchid_options_init(&options, UInt32(GIT_DIFF_PATCHID_OPTIONS_VERSION)), "initializing patch-id options")
        try check(git_diff_patchid(&out, pointer, &options), "computing a patch-id")
        return ObjectID(out)
    }

    private func blobPatch(_ change: FileChange) throws -> OpaquePointer {
        let oldBlob = try change.oldID.map { try BlobHandle(repository: repository, id: $0) }
        let newBlob = try change.newID.map { try BlobHandle(repository: repository, id: $0) }
        var raw: OpaquePointer?
        var options = self.options
        let path = change.path + [0]
        try path.withUnsafeBufferPointer { buffer in
            let cPath = UnsafeRawPointer(buffer.baseAddress!).assumingMemoryBound(to: CChar.self)
            try check(git_patch_from_blobs(&raw, oldBlob?.pointer, cPath, newBlob?.pointer, cPath, &options),
                      "generating the patch of \(change.pathString)")
        }
        return raw!
    }

    /// Blob patches print mode 100644; put back the executable bit where the tree has it.
    private static func executableModes(_ bytes: [UInt8]) -> [UInt8] {
        let header = Diff.lineStart(of: Array("--- ".utf8), in: bytes) ?? Diff.lineStart(of: Array("GIT binary patch".utf8), in: bytes) ?? bytes.count
        var text = String(decoding: bytes[..<header], as: UTF8.self)
        text = text.replacingOccurrences(of: " 100644\n", with: " 100755\n")
        return Array(text.utf8) + bytes[header...]
    }

    /// git prints full ids only for binary files; text files get `core.abbrev=auto` abbreviations.
    private func abbreviateIndexLine(_ bytes: inout [UInt8], header: Int) {
        // "index <40 hex>..<40 hex>[ <mode>]\n", before the "--- " line (at `header`). Rewritten
        // in place: a copy of a large patch costs fresh pages.
        guard let start = Diff.lineStart(of: Array("index ".utf8), in: Array(bytes[..<header])),
              start + 88 <= bytes.count, bytes[start + 46] == 46, bytes[start + 47] == 46,
              let old = ObjectID(hex: String(decoding: bytes[(start + 6)..<(start + 46)], as: UTF8.self)),
              let new = ObjectID(hex: String(decoding: bytes[(start + 48)..<(start + 88)], as: UTF8.self)) else { return }
        let rewritten = "index \(repository.abbreviate(old))..\(repository.abbreviate(new))"
        bytes.replaceSubrange(start..<(start + 88), with: rewritten.utf8)
    }

    private func blobData(_ id: ObjectID) throws -> [UInt8] {
        id.isZero ? [] : try repository.blob(id)
    }

    private func makeEntry(index: Int, delta: UnsafePointer<git_diff_delta>) -> DiffEntry {
        let d = delta.pointee
        let status: FileStatus
        switch d.status {
        case GIT_DELTA_ADDED: status = .added
        case GIT_DELTA_DELETED: status = .deleted
        case GIT_DELTA_RENAMED: status = .renamed
        case GIT_DELTA_COPIED: status = .copied
        case GIT_DELTA_TYPECHANGE: status = .typeChanged
        default: status = .modified
        }
        let oldBytes = d.old_file.path.map { Array(UnsafeRawBufferPointer(start: $0, count: strlen($0))) } ?? []
        let newBytes = d.new_file.path.map { Array(UnsafeRawBufferPointer(start: $0, count: strlen($0))) } ?? []
        return DiffEntry(index: index, status: status,
                         oldPath: String(decoding: oldBytes, as: UTF8.self), newPath: String(decoding: newBytes, as: UTF8.self),
                         oldPathBytes: oldBytes, newPathBytes: newBytes,
                         oldID: ObjectID(d.old_file.id), newID: ObjectID(d.new_file.id),
                         oldMode: UInt32(d.old_file.mode), newMode: UInt32(d.new_file.mode),
                         isBinary: d.flags & GIT_DIFF_FLAG_BINARY.rawValue != 0, similarity: Int(d.similarity))
    }

    private func makeEntry(index: Int, change: FileChange, isBinary: Bool) -> DiffEntry {
        let status: FileStatus = change.oldID == nil ? .added : (change.newID == nil ? .deleted : .modified)
        let path = String(decoding: change.path, as: UTF8.self)
        let zero = ObjectID(bytes: Array(repeating: 0, count: 20))
        return DiffEntry(index: index, status: status,
                         oldPath: status == .added ? "" : path, newPath: status == .deleted ? "" : path,
                         oldPathBytes: status == .added ? [] : change.path, newPathBytes: status == .deleted ? [] : change.path,
                         oldID: change.oldID ?? zero, newID: change.newID ?? zero,
                         oldMode: change.oldMode, newMode: change.newMode, isBinary: isBinary, similarity: 0)
    }

    /// Offset of `needle` where it starts a line of `haystack`.
    static func lineStart(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        var start = 0
        while start + needle.count <= haystack.count {
            if haystack[start..<(start + needle.count)].elementsEqual(needle) { return start }
            guard let newline = haystack[start...].firstIndex(of: 10) else { return nil }
            start = newline + 1
        }
        return nil
    }
}

/// Owns a `git_blob` handle.
final class BlobHandle {
    let pointer: OpaquePointer
    init(repository: Repository, id: ObjectID) throws {
        var oid = id.oid
        var raw: OpaquePointer?
        try check(git_blob_lookup(&raw, repository.pointer, &oid), "reading blob \(id)")
        pointer = raw!
    }
    deinit { git_blob_free(pointer) }
}

/// Owns a `git_patch` handle.
final class PatchHandle {
    let pointer: OpaquePointer
    init(_ pointer: OpaquePointer) { self.pointer = pointer }
    deinit { git_patch_free(pointer) }
}

extension Repository {
    /// Diffs two trees, each given as a commit or tree id (`nil` = the empty tree), with git's
    /// rename detection and `git diff --binary`'s output settings.
    public func diff(from old: ObjectID?, to new: ObjectID, options: DiffOptions = DiffOptions()) throws -> Diff {
        try diff(from: old, to: new, options: options, allowBlobBackend: true)
    }

    /// As `diff(from:to:options:)`, reusing `changes` (this pair's `changedFiles`, computed by the
    /// caller to decide whether the diff is needed at all).
    public func diff(from old: ObjectID?, to new: ObjectID, changes: [FileChange], options: DiffOptions = DiffOptions()) throws -> Diff {
        try diff(from: old, to: new, options: options, allowBlobBackend: true, changes: changes)
    }

    func diff(from old: ObjectID?, to new: ObjectID, options: DiffOptions, allowBlobBackend: Bool,
              changes known: [FileChange]? = nil) throws -> Diff {
        var diffOptions = git_diff_options()
        try check(git_diff_options_init(&diffOptions, UInt32(GIT_DIFF_OPTIONS_VERSION)), "initializing diff options")
        // git diff: indent heuristic on by default; --binary implies full 40-hex index lines.
        diffOptions.flags = GIT_DIFF_SHOW_BINARY.rawValue | GIT_DIFF_INDENT_HEURISTIC.rawValue
        diffOptions.context_lines = UInt32(options.contextLines)
        diffOptions.interhunk_lines = 0
        diffOptions.id_abbrev = 40
        let what = "diffing \(old?.hex ?? "the empty tree") against \(new)"

        if allowBlobBackend {
            // Regular files only, no mode changes, and no add/delete pair that could be a rename:
            // then each file's patch can be made from its two blobs alone.
            let changes = try known ?? changedFiles(from: old, to: new)
            let regular: Set<UInt32> = [0, 0o100644, 0o100755]
            let simple = changes.allSatisfy {
                regular.contains($0.oldMode) && regular.contains($0.newMode) && ($0.oldMode == $0.newMode || $0.oldMode == 0 || $0.newMode == 0)
            }
            let mayRename = options.detectRenames && changes.contains { $0.oldID == nil } && changes.contains { $0.newID == nil }
            if simple && !mayRename {
                return Diff(changes: changes, repository: self, options: diffOptions, old: old, new: new)
            }
        }

        let oldTree = try old.map { try tree($0) }
        let newTree = try tree(new)
        var raw: OpaquePointer?
        try check(git_diff_tree_to_tree(&raw, pointer, oldTree?.pointer, newTree.pointer, &diffOptions), what)
        let diff = Diff(raw!, repository: self, options: diffOptions, old: old, new: new)
        if options.detectRenames {
            var find = git_diff_find_options()
            try check(git_diff_find_options_init(&find, UInt32(GIT_DIFF_FIND_OPTIONS_VERSION)), "initializing rename options")
            find.flags = GIT_DIFF_FIND_RENAMES.rawValue | GIT_DIFF_FIND_DONT_IGNORE_WHITESPACE.rawValue
            find.rename_threshold = UInt16(options.renameThreshold)
            find.rename_limit = 1000
            guard case .treeDiff(let pointer) = diff.backend else { return diff }
            try RenameSimilarity().withMetric { metric in
                find.metric = metric
                try check(git_diff_find_similar(pointer, &find), "detecting renames while \(what)")
            }
            diff.deltasChanged()
        }
        return diff
    }

    /// `git patch-id --stable` of a commit's change against its first parent (the empty tree for a
    /// root commit). Renames are not detected, as in `git format-patch | git patch-id`.
    public func patchID(ofCommit id: ObjectID) throws -> ObjectID {
        let commit = try self.commit(id)
        return try diff(from: commit.parentIDs.first, to: id, options: DiffOptions(detectRenames: false),
                        allowBlobBackend: false).patchID()
    }
}
