/// A pushed message that must arrive — a bar, a news item, an alert — with its journal position.
public struct Delivery<Payload: Sendable & Hashable & Decodable>: Sendable, Hashable, Decodable {
    /// The message's `data`.
    public let data: Payload
    /// The journal position of the event it reports.
    public let seq: UInt64
    /// When the broker sent it (ISO-8601 UTC).
    public let timestamp: String
    /// The subscription it reached the client through; nil for alerts, which go to their user.
    public let subscription: Subscription?

    enum CodingKeys: String, CodingKey {
        case data, seq, timestamp, target
        case subscriptionType = "subscription_type"
    }

    init(data: Payload, seq: UInt64, timestamp: String, subscription: Subscription?) {
        self.data = data
        self.seq = seq
        self.timestamp = timestamp
        self.subscription = subscription
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        data = try container.decode(Payload.self, forKey: .data)
        seq = try container.decode(UInt64.self, forKey: .seq)
        timestamp = try container.decodeIfPresent(String.self, forKey: .timestamp) ?? ""
        subscription = try Subscription.decodeIfPresent(from: container, type: .subscriptionType, target: .target)
    }
}
