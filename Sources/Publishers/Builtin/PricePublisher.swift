import Broker

/// `price_update`: every subscription a round's ticks touch gets one message with the latest
/// tick of each of its codes.
public struct PricePublisher: Publisher {
    public let name = "price"
    public let kinds: Set<EventKind> = [.priceTicked]

    public init() {}

    public func publish(_ events: [RecordedEvent], projection: Projection, to sink: any PushSink) throws {
        var latest: [Subscription: [String: PriceTick]] = [:]
        var lastSeq: UInt64 = 0
        for recorded in events {
            guard case .priceTicked(let tick) = recorded.event else { continue }
            lastSeq = recorded.seq
            for subscription in projection.subscriptionsAffected(byCode: tick.code) {
                latest[subscription, default: [:]][tick.code] = tick
            }
        }
        for (subscription, ticks) in latest {
            sink.send(.prices(ticks.values.sorted { $0.code < $1.code }), seq: lastSeq, to: subscription, projection: projection)
        }
    }
}
