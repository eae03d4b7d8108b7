/// An `error` message: a request refused or a problem the client should know about
/// (`resume_failed`, `resume_incomplete`, `not_authorized`, `subscription_dropped`, `rate_limited`, …).
public struct ServerError: Sendable, Hashable, Decodable, Error, CustomStringConvertible {
    /// Short machine-readable code.
    public let error: String
    /// What happened and how to fix it.
    public let details: String

    public var description: String { "\(error): \(details)" }
}
