/// Read-only questions the server asks the projection during fan-out, subscribe and resume.
extension Projection {
    /// The session with `id`.
    public func client(_ id: String) -> ClientRecord? {
        clients[id]
    }

    /// Subscriptions with at least one subscriber that a tick or bar of `code` reaches:
    /// `(stock, code)`, `(market, board)` and `(strategy, s)` for each strategy containing the code.
    ///
    /// Uses only the reverse indexes, so the cost is independent of the number of clients.
    /// Order: stock, market, then strategies sorted by name.
    public func subscriptionsAffected(byCode code: String) -> [Subscription] {
        var affected: [Subscription] = []
        let stock = Subscription(type: .stock, target: code)
        if subscriptions.hasSubscribers(stock) { affected.append(stock) }
        if let board = Board.of(code: code) {
            let market = Subscription(type: .market, target: board.rawValue)
            if subscriptions.hasSubscribers(market) { affected.append(market) }
        }
        let containing = strategies.strategies(containing: code)
        if !containing.isEmpty {
            for strategy in containing.sorted() {
                let subscription = Subscription(type: .strategy, target: strategy)
                if subscriptions.hasSubscribers(subscription) { affected.append(subscription) }
            }
        }
        return affected
    }

    /// Codes whose prices a subscription covers now, sorted and unique; empty for news and alerts.
    ///
    /// For `market` this lists the codes with a known price on that board, so it scans `lastPrices`:
    /// meant for the snapshot sent on subscribe, not for per-tick fan-out.
    public func codes(for subscription: Subscription) -> [String] {
        switch subscription.type {
        case .stock:
            return [subscription.target]
        case .strategy:
            return Set(strategies.signals(of: subscription.target).map(\.code)).sorted()
        case .market:
            guard let board = Board(rawValue: subscription.target) else { return [] }
            return Self.codes(on: board, in: lastPrices)
        case .news, .alerts:
            return []
        }
    }

    /// The latest known tick of every code the subscription covers, sorted by code. A tick named
    /// by its code (no tick gave a name) takes the name a signal list gave the code since, as the
    /// code's next tick will.
    public func knownPrices(for subscription: Subscription) -> [PriceTick] {
        if subscription.type == .market, let board = Board(rawValue: subscription.target) {
            return Self.knownPrices(on: board, lastPrices: lastPrices, strategies: strategies)
        }
        return codes(for: subscription).compactMap(knownPrice(of:))
    }

    /// The latest known tick of `code`, named as `knownPrices(for:)` names it; nil before its first tick.
    public func knownPrice(of code: String) -> PriceTick? {
        lastPrices[code].map { Self.named($0, by: strategies) }
    }

    /// The latest known ticks of `board`'s codes, sorted by code and named as `knownPrices(for:)`
    /// does, from a projection's `lastPrices` and `strategies`: taken off the store (copies sharing
    /// their storage), the scan of every known price need not hold it up.
    public static func knownPrices(on board: Board, lastPrices: [String: PriceTick], strategies: StrategyIndex) -> [PriceTick] {
        ticks(on: board, in: lastPrices).map { named($0, by: strategies) }
    }

    /// The ticks of `board`'s codes in `lastPrices` as they are there (not yet named), sorted by
    /// code: kept as the scan finds them, not looked up again by code afterwards.
    public static func ticks(on board: Board, in lastPrices: [String: PriceTick]) -> [PriceTick] {
        lastPrices.values.filter { Board.of(code: $0.code) == board }.sorted { $0.code < $1.code }
    }

    /// The codes of `board` with a price in `lastPrices`, sorted.
    static func codes(on board: Board, in lastPrices: [String: PriceTick]) -> [String] {
        ticks(on: board, in: lastPrices).map(\.code)
    }

    /// `tick`, named by a signal list when no tick named its code.
    public static func named(_ tick: PriceTick, by strategies: StrategyIndex) -> PriceTick {
        guard tick.name.isEmpty || tick.name == tick.code, let name = strategies.signalName(of: tick.code) else { return tick }
        var named = tick
        named.name = name
        return named
    }

    /// Whether the news ring still holds an item with `id`.
    public func containsNews(id: String) -> Bool {
        newsIDs.contains(id)
    }

    /// News entries published after `seq`, oldest first.
    public func news(after seq: UInt64) -> [NewsEntry] {
        news.filter { $0.seq > seq }
    }
}

extension NewsItem {
    /// The `news` subscriptions the item reaches, subscribed or not: `all`, then its category.
    public var newsSubscriptions: [Subscription] {
        let all = Subscription(type: .news, target: "all")
        guard !category.isEmpty && category != "all" else { return [all] }
        return [all, Subscription(type: .news, target: category)]
    }
}
