/// An operator's look at a session by its client id (`GET /api/websocket/clients/{client_id}`)
/// that the node asked does not have: it hands the lookup to the other nodes, and the one that has
/// the session answers with it.
public struct SessionLookup: Sendable, Hashable {
    /// The session's client id.
    public var clientID: String
    /// The node the operator asked, which waits for the answers.
    public var requestedOn: String
    /// The request the answers name.
    public var requestID: String

    public init(clientID: String, requestedOn: String, requestID: String) {
        self.clientID = clientID
        self.requestedOn = requestedOn
        self.requestID = requestID
    }

    /// The answer `node` gives: it does not have the session until told otherwise (`body`).
    public func answer(from node: String) -> SessionLookupAnswer {
        SessionLookupAnswer(requestID: requestID, askedOn: requestedOn, node: node, clientID: clientID)
    }
}

/// A node's answer to a session's lookup (`SessionLookup`): every node answers, the one that has
/// the session with it. Only the node asked takes it.
public struct SessionLookupAnswer: NodeAnswer {
    public var requestID: String
    public var askedOn: String
    public var node: String
    /// The session's client id.
    public var clientID: String
    /// The session as that node's `GET /api/websocket/clients/{client_id}` answers it, a JSON
    /// object; nil when the node does not have it.
    public var body: String?
    /// Why the node that has the session could not send it (too large for an answer); nil when
    /// it did.
    public var error: String?

    /// Longest `body` an answer may carry, in bytes: a session at the largest subscription limit
    /// takes a fraction of it.
    public static let maxBodyBytes = 1 << 20

    /// Longest `error` an answer may carry.
    public static let maxErrorLength = UserRemovalAnswer.maxErrorLength

    public init(requestID: String, askedOn: String, node: String, clientID: String, body: String? = nil, error: String? = nil) {
        self.requestID = requestID
        self.askedOn = askedOn
        self.node = node
        self.clientID = clientID
        self.body = body
        self.error = error
    }

    /// Whether the node answering has the session.
    public var hasSession: Bool { body != nil || error != nil }
}
