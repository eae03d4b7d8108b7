/// `price_update`: the latest price of each code of one subscription in one fan-out round.
public struct PriceUpdate: Sendable, Hashable, Decodable {
    /// One code's price, at most once per update.
    public struct Entry: Sendable, Hashable, Decodable {
        public let code: String
        public let name: String
        public let price: Double
        /// Change against the previous close.
        public let change: Double
        /// Change against the previous close, in percent.
        public let changePercent: Double
        /// The day's cumulative volume.
        public let volume: Int64
        /// When the tick was taken (ISO-8601 UTC).
        public let timestamp: String

        enum CodingKeys: String, CodingKey {
            case code, name, price, change, volume, timestamp
            case changePercent = "change_percent"
        }
    }

    /// The prices, one entry per code.
    public let entries: [Entry]
    /// The journal position of the update (resent prices carry the broker's position at the time).
    public let seq: UInt64
    /// When the broker sent it (ISO-8601 UTC).
    public let timestamp: String
    /// The subscription it answers; nil if the broker did not say.
    public let subscription: Subscription?

    enum CodingKeys: String, CodingKey {
        case data, seq, timestamp, target
        case subscriptionType = "subscription_type"
    }

    init(entries: [Entry], seq: UInt64, timestamp: String, subscription: Subscription?) {
        self.entries = entries
        self.seq = seq
        self.timestamp = timestamp
        self.subscription = subscription
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        entries = try container.decode([Entry].self, forKey: .data)
        seq = try container.decode(UInt64.self, forKey: .seq)
        timestamp = try container.decodeIfPresent(String.self, forKey: .timestamp) ?? ""
        subscription = try Subscription.decodeIfPresent(from: container, type: .subscriptionType, target: .target)
    }
}
