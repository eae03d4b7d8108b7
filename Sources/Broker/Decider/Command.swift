/// A request to change broker state; `Decider` turns it into events or refuses it.
public enum Command: Sendable, Hashable {
    /// Start a session under a new id, or (`resuming`) resume the gone session with this id; the
    /// caller checks the resume window and the user.
    case connect(clientID: String, user: String?, remoteAddress: String?, node: String, resuming: Bool = false)
    /// End a connected session's connection; it stays resumable until `resumeDeadline` (UTC µs).
    case disconnect(clientID: String, reason: DisconnectReason, resumeDeadline: Int64)
    /// Forget a gone session and its subscriptions.
    case expireSession(clientID: String)
    /// Add a subscription to a connected session.
    case subscribe(clientID: String, subscription: Subscription)
    /// Remove a subscription from a connected session.
    case unsubscribe(clientID: String, subscription: Subscription)
    /// Add several subscriptions to a connected session in one commit, all or none (those it holds
    /// already are left as they are).
    case subscribeAll(clientID: String, subscriptions: [Subscription])
    /// Remove several subscriptions from a connected session in one commit, all or none: each must
    /// be held.
    case unsubscribeAll(clientID: String, subscriptions: [Subscription])
    /// Record a batch of ticks, all or nothing; what a tick leaves out is filled in from what is
    /// known of its code.
    case ingestTicks([FedTick])
    /// Record ticks a source delivered and how far it has read, in one commit.
    case ingestFromSource([FedTick], source: String, position: String)
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
    /// Carry out an update read from the nodes' shared log (a Redis stream) and record how far
    /// the log was read, in one commit. The log's order decides between conflicting writes, so
    /// what the state holds already is not written again: an update `own` (written to the log by
    /// this node, which journaled it before) changes the state only where another node's update
    /// came between; its k-line bars never do. `update` is one of `publishNews`, `setAlertRule`,
    /// `removeAlertRule`, `replaceSignals` and `ingestBars`.
    indirect case applyLogged(Command, own: Bool, source: String, position: String)
}

extension Command {
    /// What deciding this command reads besides the command itself, as keys: two commands that
    /// share a key are decided one after the other, the second against the state the first left,
    /// so checks such as "the session is gone" or "the rule id is free" hold when the event
    /// commits. Commands without keys (ticks, bars) are decided at once, however many are in flight;
    /// ticks take `alertsKey` as well while there are alert rules (see `decidesAlertFirings`).
    var conflictKeys: [String] {
        switch self {
        case .connect(let clientID, _, _, _, _), .disconnect(let clientID, _, _), .subscribe(let clientID, _),
            .unsubscribe(let clientID, _), .subscribeAll(let clientID, _), .unsubscribeAll(let clientID, _):
            ["client:" + clientID]
        case .expireSession(let clientID):
            // An anonymous session's rules go with it.
            ["client:" + clientID, Self.alertsKey]
        case .setAlertRule(let rule):
            ["rule:" + rule.id, "rules-of:" + rule.user, Self.alertsKey]
        case .removeAlertRule(let ruleID, let user):
            ["rule:" + ruleID, "rules-of:" + user, Self.alertsKey]
        case .triggerAlert(let ruleID, _):
            ["rule:" + ruleID, Self.alertsKey]
        case .publishNews(let item):
            ["news:" + item.id]
        case .replaceSignals(let strategy, _):
            ["signals:" + strategy]
        case .ingestTicks, .ingestFromSource, .ingestBar, .ingestBars:
            []
        case .applyLogged(let update, _, let source, _):
            // Positions of one log are recorded in the order it was read.
            update.conflictKeys + ["source:" + source]
        }
    }

    /// The key of the alert rules' state (which rules exist, which are fired): held by every command
    /// that changes it, and by ticks while any rule exists.
    static let alertsKey = "alerts"

    /// Whether deciding this command fires alert rules (or re-arms them), from the rules' state.
    /// A batch in flight may fire or re-arm a rule before it is applied, so such commands are
    /// decided one after the other while rules exist: two batches decided against the same state
    /// would both fire a rule their ticks cross, and a batch decided beside a rule's removal could
    /// fire it after it was removed.
    var decidesAlertFirings: Bool {
        switch self {
        case .ingestTicks, .ingestFromSource: true
        default: false
        }
    }
}
