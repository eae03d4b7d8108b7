import Broker
import Foundation
import Journal
import Logging
import Synchronization
import Testing
import TestSupport

@testable import Publishers

/// Records what publishers send, instead of a server's outboxes.
final class RecordingSink: PushSink {
    struct Sent: Sendable {
        let type: String
        let seq: UInt64
        let subscription: Subscription?
        let user: String?
        let codes: [String]
        /// The names of a price update's entries.
        var names: [String] = []
    }

    private let sent = Mutex<[Sent]>([])
    var all: [Sent] { sent.withLock { $0 } }

    func send(_ push: Push, seq: UInt64, to subscription: Subscription, projection: Projection) -> Int {
        record(push, seq: seq, subscription: subscription, user: nil)
        return projection.subscriptions.subscribers(of: subscription).count
    }

    /// Records one send per subscription that reaches clients not reached by an earlier one.
    func send(_ push: Push, seq: UInt64, toAnyOf subscriptions: [Subscription], projection: Projection) -> Int {
        var reached: Set<String> = []
        for subscription in subscriptions {
            let fresh = projection.subscriptions.subscribers(of: subscription).subtracting(reached)
            guard !fresh.isEmpty else { continue }
            reached.formUnion(fresh)
            record(push, seq: seq, subscription: subscription, user: nil)
        }
        return reached.count
    }

    func send(_ push: Push, seq: UInt64, toUser user: String) -> Int {
        record(push, seq: seq, subscription: nil, user: user)
        return 1
    }

    private func record(_ push: Push, seq: UInt64, subscription: Subscription?, user: String?) {
        let entry: Sent = switch push {
        case .prices(let ticks):
            Sent(type: "price_update", seq: seq, subscription: subscription, user: user, codes: ticks.map(\.code), names: ticks.map(\.name))
        case .message(let type, let data):
            Sent(type: type, seq: seq, subscription: subscription, user: user, codes: (data as? KlineBar).map { [$0.code] } ?? [])
        }
        sent.withLock { $0.append(entry) }
    }
}

struct FailingPublisher: Publisher {
    struct Failure: Error {}
    let name = "failing"
    let kinds: Set<EventKind> = [.priceTicked]
    func publish(_ events: [RecordedEvent], projection: Projection, to sink: any PushSink) throws { throw Failure() }
}

/// A store on a real journal with a connected client subscribed to `subscriptions`.
func storeWithSubscriber(_ dir: TemporaryDirectory, _ subscriptions: [Subscription], user: String? = nil) async throws -> (Journal, EventStore) {
    let journal = try Journal.open(path: dir.path("j.sqlite"))
    let store = try EventStore(journal: journal)
    try await store.execute(.connect(clientID: "client_00000001", user: user, remoteAddress: nil, node: "test"))
    for subscription in subscriptions {
        try await store.execute(.subscribe(clientID: "client_00000001", subscription: subscription))
    }
    return (journal, store)
}

func tick(_ code: String, _ price: Double, at timestamp: Int64 = WallClock.microsecondsNow(), volume: Int64 = 1_000) -> FedTick {
    FedTick(code: code, name: code, price: price, volume: volume, prevClose: 10, timestamp: timestamp)
}

/// A minute a week ahead, at 20:00 Asia/Shanghai: in the future, so only a tick of a later minute
/// closes its bar, never the timer that closes the bars of codes that stopped ticking; and away
/// from the edges of the trading session, where ticks are binned apart from their own time
/// (`TradingSession`), whatever the time of day the tests run at.
func quietFutureMinute() -> Int64 {
    let day: Int64 = 86_400_000_000
    return (WallClock.microsecondsNow() / day + 7) * day + 12 * 3_600_000_000
}

