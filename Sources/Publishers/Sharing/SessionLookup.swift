import Broker

/// An operator's look at sessions on other nodes: of a client id the node asked does not have
/// (`GET /api/websocket/clients/{client_id}`), of a user's connections
/// (`GET /api/websocket/clients?user=`), of every connection
/// (`GET /api/websocket/clients?nodes=all`), of who subscribes to a target
/// (`GET /api/websocket/subscriptions?target=`), or of every subscription
/// (`GET /api/websocket/subscriptions?nodes=all`). The node asked hands it to the others, which
/// answer with what they have.
public struct SessionLookup: Sendable, Hashable {
    /// What is looked up.
    public enum Target: Sendable, Hashable {
        /// One session, by its client id.
        case client(String)
        /// A user's connections.
        case user(String)
        /// Every connection.
        case connections
        /// The sessions subscribed to a target, of one subscription type or of every type.
        case subscribers(type: SubscriptionType?, target: String)
        /// Every subscription with subscribers, of one subscription type or of every type.
        case subscriptions(type: SubscriptionType?)

        /// The client id, the user or the target; empty for every connection or subscription.
        public var value: String {
            switch self {
            case .client(let clientID): clientID
            case .user(let user): user
            case .connections, .subscriptions: ""
            case .subscribers(_, let target): target
            }
        }
    }

    public var target: Target
    /// The node the operator asked, which waits for the answers.
    public var requestedOn: String
    /// The request the answers name.
    public var requestID: String

    public init(_ target: Target, requestedOn: String, requestID: String) {
        self.target = target
        self.requestedOn = requestedOn
        self.requestID = requestID
    }

    /// The answer `node` gives: it has nothing until told otherwise (`body`).
    public func answer(from node: String) -> SessionLookupAnswer {
        SessionLookupAnswer(requestID: requestID, askedOn: requestedOn, node: node, target: target)
    }
}

/// A node's answer to a lookup (`SessionLookup`): every node answers, with what it has. Only the
/// node asked takes it.
public struct SessionLookupAnswer: NodeAnswer {
    public var requestID: String
    public var askedOn: String
    public var node: String
    /// What was looked up.
    public var target: SessionLookup.Target
    /// What the node has, a JSON object as its own route shows it: the session
    /// (`GET /api/websocket/clients/{client_id}`), the user's connections
    /// (`GET /api/websocket/clients?user=`), every connection (`GET /api/websocket/clients`),
    /// the target's subscribers (`GET /api/websocket/subscriptions?target=`) or every
    /// subscription (`GET /api/websocket/subscriptions`, all of them); nil when it has none.
    public var body: String?
    /// Why the node could not send what it has (too large for an answer); nil when it did.
    public var error: String?

    /// Longest `body` an answer may carry, in bytes: a session at the largest subscription limit
    /// takes a fraction of it.
    public static let maxBodyBytes = 1 << 20
    /// Longest `error` an answer may carry.
    public static let maxErrorLength = UserRemovalAnswer.maxErrorLength

    public init(requestID: String, askedOn: String, node: String, target: SessionLookup.Target, body: String? = nil, error: String? = nil) {
        self.requestID = requestID
        self.askedOn = askedOn
        self.node = node
        self.target = target
        self.body = body
        self.error = error
    }

    /// Whether the node answering has what was looked up.
    public var hasSession: Bool { body != nil || error != nil }
}
