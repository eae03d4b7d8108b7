import Broker
import Journal
import Logging
import Metrics
import Synchronization

/// `kline_update` to `stock` subscribers of the code: bars ingested as they are (`POST /api/klines`,
/// Redis), and bars built here from ticks — updated on every tick, closed at the period boundary.
/// A close is journaled (`kline_updated` with `closed: true`) and reaches clients from there, so
/// resuming clients and audits see every closed bar. A close stays queued until it is journaled:
/// when the journal fails, it is tried again with backoff. A close fed from outside closes the
/// built bar of its period instead, so each bar is closed once.
public final class KlinePublisher: Publisher {
    public let name = "kline"
    public let kinds: Set<EventKind> = [.klineUpdated, .priceTicked]
    /// Periods built from ticks, with their length in microseconds.
    public let periods: [(name: String, length: Int64)]

    private let book: Mutex<BarBook>
    /// Closed bars not journaled yet, oldest first.
    private let owed: Mutex<OwedCloses>
    /// Whether closes were dropped (queue full) since closes were last journaled: the first drop
    /// of an outage is logged, all are counted.
    private let dropping = Atomic<Bool>(false)
    private let retryBackoff: ReconnectBackoff
    private let logger: Logger
    private let droppedCounter = Counter(label: "brokerd_kline_closes_dropped_total")
    private let failedAppendsCounter = Counter(label: "brokerd_kline_close_append_failures_total")
    /// Wakes the loop that journals `owed`.
    private let wakeups: AsyncStream<Void>.Continuation
    private let wakeupStream: AsyncStream<Void>
    /// Most closes journaled in one commit. At a period boundary every active code closes a bar at
    /// once (thousands with a busy feed): one commit per close would queue thousands of commits
    /// in front of the ticks.
    static let closesPerCommit = 1_000
    /// Most closes waiting for the journal: with 5,000 codes in 1m and 5m bars, a quarter of an
    /// hour of journal outage. Never fewer than two closes of every bar tracked (`OwedCloses`):
    /// with more codes, one boundary's closes would not fit, and a healthy journal would lose some.
    public static let defaultMaxOwedCloses = 100_000
    /// Whether the bars of the previous process were recovered (once per process, not per restart of `run`).
    private let recovered = Atomic<Bool>(false)

