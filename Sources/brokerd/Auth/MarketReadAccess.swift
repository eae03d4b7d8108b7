import Broker

/// What a reader of the market-data routes (`GET /api/prices`, `/api/klines`, `/api/news`) and the
/// strategy routes (`GET /api/strategies`, `/api/signals/buy`) may see.
///
/// With client authentication on, a reader presents a client token and sees what a subscription
/// would show it, as its allow-list says: the REST reads are no way around the grants.
enum MarketReadAccess: Sendable, Equatable {
    /// Everything: authentication is off, or the admin token, or a client token without an allow claim.
    case everything
    /// What the token's allow-list lets a subscription show.
    case allowed(SubscriptionAllowList)

    /// Whether a subscription to `subscription` would be allowed.
    func permits(_ subscription: Subscription) -> Bool {
        guard case .allowed(let list) = self else { return true }
        return list.permits(subscription)
    }

    /// Whether a subscription could show the price of `code`: the stock, its board, or one of
    /// `strategies` (those listing the code).
    func permitsPrice(of code: String, strategies: Set<String>) -> Bool {
        guard case .allowed(let list) = self else { return true }
        return list.permitsPrice(of: code, strategies: strategies)
    }

    /// Whether a subscription could bring `item`.
    func permitsNews(_ item: NewsItem) -> Bool {
        guard case .allowed(let list) = self else { return true }
        return list.permitsNews(item)
    }

    /// The access `identity` (nil: authentication is off) gives.
    init(_ identity: ClientIdentity?) {
        self = identity?.allowList.map(Self.allowed) ?? .everything
    }
}
