import Journal

/// The projection as an audit report (`brokerd journal replay`).
extension Projection {
    /// The session `id` as the audit report shows it (connected or gone, with its subscriptions);
    /// nil when there is none.
    public func reportRow(ofClient id: String) -> StateReport.Client? {
        guard let client = clients[id] else { return nil }
        let time = ISOTimestamp.format(microseconds:)
        var row = StateReport.Client(
            clientID: id, user: client.user, remote: client.remoteAddress, node: client.node, state: "connected",
            connectedAt: time(client.connectedAt), goneSince: nil, reason: nil, resumeDeadline: nil,
            subscriptions: subscriptions.subscriptions(of: id).sorted().map {
                StateReport.SubscriptionEntry(type: $0.type.rawValue, target: $0.target)
            })
        if case .gone(let since, let reason, let deadline) = client.state {
            row.state = "gone"
            row.goneSince = time(since)
            row.reason = reason.rawValue
            row.resumeDeadline = time(deadline)
        }
        return row
    }

    /// The audit report of this state.
    public func report() -> StateReport {
        let time = ISOTimestamp.format(microseconds:)
        let clientRows = clients.keys.sorted().compactMap(reportRow(ofClient:))
        let priceRows = lastPrices.values.sorted { $0.code < $1.code }.map {
            StateReport.Price(
                code: $0.code, name: $0.name, price: $0.price, prevClose: $0.prevClose, change: $0.change,
                changePercent: $0.changePercent, volume: $0.volume, timestamp: time($0.timestamp))
        }
        let barRows = lastBars.keys.sorted().compactMap { key -> StateReport.Bar? in
            guard let bar = lastBars[key] else { return nil }
            return StateReport.Bar(
                code: bar.code, period: bar.period, open: bar.open, high: bar.high, low: bar.low, close: bar.close,
                volume: bar.volume, start: time(bar.start), closed: bar.closed)
        }
        let ruleRows = alerts.rules.keys.sorted().compactMap { id -> StateReport.Rule? in
            guard let rule = alerts.rule(id: id) else { return nil }
            return StateReport.Rule(
                id: id, user: rule.user, code: rule.code, condition: rule.condition.rawValue, threshold: rule.threshold,
                triggered: alerts.isTriggered(id))
        }
        return StateReport(
            lastSeq: lastSeq, lastTime: lastSeq == 0 ? nil : time(lastTimestamp), clients: clientRows, prices: priceRows,
            bars: barRows, alertRules: ruleRows,
            signals: strategies.strategyNames.sorted().map { StateReport.Strategy(strategy: $0, signals: strategies.signals(of: $0)) },
            news: news.map {
                StateReport.News(
                    seq: $0.seq, id: $0.item.id, title: $0.item.title, category: $0.item.category, codes: $0.item.codes,
                    publishedAt: time($0.item.publishedAt))
            },
            sources: sourcePositions)
    }
}
