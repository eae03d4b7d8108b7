import Broker

/// Something ingested on one node that every other node ingests too (journals and delivers).
public enum SharedUpdate: Sendable, Hashable {
    /// Ticks journaled on the origin (`POST /api/ticks`), as the feeder sent them (stamped with
    /// the origin's time): what a tick left out, each node fills in from what it knows of the code,
    /// so an origin that knew less (a new node) does not overwrite what the others know.
    case ticks([FedTick])
    /// A news item journaled on the origin (`POST /api/news`).
    case news(NewsItem)
    /// An alert rule set on the origin (HTTP or a client's `set_alert`).
    case alertRuleSet(AlertRule)
    /// An alert rule removed on the origin (HTTP or a client's `remove_alert`).
    case alertRuleRemoved(ruleID: String, user: String)
    /// A strategy's signal list replaced on the origin (`PUT /api/signals/{strategy}`).
    case signalsReplaced(strategy: String, signals: [Signal])
    /// K-line bars journaled on the origin (`POST /api/klines`).
    case bars([KlineBar])
    /// A user's sessions removed by an operator on the origin: nothing journaled there, and each
    /// node closes the user's connections (and ends its sessions) itself.
    case userRemoved(UserRemoval)
    /// Another node's answer to a user's removal this one was asked for (`UserRemovalAnswer`).
    case userRemovalAnswered(UserRemovalAnswer)
    /// A session an operator asked the origin to remove that the origin does not have: the node
    /// that has it closes its connection (and ends it) itself.
    case sessionRemoved(SessionRemoval)
    /// Another node's answer to a session's removal this one was asked for (`SessionRemovalAnswer`).
    case sessionRemovalAnswered(SessionRemovalAnswer)
    /// Sessions an operator asked the origin to show: one it does not have, or a user's.
    case sessionLookedUp(SessionLookup)
    /// Another node's answer to a lookup this one was asked for (`SessionLookupAnswer`).
    case sessionLookupAnswered(SessionLookupAnswer)
    /// A node's heartbeat: nothing to ingest, only to know the node is there (`NodeHeartbeat`).
    case nodeHeartbeat(NodeHeartbeat)

    /// The channel of `channels` the update travels on.
    public func channel(in channels: SharedChannels) -> String {
        switch self {
        case .ticks: channels.ticks
        case .news: channels.news
        case .alertRuleSet, .alertRuleRemoved: channels.alerts
        case .signalsReplaced: channels.signals
        case .bars: channels.klines
        case .userRemoved, .userRemovalAnswered, .sessionRemoved, .sessionRemovalAnswered, .sessionLookedUp, .sessionLookupAnswered:
            channels.removals
        case .nodeHeartbeat: channels.nodes
        }
    }

    /// About how many bytes the update's message takes (its strings, plus a fixed share for
    /// numbers, keys and punctuation per item): what bounds the outbound queue's memory.
    public var approximateBytes: Int {
        let perItem = 96
        func bytes(_ text: String?) -> Int { text?.utf8.count ?? 0 }
        return switch self {
        case .ticks(let ticks): ticks.reduce(0) { $0 + perItem + bytes($1.code) + bytes($1.name) }
        case .news(let item):
            perItem + bytes(item.id) + bytes(item.title) + bytes(item.summary) + bytes(item.url) + bytes(item.category)
                + item.codes.reduce(0) { $0 + 4 + bytes($1) }
        case .alertRuleSet(let rule): perItem + bytes(rule.id) + bytes(rule.user) + bytes(rule.code)
        case .alertRuleRemoved(let ruleID, let user): perItem + bytes(ruleID) + bytes(user)
        case .signalsReplaced(let strategy, let signals):
            signals.reduce(perItem + bytes(strategy)) { $0 + perItem + bytes($1.code) + bytes($1.name) + bytes($1.signalDate) + bytes($1.reason) }
        case .bars(let bars): bars.reduce(0) { $0 + perItem * 2 + bytes($1.code) + bytes($1.period) }
        case .userRemoved(let removal): perItem + bytes(removal.user) + bytes(removal.requestedOn) + bytes(removal.requestID)
        case .userRemovalAnswered(let answer):
            perItem + bytes(answer.requestID) + bytes(answer.askedOn) + bytes(answer.node) + bytes(answer.user) + bytes(answer.error)
                + answer.clients.reduce(0) { $0 + 4 + bytes($1) }
        case .sessionRemoved(let removal): perItem + bytes(removal.clientID) + bytes(removal.requestedOn) + bytes(removal.requestID)
        case .sessionRemovalAnswered(let answer):
            perItem * 2 + bytes(answer.requestID) + bytes(answer.askedOn) + bytes(answer.node) + bytes(answer.clientID)
                + bytes(answer.removed?.user) + bytes(answer.refused?.error) + bytes(answer.refused?.details)
        case .sessionLookedUp(let lookup): perItem + bytes(lookup.target.value) + bytes(lookup.requestedOn) + bytes(lookup.requestID)
        case .sessionLookupAnswered(let answer):
            perItem + bytes(answer.requestID) + bytes(answer.askedOn) + bytes(answer.node) + bytes(answer.target.value) + bytes(answer.body)
                + bytes(answer.error)
        case .nodeHeartbeat(let heartbeat): perItem * 2 + bytes(heartbeat.origin.node) + bytes(heartbeat.origin.instance)
        }
    }

    /// The wire key of a request to the other nodes (`remove_user`, `remove_client`, `find_client`,
    /// `find_user`, `find_connections`, `find_subscribers`, `find_subscriptions`), which names it
    /// in metrics; nil for everything else.
    public var requestKind: String? {
        switch self {
        case .userRemoved(let removal): removal.requestKind
        case .sessionRemoved(let removal): removal.requestKind
        case .sessionLookedUp(let lookup): lookup.target.requestKind
        case .ticks, .news, .alertRuleSet, .alertRuleRemoved, .signalsReplaced, .bars, .userRemovalAnswered, .sessionRemovalAnswered,
            .sessionLookupAnswered, .nodeHeartbeat:
            nil
        }
    }

    /// Whether it is a node's heartbeat: not counted among the updates published, dropped or
    /// skipped as this node's own (`RedisBroadcasterSnapshot`, `RedisSourceSnapshot`).
    var isHeartbeat: Bool {
        if case .nodeHeartbeat = self { true } else { false }
    }

    /// The command that ingests the update on a receiving node; nil for a removal, which is not
    /// the store's to decide (the node closes the connections), a lookup, an answer to either, and
    /// a heartbeat.
    public var command: Command? {
        switch self {
        case .ticks(let ticks): .ingestTicks(ticks)
        case .news(let item): .publishNews(item)
        case .alertRuleSet(let rule): .setAlertRule(rule)
        case .alertRuleRemoved(let ruleID, let user): .removeAlertRule(ruleID: ruleID, user: user)
        case .signalsReplaced(let strategy, let signals): .replaceSignals(strategy: strategy, signals: signals)
        case .bars(let bars): .ingestBars(bars)
        case .userRemoved, .userRemovalAnswered, .sessionRemoved, .sessionRemovalAnswered, .sessionLookedUp, .sessionLookupAnswered,
            .nodeHeartbeat:
            nil
        }
    }
}
