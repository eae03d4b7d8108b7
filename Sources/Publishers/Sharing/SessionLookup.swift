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
    /// Of every connection, only the oldest this many of each node (the node asked shows a page of
    /// them: no node's rows after its first `offset + limit` can be on it); nil for all.
    public var first: Int?
    /// Of every connection or a user's: each row with the count of its subscriptions, not the list
    /// (`?subscriptions=count`). Nodes of earlier builds send the list; the node asked counts it.
    public var countsSubscriptions: Bool

    /// Most rows `first` may ask for.
    public static let maxFirst = 10_000_000

    public init(_ target: Target, requestedOn: String, requestID: String, first: Int? = nil, countsSubscriptions: Bool = false) {
        self.target = target
        self.requestedOn = requestedOn
        self.requestID = requestID
        self.first = first
        self.countsSubscriptions = countsSubscriptions
    }

    /// `subscriptions` of the lookup on the wire: `count` when `countsSubscriptions`.
    static let countWire = "count"
    var subscriptionsWire: String? { countsSubscriptions ? Self.countWire : nil }

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
    /// Which message of the answer this is, from 0: a body longer than `maxBodyBytes` goes in
    /// parts (`carrying(_:)`), each with a piece of it.
    public var part = 0
    /// How many messages the answer takes: 1 for a body that fits in one.
    public var parts = 1

    /// Longest `body` one message may carry, in bytes: a session at the largest subscription limit
    /// takes a fraction of it; a longer body goes in parts.
    public static let maxBodyBytes = 1 << 20
    /// Most messages one answer may take: a body of up to 16 MiB, every connection of a node
    /// holding some 40,000 of them, or every subscription of one whose clients follow some
    /// 150,000 targets. Larger, the node answers with an `error`.
    public static let maxParts = 16
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

    /// This answer with `body`, as the messages it takes: one when the body fits in `maxBytes`,
    /// else its consecutive pieces, each at most `maxBytes` long and cut between two characters,
    /// numbered in `part` and `parts`. Nil when that would take more than `maxParts` messages.
    public func carrying(_ body: String, maxBytes: Int = maxBodyBytes) -> [SessionLookupAnswer]? {
        let bytes = Array(body.utf8)
        var answer = self
        guard bytes.count > maxBytes else {
            answer.body = body
            return [answer]
        }
        // At least 4 bytes, so that a piece always holds a whole character.
        let maxBytes = max(4, maxBytes)
        var pieces: [String] = []
        var start = 0
        while start < bytes.count {
            guard pieces.count < Self.maxParts else { return nil }
            var end = min(start + maxBytes, bytes.count)
            // Not inside a character: UTF-8 continuation bytes are 10xxxxxx.
            while end < bytes.count, bytes[end] & 0xC0 == 0x80 { end -= 1 }
            pieces.append(String(decoding: bytes[start..<end], as: UTF8.self))
            start = end
        }
        answer.parts = pieces.count
        return pieces.enumerated().map { index, piece in
            var part = answer
            part.part = index
            part.body = piece
            return part
        }
    }

    /// The answer whose body is the bodies of `parts`, in order: every part of one node's answer
    /// to one request, 0 to `parts - 1`. Nil when they are not that.
    public static func joined(_ parts: [SessionLookupAnswer]) -> SessionLookupAnswer? {
        guard var whole = parts.first, parts.count == whole.parts else { return nil }
        for (index, part) in parts.enumerated() {
            guard part.part == index, part.parts == whole.parts, part.body != nil, part.requestID == whole.requestID,
                part.node == whole.node, part.askedOn == whole.askedOn, part.target == whole.target
            else { return nil }
        }
        whole.body = parts.lazy.compactMap(\.body).joined()
        whole.part = 0
        whole.parts = 1
        return whole
    }
}
