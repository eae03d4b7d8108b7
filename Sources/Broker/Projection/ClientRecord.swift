/// A session known to the broker, connected or waiting to be resumed.
public struct ClientRecord: Sendable, Hashable {
    /// Session id.
    public var id: String
    /// Authenticated user, nil for anonymous clients.
    public var user: String?
    /// Peer address of the latest connection.
    public var remoteAddress: String?
    /// Node that accepted the latest connection.
    public var node: String
    /// Journal time of the latest connect or resume, UTC microseconds.
    public var connectedAt: Int64
    /// Journal time of the connect that opened the session, UTC microseconds: resumes keep it. A
    /// resumed client may have missed everything since its first connection dropped, however many
    /// resumes came after (a resume cut off while catching up leaves the client where it was).
    public var startedAt: Int64
    /// Connected or gone.
    public var state: ClientState

    /// Creates a record.
    public init(
        id: String, user: String?, remoteAddress: String?, node: String, connectedAt: Int64, startedAt: Int64? = nil,
        state: ClientState
    ) {
        self.id = id
        self.user = user
        self.remoteAddress = remoteAddress
        self.node = node
        self.connectedAt = connectedAt
        self.startedAt = startedAt ?? connectedAt
        self.state = state
    }

    /// Whether the session has a live connection.
    public var isConnected: Bool {
        if case .connected = state { return true }
        return false
    }

    /// Whether a reconnect at `now` (UTC microseconds) may resume this session.
    ///
    /// The decider has no clock, so the server checks this before issuing a resuming `connect`.
    public func isResumable(at now: Int64) -> Bool {
        if case .gone(_, _, let deadline) = state { return now <= deadline }
        return false
    }

    /// Who `alerts` subscriptions of this client belong to: the user, or the session id when anonymous.
    public var alertOwner: String { user ?? id }
}
