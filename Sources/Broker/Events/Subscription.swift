/// One thing a client listens to: a type and a target (`stock` / `600000`).
public struct Subscription: Sendable, Hashable, Codable, Comparable {
    /// What the target names.
    public var type: SubscriptionType
    /// The strategy name, code, board, news category or user.
    public var target: String

    /// Creates a subscription.
    public init(type: SubscriptionType, target: String) {
        self.type = type
        self.target = target
    }

    /// Orders by type, then target, for deterministic output.
    public static func < (lhs: Self, rhs: Self) -> Bool {
        lhs.type != rhs.type ? lhs.type < rhs.type : lhs.target < rhs.target
    }
}
