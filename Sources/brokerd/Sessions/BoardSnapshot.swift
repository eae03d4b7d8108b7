import Broker
import NIOCore

/// A `market` subscriber's snapshot (every priced code of a board: 1,250 on a busy Shanghai board)
/// prepared off the store, so that a storm of market subscribers (every client resuming after a
/// restart) does not hold up ingest for the scan, the sort and the JSON of each of them.
///
/// Prepared from the projection's price and strategy maps as a read took them (copies sharing
/// their storage), or from the board's last snapshot (`BoardSnapshots`) brought up to that read;
/// on the store, when the subscribe or resume is applied, only what changed since is looked at
/// and written again, so the snapshot is still the state as of that seq, queued ahead of every
/// later push.
struct BoardSnapshot: Sendable {
    let subscription: Subscription
    /// The projection's seq at the read it is the board of.
    let seq: UInt64
    /// The board's ticks as `lastPrices` held them, sorted by code.
    private let ticks: [PriceTick]
    /// Each tick's entry (named as `Projection.knownPrices(for:)` names it) as a JSON object.
    private let entries: [ByteBuffer]
    /// `lastPrices.count` then: a code is never dropped from it, so the same count later means
    /// no code was added (the board may have gained one).
    private let priceCount: Int
    private let strategies: StrategyIndex

    /// The snapshot of `subscription`'s board in `lastPrices` as of `seq`; nil when the
    /// subscription is not a board's or a price is not a number JSON can carry (the snapshot is
    /// then made on the store, as before).
    init?(_ subscription: Subscription, lastPrices: [String: PriceTick], strategies: StrategyIndex, seq: UInt64 = 0) {
        guard subscription.type == .market, let board = Board(rawValue: subscription.target) else { return nil }
        let ticks = Projection.ticks(on: board, in: lastPrices)
        var entries: [ByteBuffer] = []
        entries.reserveCapacity(ticks.count)
        for tick in ticks {
            guard let entry = Self.entry(tick, strategies: strategies) else { return nil }
            entries.append(entry)
        }
        self.init(subscription: subscription, seq: seq, ticks: ticks, entries: entries, priceCount: lastPrices.count, strategies: strategies)
    }

    private init(subscription: Subscription, seq: UInt64, ticks: [PriceTick], entries: [ByteBuffer], priceCount: Int, strategies: StrategyIndex) {
        self.subscription = subscription
        self.seq = seq
        self.ticks = ticks
        self.entries = entries
        self.priceCount = priceCount
        self.strategies = strategies
    }

    /// This snapshot brought up to `lastPrices` and `strategies` as of `seq`: the entries of the
    /// ticks that changed written again, the others kept. Nil when the board may have gained a
    /// code or a signal list changed (a snapshot is then made from a scan).
    func following(_ lastPrices: [String: PriceTick], strategies: StrategyIndex, seq: UInt64) -> BoardSnapshot? {
        guard lastPrices.count == priceCount, strategies == self.strategies else { return nil }
        guard seq != self.seq else { return self }
        var ticks = ticks
        var entries = entries
        for index in ticks.indices {
            guard let now = lastPrices[ticks[index].code] else { return nil }
            guard now != ticks[index] else { continue }
            guard let entry = Self.entry(now, strategies: strategies) else { return nil }
            ticks[index] = now
            entries[index] = entry
        }
        return BoardSnapshot(subscription: subscription, seq: seq, ticks: ticks, entries: entries, priceCount: priceCount, strategies: strategies)
    }

    /// On the store: the `price_update` a subscriber gets at `projection` (its entries, and how
    /// many), the prepared entries where a code's tick is the same, the others written now; nil
    /// when the board may have gained a code or a signal list changed since (the caller makes it
    /// from the projection then).
    func priceUpdate(at projection: Projection) -> (frame: ByteBuffer, count: Int)? {
        guard let current = following(projection.lastPrices, strategies: projection.strategies, seq: projection.lastSeq) else { return nil }
        let frame = ServerMessage.encodePriceUpdate(
            entries: current.entries, seq: projection.lastSeq, subscription: subscription, timestamp: WireTime.now())
        return (frame, current.entries.count)
    }

    private static func entry(_ tick: PriceTick, strategies: StrategyIndex) -> ByteBuffer? {
        let entry = ServerMessage.PriceEntry(Projection.named(tick, by: strategies))
        guard ServerMessage.PriceEntry.allFinite([entry]) else { return nil }
        var json = JSONBytes(capacity: 192)
        entry.write(into: &json)
        return json.buffer
    }
}
