/// The kind of an event; the raw value is stored in the journal, so cases are never renumbered.
public enum EventKind: UInt16, CaseIterable, Sendable {
    case clientConnected = 1
    case clientDisconnected = 2
    case sessionExpired = 3
    case subscribed = 4
    case unsubscribed = 5
    case priceTicked = 6
    case klineUpdated = 7
    case newsPublished = 8
    case alertRuleSet = 9
    case alertRuleRemoved = 10
    case alertTriggered = 11
    case signalsReplaced = 12
    case sourceAdvanced = 13

    /// The snake_case name used in logs, JSON and the CLI (`client_connected`, `price_ticked`, ...).
    public var name: String {
        switch self {
        case .clientConnected: "client_connected"
        case .clientDisconnected: "client_disconnected"
        case .sessionExpired: "session_expired"
        case .subscribed: "subscribed"
        case .unsubscribed: "unsubscribed"
        case .priceTicked: "price_ticked"
        case .klineUpdated: "kline_updated"
        case .newsPublished: "news_published"
        case .alertRuleSet: "alert_rule_set"
        case .alertRuleRemoved: "alert_rule_removed"
        case .alertTriggered: "alert_triggered"
        case .signalsReplaced: "signals_replaced"
        case .sourceAdvanced: "source_advanced"
        }
    }

    /// The kind with the given snake_case name, or nil when no kind has it.
    public init?(name: String) {
        guard let kind = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = kind
    }
}
