extension DecodingError {
    /// Where in the document decoding failed: the coding path, with the missing key appended for
    /// `keyNotFound`. Empty for the document itself. Error messages name the culprit by it.
    public var failurePath: [any CodingKey] {
        switch self {
        case .keyNotFound(let key, let context): return context.codingPath + [key]
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context): return context.codingPath
        @unknown default: return []
        }
    }
}
