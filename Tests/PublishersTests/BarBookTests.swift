import Broker
import Testing

@testable import Publishers

/// Building bars from ticks, closing them, and joining the bars a previous process was building
/// with the ones built since: pure logic, no journal.
@Suite struct BarBookTests {
    private let minute: Int64 = 60_000_000
    private let start: Int64 = 29_000_000 * 60_000_000
    private var key: BarKey { BarKey(code: "600519", period: "1m") }

    private func tick(_ price: Double, at offset: Int64, volume: Int64) -> PriceTick {
        PriceTick(code: "600519", name: "贵州茅台", price: price, volume: volume, prevClose: 10, timestamp: start + offset)
    }

    private func ohlcv(_ bar: KlineBar?) -> [Double] {
        guard let bar else { return [] }
        return [bar.open, bar.high, bar.low, bar.close, Double(bar.volume)]
    }

    @Test func ticksBuildABarAndTheFirstTickOfTheNextPeriodClosesIt() {
        var book = BarBook(periods: [("1m", minute)])
        #expect(book.fold(tick(10, at: 1_000_000, volume: 100)).updated.map(\.open) == [10])
        _ = book.fold(tick(12, at: 20_000_000, volume: 150))
        _ = book.fold(tick(9, at: 40_000_000, volume: 180))
        // No bar before it: its volume is the day's so far.
        #expect(ohlcv(book.open[key]?.bar) == [10, 12, 9, 9, 180])

        let (updated, closed) = book.fold(tick(11, at: minute + 1_000_000, volume: 200))
        #expect(closed.count == 1)
        #expect(closed.first?.closed == true)
        #expect(closed.first?.start == start)
        #expect(ohlcv(closed.first) == [10, 12, 9, 9, 180])
        #expect(updated.first?.start == start + minute)
        #expect(ohlcv(book.open[key]?.bar) == [11, 11, 11, 11, 20])
    }

    @Test func aBarsVolumeCountsFromTheLastTickOfTheBarBeforeIt() {
        var book = BarBook(periods: [("1m", minute)])
        _ = book.fold(tick(10, at: 50_000_000, volume: 90))
        let first = book.fold(tick(10, at: minute + 1_000_000, volume: 100)).closed
        _ = book.fold(tick(10, at: minute + 20_000_000, volume: 150))
        _ = book.fold(tick(10, at: minute + 40_000_000, volume: 180))
        let second = book.fold(tick(10, at: 2 * minute + 1_000_000, volume: 200)).closed

        // What traded between 10:00:50 and 10:01:01 is the 10:01 bar's, and so on: the bars add
        // up to the day's volume.
        #expect(first.map(\.volume) == [90])
        #expect(second.map(\.volume) == [90])
        #expect(book.open[key]?.bar.volume == 20)
    }

    @Test func aBarAfterAnExpiredOneCountsFromItsLastTick() {
        var book = BarBook(periods: [("1m", minute)])
        _ = book.fold(tick(10, at: 30_000_000, volume: 100))
        #expect(book.expire(now: start + minute).map(\.volume) == [100])
        _ = book.fold(tick(11, at: 7 * minute, volume: 160))
        #expect(book.open[key]?.bar.volume == 60)
    }

    @Test func aTickOfALaterTradingDayCountsFromZero() {
        var book = BarBook(periods: [("1m", minute)])
        _ = book.fold(tick(10, at: 1_000_000, volume: 5_000))
        _ = book.fold(tick(10, at: 1_440 * minute + 1_000_000, volume: 30))
        #expect(book.open[key]?.bar.volume == 30)
        _ = book.fold(tick(10, at: 1_440 * minute + 2_000_000, volume: 50))
        #expect(book.open[key]?.bar.volume == 50)
    }

    @Test func aLaterTradingDayCountsFromZeroEvenWhenItsTotalIsAlreadyHigher() {
        var book = BarBook(periods: [("1m", minute)])
        _ = book.fold(tick(10, at: 1_000_000, volume: 5_000))
        _ = book.fold(tick(10, at: 1_440 * minute + 1_000_000, volume: 6_000))
        #expect(book.open[key]?.bar.volume == 6_000)
    }

