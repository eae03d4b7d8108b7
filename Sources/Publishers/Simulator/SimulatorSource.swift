import Broker
import Journal
import Synchronization

/// The simulator's rate, ticks per second across all stocks: read by the running simulator at
/// every round, so a reload of `simulator_rate` reaches it without a restart.
public final class SimulatorRate: Sendable {
    private let bits: Atomic<UInt64>

    /// `ticksPerSecond` must be more than 0 (the configuration checks it).
    public init(_ ticksPerSecond: Double) {
        bits = Atomic(ticksPerSecond.bitPattern)
    }

    public var ticksPerSecond: Double {
        get { Double(bitPattern: bits.load(ordering: .relaxed)) }
        set { bits.store(newValue.bitPattern, ordering: .relaxed) }
    }
}

/// A random-walk tick stream over the configured strategies' stocks, so a fresh `brokerd serve`
/// shows live prices with no feed attached. Prices move about 2 % a day in cents within each
/// board's daily limits; at each new Asia/Shanghai trading day the last price becomes the previous
/// close and the volume (cumulative for the day) restarts at 0.
public struct SimulatorSource: TickSource {
    public let name = "simulator"
    public let market: SimulatedMarket
    /// Ticks per second across all stocks, as the next round takes it.
    public let rate: SimulatorRate
    /// Seed of the random walk; the same seed gives the same walk.
    public let seed: UInt64
    /// Most ticks delivered at once (the decider's `maxTicksPerBatch`): a round with more is
    /// delivered in several batches, since the decider refuses a larger one whole.
    public let maxTicksPerBatch: Int
    /// The last tick of each code journaled before this start: the walk goes on from them, so a
    /// restart neither jumps prices nor, on the same trading day, sends volumes (cumulative for the
    /// day) backwards.
    public let lastTicks: [String: PriceTick]

    public init(
        market: SimulatedMarket, rate: SimulatorRate, seed: UInt64 = UInt64.random(in: .min ... .max),
        maxTicksPerBatch: Int = Limits().maxTicksPerBatch, lastTicks: [String: PriceTick] = [:]
    ) {
        self.market = market
        self.rate = rate
        self.seed = seed
        self.maxTicksPerBatch = max(1, maxTicksPerBatch)
        self.lastTicks = lastTicks
    }

    /// Rounds a second at `ticksPerSecond`: 20 at most (rounds of 50 ms, smooth at low rates and few
    /// at high ones), 1 at least.
    static func roundsPerSecond(at ticksPerSecond: Double) -> Double { min(20.0, max(1.0, ticksPerSecond)) }

    public func run(deliver: @escaping @Sendable ([PriceTick]) async throws -> Void) async throws {
        guard !market.stocks.isEmpty else { return }
        var ticksPerSecond = rate.ticksPerSecond
        var walk = RandomWalk(stocks: market.stocks, ticksPerSecond: ticksPerSecond, seed: seed, continuing: lastTicks)
        var owed = 0.0
        var next = ContinuousClock.now
        while !Task.isCancelled {
            // A new rate (a reload) from this round on; the steps keep a stock's day at about 2 %.
            if rate.ticksPerSecond != ticksPerSecond {
                ticksPerSecond = rate.ticksPerSecond
                walk.setRate(ticksPerSecond)
            }
            let roundsPerSecond = Self.roundsPerSecond(at: ticksPerSecond)
            owed += ticksPerSecond / roundsPerSecond
            let count = Int(owed)
            owed -= Double(count)
            let timestamp = WallClock.microsecondsNow()
            for delivered in stride(from: 0, to: count, by: maxTicksPerBatch) {
                do {
                    try await deliver(walk.next(min(maxTicksPerBatch, count - delivered), at: timestamp))
                } catch is CancellationError {
                    return
                }
            }
            next += .microseconds(Int64(1_000_000 / roundsPerSecond))
            try await Task.sleep(until: next, clock: .continuous)
        }
    }
}

/// The simulator's state: one quote per stock, moved by a seeded generator. Pure: the time of each
/// round is passed in, so a test crosses midnight without waiting for it.
///
/// Prices walk unrounded and are sent in cents, always within the stock's daily limits (whose
/// prices are on the cent grid): a step is a basis point or two, under half a cent for a stock
/// below ¥20, which rounding every step would put back where it was.
struct RandomWalk {
    /// A stock's trading day so far.
    private struct Quote {
        var prevClose: Double
        var price: Double
        /// Cumulative for the day.
        var volume: Int64
        /// The trading day (`TradingCalendar.day(of:)`) of the stock's last tick; nil before its first.
        var day: Int64?
    }

