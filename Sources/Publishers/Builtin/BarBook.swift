import Broker
import Journal

/// The k-line bars being built from ticks, one per code and period: pure state, so the live path
/// and the start-up recovery from the journal fold ticks the same way.
///
/// A period, once closed, stays closed: a tick stamped in it or in an earlier one arrives late
/// (ticks are stamped on receipt and folded after their commit, from several sources), and
/// folding it would close that period a second time, or throw away the bar being built.
///
/// An A-share tick is binned at its time in the trading session (`TradingSession.binningTime`):
/// the opening auction's print opens the 09:30 bar, and the prints just after 11:30 and 15:00 close
/// the bars ending there, which the clock leaves open until `TradingSession.closingGrace` after.
struct BarBook: Sendable {
    /// Where a code's cumulative volume stood after a bar: the highest total of its trading day
    /// seen up to then, and that day (`TradingCalendar.day(of:)`).
    struct VolumeMark: Sendable, Equatable {
        var total: Int64
        var day: Int64
    }

    /// A bar being built. A tick's volume is the day's cumulative total, so the bar's volume is
    /// the highest total up to its last tick less the highest before it that day: what traded
    /// between two ticks belongs to the bar of the later one, and the bars of a day add up to the
    /// day's volume. Within a day the total only grows: a lower one (a second feed lagging behind)
    /// adds nothing, and the count goes on from the highest.
    struct OpenBar: Sendable, Equatable {
        var bar: KlineBar
        /// The cumulative volume the bar's volume counts from: the mark of the bar before it of
        /// its code and period, or 0 when that one is of an earlier trading day. Nil when no
        /// previous bar is known, which also counts from 0.
        var baseVolume: Int64?
        /// The largest cumulative volume of the bar's ticks, since ticks of one period may arrive
        /// out of order.
        var lastVolume: Int64

        /// A bar opened by `tick`; `previous` is where the volume stood after the bar before it.
        init(opening tick: PriceTick, period: String, start: Int64, after previous: VolumeMark?) {
            bar = KlineBar(
                code: tick.code, period: period, open: tick.price, high: tick.price, low: tick.price,
                close: tick.price, volume: 0, start: start, closed: false)
            lastVolume = tick.volume
            rebase(after: previous)
        }

        /// The trading day of the bar.
        var day: Int64 { TradingCalendar.day(of: bar.start) }

        /// Where the volume stands after this bar: what the next bar counts from.
        var mark: VolumeMark { VolumeMark(total: max(lastVolume, baseVolume ?? 0), day: day) }

        /// Folds in a tick of the bar's period.
        mutating func add(_ tick: PriceTick) {
            bar.high = max(bar.high, tick.price)
            bar.low = min(bar.low, tick.price)
            bar.close = tick.price
            lastVolume = max(lastVolume, tick.volume)
            count(from: baseVolume)
        }

        /// Counts the volume from `previous`, the mark of the bar before this one (nil: none
        /// known): from its total on the same trading day, from 0 on a later one.
        mutating func rebase(after previous: VolumeMark?) {
            count(from: previous.map { $0.day < day ? 0 : $0.total })
        }

        /// Counts the volume from `base`, a cumulative volume of the bar's own trading day.
        mutating func count(from base: Int64?) {
            baseVolume = base
            bar.volume = max(0, lastVolume - (base ?? 0))
        }
    }

    /// The last bar closed for a code and period.
    struct ClosedBar: Sendable, Equatable {
        /// Its period's start: ticks of this period or an earlier one no longer touch bars.
        var start: Int64
        /// Where the volume stood after it, which the next bar's volume counts from; nil when no
        /// tick of its code and period was folded before it (a close fed from outside).
        var mark: VolumeMark?
        /// When it was closed, on the clock `expire(now:)` is given; how long it is remembered
        /// with no bar open after it counts from here.
        var closedAt: Int64
    }

    /// What the book holds for one code and period: the bar being built, the last one closed, or both.
    struct Track: Sendable, Equatable {
        var open: OpenBar?
        var lastClosed: ClosedBar?

        /// The start of the latest period seen (open or closed): a tick of an earlier or the same
        /// closed period is late.
        var latestStart: Int64? { open?.bar.start ?? lastClosed?.start }
    }

    /// Periods built, with their length in microseconds.
    let periods: [(name: String, length: Int64)]
    /// How long a closed bar with nothing open after it is remembered (microseconds). Memory is
    /// one track per code and period either way; this lets the tracks of codes that stopped
    /// ticking go, long after any late tick of theirs could still arrive.
    let closedRetention: Int64
    private(set) var tracks: [BarKey: Track] = [:]

    /// A day: a code that ticks rarely keeps its last close (and so its place in time) all session.
    static let defaultClosedRetention: Int64 = 86_400_000_000

    init(periods: [(name: String, length: Int64)], closedRetention: Int64 = Self.defaultClosedRetention) {
        self.periods = periods
        self.closedRetention = closedRetention
    }

