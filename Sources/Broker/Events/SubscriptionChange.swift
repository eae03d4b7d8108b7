/// Payload of `subscribed` and `unsubscribed`.
public struct SubscriptionChange: Sendable, Hashable, Codable {
    /// Session id.
    public var clientID: String
    /// What was added or removed.
    public var subscription: Subscription

    /// Creates the payload.
    public init(clientID: String, subscription: Subscription) {
        self.clientID = clientID
        self.subscription = subscription
    }

    enum CodingKeys: String, CodingKey {
        case clientID = "client_id"
        case subscription
    }
}
