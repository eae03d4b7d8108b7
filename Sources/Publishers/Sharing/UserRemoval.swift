/// An operator's removal of a user's sessions (`DELETE /api/websocket/clients?user=`), which the
/// node asked hands to the other nodes: the user's connections there are closed too.
public struct UserRemoval: OperatorRemoval, Hashable {
    /// The user (the `sub` of the tokens its clients connected with).
    public var user: String
    /// Whether the sessions are ended (not resumable) or only their connections closed.
    public var endingSessions: Bool
    /// When the operator asked, UTC microseconds: a node that hears of it late (the message held
    /// while Redis was away) does not act on it (`isStale`).
    public var requestedAt: Int64
    /// The node the operator asked; nil for a message from a tool of the operator's own.
    public var requestedOn: String?
    /// Set by the node asked, which waits for the others' answers (`UserRemovalAnswer`) to it;
    /// nil: nobody waits (an operator's tool, a node of an earlier build), none is sent.
    public var requestID: String?

    /// A removal of `user`'s sessions asked at `requestedAt` on `requestedOn`.
    public init(user: String, endingSessions: Bool, requestedAt: Int64, requestedOn: String? = nil, requestID: String? = nil) {
        self.user = user
        self.endingSessions = endingSessions
        self.requestedAt = requestedAt
        self.requestedOn = requestedOn
        self.requestID = requestID
    }

    /// The answer `node` gives the node asked, with nothing removed yet; nil when nobody waits
    /// for one.
    public func answer(from node: String) -> UserRemovalAnswer? {
        guard let requestID, let requestedOn else { return nil }
        return UserRemovalAnswer(requestID: requestID, askedOn: requestedOn, node: node, user: user, clients: [])
    }
}

/// An operator's removal one node hands to the others: of a user's sessions (`UserRemoval`) or of
/// one session by its client id (`SessionRemoval`).
public protocol OperatorRemoval: Sendable {
    /// When the operator asked, UTC microseconds.
    var requestedAt: Int64 { get }
    /// The request's wire key (`remove_user`, `remove_client`), which names it in metrics.
    var requestKind: String { get }
}

extension OperatorRemoval {
    /// How old a removal may be when a node hears of it and still acts on it: later, the user may
    /// have connected again since, legitimately, and closing that would be wrong.
    public static var maxAge: Duration { .seconds(30) }

    /// Whether the removal is too old to act on at `now` (UTC microseconds).
    public func isStale(at now: Int64) -> Bool {
        now - requestedAt > Int64(Self.maxAge.components.seconds) * 1_000_000
    }
}

/// A node's answer to a user's removal another node was asked for (`UserRemoval.requestID`): the
/// sessions it removed there, or why it could not. Only the node asked takes it; it waits for the
/// answers of the nodes it knows, so the operator's answer counts every node's sessions.
public struct UserRemovalAnswer: NodeAnswer {
    /// The removal's `requestID`.
    public var requestID: String
    /// The node asked, the one the answer is for.
    public var askedOn: String
    /// The node answering (its messages' `node`).
    public var node: String
    /// The user removed.
    public var user: String
    /// The client ids of the sessions removed there (in the order they were).
    public var clients: [String]
    /// Why the removal failed there; nil when it did not.
    public var error: String?

    /// Most client ids an answer may carry: far more sessions than one user has on a node.
    public static let maxClients = 10_000
    /// Longest `error` an answer may carry.
    public static let maxErrorLength = 1_000

    /// The answer of `node` to `requestID`, asked on `askedOn`.
    public init(requestID: String, askedOn: String, node: String, user: String, clients: [String], error: String? = nil) {
        self.requestID = requestID
        self.askedOn = askedOn
        self.node = node
        self.user = user
        self.clients = clients
        self.error = error
    }
}
