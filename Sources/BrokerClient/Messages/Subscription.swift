/// What a client subscribes to: a subscription type and its target (SPEC §4).
public struct Subscription: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The kind of target.
    public enum Kind: String, Sendable, Hashable, CaseIterable, Comparable {
        case strategy, stock, market, news, alerts

        public static func < (lhs: Kind, rhs: Kind) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    /// The kind of target (`subscription_type` on the wire).
    public let kind: Kind
    /// The strategy name, stock code, board (`sh`, `sz`, `bj`), news category or `all`.
    public let target: String

    /// A subscription to `target` of `kind`.
    public init(_ kind: Kind, _ target: String) {
        self.kind = kind
        self.target = target
    }

    /// The codes in a strategy's signal list.
    public static func strategy(_ name: String) -> Subscription { Subscription(.strategy, name) }
    /// One stock code: its prices, bars and news.
    public static func stock(_ code: String) -> Subscription { Subscription(.stock, code) }
    /// A board: `sh`, `sz` or `bj`.
    public static func market(_ board: String) -> Subscription { Subscription(.market, board) }
    /// News of a category, or `all`.
    public static func news(_ category: String = "all") -> Subscription { Subscription(.news, category) }
    /// The authenticated user's own alerts.
    public static let alerts = Subscription(.alerts, "me")

    public var description: String { "\(kind.rawValue):\(target)" }

    public static func < (lhs: Subscription, rhs: Subscription) -> Bool {
        (lhs.kind, lhs.target) < (rhs.kind, rhs.target)
    }
}
