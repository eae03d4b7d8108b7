/// Why a command was refused; `error` and `details` go verbatim to clients.
public enum BrokerError: Error, Sendable, Equatable {
    /// No session has this id.
    case unknownClient(clientID: String)
    /// The session exists but has no live connection.
    case clientNotConnected(clientID: String)
    /// A connect named a session that is already connected.
    case clientAlreadyConnected(clientID: String)
    /// An expiry named a session that is still connected.
    case clientStillConnected(clientID: String)
    /// A new session was asked for with the id of an existing one.
    case clientIDTaken(clientID: String)
    /// The session id is unusable.
    case invalidClientID(clientID: String, reason: String)
    /// Some other field of the command is unusable.
    case invalidRequest(field: String, reason: String)
    /// A subscription target is unusable for its type.
    case invalidTarget(type: SubscriptionType, target: String, reason: String)
    /// The session already holds the maximum number of subscriptions.
    case tooManySubscriptions(limit: Int)
    /// An unsubscribe named something the session does not subscribe to.
    case notSubscribed(Subscription)
    /// A tick batch is larger than allowed.
    case tooManyTicks(count: Int, limit: Int)
    /// A tick in a batch is invalid; the whole batch was refused.
    case invalidTick(index: Int, code: String, reason: String)
    /// A k-line bar is invalid.
    case invalidBar(code: String, reason: String)
    /// A news item is invalid.
    case invalidNews(id: String, reason: String)
    /// A news item with this id is already in the ring.
    case duplicateNews(id: String)
    /// An alert rule is invalid.
    case invalidAlertRule(ruleID: String, reason: String)
    /// The user already owns the maximum number of alert rules.
    case tooManyAlertRules(user: String, limit: Int)
    /// The rule id belongs to another user.
    case alertRuleIDTaken(ruleID: String)
    /// No rule with this id exists for this user.
    case unknownAlertRule(ruleID: String)
    /// The rule already fired and has not been re-armed.
    case alertAlreadyTriggered(ruleID: String)
    /// A strategy signal list is invalid.
    case invalidSignals(strategy: String, reason: String)

    /// Short snake_case code for the client (`invalid_target`, `too_many_subscriptions`, ...).
    public var error: String {
        switch self {
        case .unknownClient: "unknown_client"
        case .clientNotConnected: "client_not_connected"
        case .clientAlreadyConnected: "client_already_connected"
        case .clientStillConnected: "client_still_connected"
        case .clientIDTaken: "client_id_taken"
        case .invalidClientID: "invalid_client_id"
        case .invalidRequest: "invalid_request"
        case .invalidTarget: "invalid_target"
        case .tooManySubscriptions: "too_many_subscriptions"
        case .notSubscribed: "not_subscribed"
        case .tooManyTicks: "too_many_ticks"
        case .invalidTick: "invalid_tick"
        case .invalidBar: "invalid_bar"
        case .invalidNews: "invalid_news"
        case .duplicateNews: "duplicate_news"
        case .invalidAlertRule: "invalid_alert_rule"
        case .tooManyAlertRules: "too_many_alert_rules"
        case .alertRuleIDTaken: "alert_rule_id_taken"
        case .unknownAlertRule: "unknown_alert_rule"
        case .alertAlreadyTriggered: "alert_already_triggered"
        case .invalidSignals: "invalid_signals"
        }
    }

    /// What was wrong and how to fix it, in one sentence for a human.
    public var details: String {
        let q = FieldRules.quoted
        switch self {
        case .unknownClient(let id):
            return "no session \(q(id)) exists; reconnect without resume to start a new one"
        case .clientNotConnected(let id):
            return "session \(q(id)) is not connected; reconnect with resume=\(id) first"
        case .clientAlreadyConnected(let id):
            return "session \(q(id)) is already connected; close the other connection or start a new session"
        case .clientStillConnected(let id):
            return "session \(q(id)) is still connected; disconnect it before expiring it"
        case .clientIDTaken(let id):
            return "a session \(q(id)) exists; resume it or start a new session under another id"
        case .invalidClientID(let id, let reason):
            return "client id \(q(id)) \(reason); use 1 or more printable characters"
        case .invalidRequest(let field, let reason):
            return "\(field) \(reason)"
        case .invalidTarget(let type, let target, let reason):
            return "\(type.rawValue) target \(q(target)) \(reason)"
        case .tooManySubscriptions(let limit):
            return "this connection already has \(limit) subscriptions, the limit; unsubscribe something first"
        case .notSubscribed(let subscription):
            return "not subscribed to \(subscription.type.rawValue) \(q(subscription.target)); nothing to unsubscribe"
        case .tooManyTicks(let count, let limit):
            return "batch has \(count) ticks, the limit is \(limit); split it"
        case .invalidTick(let index, let code, let reason):
            return "tick \(index) (\(q(code))) \(reason); the whole batch was rejected, fix or drop that tick"
        case .invalidBar(let code, let reason):
            return "bar of \(q(code)) \(reason)"
        case .invalidNews(let id, let reason):
            return "news item \(q(id)) \(reason)"
        case .duplicateNews(let id):
            return "news item \(q(id)) was already published; use a new id"
        case .invalidAlertRule(let id, let reason):
            return "alert rule \(q(id)) \(reason)"
        case .tooManyAlertRules(let user, let limit):
            return "user \(q(user)) already has \(limit) alert rules, the limit; remove one first"
        case .alertRuleIDTaken(let id):
            return "alert rule id \(q(id)) is already used; choose another id"
        case .unknownAlertRule(let id):
            return "you have no alert rule \(q(id)); list your rules to see their ids"
        case .alertAlreadyTriggered(let id):
            return "alert rule \(q(id)) already fired and re-arms only when its condition stops holding"
        case .invalidSignals(let strategy, let reason):
            return "signals of strategy \(q(strategy)) \(reason)"
        }
    }
}

extension BrokerError: CustomStringConvertible {
    /// `code: details`, for logs.
    public var description: String { "\(error): \(details)" }
}
