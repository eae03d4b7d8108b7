@testable import Broker

/// One example of every event kind, with optionals both set and unset somewhere.
enum Fixtures {
    static let tick = PriceTick(code: "600000", name: "浦发银行", price: 10.5, volume: 123_456, prevClose: 10.0, timestamp: 1_700_000_000_000_000)

    static let everyKind: [Event] = [
        .clientConnected(ClientConnected(clientID: "client_1a2b3c4d", user: "alice", remoteAddress: "10.0.0.1:5555", node: "node-a")),
        .clientConnected(ClientConnected(clientID: "client_anon", user: nil, remoteAddress: nil, node: "node-a")),
        .clientDisconnected(ClientDisconnected(clientID: "client_1a2b3c4d", reason: .heartbeatTimeout, resumeDeadline: 1_700_000_300_000_000)),
        .sessionExpired(SessionExpired(clientID: "client_1a2b3c4d")),
        .subscribed(SubscriptionChange(clientID: "c1", subscription: Subscription(type: .strategy, target: "volume_wave"))),
        .unsubscribed(SubscriptionChange(clientID: "c1", subscription: Subscription(type: .market, target: "sh"))),
        .priceTicked(tick),
        .priceTicked(PriceTick(code: "000001", name: "", price: -0.0, volume: -5, prevClose: 0, timestamp: -1)),
        .klineUpdated(KlineBar(code: "600000", period: "1m", open: 10, high: 10.8, low: 9.9, close: 10.5, volume: 900, start: 1_700_000_000_000_000, closed: true)),
        .newsPublished(NewsItem(id: "n-1", title: "Title", summary: "Summary ✓", url: "https://example.com/n1", codes: ["600000", "000001"], category: "macro", publishedAt: 42)),
        .alertRuleSet(AlertRule(id: "r1", user: "alice", code: "600000", condition: .changePercent, threshold: 5)),
        .alertRuleRemoved(AlertRuleRemoved(ruleID: "r1", user: "alice")),
        .alertTriggered(AlertTriggered(firing: AlertRule(id: "r1", user: "alice", code: "600000", condition: .changePercent, threshold: 5), at: 11.0)),
        .alertTriggered(AlertTriggered(ruleID: "r1", user: "alice", code: "600000", price: 11.0)),
        .signalsReplaced(SignalsReplaced(strategy: "volume_wave", signals: [
            Signal(code: "600000", name: "浦发银行", signalDate: "2024-05-01", reason: "volume spike"),
            Signal(code: "000001", name: "平安银行"),
        ])),
        .signalsReplaced(SignalsReplaced(strategy: "volume_wave", replacing: [Signal(code: "600000", name: "浦发银行")], with: [
            Signal(code: "600000", name: "浦发银行"), Signal(code: "000001", name: "平安银行"),
        ])),
        .signalsReplaced(SignalsReplaced(strategy: "empty", signals: [])),
        .sourceAdvanced(SourceAdvanced(source: "redis-stream:ticks", position: "1732350000000-0")),
    ]

    static func tick(_ code: String, price: Double, prevClose: Double = 10, name: String = "X") -> PriceTick {
        PriceTick(code: code, name: name, price: price, volume: 1, prevClose: prevClose, timestamp: 0)
    }

    static func sub(_ type: SubscriptionType, _ target: String) -> Subscription {
        Subscription(type: type, target: target)
    }

    static func connected(_ id: String, user: String? = nil) -> Event {
        .clientConnected(ClientConnected(clientID: id, user: user, remoteAddress: nil, node: "n"))
    }

    static func disconnected(_ id: String, deadline: Int64 = 1_000) -> Event {
        .clientDisconnected(ClientDisconnected(clientID: id, reason: .closed, resumeDeadline: deadline))
    }

    static func subscribed(_ id: String, _ type: SubscriptionType, _ target: String) -> Event {
        .subscribed(SubscriptionChange(clientID: id, subscription: sub(type, target)))
    }

    static func unsubscribed(_ id: String, _ type: SubscriptionType, _ target: String) -> Event {
        .unsubscribed(SubscriptionChange(clientID: id, subscription: sub(type, target)))
    }

    static func signals(_ strategy: String, _ codes: [String]) -> Event {
        .signalsReplaced(SignalsReplaced(strategy: strategy, signals: codes.map { Signal(code: $0, name: $0) }))
    }

    static func rule(_ id: String, user: String = "alice", code: String = "600000", _ condition: AlertCondition = .above, _ threshold: Double = 11) -> AlertRule {
        AlertRule(id: id, user: user, code: code, condition: condition, threshold: threshold)
    }

    static func news(_ id: String, category: String = "macro") -> NewsItem {
        NewsItem(id: id, title: "Title \(id)", summary: "", url: "", codes: [], category: category, publishedAt: 0)
    }
}

/// Applies events with consecutive seqs and timestamps (seq * 10) to a projection.
struct ProjectionBuilder {
    var projection = Projection()

    init(_ events: [Event] = []) {
        apply(events)
    }

    mutating func apply(_ events: [Event]) {
        for event in events {
            let seq = projection.lastSeq + 1
            projection.apply(RecordedEvent(seq: seq, timestamp: Int64(seq) * 10, event: event))
        }
    }

    mutating func apply(_ event: Event) {
        apply([event])
    }
}

/// Projection with the given events applied.
func projection(_ events: [Event]) -> Projection {
    ProjectionBuilder(events).projection
}