@Suite struct PublisherTests {
    @Test func aThrowingPublisherDoesNotStopTheOthers() async throws {
        let dir = try TemporaryDirectory()
        let (journal, store) = try await storeWithSubscriber(dir, [Subscription(type: .stock, target: "600519")])
        let sink = RecordingSink()
        let logs = LogRecorder()
        let host = PublisherHost(publishers: [FailingPublisher(), PricePublisher()], sink: sink, logger: logs.logger())
        await store.setObserver(host)
        for price in 11...30 { try await store.execute(.ingestTicks([tick("600519", Double(price))])) }
        journal.close()

        #expect(sink.all.filter { $0.type == "price_update" }.count == 20)
        #expect(host.statistics["failing"]?.failures == 20)
        #expect(host.statistics["price"]?.failures == 0)
        // Failing on every batch is logged when it starts, not on every batch.
        let failures = logs.all.filter { $0.message.hasPrefix("publisher failed") }
        #expect(failures.count == 1 && failures.first?.metadata["publisher"] == "failing", "\(failures.map(\.message))")
    }

    @Test func aFailureStreakIsLoggedAtItsStartOnceAMinuteAndAtItsEnd() {
        var streak = FailureStreak()
        let start = ContinuousClock.now
        #expect(streak.succeeded() == nil)
        #expect(streak.failed(at: start) == 1)
        #expect(streak.failed(at: start + .seconds(1)) == nil)
        #expect(streak.failed(at: start + .seconds(59)) == nil)
        #expect(streak.failed(at: start + .seconds(61)) == 4)
        #expect(streak.failed(at: start + .seconds(62)) == nil)
        #expect(streak.succeeded() == 5)
        #expect(streak.succeeded() == nil)
        #expect(streak.failed(at: start + .seconds(63)) == 1, "a new streak is logged at its start")
    }

    @Test func priceUpdatesGoOncePerAffectedSubscriptionWithTheLatestTickPerCode() async throws {
        let dir = try TemporaryDirectory()
        let (journal, store) = try await storeWithSubscriber(
            dir, [Subscription(type: .stock, target: "600519"), Subscription(type: .market, target: "sz")])
        let sink = RecordingSink()
        await store.setObserver(PublisherHost(publishers: [PricePublisher()], sink: sink, logger: Logger(label: "test")))
        try await store.execute(.ingestTicks([tick("600519", 11), tick("000001", 5), tick("600519", 12), tick("300750", 9)]))
        journal.close()

        let byTarget = Dictionary(uniqueKeysWithValues: sink.all.map { ($0.subscription?.target ?? "", $0.codes) })
        #expect(byTarget == ["600519": ["600519"], "sz": ["000001", "300750"]])
    }

    @Test func newsReachesAllCategoryAndTaggedStockSubscribers() async throws {
        let dir = try TemporaryDirectory()
        let (journal, store) = try await storeWithSubscriber(dir, [
            Subscription(type: .news, target: "all"), Subscription(type: .news, target: "macro"),
            Subscription(type: .news, target: "company"), Subscription(type: .stock, target: "600519"),
        ])
        let sink = RecordingSink()
        await store.setObserver(PublisherHost(publishers: [NewsPublisher()], sink: sink, logger: Logger(label: "test")))
        try await store.execute(.publishNews(NewsItem(
            id: "n1", title: "Rates", summary: "", url: "", codes: ["600519"], category: "macro", publishedAt: 0)))
        journal.close()

        // One client holding three of the subscriptions the item reaches gets it once.
        #expect(sink.all.compactMap { $0.subscription.map { "\($0.type.rawValue):\($0.target)" } } == ["news:all"])
    }

