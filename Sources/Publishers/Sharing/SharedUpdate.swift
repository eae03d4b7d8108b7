import Broker

/// Something ingested on one node that every other node ingests too (journals and delivers).
public enum SharedUpdate: Sendable, Hashable {
    /// Ticks journaled on the origin (`POST /api/ticks`).
    case ticks([PriceTick])
    /// A news item journaled on the origin (`POST /api/news`).
    case news(NewsItem)
    /// An alert rule set on the origin (HTTP or a client's `set_alert`).
    case alertRuleSet(AlertRule)
    /// An alert rule removed on the origin (HTTP or a client's `remove_alert`).
    case alertRuleRemoved(ruleID: String, user: String)

    /// The channel of `channels` the update travels on.
    public func channel(in channels: SharedChannels) -> String {
        switch self {
        case .ticks: channels.ticks
        case .news: channels.news
        case .alertRuleSet, .alertRuleRemoved: channels.alerts
        }
    }

    /// The command that ingests the update on a receiving node.
    public var command: Command {
        switch self {
        case .ticks(let ticks): .ingestTicks(ticks)
        case .news(let item): .publishNews(item)
        case .alertRuleSet(let rule): .setAlertRule(rule)
        case .alertRuleRemoved(let ruleID, let user): .removeAlertRule(ruleID: ruleID, user: user)
        }
    }
}