    /// The longest period, in microseconds (0 without periods).
    var longestPeriod: Int64 { periods.map(\.length).max() ?? 0 }

    /// The bars being built, by code and period.
    var open: [BarKey: OpenBar] { tracks.compactMapValues(\.open) }

    /// The bar being built for `key`, if any.
    func openBar(_ key: BarKey) -> OpenBar? { tracks[key]?.open }

    /// Folds `tick` into its bars. Returns the bars it updated or opened, and the bars it closed
    /// because it is the first tick of a later period. A tick of a period before the bar being
    /// built, or of a period already closed, changes nothing.
    mutating func fold(_ tick: PriceTick) -> (updated: [KlineBar], closed: [KlineBar]) {
        var updated: [KlineBar] = []
        updated.reserveCapacity(periods.count)
        var closed: [KlineBar] = []
        let time = TradingSession.binningTime(of: tick.timestamp, code: tick.code)
        for period in periods {
            let start = time - time % period.length
            let key = BarKey(code: tick.code, period: period.name)
            // One hash of the key per tick and period: this runs for every tick the broker takes.
            guard let index = tracks.index(forKey: key) else {
                let opened = OpenBar(opening: tick, period: period.name, start: start, after: nil)
                tracks[key] = Track(open: opened)
                updated.append(opened.bar)
                continue
            }
            let track = tracks.values[index]
            if var current = track.open, current.bar.start == start {
                current.add(tick)
                tracks.values[index].open = current
                updated.append(current.bar)
                continue
            }
            if let latest = track.latestStart, start <= latest { continue }
            var lastClosed = track.lastClosed
            if let current = track.open {
                closed.append(Self.closing(current.bar))
                lastClosed = ClosedBar(start: current.bar.start, mark: current.mark, closedAt: start)
            }
            let opened = OpenBar(opening: tick, period: period.name, start: start, after: lastClosed?.mark)
            tracks.values[index] = Track(open: opened, lastClosed: lastClosed)
            updated.append(opened.bar)
        }
        return (updated, closed)
    }

    /// Closes and returns the bars whose period ended at or before `now` (a bar ending a trading
    /// session, `TradingSession.closingGrace` after its end), remembering each as its key's last
    /// close; forgets the keys whose last close is older than `closedRetention` with nothing
    /// opened since.
    mutating func expire(now: Int64) -> [KlineBar] {
        let lengths = Dictionary(uniqueKeysWithValues: periods.map { ($0.name, $0.length) })
        var closed: [KlineBar] = []
        var forgotten: [BarKey] = []
        for (key, track) in tracks {
            if let current = track.open {
                guard let length = lengths[key.period],
                    TradingSession.closingTime(ofBarEnding: current.bar.start + length, code: key.code) <= now
                else { continue }
                closed.append(Self.closing(current.bar))
                tracks[key] = Track(lastClosed: ClosedBar(start: current.bar.start, mark: current.mark, closedAt: now))
            } else if let last = track.lastClosed, last.closedAt <= now - closedRetention {
                forgotten.append(key)
            }
        }
        for key in forgotten { tracks[key] = nil }
        return closed.sorted { ($0.start, BarKey(code: $0.code, period: $0.period)) < ($1.start, BarKey(code: $1.code, period: $1.period)) }
    }

    /// Takes in `bar`, a close the journal holds: one this book owed, or a bar fed from outside
    /// (`POST /api/klines`, another node). Its period is closed here too, so a bar is closed once:
    /// the bar being built for that period is dropped without a close of its own, and ticks of
    /// that period or an earlier one are late from now on. A bar being built for an earlier period
    /// is over then: it is closed and returned, to be journaled. A close of a period before the
    /// latest this book has seen, or of a period it does not build, changes nothing.
    mutating func close(journaled bar: KlineBar) -> [KlineBar] {
        guard bar.closed, let length = periods.first(where: { $0.name == bar.period })?.length else { return [] }
        let key = BarKey(code: bar.code, period: bar.period)
        let track = tracks[key]
        if let latest = track?.latestStart, bar.start < latest { return [] }
        if let latest = track?.lastClosed?.start, track?.open == nil, bar.start == latest { return [] }
        var closed: [KlineBar] = []
        if let current = track?.open, current.bar.start < bar.start { closed.append(Self.closing(current.bar)) }
        let mark = track?.open?.mark ?? track?.lastClosed?.mark
        tracks[key] = Track(lastClosed: ClosedBar(start: bar.start, mark: mark, closedAt: bar.start + length))
        return closed
    }

