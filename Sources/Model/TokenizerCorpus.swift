// Finding and reading the text files a tokenizer is trained on.
import Foundation

/// Which files under the given paths make up a training corpus.
public enum TokenizerCorpus {
    /// Files larger than this are skipped (generated or data files, not code worth learning).
    public static let maximumFileSize = 4 << 20

    /// Regular files under `paths` (a file path is taken as is), sorted, skipping hidden entries
    /// such as `.git`, files over `maximumFileSize` and binary files (a NUL in the first 8 KiB).
    public static func files(in paths: [URL]) throws -> [URL] {
        var found: [URL] = []
        let manager = FileManager.default
        for path in paths {
            var isDirectory: ObjCBool = false
            guard manager.fileExists(atPath: path.path, isDirectory: &isDirectory) else {
                throw TokenizerError("corpus path \(path.path) does not exist")
            }
            guard isDirectory.boolValue else { found.append(path); continue }
            guard let enumerator = manager.enumerator(at: path, includingPropertiesForKeys: [.isRegularFileKey, .fileSizeKey],
                                                      options: [.skipsHiddenFiles]) else {
                throw TokenizerError("cannot list corpus directory \(path.path)")
            }
            for case let url as URL in enumerator {
                let values = try url.resourceValues(forKeys: [.isRegularFileKey, .fileSizeKey])
                guard values.isRegularFile == true, (values.fileSize ?? 0) <= maximumFileSize,
                      try !looksBinary(url) else { continue }
                found.append(url)
            }
        }
        return found.sorted { $0.path < $1.path }
    }

    /// The raw bytes of a corpus file.
    public static func contents(of file: URL) throws -> [UInt8] {
        do {
            return [UInt8](try Data(contentsOf: file))
        } catch {
            throw TokenizerError.unreadable(path: file.path, underlying: error)
        }
    }

    static func looksBinary(_ file: URL) throws -> Bool {
        guard let handle = try? FileHandle(forReadingFrom: file) else {
            throw TokenizerError("cannot open corpus file \(file.path)")
        }
        defer { try? handle.close() }
        let head = (try? handle.read(upToCount: 8192)) ?? Data()
        return head.contains(0)
    }
}