    @Test func newsReachesEachClientOnceByTheFirstSubscriptionItHolds() async throws {
        let dir = try TemporaryDirectory()
        let (journal, store) = try await storeWithSubscriber(dir, [
            Subscription(type: .news, target: "macro"), Subscription(type: .stock, target: "600519"),
        ])
        try await store.execute(.connect(clientID: "client_00000002", user: nil, remoteAddress: nil, node: "test"))
        try await store.execute(.subscribe(clientID: "client_00000002", subscription: Subscription(type: .stock, target: "000001")))
        try await store.execute(.connect(clientID: "client_00000003", user: nil, remoteAddress: nil, node: "test"))
        try await store.execute(.subscribe(clientID: "client_00000003", subscription: Subscription(type: .news, target: "company")))
        let sink = RecordingSink()
        await store.setObserver(PublisherHost(publishers: [NewsPublisher()], sink: sink, logger: Logger(label: "test")))
        try await store.execute(.publishNews(NewsItem(
            id: "n1", title: "Rates", summary: "", url: "", codes: ["600519", "000001"], category: "macro", publishedAt: 0)))
        journal.close()

        // Client 1 by news:macro (not again by stock:600519), client 2 by stock:000001, client 3 not at all.
        #expect(sink.all.compactMap { $0.subscription.map { "\($0.type.rawValue):\($0.target)" } } == ["news:macro", "stock:000001"])
    }

    @Test func barsAreBuiltFromTicksAndClosedIntoTheJournalAtThePeriodBoundary() async throws {
        let dir = try TemporaryDirectory()
        let (journal, store) = try await storeWithSubscriber(dir, [Subscription(type: .stock, target: "600519")])
        let sink = RecordingSink()
        let kline = KlinePublisher(periods: [("1m", 60_000_000)])
        await store.setObserver(PublisherHost(publishers: [kline], sink: sink, logger: Logger(label: "test")))
        let loop = Task { try await kline.run(PublisherContext(store: store)) }
        let minute = quietFutureMinute()
        let key = BarKey(code: "600519", period: "1m")
        #expect(kline.latestBuiltStart(key) == nil && kline.openBar(key) == nil, "no bar before the first tick")
        try await store.execute(.ingestTicks([tick("600519", 10, at: minute + 1_000_000, volume: 100)]))
        try await store.execute(.ingestTicks([tick("600519", 12, at: minute + 20_000_000, volume: 150)]))
        try await store.execute(.ingestTicks([tick("600519", 9, at: minute + 40_000_000, volume: 180)]))
        try await store.execute(.ingestTicks([tick("600519", 11, at: minute + 61_000_000, volume: 200)]))
        // The close of the first minute is journaled by the publisher's loop.
        var closed: KlineBar?
        for _ in 0..<200 where closed == nil {
            try await Task.sleep(for: .milliseconds(10))
            closed = await store.read { $0.lastBars[BarKey(code: "600519", period: "1m")] }
        }
        loop.cancel()
        journal.close()

        let bar = try #require(closed)
        #expect(bar.closed)
        #expect(bar.start == minute)
        #expect([bar.open, bar.high, bar.low, bar.close] == [10, 12, 9, 9])
        #expect(bar.volume == 180, "the first bar of the code counts the day's volume from 0")
        #expect(sink.all.filter { $0.type == "kline_update" }.count == 5, "four live updates and the close")
        #expect(kline.openBar(key)?.start == minute + 60_000_000, "the next minute's bar, opened by the last tick")
        #expect(kline.openBar(key)?.close == 11)
        #expect(kline.latestBuiltStart(key) == minute + 60_000_000)
        #expect(kline.latestBuiltStart(BarKey(code: "000001", period: "1m")) == nil)
    }

    /// The closes of `key` in the journal, by start.
    private func journaledCloses(_ journal: Journal, _ key: BarKey) throws -> [Int64] {
        let cursor = try journal.reader().records(JournalQuery(kinds: [EventKind.klineUpdated.rawValue]))
        var starts: [Int64] = []
        while let record = try cursor.next() {
            if case .klineUpdated(let bar) = try EventCodec.decode(kind: record.kind, payload: record.payload),
                bar.closed, BarKey(code: bar.code, period: bar.period) == key {
                starts.append(bar.start)
            }
        }
        return starts
    }

