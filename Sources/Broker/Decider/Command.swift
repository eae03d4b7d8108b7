/// A request to change broker state; `Decider` turns it into events or refuses it.
public enum Command: Sendable, Hashable {
    /// Start a session, or resume a gone one with the same id (the caller checks the resume window).
    case connect(clientID: String, user: String?, remoteAddress: String?, node: String)
    /// End a connected session's connection; it stays resumable until `resumeDeadline` (UTC µs).
    case disconnect(clientID: String, reason: DisconnectReason, resumeDeadline: Int64)
    /// Forget a gone session and its subscriptions.
    case expireSession(clientID: String)
    /// Add a subscription to a connected session.
    case subscribe(clientID: String, subscription: Subscription)
    /// Remove a subscription from a connected session.
    case unsubscribe(clientID: String, subscription: Subscription)
    /// Record a batch of ticks, all or nothing.
    case ingestTicks([PriceTick])
    /// Record ticks a source delivered and how far it has read, in one commit.
    case ingestFromSource([PriceTick], source: String, position: String)
    /// Record a k-line bar update or close.
    case ingestBar(KlineBar)
    /// Record k-line bar updates or closes in one commit, all or nothing.
    case ingestBars([KlineBar])
    /// Publish a news item.
    case publishNews(NewsItem)
    /// Add or replace an alert rule.
    case setAlertRule(AlertRule)
    /// Remove a user's alert rule.
    case removeAlertRule(ruleID: String, user: String)
    /// Fire an armed alert rule at `price`.
    case triggerAlert(ruleID: String, price: Double)
    /// Replace a strategy's whole signal list.
    case replaceSignals(strategy: String, signals: [Signal])
}