    @Test func aLowerTotalOfTheSameDayAddsNothing() {
        // A second feed lagging behind: 1,590 arrives after 1,600.
        var book = BarBook(periods: [("1m", minute)])
        _ = book.fold(tick(10, at: 1_000_000, volume: 1_000))
        _ = book.fold(tick(10.1, at: 2_000_000, volume: 1_600))
        let first = book.fold(tick(10.2, at: minute + 2_000_000, volume: 1_590))
        #expect(first.closed.map(\.volume) == [1_600])
        #expect(book.open[key]?.bar.volume == 0, "never negative")
        _ = book.fold(tick(10.3, at: minute + 3_000_000, volume: 1_700))
        #expect(book.open[key]?.bar.volume == 100, "from the highest total, not the day's")
        #expect(book.fold(tick(10.3, at: 2 * minute + 1_000_000, volume: 1_750)).closed.map(\.volume) == [100])
        #expect(book.open[key]?.bar.volume == 50)
    }

    @Test func aBarOfOnlyLowerTotalsLeavesTheNextCountingFromTheHighest() {
        var book = BarBook(periods: [("1m", minute)])
        _ = book.fold(tick(10, at: 1_000_000, volume: 1_600))
        _ = book.fold(tick(10, at: minute + 1_000_000, volume: 1_590))
        #expect(book.fold(tick(10, at: 2 * minute + 1_000_000, volume: 1_650)).closed.map(\.volume) == [0])
        #expect(book.open[key]?.bar.volume == 50)
    }

    @Test func ticksOfOneBarOutOfOrderCountUpToTheLargestTotal() {
        var book = BarBook(periods: [("1m", minute)])
        _ = book.fold(tick(10, at: 50_000_000, volume: 90))
        _ = book.fold(tick(10, at: minute + 20_000_000, volume: 150))
        _ = book.fold(tick(10, at: minute + 10_000_000, volume: 120))
        #expect(book.open[key]?.bar.volume == 60)
        _ = book.fold(tick(10, at: 2 * minute + 1_000_000, volume: 170))
        #expect(book.open[key]?.bar.volume == 20)
    }

    @Test func barsExpireOnlyOnceTheirPeriodIsOver() {
        var book = BarBook(periods: [("1m", minute), ("5m", 5 * minute)])
        _ = book.fold(tick(10, at: 0, volume: 100))
        #expect(book.expire(now: start + minute - 1).isEmpty)
        let closed = book.expire(now: start + minute)
        #expect(closed.map(\.period) == ["1m"])
        #expect(closed.allSatisfy { $0.closed })
        #expect(book.open.keys.map(\.period) == ["5m"])
    }

    @Test func aLateTickOfThePreviousPeriodChangesNoBar() {
        var book = BarBook(periods: [("1m", minute)])
        _ = book.fold(tick(10, at: 30_000_000, volume: 100))
        let boundary = book.fold(tick(11, at: minute + 5_000, volume: 110))
        #expect(boundary.closed.map(\.start) == [start])

        // Stamped before the boundary, folded after it: its period is closed.
        let late = book.fold(tick(10.5, at: minute - 10_000, volume: 105))
        #expect(late.updated.isEmpty)
        #expect(late.closed.isEmpty)
        #expect(book.open[key]?.bar.start == start + minute)

        let (_, closed) = book.fold(tick(11.2, at: minute + 500_000, volume: 120))
        #expect(closed.isEmpty, "the previous minute is not closed a second time")
        #expect(ohlcv(book.open[key]?.bar).prefix(4) == [11, 11.2, 11, 11.2], "the bar being built keeps its open")
    }

