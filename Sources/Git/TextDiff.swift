import CGit2

/// Unified diffs of in-memory file contents (libgit2's `git_patch_from_buffers`), for edits that
/// never were blobs: a model's SEARCH/REPLACE blocks applied to a file at a task's base commit.
public enum TextDiff {
    /// `git diff`-style text turning `old` into `new` at `path` (empty when they are equal).
    public static func unified(path: String, old: [UInt8], new: [UInt8], contextLines: Int = 3) throws -> String {
        _ = libgit2Ready
        guard old != new else { return "" }
        var options = git_diff_options()
        try check(git_diff_options_init(&options, UInt32(GIT_DIFF_OPTIONS_VERSION)), "initializing diff options")
        options.context_lines = UInt32(max(0, contextLines))
        var raw: OpaquePointer?
        try old.withUnsafeBufferPointer { oldBuffer in
            try new.withUnsafeBufferPointer { newBuffer in
                try check(git_patch_from_buffers(&raw, oldBuffer.baseAddress, oldBuffer.count, path,
                                                 newBuffer.baseAddress, newBuffer.count, path, &options),
                          "diffing the edited \(path)")
            }
        }
        let patch = PatchHandle(raw!)
        var buffer = git_buf()
        defer { git_buf_dispose(&buffer) }
        try check(git_patch_to_buf(&buffer, patch.pointer), "printing the diff of \(path)")
        let bytes = UnsafeRawBufferPointer(start: buffer.ptr, count: buffer.size)
        return String(decoding: bytes, as: UTF8.self)
    }
}
