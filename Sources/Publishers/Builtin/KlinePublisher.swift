import Broker
import Journal
import Synchronization

/// `kline_update` to `stock` subscribers of the code: bars ingested as they are (`POST /api/klines`,
/// Redis), and bars built here from ticks — updated on every tick, closed at the period boundary.
/// A close is journaled (`kline_updated` with `closed: true`) and reaches clients from there, so
/// resuming clients and audits see every closed bar.
public final class KlinePublisher: Publisher {
    public let name = "kline"
    public let kinds: Set<EventKind> = [.klineUpdated, .priceTicked]
    /// Periods built from ticks, with their length in microseconds.
    public let periods: [(name: String, length: Int64)]

    private let book: Mutex<BarBook>
    /// Closed bars not journaled yet, oldest first.
    private let owed = Mutex<[KlineBar]>([])
    /// Wakes the loop that journals `owed`.
    private let wakeups: AsyncStream<Void>.Continuation
    private let wakeupStream: AsyncStream<Void>
    /// Most closes journaled in one commit. At a period boundary every active code closes a bar at
    /// once (thousands with a busy feed): one commit per close would queue thousands of commits
    /// in front of the ticks.
    static let closesPerCommit = 1_000
    /// Whether the bars of the previous process were recovered (once per process, not per restart of `run`).
    private let recovered = Atomic<Bool>(false)

    public init(periods: [(name: String, length: Int64)] = [("1m", 60_000_000), ("5m", 300_000_000)]) {
        self.periods = periods
        book = Mutex(BarBook(periods: periods))
        (wakeupStream, wakeups) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    public func publish(_ events: [RecordedEvent], projection: Projection, to sink: any PushSink) throws {
        for recorded in events {
            switch recorded.event {
            case .klineUpdated(let bar):
                send(bar, seq: recorded.seq, projection: projection, sink: sink)
            case .priceTicked(let tick):
                let bars = update(with: tick)
                // Every bar of a tick is of its code: one look for subscribers.
                let subscription = Subscription(type: .stock, target: tick.code)
                guard !bars.isEmpty, projection.subscriptions.hasSubscribers(subscription) else { continue }
                for bar in bars {
                    sink.send(.message(type: "kline_update", data: bar), seq: recorded.seq, to: subscription, projection: projection)
                }
            default:
                continue
            }
        }
    }

    /// Recovers the bars the previous process was building, then journals closed bars; a timer
    /// also closes bars of codes that stopped ticking.
    public func run(_ context: PublisherContext) async throws {
        if !recovered.load(ordering: .acquiring) {
            try await recover(context)
            recovered.store(true, ordering: .releasing)
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await _ in self.wakeupStream {
                    await self.journalOwedCloses(context.store)
                }
            }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(1))
                    self.closeExpiredBars(now: WallClock.microsecondsNow())
                }
            }
            await group.next()
            group.cancelAll()
        }
    }

    private func send(_ bar: KlineBar, seq: UInt64, projection: Projection, sink: any PushSink) {
        let subscription = Subscription(type: .stock, target: bar.code)
        guard projection.subscriptions.hasSubscribers(subscription) else { return }
        sink.send(.message(type: "kline_update", data: bar), seq: seq, to: subscription, projection: projection)
    }

    /// The bar being built for `key`, if any.
    func openBar(_ key: BarKey) -> KlineBar? {
        book.withLock { $0.openBar(key)?.bar }
    }

    /// Folds a tick into its bars; returns the updated (open) bars and queues the closes it causes.
    private func update(with tick: PriceTick) -> [KlineBar] {
        let (updated, closed) = book.withLock { $0.fold(tick) }
        owe(closed)
        return updated
    }

    private func closeExpiredBars(now: Int64) {
        owe(book.withLock { $0.expire(now: now) })
    }

    /// Queues closes for the journal.
    private func owe(_ closed: [KlineBar]) {
        guard !closed.isEmpty else { return }
        owed.withLock { $0 += closed }
        wakeups.yield()
    }

    /// Journals the owed closes in commits of up to `closesPerCommit`, oldest first. A batch the
    /// store refuses is retried bar by bar, so one bad bar cannot take the others with it.
    private func journalOwedCloses(_ store: EventStore) async {
        while true {
            let batch = owed.withLock { owed -> [KlineBar] in
                let batch = Array(owed.prefix(Self.closesPerCommit))
                owed.removeFirst(batch.count)
                return batch
            }
            guard !batch.isEmpty else { return }
            do {
                try await store.execute(.ingestBars(batch))
            } catch {
                for bar in batch { _ = try? await store.execute(.ingestBar(bar)) }
            }
        }
    }

    /// Puts the bars the previous process was building (rebuilt from the ticks it journaled) under
    /// the bars built since this one started, so a restart does not reopen a bar half-way through
    /// its period; closes that process owed are journaled now.
    private func recover(_ context: PublisherContext) async throws {
        guard context.replayedThrough > 0 else { return }
        let periods = self.periods
        let recovery = try await runOnOwnThread {
            try Self.history(in: context.store.journal, through: context.replayedThrough, periods: periods)
        }
        owe(book.withLock { $0.merge(earlier: recovery.book) } + recovery.unjournaledCloses)
    }

    /// The bars being built at `seq`: ticks and closes journaled within twice the longest period
    /// before it, which covers every bar still open then and the one before it.
    static func history(in journal: Journal, through seq: UInt64, periods: [(name: String, length: Int64)]) throws -> BarRecovery {
        var recovery = BarRecovery(periods: periods)
        let reader = try journal.reader()
        guard let end = try reader.records(JournalQuery(fromSeq: seq, toSeq: seq)).next() else { return recovery }
        let kinds: Set<UInt16> = [EventKind.priceTicked.rawValue, EventKind.klineUpdated.rawValue]
        let cursor = try reader.records(
            JournalQuery(toSeq: seq, fromTime: end.timestamp - 2 * recovery.book.longestPeriod, kinds: kinds))
        while let record = try cursor.next() {
            recovery.apply(try EventCodec.decode(kind: record.kind, payload: record.payload))
        }
        return recovery
    }
}