    @Test func aPeriodClosedByExpiryIsNotReopenedByALateTick() {
        var book = BarBook(periods: [("1m", minute)])
        _ = book.fold(tick(10, at: 30_000_000, volume: 100))
        _ = book.fold(tick(12, at: minute - 2_000, volume: 120))
        #expect(book.expire(now: start + minute + 1_000).map(\.start) == [start])

        // Stamped before the timer ran, folded after it.
        let late = book.fold(tick(12.1, at: minute - 500, volume: 121))
        #expect(late.updated.isEmpty && late.closed.isEmpty)
        #expect(book.open[key] == nil)
        #expect(book.expire(now: start + minute + 1_001_000).isEmpty, "the minute is not closed a second time")

        // The next minute opens as usual.
        let next = book.fold(tick(13, at: minute + 5_000_000, volume: 130))
        #expect(next.updated.map(\.start) == [start + minute])
        #expect(next.closed.isEmpty)
    }

    private func fedClose(at offset: Int64, period: String = "1m") -> KlineBar {
        KlineBar(code: "600519", period: period, open: 10, high: 10.6, low: 9.9, close: 10.1, volume: 250, start: start + offset, closed: true)
    }

    @Test func aJournaledCloseOfTheBarBeingBuiltClosesItsPeriodWithoutASecondClose() {
        var book = BarBook(periods: [("1m", minute)])
        _ = book.fold(tick(10, at: 1_000_000, volume: 100))
        _ = book.fold(tick(10.5, at: 20_000_000, volume: 300))
        #expect(book.close(journaled: fedClose(at: 0)).isEmpty, "the fed close is the bar's only close")
        #expect(book.open[key] == nil)

        // Later ticks of that minute are late, as for any closed period.
        let late = book.fold(tick(11, at: 40_000_000, volume: 400))
        #expect(late.updated.isEmpty && late.closed.isEmpty)
        #expect(book.expire(now: start + minute).isEmpty, "the timer does not close it again")
        let next = book.fold(tick(11, at: minute + 1_000_000, volume: 450))
        #expect(next.closed.isEmpty)
        #expect(book.open[key]?.bar.volume == 150, "counted from the last tick folded before the close")
    }

    @Test func aJournaledCloseOfALaterPeriodEndsTheBarBeingBuiltAndMakesItsTicksLate() {
        var book = BarBook(periods: [("1m", minute)])
        _ = book.fold(tick(10, at: 1_000_000, volume: 100))
        #expect(book.close(journaled: fedClose(at: minute)).map(\.start) == [start], "the earlier minute is over: closed")
        #expect(book.fold(tick(10.2, at: minute + 5_000_000, volume: 120)).updated.isEmpty)
        _ = book.fold(tick(10.3, at: 2 * minute + 1_000_000, volume: 130))
        #expect(book.open[key]?.bar.volume == 30)
    }

    @Test func aJournaledCloseOfAPeriodWithoutABarYetMakesItsTicksLate() {
        var book = BarBook(periods: [("1m", minute)])
        #expect(book.close(journaled: fedClose(at: 0)).isEmpty)
        #expect(book.fold(tick(10, at: 30_000_000, volume: 100)).updated.isEmpty)
        _ = book.fold(tick(10, at: minute + 1_000_000, volume: 130))
        #expect(book.open[key]?.bar.volume == 130, "no tick known before it: counted from 0")
    }

    @Test func aCloseOfAnEarlierPeriodOrOfAPeriodNotBuiltChangesNothing() {
        var book = BarBook(periods: [("1m", minute)])
        _ = book.fold(tick(10, at: 1_000_000, volume: 100))
        let own = book.fold(tick(11, at: minute + 1_000_000, volume: 110)).closed
        let before = book.tracks
        // This book's own close coming back from the journal, a fed one of the same minute, a day bar.
        for bar in own + [fedClose(at: 0), fedClose(at: 0, period: "1d")] {
            #expect(book.close(journaled: bar).isEmpty)
        }
        #expect(book.tracks == before)
        var open = bar(start: start + minute)
        open.closed = false
        #expect(book.close(journaled: open).isEmpty, "a bar that is not a close closes nothing")
        #expect(book.tracks == before)
    }