    private func postedClose(_ start: Int64) -> KlineBar {
        KlineBar(code: "600519", period: "1m", open: 10, high: 10.6, low: 9.9, close: 10.1, volume: 250, start: start, closed: true)
    }

    @Test func aClosePostedForTheMinuteBeingBuiltIsThatBarsOnlyClose() async throws {
        let dir = try TemporaryDirectory()
        let (journal, store) = try await storeWithSubscriber(dir, [Subscription(type: .stock, target: "600519")])
        let sink = RecordingSink()
        let kline = KlinePublisher(periods: [("1m", 60_000_000)])
        await store.setObserver(PublisherHost(publishers: [kline], sink: sink, logger: Logger(label: "test")))
        let loop = Task { try await kline.run(PublisherContext(store: store)) }
        let minute = quietFutureMinute()
        let key = BarKey(code: "600519", period: "1m")
        try await store.execute(.ingestTicks([tick("600519", 10, at: minute + 1_000_000, volume: 100)]))
        try await store.execute(.ingestTicks([tick("600519", 10.5, at: minute + 20_000_000, volume: 300)]))
        // A vendor's closed bar for the minute being built.
        try await store.execute(.ingestBars([postedClose(minute)]))
        #expect(kline.openBar(key) == nil)
        // A tick of that minute after it is late; the next minute's bar counts from the last tick before it.
        try await store.execute(.ingestTicks([tick("600519", 11, at: minute + 40_000_000, volume: 400)]))
        try await store.execute(.ingestTicks([tick("600519", 11, at: minute + 61_000_000, volume: 450)]))
        #expect(kline.openBar(key)?.start == minute + 60_000_000)
        #expect(kline.openBar(key)?.volume == 150)
        try await Task.sleep(for: .milliseconds(200))
        loop.cancel()

        #expect(try journaledCloses(journal, key) == [minute], "one close: the posted one")
        #expect(await store.read { $0.lastBars[key] } == postedClose(minute))
        // Two live updates, the posted close, the next minute's first update: nothing of the minute after its close.
        #expect(sink.all.filter { $0.type == "kline_update" }.count == 4)
        journal.close()
    }

    @Test func aBuiltCloseStillWaitingForTheJournalGivesWayToAPostedOne() async throws {
        let dir = try TemporaryDirectory()
        let (journal, store) = try await storeWithSubscriber(dir, [])
        let kline = KlinePublisher(periods: [("1m", 60_000_000)])
        await store.setObserver(PublisherHost(publishers: [kline], sink: RecordingSink(), logger: Logger(label: "test")))
        let minute = quietFutureMinute()
        let key = BarKey(code: "600519", period: "1m")
        try await store.execute(.ingestTicks([tick("600519", 10, at: minute + 1_000_000, volume: 100)]))
        // Closes the minute; the loop that journals closes does not run yet.
        try await store.execute(.ingestTicks([tick("600519", 11, at: minute + 61_000_000, volume: 120)]))
        #expect(kline.owedCloses == 1)
        try await store.execute(.ingestBars([postedClose(minute)]))
        #expect(kline.owedCloses == 0)

        let loop = Task { try await kline.run(PublisherContext(store: store)) }
        try await Task.sleep(for: .milliseconds(200))
        loop.cancel()
        #expect(try journaledCloses(journal, key) == [minute])
        #expect(await store.read { $0.lastBars[key] } == postedClose(minute), "the built close did not replace the posted one")
        journal.close()
    }

