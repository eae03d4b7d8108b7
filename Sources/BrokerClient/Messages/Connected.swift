/// The broker's first message on a connection: the session it opened or resumed.
public struct Connected: Sendable, Hashable, Decodable {
    /// The session's id, the one to resume.
    public let clientID: String
    /// The journal position at which the connection was recorded.
    public let seq: UInt64
    /// True when the requested session was resumed with its subscriptions.
    public let resumed: Bool
    public let message: String
    /// What a resume of the session must bring back with its id; nil from a broker without
    /// resume tokens (the seed's, or one older than them).
    public let resumeToken: String?
    /// The shortest time between two price updates of one subscription to this connection, in
    /// seconds: what the URL's `?price_interval=` asked for, rounded up to one of the broker's
    /// steps, or the broker's own. Nil when price updates are not held back.
    public let priceInterval: Double?

    enum CodingKeys: String, CodingKey {
        case seq, resumed, message
        case clientID = "client_id"
        case resumeToken = "resume_token"
        case priceInterval = "price_interval"
    }

    public init(
        clientID: String, seq: UInt64, resumed: Bool, message: String = "", resumeToken: String? = nil, priceInterval: Double? = nil
    ) {
        self.clientID = clientID
        self.resumeToken = resumeToken
        self.priceInterval = priceInterval
        self.seq = seq
        self.resumed = resumed
        self.message = message
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        clientID = try container.decode(String.self, forKey: .clientID)
        seq = try container.decodeIfPresent(UInt64.self, forKey: .seq) ?? 0
        // The seed's broker had no resume: no field means a fresh session.
        resumed = try container.decodeIfPresent(Bool.self, forKey: .resumed) ?? false
        message = try container.decodeIfPresent(String.self, forKey: .message) ?? ""
        resumeToken = try container.decodeIfPresent(String.self, forKey: .resumeToken)
        priceInterval = try container.decodeIfPresent(Double.self, forKey: .priceInterval)
    }
}