    private func bar(start: Int64) -> KlineBar {
        KlineBar(code: "600519", period: "1m", open: 10, high: 10, low: 10, close: 10, volume: 0, start: start, closed: true)
    }

    @Test func recoveryTakesInAFedCloseAsTheLiveBookDid() {
        let events: [Event] = [
            .priceTicked(tick(10, at: 1_000_000, volume: 100)),
            .klineUpdated(fedClose(at: 0)),
            .priceTicked(tick(10.4, at: 40_000_000, volume: 400)),
            .priceTicked(tick(10.6, at: minute + 1_000_000, volume: 450)),
        ]
        var live = BarBook(periods: [("1m", minute)])
        var liveCloses: [KlineBar] = []
        for event in events {
            switch event {
            case .priceTicked(let tick): liveCloses += live.fold(tick).closed
            case .klineUpdated(let bar): liveCloses += live.close(journaled: bar)
            default: break
            }
        }
        var recovery = BarRecovery(periods: [("1m", minute)])
        for event in events { recovery.apply(event) }
        #expect(recovery.book.tracks == live.tracks)
        #expect(liveCloses.isEmpty && recovery.unjournaledCloses.isEmpty, "the fed close was the minute's only one")
    }

    @Test func theLastCloseIsRememberedUntilTheRetentionHasPassed() {
        let retention = 10 * minute
        var book = BarBook(periods: [("1m", minute)], closedRetention: retention)
        _ = book.fold(tick(10, at: 1_000_000, volume: 100))
        let closedAt = start + minute
        #expect(book.expire(now: closedAt).count == 1)

        #expect(book.expire(now: closedAt + retention - 1).isEmpty)
        #expect(book.tracks[key]?.lastClosed?.start == start)
        #expect(book.expire(now: closedAt + retention).isEmpty)
        #expect(book.tracks.isEmpty, "a code that stopped ticking is forgotten")
    }

    @Test func aBarBeingBuiltIsNeverForgotten() {
        var book = BarBook(periods: [("1d", 1_440 * minute)], closedRetention: minute)
        _ = book.fold(tick(10, at: 1_000_000, volume: 100))
        #expect(book.expire(now: start + 100 * minute).isEmpty)
        #expect(book.open[BarKey(code: "600519", period: "1d")] != nil)
    }

    @Test func aBarInBothBooksBecomesOneBarOpenedByTheEarlier() {
        var earlier = BarBook(periods: [("1m", minute)])
        _ = earlier.fold(tick(9.5, at: -1_000_000, volume: 90))
        _ = earlier.fold(tick(10, at: 1_000_000, volume: 100))
        _ = earlier.fold(tick(14, at: 2_000_000, volume: 130))
        var later = BarBook(periods: [("1m", minute)])
        _ = later.fold(tick(9, at: 30_000_000, volume: 170))
        _ = later.fold(tick(11, at: 40_000_000, volume: 200))

        #expect(later.merge(earlier: earlier).isEmpty)
        // Its volume counts from the bar before the earlier's.
        #expect(ohlcv(later.open[key]?.bar) == [10, 14, 9, 11, 110])
        _ = later.fold(tick(12, at: 50_000_000, volume: 250))
        #expect(ohlcv(later.open[key]?.bar) == [10, 14, 9, 12, 160])
    }

    @Test func aLiveBarThatKnewNoBarBeforeItCountsFromTheOneTheEarlierBookClosed() {
        var earlier = BarBook(periods: [("1m", minute)])
        _ = earlier.fold(tick(10, at: 1_000_000, volume: 100))
        var later = BarBook(periods: [("1m", minute)])
        _ = later.fold(tick(11, at: minute + 1_000_000, volume: 130))
        #expect(later.open[key]?.bar.volume == 130)

        #expect(later.merge(earlier: earlier).map(\.volume) == [100])
        #expect(later.open[key]?.bar.volume == 30)
    }

