/// Which journal events an audit trail shows: some kinds, the events about one client, one user,
/// one code.
///
/// All given criteria must hold. What makes an event "about" a client, a user or a code:
/// - client C: its connects, disconnects, expiry, subscribes and unsubscribes (key C), and the alert
///   rule sets, removals and triggers of the users C connected as (C itself for an anonymous client,
///   whose alerts are owned by its session id).
/// - user U: the same events of every session that connected as U (its resumes included), and the
///   alert rule sets, removals and triggers of U.
/// - code X: its ticks and bars (key X), news tagged with X, alert rules on X (set, triggered, and
///   removed while on X), signal lists containing X, and `stock` subscriptions to X.
///
/// Some of that is only known from earlier events (a client's user, a user's sessions, a rule's code), so the filter
/// learns as it goes: feed it, in seq order, what `learningQuery` selects before the range, then
/// every row of the range.
public struct EventFilter: Sendable {
    /// Only these kinds; nil = every kind.
    public var kinds: Set<EventKind>?
    /// Only events about this client.
    public var clientID: String?
    /// Only events about this code.
    public var code: String?
    /// Only events about this user's sessions and alerts.
    public var user: String?

    /// Users the client connected as (plus its own id, the owner of an anonymous client's alerts).
    public private(set) var clientUsers: Set<String> = []
    /// The sessions that connected as the user.
    public private(set) var userClients: Set<String> = []
    /// The code each alert rule watches now, so a removal can be tied to its code.
    private var ruleCodes: [String: String] = [:]

    static let clientKinds: Set<EventKind> = [.clientConnected, .clientDisconnected, .sessionExpired, .subscribed, .unsubscribed]
    static let alertKinds: Set<EventKind> = [.alertRuleSet, .alertRuleRemoved, .alertTriggered]
    static let codeKinds: Set<EventKind> = [
        .priceTicked, .klineUpdated, .newsPublished, .signalsReplaced, .subscribed, .unsubscribed,
        .alertRuleSet, .alertRuleRemoved, .alertTriggered,
    ]

    /// A filter on the given criteria; nil means "any".
    public init(kinds: Set<EventKind>? = nil, clientID: String? = nil, code: String? = nil, user: String? = nil) {
        self.kinds = kinds
        self.clientID = clientID
        self.code = code
        self.user = user
        if let clientID { clientUsers = [clientID] }
    }

    /// What to read before the range so the filter knows what it must (kinds, and key when one
    /// key suffices), or nil when it needs nothing. For a client or a user this covers the whole
    /// journal: a client's user may be learned after an alert of that user, and a user's sessions
    /// are known up front so that only their rows are read.
    public var learningQuery: (kinds: Set<EventKind>, key: String?, wholeJournal: Bool)? {
        if user != nil { return ([.clientConnected], nil, true) }
        if let clientID { return ([.clientConnected], clientID, true) }
        if code != nil { return ([.alertRuleSet, .alertRuleRemoved], nil, false) }
        return nil
    }

    /// Learns a client's users, a user's sessions and rules' codes from an event outside (before) the range.
    public mutating func learn(_ event: Event) {
        switch event {
        case .clientConnected(let p):
            if p.clientID == clientID, let user = p.user { clientUsers.insert(user) }
            if let user, p.user == user { userClients.insert(p.clientID) }
        case .alertRuleSet(let rule) where code != nil:
            ruleCodes[rule.id] = rule.code
        case .alertRuleRemoved(let p) where code != nil:
            ruleCodes[p.ruleID] = nil
        default:
            break
        }
    }

    /// The kinds worth reading in the range: those that can match, plus those the filter learns from.
    public var scanKinds: Set<EventKind>? {
        var candidates = kinds ?? Set(EventKind.allCases)
        if clientID != nil || user != nil { candidates.formIntersection(Self.clientKinds.union(Self.alertKinds)) }
        if code != nil {
            candidates.formIntersection(Self.codeKinds)
            candidates.formUnion([.alertRuleSet, .alertRuleRemoved])
        }
        return candidates.count == EventKind.allCases.count ? nil : candidates
    }

