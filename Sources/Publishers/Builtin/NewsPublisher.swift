import Broker

/// `news_update`: to `news` subscribers of `all` or the item's category, and to `stock`
/// subscribers of every code the item is tagged with; once per client, however many of those
/// subscriptions it holds.
public struct NewsPublisher: Publisher {
    public let name = "news"
    public let kinds: Set<EventKind> = [.newsPublished]

    public init() {}

    public func publish(_ events: [RecordedEvent], projection: Projection, to sink: any PushSink) throws {
        for recorded in events {
            guard case .newsPublished(let item) = recorded.event else { continue }
            let targets = Self.subscriptions(reachedBy: item, projection: projection)
            sink.send(.message(type: "news_update", data: item), seq: recorded.seq, toAnyOf: targets, projection: projection)
        }
    }

    /// The subscriptions `item` reaches that have subscribers, in the order of
    /// `subscriptions(reachedBy:)`.
    public static func subscriptions(reachedBy item: NewsItem, projection: Projection) -> [Subscription] {
        subscriptions(reachedBy: item).filter(projection.subscriptions.hasSubscribers)
    }

    /// The subscriptions `item` reaches, subscribed or not, in the order that decides which one a
    /// client holding several is told it came by: `news` of `all`, of the category, then `stock`
    /// of each tagged code.
    public static func subscriptions(reachedBy item: NewsItem) -> [Subscription] {
        item.newsSubscriptions + Set(item.codes).sorted().map { Subscription(type: .stock, target: $0) }
    }
}