    /// `maxOwedCloses` bounds the closes waiting for the journal (the oldest go first past it);
    /// `retryBackoff` spaces the attempts to journal them while the journal fails.
    public init(
        periods: [(name: String, length: Int64)] = defaultPeriods,
        maxOwedCloses: Int = defaultMaxOwedCloses,
        retryBackoff: ReconnectBackoff = ReconnectBackoff(initial: .milliseconds(100), maximum: .seconds(5)),
        logger: Logger = Logger(label: "brokerd.kline")
    ) {
        self.periods = periods
        book = Mutex(BarBook(periods: periods))
        owed = Mutex(OwedCloses(capacity: maxOwedCloses))
        self.retryBackoff = retryBackoff
        self.logger = logger
        (wakeupStream, wakeups) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// The bars built from ticks: 1-minute and 5-minute ones.
    public static let defaultPeriods: [(name: String, length: Int64)] = [("1m", 60_000_000), ("5m", 300_000_000)]

    /// How far before a restart's last event `history` reads the journal for bars of `periods`, in
    /// microseconds: twice the longest period, which covers every bar still open then and the one
    /// before it, and the five minutes by which the opening auction's print comes before the day's
    /// first bar, which it opens (`TradingSession.openingAuctionLead`). Compacting rows of this
    /// time away would rebuild bars from part of their ticks.
    public static func recoveryWindow(periods: [(name: String, length: Int64)]) -> Int64 {
        2 * (periods.map(\.length).max() ?? 0) + TradingSession.openingAuctionLead
    }

    public func publish(_ events: [RecordedEvent], projection: Projection, to sink: any PushSink) throws {
        for recorded in events {
            switch recorded.event {
            case .klineUpdated(let bar):
                if bar.closed { takeIn(closed: bar) }
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

    /// The bar being built for `key`, if any: what this publisher last pushed for it.
    public func openBar(_ key: BarKey) -> KlineBar? {
        book.withLock { $0.openBar(key)?.bar }
    }

    /// The start of the latest period of `key` this publisher built a bar of from ticks (the open
    /// one, else the last closed one, also closed by a journaled bar); nil when it built none
    /// (since start, or for a day).
    ///
    /// Read on the store's executor, where `publish` folds ticks, it says whether a tick-built bar
    /// of `key` may already have reached the code's subscribers.
    public func latestBuiltStart(_ key: BarKey) -> Int64? {
        book.withLock { $0.tracks[key]?.latestStart }
    }

    /// Closes waiting in the queue for the journal (not counting a batch being appended).
    var owedCloses: Int { owed.withLock { $0.count } }

    /// Closes dropped since start because too many were waiting for the journal.
    var droppedCloses: Int { owed.withLock { $0.dropped } }

    /// Folds a tick into its bars; returns the updated (open) bars and queues the closes it causes.
    private func update(with tick: PriceTick) -> [KlineBar] {
        let (updated, closed) = book.withLock { $0.fold(tick) }
        owe(closed)
        return updated
    }

    /// Closes the period of `bar`, a close the journal holds, in the book too: a close this
    /// publisher owed, or a bar fed from outside, which ends the bar built for that period without
    /// a second close (one still waiting for the journal is dropped). `BarRecovery` does the same
    /// with the journal's closes after a restart.
    private func takeIn(closed bar: KlineBar) {
        let ended = book.withLock { $0.close(journaled: bar) }
        owed.withLock { $0.remove(closesOf: bar) }
        owe(ended)
    }

    private func closeExpiredBars(now: Int64) {
        owe(book.withLock { $0.expire(now: now) })
    }

    /// Queues closes for the journal.
    private func owe(_ closed: [KlineBar]) {
        guard !closed.isEmpty else { return }
        let tracked = book.withLock { $0.tracks.count }
        reportDropped(owed.withLock { owed in
            owed.minimumCapacity = 2 * tracked
            return owed.append(closed)
        })
        wakeups.yield()
    }

    /// Journals the owed closes in commits of up to `closesPerCommit`, oldest first, until none
    /// are left. When the journal fails, the closes go back to the queue and are tried again
    /// after a growing pause; only cancellation (shutdown) ends the attempts, and a restart
    /// rebuilds what was owed from the journaled ticks.
    private func journalOwedCloses(_ store: EventStore) async {
        var backoff = retryBackoff
        var failedAttempts = 0
        while !Task.isCancelled {
            let batch = owed.withLock { $0.take(upTo: Self.closesPerCommit) }
            guard !batch.isEmpty else { return }
            let (unjournaled, failure) = await journal(batch, store)
            guard let failure else {
                if failedAttempts > 0 {
                    logger.info("k-line closes are journaled again", metadata: ["failed_attempts": .stringConvertible(failedAttempts)])
                }
                failedAttempts = 0
                backoff.reset()
                dropping.store(false, ordering: .relaxed)
                continue
            }
            failedAttempts += 1
            failedAppendsCounter.increment()
            let (dropped, waiting) = owed.withLock { ($0.putBack(unjournaled), $0.count) }
            reportDropped(dropped)
            let delay = backoff.nextDelay()
            if failedAttempts == 1 {
                logger.warning(
                    "journaling k-line closes failed; keeping them and retrying with backoff",
                    metadata: ["error": "\(failure)", "owed": .stringConvertible(waiting)])
            } else {
                logger.debug("k-line closes still not journaled", metadata: ["attempt": .stringConvertible(failedAttempts), "error": "\(failure)", "retryIn": "\(delay)"])
            }
            do {
                try await Task.sleep(for: delay)
            } catch {
                return
            }
        }
    }

    /// Journals `batch` in one commit. A batch the decider refuses is journaled bar by bar, so one
    /// bad bar cannot take the others with it; a bar refused on its own is dropped with a log line
    /// (trying it again cannot help). Returns the bars a journal failure left unjournaled (from
    /// the first one it stopped), with that failure.
    private func journal(_ batch: [KlineBar], _ store: EventStore) async -> (unjournaled: ArraySlice<KlineBar>, failure: (any Error)?) {
        do {
            try await store.execute(.ingestBars(batch))
            return ([], nil)
        } catch is BrokerError {
            for (index, bar) in batch.enumerated() {
                do {
                    try await store.execute(.ingestBar(bar))
                } catch let refusal as BrokerError {
                    logger.error(
                        "k-line close refused by the broker; dropped",
                        metadata: ["code": "\(bar.code)", "period": "\(bar.period)", "start": .stringConvertible(bar.start), "error": "\(refusal)"])
                } catch {
                    return (batch[index...], error)
                }
            }
            return ([], nil)
        } catch {
            return (batch[...], error)
        }
    }

    /// Counts closes dropped because the queue was full; the first drop since closes were last
    /// journaled is logged.
    private func reportDropped(_ count: Int) {
        guard count > 0 else { return }
        droppedCounter.increment(by: count)
        guard !dropping.exchange(true, ordering: .relaxed) else { return }
        logger.error(
            """
            k-line closes dropped: more are waiting for the journal than the queue holds, the oldest go first; \
            further drops until the journal takes closes again are only counted (brokerd_kline_closes_dropped_total)
            """,
            metadata: ["dropped": .stringConvertible(count), "capacity": .stringConvertible(owed.withLock { max($0.capacity, $0.minimumCapacity) })])
    }

    /// Puts the bars the previous process was building (rebuilt from the ticks it journaled) under
    /// the bars built since this one started, so a restart does not reopen a bar half-way through
    /// its period; closes that process owed are journaled now.
    private func recover(_ context: PublisherContext) async throws {
        guard context.replayedThrough > 0 else { return }
        let periods = self.periods
        // A day's ticks can take seconds to read: a shutdown meanwhile stops the reading.
        let recovery = try await runOnOwnThread { isCancelled in
            try Self.history(
                in: context.store.journal, through: context.replayedThrough, periods: periods, pricesAtStart: context.pricesAtStart,
                isCancelled: isCancelled)
        }
        if let base = recovery.archivedWithinWindow {
            // `brokerd journal compact` refuses this; an older one, or a clock set back, did not.
            logger.warning(
                "the bars being built were rebuilt without ticks compaction archived (up to seq \(base.seq)); their closes lack those ticks",
                metadata: ["archived_through_seq": .stringConvertible(base.seq), "archived_through": "\(ISOTimestamp.format(microseconds: base.timestamp))"])
        }
        owe(book.withLock { $0.merge(earlier: recovery.book) } + recovery.unjournaledCloses)
    }

    /// The bars being built at `seq`: ticks and closes journaled within `recoveryWindow` before the
    /// last of them at or before `seq`. Codes that did not tick in that time get their last tick
    /// (from `pricesAtStart`, as of `seq`) as the point their next bar's volume counts from.
    ///
    /// The window ends at the last tick or bar, not at `seq`: the rows after it say nothing about
    /// bars, and may come long after (the disconnects of clients a crash stranded are journaled at
    /// the restart, however much later: measured from them, the window missed every tick).
    ///
    /// `isCancelled` is asked every 4,096 rows; once it says yes, reading stops with `CancellationError`.
    static func history(
        in journal: Journal, through seq: UInt64, periods: [(name: String, length: Int64)], pricesAtStart: [String: PriceTick] = [:],
        isCancelled: () -> Bool = { false }
    ) throws -> BarRecovery {
        var recovery = BarRecovery(periods: periods)
        let reader = try journal.reader()
        let kinds: Set<UInt16> = [EventKind.priceTicked.rawValue, EventKind.klineUpdated.rawValue]
        guard let end = try reader.last(ofKinds: kinds, atOrBefore: seq) else { return recovery }
        let windowStart = end.timestamp - recoveryWindow(periods: periods)
        let base = try reader.chainBase()
        if base.seq > 0 && base.timestamp >= windowStart { recovery.archivedWithinWindow = base }
        let cursor = try reader.records(JournalQuery(toSeq: seq, fromTime: windowStart, kinds: kinds))
        var read = 0
        while let record = try cursor.next() {
            recovery.apply(try EventCodec.decode(kind: record.kind, payload: record.payload))
            read += 1
            if read % 4_096 == 0, isCancelled() { throw CancellationError() }
        }
        recovery.remember(lastTicks: pricesAtStart.values)
        return recovery
    }
}