    @Test func aCloseTheJournalFailedToTakeIsJournaledOnceTheJournalWorksAgain() async throws {
        let dir = try TemporaryDirectory()
        let (journal, store) = try await storeWithSubscriber(dir, [])
        let kline = KlinePublisher(periods: [("1m", 60_000_000)])
        await store.setObserver(PublisherHost(publishers: [kline], sink: RecordingSink(), logger: Logger(label: "test")))
        let minute = quietFutureMinute()
        let key = BarKey(code: "600519", period: "1m")
        #expect(kline.latestBuiltStart(key) == nil && kline.openBar(key) == nil, "no bar before the first tick")
        try await store.execute(.ingestTicks([tick("600519", 10, at: minute + 1_000_000, volume: 100)]))
        // Closes the first minute; the loop that journals closes does not run yet.
        try await store.execute(.ingestTicks([tick("600519", 11, at: minute + 61_000_000, volume: 120)]))

        // As while an offline `journal compact` runs: appends fail once their busy timeout is over.
        let lock = try JournalWriteLock(path: dir.path("j.sqlite"))
        let failedBefore = journal.statistics.failedCommits
        let loop = Task { try await kline.run(PublisherContext(store: store)) }
        // The close's commit, and its retry (which was its last chance).
        try await eventually("two failed appends", within: .seconds(60)) { journal.statistics.failedCommits >= failedBefore + 2 }
        lock.release()

        var closed: KlineBar?
        for _ in 0..<2_000 where closed == nil {
            try await Task.sleep(for: .milliseconds(10))
            closed = await store.read { $0.lastBars[BarKey(code: "600519", period: "1m")] }
        }
        loop.cancel()
        journal.close()
        #expect(closed?.closed == true)
        #expect(closed?.start == minute)
        #expect(kline.owedCloses == 0)
    }

    @Test func pastTheQueuesBoundTheOldestOwedClosesAreDroppedLoggedOnceAndCounted() async throws {
        let dir = try TemporaryDirectory()
        let (journal, store) = try await storeWithSubscriber(dir, [])
        let logs = LogRecorder()
        let kline = KlinePublisher(periods: [("1m", 60_000_000)], maxOwedCloses: 2, logger: logs.logger())
        await store.setObserver(PublisherHost(publishers: [kline], sink: RecordingSink(), logger: Logger(label: "test")))
        let minute = quietFutureMinute()
        let codes = ["600000", "600519", "000001", "300750"]
        try await store.execute(.ingestTicks(codes.map { tick($0, 10, at: minute + 1_000_000) }))
        // One boundary closes a bar of every code: 4 closes, past maxOwedCloses, but a boundary's
        // closes always fit (two per bar tracked), or a feed of many codes would lose some at
        // every boundary with a healthy journal.
        try await store.execute(.ingestTicks(codes.map { tick($0, 11, at: minute + 61_000_000) }))
        #expect(kline.owedCloses == 4 && kline.droppedCloses == 0)
        // Two more boundaries while the loop that journals them does not run (as if stuck on the
        // journal): 12 closes, room for 8.
        for later in [121_000_000, 181_000_000] as [Int64] {
            try await store.execute(.ingestTicks(codes.map { tick($0, 12, at: minute + later) }))
        }
        #expect(kline.owedCloses == 8)
        #expect(kline.droppedCloses == 4)
        #expect(logs.all.filter { $0.level == .error }.count == 1)

        let loop = Task { try await kline.run(PublisherContext(store: store)) }
        for _ in 0..<2_000 {
            // The 8 closes go in one commit: a bar of each code is in once it is.
            if await store.read({ $0.lastBars.count }) == codes.count { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        loop.cancel()
        journal.close()
        let cursor = try JournalReader(path: dir.path("j.sqlite")).records(JournalQuery(kinds: [EventKind.klineUpdated.rawValue]))
        var starts: [Int64] = []
        while let record = try cursor.next() {
            if case .klineUpdated(let bar) = try EventCodec.decode(kind: record.kind, payload: record.payload) { starts.append(bar.start) }
        }
        #expect(starts.sorted() == [Int64](repeating: minute + 60_000_000, count: 4) + [Int64](repeating: minute + 120_000_000, count: 4),
            "the newest closes were kept: \(starts.map { ($0 - minute) / 60_000_000 })")
    }

    @Test func anAlertFiresOnceIsJournaledAndReArmsWhenTheConditionClears() async throws {
        let dir = try TemporaryDirectory()
        let (journal, store) = try await storeWithSubscriber(dir, [], user: "alice")
        let sink = RecordingSink()
        let alerts = AlertPublisher()
        await store.setObserver(PublisherHost(publishers: [alerts], sink: sink, logger: Logger(label: "test")))
        let loop = Task { try await alerts.run(PublisherContext(store: store)) }
        try await store.execute(.setAlertRule(AlertRule(id: "r1", user: "alice", code: "600519", condition: .above, threshold: 1900)))

        func alertCount() -> Int { sink.all.filter { $0.type == "alert" && $0.user == "alice" }.count }
        func waitForAlerts(_ n: Int) async throws {
            for _ in 0..<300 where alertCount() < n { try await Task.sleep(for: .milliseconds(10)) }
        }
        try await store.execute(.ingestTicks([tick("600519", 1950), tick("600519", 1960)]))
        try await waitForAlerts(1)
        try await store.execute(.ingestTicks([tick("600519", 1970)]))
        try await Task.sleep(for: .milliseconds(100))
        #expect(alertCount() == 1, "a fired rule stays quiet while the condition holds")
        try await store.execute(.ingestTicks([tick("600519", 1800)]))
        #expect(await store.read { !$0.alerts.isTriggered("r1") }, "re-armed once the price fell back")
        try await store.execute(.ingestTicks([tick("600519", 1901)]))
        try await waitForAlerts(2)
        loop.cancel()
        journal.close()

        #expect(alertCount() == 2)
        let reader = try JournalReader(path: dir.path("j.sqlite"))
        let cursor = try reader.records(JournalQuery(kinds: [EventKind.alertTriggered.rawValue]))
        var triggered = 0
        while try cursor.next() != nil { triggered += 1 }
        #expect(triggered == 2)
    }

    @Test func anAlertNoticeNamesTheRuleAsItFiredAndTheRuleAsItIsNowOnlyForAFiringJournaledWithoutIt() throws {
        func json(_ notice: AlertNotice) throws -> [String: Any] {
            try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(notice)) as? [String: Any])
        }
        let fired = AlertRule(id: "r1", user: "alice", code: "000768", condition: .above, threshold: 4.5)
        let now = AlertRule(id: "r1", user: "alice", code: "000768", condition: .below, threshold: 3)

