import Broker
import Synchronization

/// The latest snapshot prepared of each board, shared by the market subscribers of a moment: in a
/// storm of them (every client resuming after a restart) each takes the last one's snapshot
/// brought up to its own read (the ticks since written again), instead of a scan, a sort and
/// the JSON of every price of the board each.
final class BoardSnapshots: Sendable {
    private let latest = Mutex<[Subscription: BoardSnapshot]>([:])
    private let scanCount = Atomic<Int>(0)

    /// How many snapshots were made from a scan of the price map; the others followed a shared one.
    var scans: Int { scanCount.load(ordering: .relaxed) }

    /// Snapshots of the `market` subscriptions among `subscriptions`, from one read of the store.
    func prepare(_ subscriptions: [Subscription], store: EventStore) async -> [Subscription: BoardSnapshot] {
        guard subscriptions.contains(where: { $0.type == .market }) else { return [:] }
        let (lastPrices, strategies, seq) = await store.read { ($0.lastPrices, $0.strategies, $0.lastSeq) }
        return snapshots(of: subscriptions, lastPrices: lastPrices, strategies: strategies, seq: seq)
    }

    /// Snapshots of the `market` subscriptions the session `clientID` holds, from one read of the store.
    func prepare(forSessionOf clientID: String, store: EventStore) async -> [Subscription: BoardSnapshot] {
        let (held, lastPrices, strategies, seq) = await store.read {
            ($0.subscriptions.subscriptions(of: clientID), $0.lastPrices, $0.strategies, $0.lastSeq)
        }
        return snapshots(of: Array(held), lastPrices: lastPrices, strategies: strategies, seq: seq)
    }

    /// Snapshots of the `market` subscriptions among `subscriptions` as of `seq`, each from the
    /// board's shared one when that can follow, else from a scan; the newer becomes the shared one.
    func snapshots(
        of subscriptions: [Subscription], lastPrices: [String: PriceTick], strategies: StrategyIndex, seq: UInt64
    ) -> [Subscription: BoardSnapshot] {
        var snapshots: [Subscription: BoardSnapshot] = [:]
        for board in subscriptions where board.type == .market {
            let shared = latest.withLock { $0[board] }
            var snapshot = shared?.following(lastPrices, strategies: strategies, seq: seq)
            if snapshot == nil {
                snapshot = BoardSnapshot(board, lastPrices: lastPrices, strategies: strategies, seq: seq)
                scanCount.add(1, ordering: .relaxed)
            }
            guard let snapshot else { continue }
            snapshots[board] = snapshot
            latest.withLock { latest in
                if latest[board].map({ $0.seq <= seq }) ?? true { latest[board] = snapshot }
            }
        }
        return snapshots
    }
}
