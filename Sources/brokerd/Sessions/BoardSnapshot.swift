import Broker
import NIOCore

/// A `market` subscriber's snapshot (every priced code of a board: 1,250 on a busy Shanghai board)
/// prepared off the store, so that a storm of market subscribers (every client resuming after a
/// restart) does not hold up ingest for the scan, the sort and the JSON of each of them.
///
/// Prepared from the projection's price and strategy maps as a read took them (copies sharing
/// their storage); on the store, when the subscribe or resume is applied, only what changed since
/// is looked at and written again, so the snapshot is still the state as of that seq, queued
/// ahead of every later push.
struct BoardSnapshot: Sendable {
    let subscription: Subscription
    /// The board's ticks as `lastPrices` held them, sorted by code.
    private let ticks: [PriceTick]
    /// Each tick's entry (named as `Projection.knownPrices(for:)` names it) as a JSON object.
    private let entries: [ByteBuffer]
    /// `lastPrices.count` then: a code is never dropped from it, so the same count later means
    /// no code was added (the board may have gained one).
    private let priceCount: Int
    private let strategies: StrategyIndex

    /// The snapshot of `subscription`'s board in `lastPrices`; nil when the subscription is not a
    /// board's or a price is not a number JSON can carry (the snapshot is then made on the store,
    /// as before).
    init?(_ subscription: Subscription, lastPrices: [String: PriceTick], strategies: StrategyIndex) {
        guard subscription.type == .market, let board = Board(rawValue: subscription.target) else { return nil }
        let ticks = Projection.ticks(on: board, in: lastPrices)
        var entries: [ByteBuffer] = []
        entries.reserveCapacity(ticks.count)
        for tick in ticks {
            guard let entry = Self.entry(tick, strategies: strategies) else { return nil }
            entries.append(entry)
        }
        self.subscription = subscription
        self.ticks = ticks
        self.entries = entries
        priceCount = lastPrices.count
        self.strategies = strategies
    }

    /// Snapshots of the `market` subscriptions among `subscriptions`, from one read of the store.
    static func prepare(_ subscriptions: [Subscription], store: EventStore) async -> [Subscription: BoardSnapshot] {
        guard subscriptions.contains(where: { $0.type == .market }) else { return [:] }
        let (lastPrices, strategies) = await store.read { ($0.lastPrices, $0.strategies) }
        return make(subscriptions, lastPrices: lastPrices, strategies: strategies)
    }

    /// Snapshots of the `market` subscriptions the session `clientID` holds, from one read of the store.
    static func prepare(forSessionOf clientID: String, store: EventStore) async -> [Subscription: BoardSnapshot] {
        let (held, lastPrices, strategies) = await store.read { ($0.subscriptions.subscriptions(of: clientID), $0.lastPrices, $0.strategies) }
        return make(Array(held), lastPrices: lastPrices, strategies: strategies)
    }

    private static func make(
        _ subscriptions: [Subscription], lastPrices: [String: PriceTick], strategies: StrategyIndex
    ) -> [Subscription: BoardSnapshot] {
        var snapshots: [Subscription: BoardSnapshot] = [:]
        for board in subscriptions where board.type == .market {
            snapshots[board] = BoardSnapshot(board, lastPrices: lastPrices, strategies: strategies)
        }
        return snapshots
    }

    /// On the store: the `price_update` a subscriber gets at `projection` (its entries, and how
    /// many), the prepared entries where a code's tick is the same, the others written now; nil
    /// when the board may have gained a code or a signal list changed since (the caller makes it
    /// from the projection then).
    func priceUpdate(at projection: Projection) -> (frame: ByteBuffer, count: Int)? {
        guard projection.lastPrices.count == priceCount, projection.strategies == strategies else { return nil }
        var current = entries
        for (index, tick) in ticks.enumerated() {
            guard let now = projection.lastPrices[tick.code] else { return nil }
            guard now != tick else { continue }
            guard let entry = Self.entry(now, strategies: strategies) else { return nil }
            current[index] = entry
        }
        let frame = ServerMessage.encodePriceUpdate(entries: current, seq: projection.lastSeq, subscription: subscription, timestamp: WireTime.now())
        return (frame, current.count)
    }

    private static func entry(_ tick: PriceTick, strategies: StrategyIndex) -> ByteBuffer? {
        let entry = ServerMessage.PriceEntry(Projection.named(tick, by: strategies))
        guard ServerMessage.PriceEntry.allFinite([entry]) else { return nil }
        var json = JSONBytes(capacity: 192)
        entry.write(into: &json)
        return json.buffer
    }
}