        let notice = try json(AlertNotice(triggered: AlertTriggered(firing: fired, at: 4.6), ruleNow: now, at: 1))
        #expect(notice["condition"] as? String == "above")
        #expect(notice["threshold"] as? Double == 4.5)
        // A row from before event format 2 holds neither: the rule as it is now is all there is.
        let old = AlertTriggered(ruleID: "r1", user: "alice", code: "000768", price: 4.6)
        let oldNotice = try json(AlertNotice(triggered: old, ruleNow: now, at: 1))
        #expect(oldNotice["condition"] as? String == "below")
        #expect(oldNotice["threshold"] as? Double == 3)
        let removed = try json(AlertNotice(triggered: old, ruleNow: nil, at: 1))
        #expect(removed["condition"] == nil && removed["threshold"] == nil)
    }

    @Test func aBatchsPushesGoOutInSeqOrderAcrossPublishers() async throws {
        // One commit: tick 600100 (fires the rule), alert_triggered, ticks 600200 and 600300. The
        // price round carries the last tick's seq, above the alert's; sent first (its publisher
        // runs first), a client resuming from the highest seq it saw would never get the alert.
        let dir = try TemporaryDirectory()
        let (journal, store) = try await storeWithSubscriber(
            dir, [Subscription(type: .market, target: "sh"), Subscription(type: .stock, target: "600300")], user: "alice")
        try await store.execute(.setAlertRule(AlertRule(id: "r1", user: "alice", code: "600100", condition: .above, threshold: 50)))
        let sink = RecordingSink()
        let kline = KlinePublisher()
        await store.setObserver(PublisherHost(publishers: [PricePublisher(), kline, AlertPublisher()], sink: sink, logger: Logger(label: "test")))
        try await store.execute(.ingestTicks([tick("600100", 60), tick("600200", 11), tick("600300", 12)]))
        journal.close()

        let sent = sink.all
        #expect(Set(sent.map(\.type)) == ["price_update", "kline_update", "alert"], "\(sent.map(\.type))")
        #expect(sent.map(\.seq) == sent.map(\.seq).sorted(), "\(sent.map { "\($0.type)@\($0.seq)" })")
        let alert = try #require(sent.first { $0.type == "alert" })
        let prices = try #require(sent.first { $0.type == "price_update" })
        #expect(alert.seq < prices.seq)
    }

    @Test func aReplacedSignalListsAddedPricesGoToItsSubscribersAtItsSeqInOrderWithTheRound() throws {
        let strategy = Subscription(type: .strategy, target: "s1")
        let market = Subscription(type: .market, target: "sh")
        var projection = Projection()
        var seq: UInt64 = 0
        func recorded(_ events: [Event]) -> [RecordedEvent] {
            events.map { event in
                seq += 1
                return RecordedEvent(seq: seq, timestamp: Int64(seq), event: event)
            }
        }
        projection.apply(contentsOf: recorded([
            .clientConnected(ClientConnected(clientID: "c1", user: nil, remoteAddress: nil, node: "n")),
            .subscribed(SubscriptionChange(clientID: "c1", subscription: strategy)),
            .subscribed(SubscriptionChange(clientID: "c1", subscription: market)),
            .signalsReplaced(SignalsReplaced(strategy: "s1", signals: [Signal(code: "600100", name: "a")])),
            // Ticked without a name: the code is its name until a list names it.
            .priceTicked(PriceTick(code: "600300", name: "600300", price: 7, volume: 1, prevClose: 7, timestamp: 1)),
        ]))
        // One batch: a tick of the market, then the list gains 600300 (known) and 600500 (never ticked).
        let batch = recorded([
            .priceTicked(PriceTick(code: "600100", name: "a", price: 5, volume: 1, prevClose: 5, timestamp: 2)),
            .signalsReplaced(SignalsReplaced(
                strategy: "s1", replacing: [Signal(code: "600100", name: "a")],
                with: [Signal(code: "600100", name: "a"), Signal(code: "600300", name: "c"), Signal(code: "600500", name: "e")])),
        ])
        projection.apply(contentsOf: batch)
        let sink = RecordingSink()
        try PricePublisher().publish(batch, projection: projection, to: sink)

        let sent = sink.all
        #expect(sent.map(\.seq) == sent.map(\.seq).sorted(), "\(sent.map { "\($0.subscription?.target ?? "-")@\($0.seq)" })")
        let added = try #require(sent.last)
        #expect(added.seq == batch[1].seq)
        #expect(added.subscription == strategy)
        #expect(added.codes == ["600300"])
        #expect(added.names == ["c"], "as the subscribe snapshot names it")
        #expect(sent.dropLast().allSatisfy { $0.seq == batch[0].seq })
    }

    @Test func aVolumeSpikeIsSentWhenOneTicksVolumeDwarfsTheAverage() async throws {
        let dir = try TemporaryDirectory()
        let (journal, store) = try await storeWithSubscriber(dir, [Subscription(type: .stock, target: "600519")])
        let sink = RecordingSink()
        await store.setObserver(PublisherHost(publishers: [VolumeSpikePublisher(factor: 5)], sink: sink, logger: Logger(label: "test")))
        var volume: Int64 = 1_000
        for _ in 0..<10 {
            volume += 100
            try await store.execute(.ingestTicks([tick("600519", 10, volume: volume)]))
        }
        #expect(sink.all.isEmpty)
        try await store.execute(.ingestTicks([tick("600519", 10, volume: volume + 2_000)]))
        journal.close()
        #expect(sink.all.map(\.type) == ["volume_spike"])
    }
}
