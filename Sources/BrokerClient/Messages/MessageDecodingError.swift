/// A text frame that is not a broker message this library understands.
public struct MessageDecodingError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The frame, as received.
    public let text: String
    /// What was wrong with it.
    public let reason: String

    public var description: String { "undecodable broker message (\(reason)): \(text.prefix(200))" }
}
