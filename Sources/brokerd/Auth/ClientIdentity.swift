import Broker

/// Who a WebSocket client is, as its verified token says; without auth there is none.
struct ClientIdentity: Sendable, Equatable {
    /// The `sub` claim: owns the client's alerts and sessions, shown as `user` in the clients list.
    let user: String
    /// The subscriptions the token allows; nil when it carries no `allow` claim (all allowed).
    let allowList: SubscriptionAllowList?
    /// The token's `exp`, UTC microseconds: the connection it opened is closed then.
    var expiresAt: Int64? = nil

    /// Whether the token allows subscribing to `subscription`.
    func permits(_ subscription: Subscription) -> Bool {
        allowList?.permits(subscription) ?? true
    }
}
