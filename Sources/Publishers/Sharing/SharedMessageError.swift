/// Why a message on a shared news or alerts channel was dropped.
public struct SharedMessageError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The channel it came from.
    public var channel: String
    /// What is wrong with it and what the channel expects instead.
    public var reason: String

    public var description: String { "message on \(channel) dropped: \(reason)" }
}