    @Test func anEarlierPeriodIsClosedAndTheLaterOneStaysOpen() {
        var earlier = BarBook(periods: [("1m", minute)])
        _ = earlier.fold(tick(10, at: 1_000_000, volume: 100))
        var later = BarBook(periods: [("1m", minute)])
        _ = later.fold(tick(11, at: minute + 1_000_000, volume: 200))
        let closed = later.merge(earlier: earlier)
        #expect(closed.map(\.start) == [start])
        #expect(closed.allSatisfy { $0.closed })
        #expect(later.open[key]?.bar.start == start + minute)

        // The other way round: what the earlier book holds is the later period.
        var stale = BarBook(periods: [("1m", minute)])
        _ = stale.fold(tick(9, at: 1_000_000, volume: 100))
        var newer = BarBook(periods: [("1m", minute)])
        _ = newer.fold(tick(12, at: minute + 1_000_000, volume: 200))
        #expect(stale.merge(earlier: newer).map(\.start) == [start])
        #expect(stale.open[key]?.bar.start == start + minute)
    }

    @Test func aPeriodTheLiveBookClosedIsNeitherReopenedNorClosedAgainByTheMerge() {
        var earlier = BarBook(periods: [("1m", minute)])
        _ = earlier.fold(tick(10, at: 1_000_000, volume: 100))
        var later = BarBook(periods: [("1m", minute)])
        _ = later.fold(tick(11, at: 2_000_000, volume: 110))
        #expect(later.expire(now: start + minute).count == 1)

        #expect(later.merge(earlier: earlier).isEmpty)
        #expect(later.open[key] == nil)
        #expect(later.tracks[key]?.lastClosed?.start == start)
    }

    @Test func aPeriodThePreviousProcessClosedIsNotReopenedByTheMerge() {
        var recovery = BarRecovery(periods: [("1m", minute)])
        recovery.apply(.priceTicked(tick(10, at: 1_000_000, volume: 100)))
        recovery.apply(.klineUpdated(KlineBar(code: "600519", period: "1m", open: 10, high: 10, low: 10, close: 10, volume: 0, start: start, closed: true)))
        // A late tick journaled after the close: folded live, it changed nothing; so here.
        recovery.apply(.priceTicked(tick(10.5, at: 59_000_000, volume: 105)))
        #expect(recovery.book.open[key] == nil)
        #expect(recovery.unjournaledCloses.isEmpty)

        // This process folded a late tick of that minute before it recovered.
        var live = BarBook(periods: [("1m", minute)])
        _ = live.fold(tick(10.6, at: 59_500_000, volume: 106))
        #expect(live.merge(earlier: recovery.book).isEmpty)
        #expect(live.open[key] == nil)
    }

    @Test func withoutLiveBarsTheEarlierBarsAreTakenOver() {
        var earlier = BarBook(periods: [("1m", minute)])
        _ = earlier.fold(tick(10, at: 1_000_000, volume: 100))
        var later = BarBook(periods: [("1m", minute)])
        #expect(later.merge(earlier: earlier).isEmpty)
        #expect(later.open == earlier.open)
    }

    @Test func recoveryForgetsJournaledClosesAndKeepsTheOnesACrashLost() {
        var recovery = BarRecovery(periods: [("1m", minute)])
        recovery.apply(.priceTicked(tick(10, at: 1_000_000, volume: 100)))
        recovery.apply(.priceTicked(tick(12, at: minute + 1_000_000, volume: 120)))
        // The previous process journaled the first close.
        var journaled = KlineBar(code: "600519", period: "1m", open: 10, high: 10, low: 10, close: 10, volume: 0, start: start, closed: true)
        recovery.apply(.klineUpdated(journaled))
        #expect(recovery.unjournaledCloses.isEmpty)
        // The second minute's close was implied by a tick but never journaled: the crash lost it.
        recovery.apply(.priceTicked(tick(13, at: 2 * minute + 1_000_000, volume: 150)))
        #expect(recovery.unjournaledCloses.map(\.start) == [start + minute])
        #expect(ohlcv(recovery.unjournaledCloses.first) == [12, 12, 12, 12, 20])
        // A journaled close of the bar still open means it needs no more building.
        journaled.start = start + 2 * minute
        recovery.apply(.klineUpdated(journaled))
        #expect(recovery.book.open[key] == nil)
        // Bars that are not closes change nothing.
        recovery.apply(.klineUpdated(KlineBar(code: "600519", period: "1m", open: 1, high: 1, low: 1, close: 1, volume: 0, start: start, closed: false)))
        #expect(recovery.unjournaledCloses.count == 1)
    }

