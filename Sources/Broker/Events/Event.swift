/// A state change of the broker; applied to the projection, stored in the journal.
public enum Event: Sendable, Hashable {
    /// A session started or resumed.
    case clientConnected(ClientConnected)
    /// A session's connection ended.
    case clientDisconnected(ClientDisconnected)
    /// A gone session passed its resume window.
    case sessionExpired(SessionExpired)
    /// A client added a subscription.
    case subscribed(SubscriptionChange)
    /// A client removed a subscription.
    case unsubscribed(SubscriptionChange)
    /// A new price for a code.
    case priceTicked(PriceTick)
    /// A k-line bar changed or closed.
    case klineUpdated(KlineBar)
    /// A news item was published.
    case newsPublished(NewsItem)
    /// An alert rule was added or replaced.
    case alertRuleSet(AlertRule)
    /// An alert rule was removed.
    case alertRuleRemoved(AlertRuleRemoved)
    /// An alert rule fired.
    case alertTriggered(AlertTriggered)
    /// A strategy's signal list was replaced.
    case signalsReplaced(SignalsReplaced)
    /// A tick source's read position moved (journaled with the ticks it delivered).
    case sourceAdvanced(SourceAdvanced)

    /// The event's kind.
    public var kind: EventKind {
        switch self {
        case .clientConnected: .clientConnected
        case .clientDisconnected: .clientDisconnected
        case .sessionExpired: .sessionExpired
        case .subscribed: .subscribed
        case .unsubscribed: .unsubscribed
        case .priceTicked: .priceTicked
        case .klineUpdated: .klineUpdated
        case .newsPublished: .newsPublished
        case .alertRuleSet: .alertRuleSet
        case .alertRuleRemoved: .alertRuleRemoved
        case .alertTriggered: .alertTriggered
        case .signalsReplaced: .signalsReplaced
        case .sourceAdvanced: .sourceAdvanced
        }
    }

    /// The subject the journal indexes for filtering: client id, code, user, strategy or news id.
    public var key: String? {
        switch self {
        case .clientConnected(let p): p.clientID
        case .clientDisconnected(let p): p.clientID
        case .sessionExpired(let p): p.clientID
        case .subscribed(let p): p.clientID
        case .unsubscribed(let p): p.clientID
        case .priceTicked(let p): p.code
        case .klineUpdated(let p): p.code
        case .newsPublished(let p): p.id
        case .alertRuleSet(let p): p.user
        case .alertRuleRemoved(let p): p.user
        case .alertTriggered(let p): p.user
        case .signalsReplaced(let p): p.strategy
        case .sourceAdvanced(let p): p.source
        }
    }
}
