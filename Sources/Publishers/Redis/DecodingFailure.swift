/// One line saying why a JSON message did not decode, for logs and counters.
enum DecodingFailure {
    /// Paths are given from `base` on, for a part of a message that names its place itself.
    static func describe(_ error: any Error, below base: [any CodingKey] = []) -> String {
        switch error as? DecodingError {
        case .dataCorrupted(let context): context.debugDescription
        case .keyNotFound(let key, _): "missing '\(key.stringValue)'"
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            context.codingPath.count > base.count
                ? "wrong type at '\(context.codingPath.dropFirst(base.count).map(\.stringValue).joined(separator: "."))'" : "wrong type"
        default: String(describing: error)
        }
    }
}
