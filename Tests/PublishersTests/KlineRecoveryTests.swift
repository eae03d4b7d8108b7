import Broker
import Journal
import Logging
import Testing
import TestSupport

@testable import Publishers

/// A restart does not lose the bars being built: the new process rebuilds them from the ticks the
/// old one journaled, joins them with the ticks that came in since, and journals the closes the old
/// one owed, once. Real journal files; the periods are hours or days in the future, so no real
/// clock boundary can close a bar during the test. Hourly bars are those of one trading day (a
/// bar of a later day counts its volume from 0).
@Suite struct KlineRecoveryTests {
    private let day: Int64 = 86_400_000_000
    private let hour: Int64 = 3_600_000_000
    /// 00:00 UTC, 08:00 Asia/Shanghai, of a day about three years ahead.
    private var dayStart: Int64 { (WallClock.microsecondsNow() / day + 1_000) * day }

    private func tick(_ code: String, _ price: Double, at timestamp: Int64, volume: Int64) -> FedTick {
        FedTick(code: code, name: code, price: price, volume: volume, prevClose: 10, timestamp: timestamp)
    }

    private func ohlcv(_ bar: KlineBar?) -> [Double] {
        guard let bar else { return [] }
        return [bar.open, bar.high, bar.low, bar.close, Double(bar.volume)]
    }

    @Test func barsBeingBuiltSurviveARestartAndOwedClosesAreJournaledOnce() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("journal.sqlite")
        let periods = [(name: "60m", length: hour)]
        let first = dayStart, second = dayStart + hour

        // The first process builds bars but dies before its loop journals the close that
        // 600519's second-hour tick implies; 000001's close did reach the journal.
        do {
            let journal = try Journal.open(path: path)
            let store = try EventStore(journal: journal)
            await store.setObserver(PublisherHost(publishers: [KlinePublisher(periods: periods)], sink: RecordingSink(), logger: Logger(label: "test")))
            try await store.execute(.ingestTicks([tick("000001", 20, at: first + 1, volume: 10), tick("000001", 22, at: first + 2, volume: 15)]))
            try await store.execute(.ingestBar(KlineBar(
                code: "000001", period: "60m", open: 20, high: 22, low: 20, close: 22, volume: 5, start: first, closed: true)))
            try await store.execute(.ingestTicks([tick("000001", 21, at: second + 1, volume: 18)]))
            try await store.execute(.ingestTicks([tick("600519", 10, at: first + 1, volume: 100), tick("600519", 14, at: first + 2, volume: 130)]))
            try await store.execute(.ingestTicks([tick("600519", 12, at: second + 1, volume: 150)]))
            journal.close()
        }

        let journal = try Journal.open(path: path)
        defer { journal.close() }
        let store = try EventStore(journal: journal)
        let replayedThrough = await store.projection.lastSeq
        let kline = KlinePublisher(periods: periods)
        await store.setObserver(PublisherHost(publishers: [kline], sink: RecordingSink(), logger: Logger(label: "test")))
        // A tick arrives before the publisher has recovered.
        try await store.execute(.ingestTicks([tick("600519", 9, at: second + 2, volume: 170)]))
        let loop = Task { try await kline.run(PublisherContext(store: store, replayedThrough: replayedThrough)) }
        defer { loop.cancel() }

        let stock = BarKey(code: "600519", period: "60m")
        var owed: KlineBar?
        for _ in 0..<2_000 where owed?.closed != true {
            try await Task.sleep(for: .milliseconds(10))
            owed = await store.read { $0.lastBars[stock] }
        }
        // The owed close, with the first process's ticks only (no bar before it: the day's volume).
        #expect(owed?.closed == true)
        #expect(owed?.start == first)
        #expect(ohlcv(owed) == [10, 14, 10, 14, 130])
        // The second hour: opened by the first process, continued by this one, its volume counted
        // from the first hour's last tick.
        #expect(kline.openBar(stock)?.start == second)
        #expect(ohlcv(kline.openBar(stock)) == [12, 12, 9, 9, 40])
        // Counted from the last tick of the bar whose close the first process journaled.
        #expect(ohlcv(kline.openBar(BarKey(code: "000001", period: "60m"))) == [21, 21, 21, 21, 3])

