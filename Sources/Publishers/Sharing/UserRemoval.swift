/// An operator's removal of a user's sessions (`DELETE /api/websocket/clients?user=`), which the
/// node asked hands to the other nodes: the user's connections there are closed too.
public struct UserRemoval: Sendable, Hashable {
    /// The user (the `sub` of the tokens its clients connected with).
    public var user: String
    /// Whether the sessions are ended (not resumable) or only their connections closed.
    public var endingSessions: Bool
    /// When the operator asked, UTC microseconds: a node that hears of it late (the message held
    /// while Redis was away) does not act on it (`isStale`).
    public var requestedAt: Int64
    /// The node the operator asked; nil for a message from a tool of the operator's own.
    public var requestedOn: String?

    /// A removal of `user`'s sessions asked at `requestedAt` on `requestedOn`.
    public init(user: String, endingSessions: Bool, requestedAt: Int64, requestedOn: String? = nil) {
        self.user = user
        self.endingSessions = endingSessions
        self.requestedAt = requestedAt
        self.requestedOn = requestedOn
    }

    /// How old a removal may be when a node hears of it and still acts on it: later, the user may
    /// have connected again since, legitimately, and closing that would be wrong.
    public static let maxAge: Duration = .seconds(30)

    /// Whether the removal is too old to act on at `now` (UTC microseconds).
    public func isStale(at now: Int64) -> Bool {
        now - requestedAt > Int64(Self.maxAge.components.seconds) * 1_000_000
    }
}
