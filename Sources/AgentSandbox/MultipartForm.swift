import Foundation

/// A `multipart/form-data` body (what `/upload` receives from aiohttp's `FormData`): text
/// fields and file parts by name.
struct MultipartForm {
    var fields: [String: String] = [:]
    var files: [String: Data] = [:]

    /// Parses `body` with the boundary from `contentType`. Throws a 422 naming what is wrong.
    init(contentType: String?, body: Data) throws(RexHTTPError) {
        guard let contentType, contentType.lowercased().hasPrefix("multipart/form-data"),
              let boundaryRange = contentType.range(of: "boundary=") else {
            throw RexHTTPError(status: 422, detail: .validation(type: "missing", location: ["body"], message: "expected a multipart/form-data body with a boundary"))
        }
        var boundary = String(contentType[boundaryRange.upperBound...])
        if let semicolon = boundary.firstIndex(of: ";") { boundary = String(boundary[..<semicolon]) }
        boundary = boundary.trimmingCharacters(in: CharacterSet(charactersIn: "\" "))
        let delimiter = Data("--\(boundary)".utf8)
        var cursor = body.startIndex
        guard let first = body.range(of: delimiter, in: cursor..<body.endIndex) else {
            throw RexHTTPError(status: 422, detail: .validation(type: "value_error", location: ["body"], message: "multipart boundary not found in the body"))
        }
        cursor = first.upperBound
        let separator = Data("\r\n\r\n".utf8)
        while true {
            // After a delimiter: "--" ends the body, else CRLF and a part.
            if body[cursor...].starts(with: Data("--".utf8)) { break }
            guard body[cursor...].starts(with: Data("\r\n".utf8)) else { throw .invalid("body", "malformed multipart body") }
            cursor += 2
            guard let headerEnd = body.range(of: separator, in: cursor..<body.endIndex),
                  let next = body.range(of: Data("\r\n".utf8) + delimiter, in: headerEnd.upperBound..<body.endIndex) else {
                throw .invalid("body", "malformed multipart body: a part is not terminated")
            }
            let headers = String(decoding: body[cursor..<headerEnd.lowerBound], as: UTF8.self)
            let content = body[headerEnd.upperBound..<next.lowerBound]
            guard let disposition = headers.split(separator: "\r\n").first(where: { $0.lowercased().hasPrefix("content-disposition") }),
                  let name = Self.parameter("name", in: String(disposition)) else {
                throw .invalid("body", "a multipart part has no Content-Disposition name")
            }
            if Self.parameter("filename", in: String(disposition)) != nil {
                files[name] = Data(content)
            } else {
                fields[name] = String(decoding: content, as: UTF8.self)
            }
            cursor = next.upperBound
        }
    }

    /// `name="value"` in a header line.
    private static func parameter(_ key: String, in header: String) -> String? {
        for piece in header.split(separator: ";").map({ $0.trimmingCharacters(in: .whitespaces) }) where piece.hasPrefix(key + "=") {
            return String(piece.dropFirst(key.count + 1)).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        }
        return nil
    }
}