    @Test func aCodeTheRecoveredPastHoldsOnlyClosesOfCountsItsNextBarFromItsLastTick() {
        // 600519 last ticked just before the recovery window, at volume 1,000,000; the window holds
        // only the closes of its bars, journaled after that tick.
        var recovery = BarRecovery(periods: [("1m", minute)])
        var close = fedClose(at: 0)
        close.volume = 1_000_000
        recovery.apply(.klineUpdated(close))
        recovery.remember(lastTicks: [tick(10, at: 30_000_000, volume: 1_000_000)])
        var book = recovery.book
        _ = book.fold(tick(10.2, at: 5 * minute, volume: 1_000_010))
        #expect(book.open[key]?.bar.volume == 10, "not the day's volume")
        #expect(book.close(journaled: fedClose(at: 0)).isEmpty, "its period stays closed")
    }

    @Test func aCodeThatDidNotTickInTheRecoveredPastCountsItsNextBarFromItsLastTick() {
        let other = BarKey(code: "000001", period: "1m")
        // The rebuilt past holds 000001 only; 600519 last ticked long before it, at volume 1,000.
        var recovery = BarRecovery(periods: [("1m", minute)])
        let recent = PriceTick(code: "000001", name: "平安银行", price: 12, volume: 700, prevClose: 12, timestamp: start + 10 * minute)
        recovery.apply(.priceTicked(recent))
        recovery.remember(lastTicks: [tick(10, at: 1_000_000, volume: 1_000), recent])
        // A code the past holds keeps what its ticks built.
        #expect(recovery.book.open[other]?.bar.volume == 700)

        // Folded live before the recovery finished, then merged under it.
        var live = BarBook(periods: [("1m", minute)])
        _ = live.fold(tick(11, at: 20 * minute + 1_000_000, volume: 1_500))
        #expect(live.merge(earlier: recovery.book).isEmpty)
        #expect(ohlcv(live.open[key]?.bar) == [11, 11, 11, 11, 500])

        // Folded after it: the same, and a tick of the last tick's own minute still opens a bar.
        var after = recovery.book
        _ = after.fold(tick(10.5, at: 2_000_000, volume: 1_040))
        #expect(ohlcv(after.open[key]?.bar) == [10.5, 10.5, 10.5, 10.5, 40])

        // A later trading day counts from 0.
        var nextDay = recovery.book
        _ = nextDay.fold(tick(9, at: 24 * 60 * minute, volume: 300))
        #expect(ohlcv(nextDay.open[key]?.bar) == [9, 9, 9, 9, 300])
    }

    // MARK: The trading session's edges

    /// 2025-11-26 (a Wednesday) 00:00 Asia/Shanghai, 16:00 UTC the day before.
    private let sessionMidnight: Int64 = 1_764_086_400_000_000

    /// `hh:mm:ss` Asia/Shanghai on 2025-11-26, in UTC microseconds.
    private func local(_ hour: Int64, _ minute: Int64, _ second: Int64 = 0) -> Int64 {
        sessionMidnight + ((hour * 60 + minute) * 60 + second) * 1_000_000
    }