    /// Keys worth reading in the range, when every event that can match carries one of them: true
    /// for a client (its own id, or an alert owner) and a user (its sessions' ids, or the user as
    /// the alerts' owner), not for a code (news and alerts are not keyed by code).
    public var scanKeys: Set<String>? {
        guard code == nil else { return nil }
        if clientID != nil { return clientUsers }
        if let user { return userClients.union([user]) }
        return nil
    }

    /// A cheap first look at a row (kind and key, no decoding): false when it cannot match and
    /// teaches the filter nothing.
    public func mayMatch(kind rawKind: UInt16, key: String?) -> Bool {
        guard let kind = EventKind(rawValue: rawKind) else { return kinds == nil && clientID == nil && code == nil && user == nil }
        // Rule changes teach the filter which code a rule is on, even when they are not shown.
        if code != nil, kind == .alertRuleSet || kind == .alertRuleRemoved { return true }
        if let kinds, !kinds.contains(kind) { return false }
        if let clientID {
            if Self.clientKinds.contains(kind) {
                if key != clientID { return false }
            } else if Self.alertKinds.contains(kind) {
                // Alert events are keyed by their owner.
                guard let key, clientUsers.contains(key) else { return false }
            } else {
                return false
            }
        }
        if let user {
            if Self.clientKinds.contains(kind) {
                // A session's connect names its user: one not learned yet may be the user's.
                guard kind == .clientConnected || key.map(userClients.contains) == true else { return false }
            } else if Self.alertKinds.contains(kind) {
                if key != user { return false }
            } else {
                return false
            }
        }
        if let code {
            if kind == .priceTicked || kind == .klineUpdated { return key == code }
            return Self.codeKinds.contains(kind)
        }
        return true
    }

    /// Whether the event is selected; learns from it too, so call it for every row of the range in seq order.
    public mutating func matches(_ event: Event) -> Bool {
        let selected = isSelected(event)
        learn(event)
        return selected
    }

    private func isSelected(_ event: Event) -> Bool {
        if let kinds, !kinds.contains(event.kind) { return false }
        if let clientID, !isAbout(client: clientID, event) { return false }
        if let user, !isAbout(user: user, event) { return false }
        if let code, !isAbout(code: code, event) { return false }
        return true
    }

    private func isAbout(client: String, _ event: Event) -> Bool {
        switch event {
        case .clientConnected(let p): p.clientID == client
        case .clientDisconnected(let p): p.clientID == client
        case .sessionExpired(let p): p.clientID == client
        case .subscribed(let p), .unsubscribed(let p): p.clientID == client
        case .alertRuleSet(let p): clientUsers.contains(p.user)
        case .alertRuleRemoved(let p): clientUsers.contains(p.user)
        case .alertTriggered(let p): clientUsers.contains(p.user)
        case .priceTicked, .klineUpdated, .newsPublished, .signalsReplaced, .sourceAdvanced: false
        }
    }

    private func isAbout(user: String, _ event: Event) -> Bool {
        switch event {
        case .clientConnected(let p): p.user == user || userClients.contains(p.clientID)
        case .clientDisconnected(let p): userClients.contains(p.clientID)
        case .sessionExpired(let p): userClients.contains(p.clientID)
        case .subscribed(let p), .unsubscribed(let p): userClients.contains(p.clientID)
        case .alertRuleSet(let p): p.user == user
        case .alertRuleRemoved(let p): p.user == user
        case .alertTriggered(let p): p.user == user
        case .priceTicked, .klineUpdated, .newsPublished, .signalsReplaced, .sourceAdvanced: false
        }
    }

    private func isAbout(code: String, _ event: Event) -> Bool {
        switch event {
        case .priceTicked(let p): p.code == code
        case .klineUpdated(let p): p.code == code
        case .newsPublished(let p): p.codes.contains(code)
        case .alertRuleSet(let p): p.code == code
        case .alertTriggered(let p): p.code == code
        case .alertRuleRemoved(let p): ruleCodes[p.ruleID] == code
        case .signalsReplaced(let p): p.signals.contains { $0.code == code }
        case .subscribed(let p), .unsubscribed(let p): p.subscription == Subscription(type: .stock, target: code)
        case .clientConnected, .clientDisconnected, .sessionExpired, .sourceAdvanced: false
        }
    }
}
