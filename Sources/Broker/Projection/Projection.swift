import DequeModule

/// The broker's in-memory state, rebuilt by applying journal events in seq order.
///
/// `apply` is pure, deterministic and total: an event about an unknown client or rule changes
/// nothing but `lastSeq`/`lastTimestamp`. Commands are validated by `Decider` before their events
/// exist, so nothing here rejects input.
public struct Projection: Sendable, Equatable {
    /// How many news items the ring buffer keeps; older ones are dropped.
    public static let newsCapacity = 500

    /// Seq of the last applied event; 0 before any.
    public internal(set) var lastSeq: UInt64 = 0
    /// Journal time of the last applied event, UTC microseconds.
    public internal(set) var lastTimestamp: Int64 = 0
    /// Known sessions by id, connected or gone.
    public internal(set) var clients: [String: ClientRecord] = [:]
    /// Client subscriptions, indexed both ways.
    public internal(set) var subscriptions = SubscriptionIndex()
    /// Strategy signal lists and which strategies contain each code.
    public internal(set) var strategies = StrategyIndex()
    /// Latest tick per code.
    public internal(set) var lastPrices: [String: PriceTick] = [:]
    /// Latest bar per code and period: the one with the latest start (a bar of an earlier period
    /// journaled later, such as yesterday's daily bar re-sent or corrected in the morning, does
    /// not replace today's), the last journaled among those starting then.
    public internal(set) var lastBars: [BarKey: KlineBar] = [:]
    /// The newest `newsCapacity` news items, oldest first.
    public internal(set) var news: Deque<NewsEntry> = []
    /// The ids of the newest `NewsIDWindow.capacity` news items, which a new item must not repeat.
    public internal(set) var newsIDs = NewsIDWindow()
    /// Alert rules and their armed state.
    public internal(set) var alerts = AlertBook()
    /// Read positions of tick sources, by source name.
    public internal(set) var sourcePositions: [String: String] = [:]

    /// Creates the empty state that precedes seq 1.
    public init() {}

    /// Applies one journal event. The caller applies events in seq order, each once.
    public mutating func apply(_ recorded: RecordedEvent) {
        lastSeq = recorded.seq
        lastTimestamp = recorded.timestamp
        switch recorded.event {
        case .clientConnected(let p):
            applyConnected(p, at: recorded.timestamp)
        case .clientDisconnected(let p):
            guard let client = clients[p.clientID] else { return }
            // A disconnect of a gone session (a restart moving its deadline on by the downtime)
            // changes its deadline; it has been gone since the first.
            let since = if case .gone(let first, _, _) = client.state { first } else { recorded.timestamp }
            clients[p.clientID]?.state = .gone(since: since, reason: p.reason, resumeDeadline: p.resumeDeadline)
        case .sessionExpired(let p):
            guard clients.removeValue(forKey: p.clientID) != nil else { return }
            subscriptions.removeAll(of: p.clientID)
        case .subscribed(let p):
            guard clients[p.clientID] != nil else { return }
            subscriptions.insert(clientID: p.clientID, subscription: p.subscription)
        case .unsubscribed(let p):
            subscriptions.remove(clientID: p.clientID, subscription: p.subscription)
        case .priceTicked(let tick):
            let previous = lastPrices.updateValue(tick, forKey: tick.code)
            alerts.rearm(for: tick, after: previous)
        case .klineUpdated(let bar):
            let key = BarKey(code: bar.code, period: bar.period)
            if let current = lastBars[key], current.start > bar.start { return }
            lastBars[key] = bar
        case .newsPublished(let item):
            news.append(NewsEntry(seq: recorded.seq, item: item))
            while news.count > Self.newsCapacity { news.removeFirst() }
            newsIDs.append(item.id)
        case .alertRuleSet(let rule):
            alerts.set(rule)
        case .alertRuleRemoved(let p):
            // A removal naming the wrong owner never passes the decider; ignore it rather than trust it.
            guard alerts.rule(id: p.ruleID)?.user == p.user else { return }
            alerts.remove(id: p.ruleID)
        case .alertTriggered(let p):
            alerts.markTriggered(p.ruleID)
        case .signalsReplaced(let p):
            strategies.replace(strategy: p.strategy, with: p.signals)
        case .sourceAdvanced(let p):
            sourcePositions[p.source] = p.position
        }
    }

    /// Applies events in order.
    public mutating func apply<S: Sequence<RecordedEvent>>(contentsOf events: S) {
        for event in events { apply(event) }
    }

    private mutating func applyConnected(_ p: ClientConnected, at timestamp: Int64) {
        // An existing id is a resume: the record is refreshed, its start and subscriptions stay.
        clients[p.clientID] = ClientRecord(
            id: p.clientID, user: p.user, remoteAddress: p.remoteAddress, node: p.node,
            connectedAt: timestamp, startedAt: clients[p.clientID]?.startedAt, state: .connected)
    }
}
