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

    /// The channel of `channels` the update travels on.
    public func channel(in channels: SharedChannels) -> String {
        switch self {
        case .ticks: channels.ticks
        case .news: channels.news
        case .alertRuleSet, .alertRuleRemoved: channels.alerts
        case .signalsReplaced: channels.signals
        case .bars: channels.klines
        }
    }

    /// The command that ingests the update on a receiving node.
    public var command: Command {
        switch self {
        case .ticks(let ticks): .ingestTicks(ticks)
        case .news(let item): .publishNews(item)
        case .alertRuleSet(let rule): .setAlertRule(rule)
        case .alertRuleRemoved(let ruleID, let user): .removeAlertRule(ruleID: ruleID, user: user)
        case .signalsReplaced(let strategy, let signals): .replaceSignals(strategy: strategy, signals: signals)
        case .bars(let bars): .ingestBars(bars)
        }
    }
}
