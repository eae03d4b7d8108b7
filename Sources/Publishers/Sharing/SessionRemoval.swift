/// An operator's removal of one session by its client id (`DELETE /api/websocket/clients/{client_id}`)
/// that the node asked does not have: it hands the removal to the other nodes, and the node that
/// has the session closes its connection (and ends it) there.
public struct SessionRemoval: OperatorRemoval, Hashable {
    /// The session's client id.
    public var clientID: String
    /// Whether the session is ended (not resumable) or only its connection closed.
    public var endingSession: Bool
    /// When the operator asked, UTC microseconds (`isStale`).
    public var requestedAt: Int64
    /// The node the operator asked; nil for a message from a tool of the operator's own.
    public var requestedOn: String?
    /// Set by the node asked, which waits for the others' answers (`SessionRemovalAnswer`); nil:
    /// nobody waits, none is sent.
    public var requestID: String?

    /// A removal of `clientID`'s session asked at `requestedAt` on `requestedOn`.
    public init(clientID: String, endingSession: Bool, requestedAt: Int64, requestedOn: String? = nil, requestID: String? = nil) {
        self.clientID = clientID
        self.endingSession = endingSession
        self.requestedAt = requestedAt
        self.requestedOn = requestedOn
        self.requestID = requestID
    }

    /// The answer `node` gives the node asked, saying it has no such session until told otherwise;
    /// nil when nobody waits for one.
    public func answer(from node: String) -> SessionRemovalAnswer? {
        guard let requestID, let requestedOn else { return nil }
        return SessionRemovalAnswer(requestID: requestID, askedOn: requestedOn, node: node, clientID: clientID)
    }
}

/// A node's answer to a session's removal another node was asked for (`SessionRemoval.requestID`):
/// every node answers, the one that had the session with what it did (`removed`) or why it could
/// not (`refused`), the others with neither. Only the node asked takes it.
public struct SessionRemovalAnswer: NodeAnswer {
    /// What the node that had the session did, as its own API answers a removal.
    public struct Removed: Sendable, Hashable {
        /// The user the session connected as; nil for an anonymous one.
        public var user: String?
        /// Whether it had a connection, now closed and its disconnect journaled there.
        public var disconnected: Bool
        /// Whether the session is ended there (`session_expired` journaled).
        public var sessionEnded: Bool
        /// That node's journal's last seq once it was done.
        public var seq: UInt64

        public init(user: String?, disconnected: Bool, sessionEnded: Bool, seq: UInt64) {
            self.user = user
            self.disconnected = disconnected
            self.sessionEnded = sessionEnded
            self.seq = seq
        }
    }

    /// Why the node that had the session could not remove it: the refusal its own API would answer.
    public struct Refused: Sendable, Hashable {
        /// The HTTP status, 400 to 599.
        public var status: Int
        /// The error's code (`client_not_connected`, `disconnect_pending`, …).
        public var error: String
        public var details: String

        public init(status: Int, error: String, details: String) {
            self.status = status
            self.error = error
            self.details = details
        }
    }

    /// The removal's `requestID`.
    public var requestID: String
    /// The node asked, the one the answer is for.
    public var askedOn: String
    /// The node answering (its messages' `node`).
    public var node: String
    /// The session's client id.
    public var clientID: String
    /// Set when the node had the session and removed it.
    public var removed: Removed?
    /// Set when the node had the session and could not remove it.
    public var refused: Refused?

    /// Longest `details` an answer may carry.
    public static let maxDetailsLength = UserRemovalAnswer.maxErrorLength

    /// The answer of `node` to `requestID`, asked on `askedOn`.
    public init(requestID: String, askedOn: String, node: String, clientID: String, removed: Removed? = nil, refused: Refused? = nil) {
        self.requestID = requestID
        self.askedOn = askedOn
        self.node = node
        self.clientID = clientID
        self.removed = removed
        self.refused = refused
    }

    /// Whether the node answering had the session.
    public var hadSession: Bool { removed != nil || refused != nil }
}