        // 000001's close was journaled by the first process and not again: had it been owed, it
        // would have been journaled before 600519's (same loop, journaled in order).
        let closes = try journal.reader().records(JournalQuery(kinds: [EventKind.klineUpdated.rawValue]))
        var closed: [String] = []
        while let record = try closes.next() {
            if case .klineUpdated(let bar) = try EventCodec.decode(kind: record.kind, payload: record.payload), bar.closed {
                closed.append("\(bar.code)@\(bar.start == first ? "first" : "second")")
            }
        }
        #expect(closed == ["000001@first", "600519@first"])
    }

    @Test func aCodeWhoseLastTicksAreOlderThanTheRecoveredPastCountsItsNextBarFromThem() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("journal.sqlite")
        let periods = [(name: "60m", length: hour)]
        let first = dayStart, later = dayStart + 5 * hour

        // 600519 and 000001 traded up to 1,000 and 400 shares, then nothing for hours: their rows
        // are made three hours older, out of the two hours before the last row that a restart reads.
        do {
            let journal = try Journal.open(path: path)
            let store = try EventStore(journal: journal)
            try await store.execute(.ingestTicks([tick("600519", 10, at: first + 1, volume: 900), tick("000001", 20, at: first + 1, volume: 400)]))
            try await store.execute(.ingestTicks([tick("600519", 11, at: first + 2, volume: 1_000)]))
            let aged = journal.lastSeq
            try await store.execute(.ingestTicks([tick("300750", 30, at: later + 1, volume: 50)]))
            journal.close()
            try rawSQL(path, "UPDATE events SET ts = ts - \(3 * hour) WHERE seq <= \(aged)")
            try rechain(path)
        }

        let journal = try Journal.open(path: path)
        defer { journal.close() }
        let store = try EventStore(journal: journal)
        let (replayedThrough, pricesAtStart) = await store.read { ($0.lastSeq, $0.lastPrices) }
        let kline = KlinePublisher(periods: periods)
        await store.setObserver(PublisherHost(publishers: [kline], sink: RecordingSink(), logger: Logger(label: "test")))
        // 600519 ticks before the publisher has recovered, 000001 after.
        try await store.execute(.ingestTicks([tick("600519", 12, at: later + 2, volume: 1_300)]))
        let loop = Task { try await kline.run(PublisherContext(store: store, replayedThrough: replayedThrough, pricesAtStart: pricesAtStart)) }
        defer { loop.cancel() }
        let recent = BarKey(code: "300750", period: "60m")
        for _ in 0..<2_000 where kline.openBar(recent)?.volume != 50 || kline.openBar(BarKey(code: "600519", period: "60m"))?.volume != 300 {
            try await Task.sleep(for: .milliseconds(10))
        }
        try await store.execute(.ingestTicks([tick("000001", 21, at: later + 3, volume: 460)]))

        // Counted from their last ticks, not from 0 (which would be the day's 1,300 and 460).
        #expect(ohlcv(kline.openBar(BarKey(code: "600519", period: "60m"))) == [12, 12, 12, 12, 300])
        #expect(ohlcv(kline.openBar(BarKey(code: "000001", period: "60m"))) == [21, 21, 21, 21, 60])
        #expect(ohlcv(kline.openBar(recent)) == [30, 30, 30, 30, 50])
    }
    @Test func closesPostedBeforeARestartCloseTheRebuiltBarsAsTheyDidLive() async throws {
        let dir = try TemporaryDirectory()
        let journal = try Journal.open(path: dir.path("journal.sqlite"))
        defer { journal.close() }
        let store = try EventStore(journal: journal)
        let minute: Int64 = 60_000_000
        // 10:00 Asia/Shanghai: away from the session's edges, where ticks are binned apart from their time.
        let start = dayStart + 120 * minute
        func posted(_ code: String, _ start: Int64) -> KlineBar {
            KlineBar(code: code, period: "1m", open: 10, high: 10.6, low: 9.9, close: 10.1, volume: 250, start: start, closed: true)
        }
        // 600519: a close posted for the minute being built. 000001: one posted for the minute
        // after the one being built, before any tick of it.
        try await store.execute(.ingestTicks([tick("600519", 10, at: start + 1_000_000, volume: 100), tick("600519", 10.5, at: start + 2_000_000, volume: 300)]))
        try await store.execute(.ingestTicks([tick("000001", 20, at: start - 30_000_000, volume: 700)]))
        try await store.execute(.ingestBars([posted("600519", start), posted("000001", start)]))
        try await store.execute(.ingestTicks([tick("600519", 11, at: start + 40_000_000, volume: 400), tick("000001", 21, at: start + 40_000_000, volume: 800)]))

        var recovery = try KlinePublisher.history(in: journal, through: journal.lastSeq, periods: [(name: "1m", length: minute)])
        #expect(recovery.book.openBar(BarKey(code: "600519", period: "1m")) == nil, "the posted close ended it; the late tick reopened nothing")
        #expect(recovery.book.openBar(BarKey(code: "000001", period: "1m")) == nil)
        // Of the minute before the posted one: over, and owed (live, its close was owed at the same point).
        #expect(recovery.unjournaledCloses.map { "\($0.code)@\($0.start - start)" } == ["000001@-60000000"])
        recovery.apply(.priceTicked(PriceTick(code: "600519", name: "600519", price: 11, volume: 450, prevClose: 10, timestamp: start + minute + 1)))
        #expect(recovery.unjournaledCloses.count == 1, "the posted minute is not closed a second time")
        #expect(recovery.book.openBar(BarKey(code: "600519", period: "1m"))?.bar.volume == 150)
    }

    @Test func rowsOfTheRecoveredPastThatWereArchivedAreReported() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("journal.sqlite")
        let periods = [(name: "1d", length: day)]
        let journal = try Journal.open(path: path)
        let store = try EventStore(journal: journal)
        for price in [10.0, 11, 12] {
            try await store.execute(.ingestTicks([tick("600519", price, at: dayStart + Int64(price), volume: 100)]))
        }
        let lastSeq = journal.lastSeq
        try await journal.writeSnapshot(seq: lastSeq, format: Int64(Projection.formatVersion), data: await store.projection.serialized())
        #expect(try KlinePublisher.history(in: journal, through: lastSeq, periods: periods).archivedWithinWindow == nil)

        // The first tick's row goes to an archive: the bar is rebuilt from the other two.
        let report = try JournalCompactor(journalPath: path, archivePath: dir.path("archive.sqlite")).compact(beforeSeq: 2)
        let recovery = try KlinePublisher.history(in: journal, through: lastSeq, periods: periods)
        #expect(recovery.archivedWithinWindow?.seq == 1)
        #expect(recovery.archivedWithinWindow == report.base)
        journal.close()
    }

    /// A crash with clients connected, a restart 11 minutes later: the restart journals their
    /// disconnects first, and the bars of the ticks before the crash are still rebuilt (the window
    /// measured from those disconnects held no tick at all).
    @Test func theWindowEndsAtTheLastTickNotAtRowsJournaledLongAfter() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("journal.sqlite")
        let fiveMinutes: Int64 = 300_000_000
        let periods = [(name: "5m", length: fiveMinutes)]
        let journal = try Journal.open(path: path)
        let store = try EventStore(journal: journal)
        try await store.execute(.connect(clientID: "client_0000000a", user: nil, remoteAddress: nil, node: "n"))
        for price in [10.0, 12, 11] {
            try await store.execute(.ingestTicks([tick("600519", price, at: dayStart + Int64(price), volume: 100 * Int64(price))]))
        }
        let lastTick = journal.lastSeq
        try await store.execute(.disconnect(clientID: "client_0000000a", reason: .brokerRestart, resumeDeadline: 0))
        journal.close()
        // Everything up to the last tick happened 11 minutes before the disconnect.
        try rawSQL(path, "UPDATE events SET ts = ts - 660000000 WHERE seq <= \(lastTick)")
        try rechain(path)

        let reopened = try Journal.open(path: path)
        defer { reopened.close() }
        let recovery = try KlinePublisher.history(in: reopened, through: reopened.lastSeq, periods: periods)
        let bar = recovery.book.openBar(BarKey(code: "600519", period: "5m"))?.bar
        #expect(bar.map { [$0.open, $0.high, $0.low, $0.close] } == [10, 12, 10, 11])
    }

    @Test func readingThePastStopsWhenCancelled() async throws {
        let dir = try TemporaryDirectory()
        let journal = try Journal.open(path: dir.path("journal.sqlite"))
        defer { journal.close() }
        let store = try EventStore(journal: journal)
        try await store.execute(.ingestTicks((0..<5_000).map { tick("600519", 10 + Double($0 % 7), at: dayStart + Int64($0), volume: Int64($0)) }))
        let periods = [(name: "1d", length: day)]
        #expect(throws: CancellationError.self) {
            try KlinePublisher.history(in: journal, through: journal.lastSeq, periods: periods, isCancelled: { true })
        }
        #expect(try KlinePublisher.history(in: journal, through: journal.lastSeq, periods: periods).book.longestPeriod == day)
    }

    /// `ticks` (code 600519, `hh:mm:ss` Asia/Shanghai on `dayStart`'s day, price and the day's
    /// volume) journaled, each row at its tick's time as a feed's are, and rebuilt by `history` as
    /// a restart does; and the same ticks folded live into a book of the broker's periods, with
    /// the closes they caused.
    private func rebuiltAndLive(_ ticks: [(hour: Int64, minute: Int64, second: Int64, price: Double, volume: Int64)]) async throws
        -> (recovery: BarRecovery, live: BarBook, liveCloses: [KlineBar])
    {
        let dir = try TemporaryDirectory()
        let path = dir.path("journal.sqlite")
        let localMidnight = dayStart - 8 * hour
        let fed = ticks.map { tick("600519", $0.price, at: localMidnight + (($0.hour * 60 + $0.minute) * 60 + $0.second) * 1_000_000, volume: $0.volume) }
        var live = BarBook(periods: KlinePublisher.defaultPeriods)
        var liveCloses: [KlineBar] = []
        var rows: [(seq: UInt64, timestamp: Int64)] = []
        do {
            let journal = try Journal.open(path: path)
            let store = try EventStore(journal: journal)
            for tick in fed {
                try await store.execute(.ingestTicks([tick]))
                rows.append((journal.lastSeq, tick.timestamp))
                liveCloses += live.fold(PriceTick(code: tick.code, name: tick.code, price: tick.price, volume: tick.volume ?? 0, prevClose: 10, timestamp: tick.timestamp)).closed
            }
            journal.close()
        }
        // The window a restart reads is measured on the rows' time.
        for row in rows { try rawSQL(path, "UPDATE events SET ts = \(row.timestamp) WHERE seq = \(row.seq)") }
        try rechain(path)
        let journal = try Journal.open(path: path)
        defer { journal.close() }
        let recovery = try KlinePublisher.history(in: journal, through: journal.lastSeq, periods: KlinePublisher.defaultPeriods)
        return (recovery, live, liveCloses)
    }

    /// A restart just after the day's first 5m bar ended, at 09:35:05: the opening auction's print
    /// that opened it came at 09:25:00, more than twice the longest period before.
    @Test func aRestartRebuildsTheDaysFirstBarsFromTheOpeningAuctionsPrint() async throws {
        let (recovery, live, liveCloses) = try await rebuiltAndLive([
            (9, 25, 0, 9.5, 1_000), (9, 30, 10, 10, 1_010), (9, 31, 10, 10.2, 1_020), (9, 34, 10, 10.1, 1_040), (9, 35, 5, 10.3, 1_050),
        ])
        let opening = dayStart + 90 * 60_000_000
        #expect(recovery.unjournaledCloses == liveCloses)
        #expect(recovery.book.tracks == live.tracks)
        let firstFive = recovery.unjournaledCloses.first { $0.period == "5m" }
        #expect(firstFive?.start == opening)
        #expect(ohlcv(firstFive) == [9.5, 10.2, 9.5, 10.1, 1_040])
        let firstMinute = recovery.unjournaledCloses.first { $0.period == "1m" }
        #expect(firstMinute?.start == opening)
        #expect(ohlcv(firstMinute) == [9.5, 10, 9.5, 10, 1_010])
    }

    @Test func aRestartRebuildsTheMorningsLastBarsWithThePrintAfter1130() async throws {
        let (recovery, live, liveCloses) = try await rebuiltAndLive([
            (11, 28, 30, 10, 5_000), (11, 29, 10, 10.1, 5_010), (11, 30, 2, 10.4, 5_030), (11, 30, 40, 10.3, 5_035),
        ])
        #expect(recovery.unjournaledCloses == liveCloses)
        #expect(recovery.book.tracks == live.tracks)
        let morningLast = recovery.book.openBar(BarKey(code: "600519", period: "1m"))?.bar
        #expect(morningLast?.start == dayStart + (3 * 60 + 29) * 60_000_000)
        #expect(ohlcv(morningLast) == [10.1, 10.4, 10.1, 10.3, 35])
        #expect(recovery.book.openBar(BarKey(code: "600519", period: "5m"))?.bar.close == 10.3)
    }
}
