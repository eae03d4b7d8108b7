import Broker

/// The k-line bars being built from ticks, one per code and period: pure state, so the live path
/// and the start-up recovery from the journal fold ticks the same way.
struct BarBook: Sendable {
    /// A bar being built, with the cumulative volume it opened at (a tick's volume is the day's total).
    struct OpenBar: Sendable, Equatable {
        var bar: KlineBar
        var openingVolume: Int64

        /// The cumulative volume of the last tick folded in.
        var lastVolume: Int64 { openingVolume + bar.volume }
    }

    /// Periods built, with their length in microseconds.
    let periods: [(name: String, length: Int64)]
    private(set) var open: [BarKey: OpenBar] = [:]

    init(periods: [(name: String, length: Int64)]) {
        self.periods = periods
    }

    /// The longest period, in microseconds (0 without periods).
    var longestPeriod: Int64 { periods.map(\.length).max() ?? 0 }

    /// Folds `tick` into its bars. Returns the bars it updated or opened, and the bars it closed
    /// because it is the first tick of a later period.
    mutating func fold(_ tick: PriceTick) -> (updated: [KlineBar], closed: [KlineBar]) {
        var updated: [KlineBar] = []
        updated.reserveCapacity(periods.count)
        var closed: [KlineBar] = []
        for period in periods {
            let start = tick.timestamp - tick.timestamp % period.length
            let key = BarKey(code: tick.code, period: period.name)
            let bar = KlineBar(
                code: tick.code, period: period.name, open: tick.price, high: tick.price, low: tick.price,
                close: tick.price, volume: 0, start: start, closed: false)
            // One hash of the key per tick and period: this runs for every tick the broker takes.
            guard let index = open.index(forKey: key) else {
                open[key] = OpenBar(bar: bar, openingVolume: tick.volume)
                updated.append(bar)
                continue
            }
            let current = open.values[index]
            if current.bar.start == start {
                open.values[index].bar.high = max(current.bar.high, tick.price)
                open.values[index].bar.low = min(current.bar.low, tick.price)
                open.values[index].bar.close = tick.price
                open.values[index].bar.volume = max(0, tick.volume - current.openingVolume)
                updated.append(open.values[index].bar)
                continue
            }
            if current.bar.start < start {
                closed.append(Self.closing(current.bar))
            }
            open.values[index] = OpenBar(bar: bar, openingVolume: tick.volume)
            updated.append(bar)
        }
        return (updated, closed)
    }

    /// Removes and returns, closed, the bars whose period ended at or before `now`.
    mutating func expire(now: Int64) -> [KlineBar] {
        let lengths = Dictionary(uniqueKeysWithValues: periods.map { ($0.name, $0.length) })
        var closed: [KlineBar] = []
        for (key, current) in open where current.bar.start + (lengths[key.period] ?? .max) <= now {
            closed.append(Self.closing(current.bar))
            open[key] = nil
        }
        return closed.sorted { ($0.start, BarKey(code: $0.code, period: $0.period)) < ($1.start, BarKey(code: $1.code, period: $1.period)) }
    }

    /// Forgets the open bar that `bar` (a close found in the journal) already closed.
    mutating func forget(closed bar: KlineBar) {
        let key = BarKey(code: bar.code, period: bar.period)
        if open[key]?.bar.start == bar.start { open[key] = nil }
    }

    /// Puts the bars of `earlier` (built from ticks journaled before this book's) under this
    /// book's. A bar of the same period in both becomes one bar: opened by the earlier, high and low
    /// over both, closed by the later, its volume counted from the earlier opening volume. Where
    /// the two hold different periods, the later stays open and the earlier is returned, closed.
    mutating func merge(earlier: BarBook) -> [KlineBar] {
        var closed: [KlineBar] = []
        for (key, before) in earlier.open {
            guard var after = open[key] else {
                open[key] = before
                continue
            }
            if before.bar.start == after.bar.start {
                after.bar.open = before.bar.open
                after.bar.high = max(before.bar.high, after.bar.high)
                after.bar.low = min(before.bar.low, after.bar.low)
                after.bar.volume = max(0, after.lastVolume - before.openingVolume)
                after.openingVolume = before.openingVolume
                open[key] = after
            } else if before.bar.start < after.bar.start {
                closed.append(Self.closing(before.bar))
            } else {
                closed.append(Self.closing(after.bar))
                open[key] = before
            }
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

    init(periods: [(name: String, length: Int64)]) {
        book = BarBook(periods: periods)
    }

    mutating func apply(_ event: Event) {
        switch event {
        case .priceTicked(let tick):
            unjournaledCloses += book.fold(tick).closed
        case .klineUpdated(let bar) where bar.closed:
            book.forget(closed: bar)
            unjournaledCloses.removeAll { $0.code == bar.code && $0.period == bar.period && $0.start == bar.start }
        default:
            break
        }
    }
}