    private func tick(_ price: Double, _ hour: Int64, _ minute: Int64, _ second: Int64, volume: Int64, code: String = "600519") -> PriceTick {
        PriceTick(code: code, name: code, price: price, volume: volume, prevClose: 10, timestamp: local(hour, minute, second))
    }

    /// A day of 600519 as a feed stamps it on receipt: the opening auction's print at 09:25 (9.5, a
    /// day's total of 1,000), a tick in each minute of the sessions 10 shares apart (and at
    /// 11:29:50, 10.05, and 14:59:58, 10.25), the morning's last print at 11:30:02 (11.11) and the
    /// closing auction's at 15:00:03 (15.15).
    private var sessionDay: [PriceTick] {
        var ticks = [tick(9.5, 9, 25, 0, volume: 1_000)]
        func add(_ price: Double, _ hour: Int64, _ minute: Int64, _ second: Int64) {
            ticks.append(tick(price, hour, minute, second, volume: 1_000 + 10 * Int64(ticks.count)))
        }
        for minute in Int64(9 * 60 + 30)..<(11 * 60 + 30) { add(10 + Double(minute % 7) / 4, minute / 60, minute % 60, 10) }
        add(10.05, 11, 29, 50)
        add(11.11, 11, 30, 2)
        for minute in Int64(13 * 60)..<(15 * 60) { add(10 + Double(minute % 5) / 4, minute / 60, minute % 60, 5) }
        add(10.25, 14, 59, 58)
        add(15.15, 15, 0, 3)
        return ticks
    }

    /// The starts of a day's bars of `length` minutes, as vendors count them: 09:30 up to 11:30
    /// and 13:00 up to 15:00.
    private func sessionStarts(every length: Int64) -> [Int64] {
        stride(from: local(9, 30), to: local(11, 30), by: Int(length * minute)).map { $0 }
            + stride(from: local(13, 0), to: local(15, 0), by: Int(length * minute)).map { $0 }
    }

    /// `ticks` folded into a book of 1m and 5m bars, then the clock at 15:01: every close, in order.
    private func closes(of ticks: [PriceTick]) -> [KlineBar] {
        var book = BarBook(periods: [("1m", minute), ("5m", 5 * minute)])
        var closed: [KlineBar] = []
        for tick in ticks { closed += book.fold(tick).closed }
        closed += book.expire(now: local(15, 1))
        #expect(book.open.isEmpty)
        return closed
    }

    @Test func aDaysTicksGiveTheSessionsBarsWithTheAuctionAsFirstOpenAndTheLastPrintsAsCloses() {
        let day = sessionDay
        let closed = closes(of: day)
        let minutes = closed.filter { $0.period == "1m" }
        let fives = closed.filter { $0.period == "5m" }

        #expect(minutes.count == 240)
        #expect(minutes.map(\.start) == sessionStarts(every: 1))
        #expect(fives.map(\.start) == sessionStarts(every: 5))
        // The opening auction's print is the day's first bar's open, and its volume is in that bar.
        #expect(ohlcv(minutes.first) == [9.5, 10.75, 9.5, 10.75, 1_010])
        #expect(fives.first?.open == 9.5)
        // The morning's last print closes the 11:29 and 11:25 bars; the 13:00 bar counts from it.
        let morningLast = minutes.first { $0.start == local(11, 29) }
        #expect(ohlcv(morningLast) == [10.75, 11.11, 10.05, 11.11, 30])
        #expect(fives.first { $0.start == local(11, 25) }?.close == 11.11)
        #expect(minutes.first { $0.start == local(13, 0) }?.volume == 10)
        // The closing auction's print closes the 14:59 and 14:55 bars.
        #expect(minutes.last?.start == local(14, 59))
        #expect(ohlcv(minutes.last) == [11, 15.15, 10.25, 15.15, 30])
        #expect(fives.last?.close == 15.15)
        // The bars add up to the day's volume.
        let total = day.last?.volume ?? 0
        #expect(minutes.map(\.volume).reduce(0, +) == total)
        #expect(fives.map(\.volume).reduce(0, +) == total)
    }

