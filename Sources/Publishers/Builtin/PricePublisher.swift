import Broker

/// `price_update`: every subscription a round's ticks touch gets one message with the latest
/// tick of each of its codes; the live subscribers of a strategy whose signal list was replaced
/// get the known prices of the codes the new list added, as a new subscriber's snapshot has them.
///
/// Nothing is sent for the codes a list dropped: `price_update` can only add or update a row.
/// Clients drop them by reading the list again (`GET /api/signals/buy?strategy=…`).
public struct PricePublisher: Publisher {
    public let name = "price"
    public let kinds: Set<EventKind> = [.priceTicked, .signalsReplaced]

    public init() {}

    public func publish(_ events: [RecordedEvent], projection: Projection, to sink: any PushSink) throws {
        var latest: [Subscription: [String: PriceTick]] = [:]
        var lastSeq: UInt64 = 0
        var added: [(seq: UInt64, subscription: Subscription, ticks: [PriceTick])] = []
        for recorded in events {
            switch recorded.event {
            case .priceTicked(let tick):
                lastSeq = recorded.seq
                for subscription in projection.subscriptionsAffected(byCode: tick.code) {
                    latest[subscription, default: [:]][tick.code] = tick
                }
            case .signalsReplaced(let replaced):
                if let push = addedPrices(of: replaced, projection: projection) { added.append((recorded.seq, push.subscription, push.ticks)) }
            default:
                continue
            }
        }
        // In seq order: the round carries its last tick's seq.
        for push in added where push.seq < lastSeq {
            sink.send(.prices(push.ticks), seq: push.seq, to: push.subscription, projection: projection)
        }
        for (subscription, ticks) in latest {
            sink.send(.prices(ticks.values.sorted { $0.code < $1.code }), seq: lastSeq, to: subscription, projection: projection)
        }
        for push in added where push.seq > lastSeq {
            sink.send(.prices(push.ticks), seq: push.seq, to: push.subscription, projection: projection)
        }
    }

    /// The known prices of the codes a replaced list added, for its strategy's live subscribers;
    /// nil when there are none or nothing is known. Without them, a live subscriber saw an added
    /// code's price only at its next tick (minutes later for a quiet stock), while a client
    /// resuming then got it at once.
    private func addedPrices(of replaced: SignalsReplaced, projection: Projection) -> (subscription: Subscription, ticks: [PriceTick])? {
        let subscription = Subscription(type: .strategy, target: replaced.strategy)
        guard projection.subscriptions.hasSubscribers(subscription) else { return nil }
        // Only events journaled by this build are published, and they say what was added; a row
        // from before event format 3 would not, and then the whole list is sent.
        let added = replaced.addedCodes ?? replaced.signals.map(\.code)
        // As of the batch's last event, as the subscribers are: a later list of the batch may have
        // dropped one again. Entries as the snapshot has them (names from the lists included).
        let wanted = Set(added)
        let known = projection.knownPrices(for: subscription).filter { wanted.contains($0.code) }
        return known.isEmpty ? nil : (subscription, known)
    }
}
