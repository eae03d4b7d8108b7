import Broker

/// `news_update`: to `news` subscribers of `all` or the item's category, and to `stock`
/// subscribers of every code the item is tagged with.
public struct NewsPublisher: Publisher {
    public let name = "news"
    public let kinds: Set<EventKind> = [.newsPublished]

    public init() {}

    public func publish(_ events: [RecordedEvent], projection: Projection, to sink: any PushSink) throws {
        for recorded in events {
            guard case .newsPublished(let item) = recorded.event else { continue }
            var targets = projection.subscriptionsAffected(byNews: item)
            for code in Set(item.codes).sorted() {
                let stock = Subscription(type: .stock, target: code)
                if projection.subscriptions.hasSubscribers(stock) { targets.append(stock) }
            }
            for subscription in targets {
                sink.send(.message(type: "news_update", data: item), seq: recorded.seq, to: subscription, projection: projection)
            }
        }
    }
}