    @Test func theClockClosesTheBarsEndingASessionOnlyAMinuteAfterTheirEnd() {
        var book = BarBook(periods: [("1m", minute), ("5m", 5 * minute)])
        _ = book.fold(tick(10, 11, 29, 10, volume: 100))
        #expect(book.expire(now: local(11, 30)).isEmpty)
        #expect(book.expire(now: local(11, 30, 30)).isEmpty)

        // The morning's last print, folded after the timer ran at 11:30:30: still the 11:29 bar's.
        let last = book.fold(tick(10.4, 11, 30, 31, volume: 130))
        #expect(last.closed.isEmpty)
        #expect(last.updated.map(\.start) == [local(11, 29), local(11, 25)])
        #expect(book.expire(now: local(11, 31) - 1).isEmpty)

        let closed = book.expire(now: local(11, 31))
        #expect(closed.map(\.period) == ["5m", "1m"])
        #expect(closed.map(\.start) == [local(11, 25), local(11, 29)])
        #expect(closed.map { ohlcv($0) } == [[10, 10.4, 10, 10.4, 130], [10, 10.4, 10, 10.4, 130]])
    }

    @Test func aTickAMinuteAfterTheCloseBinsAtItsOwnTimeAndClosesTheSessionsLastBar() {
        var book = BarBook(periods: [("1m", minute)])
        _ = book.fold(tick(10, 14, 59, 30, volume: 100))
        _ = book.fold(tick(10.2, 15, 0, 59, volume: 120))
        let after = book.fold(tick(10.3, 15, 1, 0, volume: 125))
        #expect(after.closed.map(\.start) == [local(14, 59)])
        #expect(after.closed.map { ohlcv($0) } == [[10, 10.2, 10, 10.2, 120]])
        #expect(after.updated.map(\.start) == [local(15, 1)])
        #expect(book.open[key]?.bar.volume == 5)
    }

    @Test func ticksOfACodeOfNoBoardAreBinnedAtTheirOwnTime() {
        let code = "900901"
        let other = BarKey(code: code, period: "1m")
        var book = BarBook(periods: [("1m", minute)])
        _ = book.fold(tick(1, 9, 25, 0, volume: 10, code: code))
        #expect(book.open[other]?.bar.start == local(9, 25))
        _ = book.fold(tick(1, 11, 29, 10, volume: 20, code: code))
        #expect(book.expire(now: local(11, 30)).map(\.start) == [local(11, 29)], "no grace for a B-share")
        _ = book.fold(tick(1, 11, 30, 2, volume: 30, code: code))
        #expect(book.open[other]?.bar.start == local(11, 30))
    }

    @Test func recoveryRebuildsTheSessionsBarsAsTheLiveBookBuiltThem() {
        let day = sessionDay
        var live = BarBook(periods: [("1m", minute), ("5m", 5 * minute)])
        var liveCloses: [KlineBar] = []
        var recovery = BarRecovery(periods: [("1m", minute), ("5m", 5 * minute)])
        // Up to the afternoon's close: the last bars are still being built, waiting for the auction's print.
        for tick in day.dropLast() {
            liveCloses += live.fold(tick).closed
            recovery.apply(.priceTicked(tick))
        }
        #expect(recovery.book.tracks == live.tracks)
        #expect(recovery.unjournaledCloses == liveCloses)
        #expect(liveCloses.filter { $0.period == "1m" }.map(\.start) == Array(sessionStarts(every: 1).dropLast()))
        #expect(recovery.book.open.values.map(\.bar.start).sorted() == [local(14, 55), local(14, 59)])

        // The restarted book folds the closing auction's print into them.
        var restarted = recovery.book
        _ = restarted.fold(day[day.count - 1])
        #expect(restarted.openBar(BarKey(code: "600519", period: "1m"))?.bar.close == 15.15)
        #expect(restarted.expire(now: local(15, 1)).map(\.start) == [local(14, 55), local(14, 59)])
    }
}