    private let stocks: [SimulatedMarket.Stock]
    private let limits: [DailyLimit]
    private var quotes: [Quote]
    /// Half the width of a step's uniform distribution, relative to the price.
    private var stepWidth: Double
    private var random: SplitMix64
    private var cursor = 0

    /// `continuing`: last ticks by code. A stock with one goes on from its price, and on its day
    /// also from its previous close and volume; a stock without one opens at its previous close
    /// with nothing traded.
    init(
        stocks: [SimulatedMarket.Stock], ticksPerSecond: Double, seed: UInt64, continuing lastTicks: [String: PriceTick] = [:]
    ) {
        self.stocks = stocks
        self.limits = stocks.map { DailyLimit.of(code: $0.code) }
        self.stepWidth = Self.stepWidth(ticksPerSecond: ticksPerSecond, stocks: stocks.count)
        self.random = SplitMix64(seed: seed)
        self.quotes = stocks.map { stock in
            guard let last = lastTicks[stock.code] else {
                return Quote(prevClose: stock.prevClose, price: stock.prevClose, volume: 0, day: nil)
            }
            // A tick of another source may not have known the previous close (0).
            let prevClose = last.prevClose > 0 ? last.prevClose : last.price
            return Quote(prevClose: prevClose, price: last.price, volume: last.volume, day: TradingCalendar.day(of: last.timestamp))
        }
    }

    /// Steps from now on for `ticksPerSecond` (the rate changed): a stock's day still moves about 2 %.
    mutating func setRate(_ ticksPerSecond: Double) {
        stepWidth = Self.stepWidth(ticksPerSecond: ticksPerSecond, stocks: stocks.count)
    }

    /// Half the width of a step's uniform distribution: a uniform step on [-w, w] has the standard
    /// deviation w / √3.
    private static func stepWidth(ticksPerSecond: Double, stocks: Int) -> Double {
        stepDeviation(ticksPerSecond: ticksPerSecond, stocks: stocks) * 3.0.squareRoot()
    }

    /// A stock's day moves about this much (one standard deviation), as a large cap's does.
    static let dailyDeviation = 0.02
    /// An A-share trading day: 09:30–11:30 and 13:00–15:00.
    static let tradingSecondsPerDay = 4.0 * 3_600

    /// The standard deviation of one step, relative to the price. A stock gets `ticksPerSecond /
    /// stocks` ticks a second, n = that × 4 hours a trading day; n independent steps of σ add up to
    /// σ√n, so σ = 2 % / √n moves a stock's day by about 2 %. (20 ticks/s over 16 stocks: n = 18,000,
    /// σ ≈ 1.5 basis points.) Below one tick a day, one step is the day.
    static func stepDeviation(ticksPerSecond: Double, stocks: Int) -> Double {
        let ticksPerDay = ticksPerSecond / Double(max(1, stocks)) * tradingSecondsPerDay
        return dailyDeviation / max(1, ticksPerDay).squareRoot()
    }

    /// The next `count` ticks at `timestamp`, visiting the stocks in turn from a random start. A
    /// stock's first tick of a trading day (Asia/Shanghai) after one of an earlier day opens the new
    /// day: its last price becomes the previous close, its volume restarts at 0.
    mutating func next(_ count: Int, at timestamp: Int64) -> [PriceTick] {
        let day = TradingCalendar.day(of: timestamp)
        return (0..<count).map { _ in
            cursor = (cursor + 1 + Int(random.next() % 3)) % stocks.count
            let stock = stocks[cursor]
            var quote = quotes[cursor]
            if let last = quote.day, last < day {
                quote.prevClose = Cents.rounded(quote.price)
                quote.price = quote.prevClose
                quote.volume = 0
            }
            quote.day = max(day, quote.day ?? day)
            let step = (random.unit() * 2 - 1) * stepWidth
            let (lowest, highest) = limits[cursor].prices(around: quote.prevClose)
            quote.price = min(highest, max(lowest, quote.price * (1 + step)))
            quote.volume += Int64(100 * (1 + random.next() % 50))
            quotes[cursor] = quote
            return PriceTick(
                code: stock.code, name: stock.name, price: Cents.rounded(quote.price), volume: quote.volume,
                prevClose: quote.prevClose, timestamp: timestamp)
        }
    }
}

/// SplitMix64: small, fast and reproducible (also drives journal-bench's synthetic market).
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    public mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
}
