/// What a subscription's target names.
public enum SubscriptionType: String, Sendable, Hashable, Codable, CaseIterable, Comparable {
    /// The codes in a strategy's signal list.
    case strategy
    /// One stock code.
    case stock
    /// A board: `sh`, `sz` or `bj`.
    case market
    /// `all` news or one category.
    case news
    /// The subscribing user's own alerts.
    case alerts

    /// Orders by declaration order, so sorted output is stable across releases.
    public static func < (lhs: Self, rhs: Self) -> Bool {
        lhs.sortIndex < rhs.sortIndex
    }

    private var sortIndex: Int {
        switch self {
        case .strategy: 0
        case .stock: 1
        case .market: 2
        case .news: 3
        case .alerts: 4
        }
    }
}