    /// Remembers where the cumulative volume of each code of `ticks` stood, for the codes this book
    /// folded no tick of: their last ticks, older than any it folded. The next bar of such a code
    /// counts its volume from there (or from 0 on a later trading day), not from 0, which would give
    /// it the whole day's volume so far. Each is taken as the close of the period before its tick's, so
    /// a tick of that same period still opens a bar. A code this book knows only from journaled
    /// closes (its own, journaled after its last tick, or fed ones) keeps them and gets the mark.
    mutating func remember(lastTicks ticks: some Sequence<PriceTick>) {
        for tick in ticks {
            let time = TradingSession.binningTime(of: tick.timestamp, code: tick.code)
            for period in periods {
                let key = BarKey(code: tick.code, period: period.name)
                let mark = VolumeMark(total: tick.volume, day: TradingCalendar.day(of: tick.timestamp))
                guard var track = tracks[key] else {
                    let start = time - time % period.length
                    tracks[key] = Track(lastClosed: ClosedBar(start: start - period.length, mark: mark, closedAt: tick.timestamp))
                    continue
                }
                // Folded ticks set marks: a track without one holds closes only.
                guard track.open == nil, track.lastClosed != nil, track.lastClosed?.mark == nil else { continue }
                track.lastClosed?.mark = mark
                tracks[key] = track
            }
        }
    }

    /// Puts the bars of `earlier` (built from ticks journaled before this book's) under this
    /// book's. A bar of the same period in both becomes one bar: opened by the earlier, high and low
    /// over both, closed by the later, its volume counted from the bar before the earlier's. Where
    /// the two hold different periods, the later stays open and the earlier is returned, closed.
    /// A period either book already closed is neither kept open nor closed again. A bar that knew
    /// no bar before it counts its volume from the one the other book knew.
    mutating func merge(earlier: BarBook) -> [KlineBar] {
        var closed: [KlineBar] = []
        for (key, before) in earlier.tracks {
            guard let after = tracks[key] else {
                tracks[key] = before
                continue
            }
            let closes = [before.lastClosed, after.lastClosed].compactMap { $0 }.sorted { $0.start < $1.start }
            var merged = Track(lastClosed: closes.last)
            // A close fed from outside knows no volume; the other book's close may.
            if merged.lastClosed?.mark == nil { merged.lastClosed?.mark = closes.first?.mark }
            let closedThrough = merged.lastClosed?.start ?? .min
            let candidates = [before.open, after.open].compactMap { $0 }.filter { $0.bar.start > closedThrough }
            switch (candidates.first, candidates.dropFirst().first) {
            case (let only?, nil):
                merged.open = only
            case (var first?, let second?) where first.bar.start == second.bar.start:
                // `first` is the earlier book's.
                first.bar.high = max(first.bar.high, second.bar.high)
                first.bar.low = min(first.bar.low, second.bar.low)
                first.bar.close = second.bar.close
                first.lastVolume = max(first.lastVolume, second.lastVolume)
                first.count(from: first.baseVolume ?? second.baseVolume)
                merged.open = first
            case (let first?, let second?):
                let (older, newer) = first.bar.start < second.bar.start ? (first, second) : (second, first)
                closed.append(Self.closing(older.bar))
                merged.lastClosed = ClosedBar(start: older.bar.start, mark: older.mark, closedAt: newer.bar.start)
                merged.open = newer
            default:
                break
            }
            if merged.open?.baseVolume == nil, let previous = merged.lastClosed?.mark {
                merged.open?.rebase(after: previous)
            }
            tracks[key] = merged
        }
        return closed
    }

    private static func closing(_ bar: KlineBar) -> KlineBar {
        var closed = bar
        closed.closed = true
        return closed
    }
}

/// Rebuilds, from the journal's recent past, the bars a previous process was building when it
/// stopped: its ticks folded in seq order, less the bars whose close it journaled. What it folded
/// but never got to journal — a close that a tick implied just before a crash — is kept in
/// `unjournaledCloses`.
struct BarRecovery: Sendable {
    private(set) var book: BarBook
    private(set) var unjournaledCloses: [KlineBar] = []
    /// Set when rows of the time read were archived: the bars are built from part of their ticks.
    var archivedWithinWindow: ChainBase?

    init(periods: [(name: String, length: Int64)]) {
        book = BarBook(periods: periods)
    }

    /// Remembers the last ticks of codes that did not tick in the past it was rebuilt from
    /// (`BarBook.remember(lastTicks:)`); call after the last `apply`.
    mutating func remember(lastTicks ticks: some Sequence<PriceTick>) {
        book.remember(lastTicks: ticks)
    }

    mutating func apply(_ event: Event) {
        switch event {
        case .priceTicked(let tick):
            unjournaledCloses += book.fold(tick).closed
        case .klineUpdated(let bar) where bar.closed:
            // As the live book takes it in (`KlinePublisher.publish`): a close the journal holds is
            // owed no more, whoever journaled it.
            unjournaledCloses.removeAll { $0.code == bar.code && $0.period == bar.period && $0.start == bar.start }
            unjournaledCloses += book.close(journaled: bar)
        default:
            break
        }
    }
}
