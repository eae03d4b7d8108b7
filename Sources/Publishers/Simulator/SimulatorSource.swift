import Broker
import Journal

/// A random-walk tick stream over the configured strategies' stocks, so a fresh `brokerd serve`
/// shows live prices with no feed attached. Prices move a few basis points per tick around their
/// previous close (bounded to the exchanges' ±10 % daily limit), volume only grows.
public struct SimulatorSource: TickSource {
    public let name = "simulator"
    public let market: SimulatedMarket
    /// Ticks per second across all stocks.
    public let ticksPerSecond: Double
    /// Seed of the random walk; the same seed gives the same walk.
    public let seed: UInt64
    /// Most ticks delivered at once (the decider's `maxTicksPerBatch`): a round with more is
    /// delivered in several batches, since the decider refuses a larger one whole.
    public let maxTicksPerBatch: Int
    /// The last tick of each code journaled before this start: the walk goes on from them, so a
    /// restart neither jumps prices nor sends volumes (cumulative for the day) backwards.
    public let lastTicks: [String: PriceTick]

    public init(
        market: SimulatedMarket, ticksPerSecond: Double, seed: UInt64 = UInt64.random(in: .min ... .max),
        maxTicksPerBatch: Int = Limits().maxTicksPerBatch, lastTicks: [String: PriceTick] = [:]
    ) {
        self.market = market
        self.ticksPerSecond = ticksPerSecond
        self.seed = seed
        self.maxTicksPerBatch = max(1, maxTicksPerBatch)
        self.lastTicks = lastTicks
    }

    public func run(deliver: @escaping @Sendable ([PriceTick]) async throws -> Void) async throws {
        var walk = RandomWalk(stocks: market.stocks, seed: seed, continuing: lastTicks)
        guard !market.stocks.isEmpty else { return }
        // Rounds of 50 ms at most: smooth at low rates, few rounds at high ones.
        let roundsPerSecond = min(20.0, max(1.0, ticksPerSecond))
        let interval = Duration.microseconds(Int64(1_000_000 / roundsPerSecond))
        var owed = 0.0
        var next = ContinuousClock.now
        while !Task.isCancelled {
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
            next += interval
            try await Task.sleep(until: next, clock: .continuous)
        }
    }
}

/// The simulator's state: one price and volume per stock, moved by a seeded generator. Prices walk
/// unrounded and are sent in cents: a step is a few basis points, under half a cent for a stock
/// below ¥2.50, which rounding every step would put back where it was.
struct RandomWalk {
    private var stocks: [SimulatedMarket.Stock]
    private var prices: [Double]
    private var volumes: [Int64]
    private var random: SplitMix64
    private var cursor = 0

    /// `continuing`: last ticks by code; a stock whose last tick has its previous close (the same
    /// simulated day) goes on from that price and volume.
    init(stocks: [SimulatedMarket.Stock], seed: UInt64, continuing lastTicks: [String: PriceTick] = [:]) {
        self.stocks = stocks
        self.random = SplitMix64(seed: seed)
        self.prices = stocks.map(\.prevClose)
        self.volumes = stocks.map { _ in 0 }
        for index in stocks.indices {
            let stock = stocks[index]
            // Drawn for every stock, so a seed gives the same walk to the stocks that start afresh.
            let start = stock.prevClose * (1 + (random.unit() - 0.5) * 0.04)
            let volume = Int64(random.next() % 500_000)
            if let last = lastTicks[stock.code], last.prevClose == stock.prevClose {
                prices[index] = last.price
                volumes[index] = last.volume
            } else {
                // Start the day somewhere within ±2 % of the previous close.
                prices[index] = start
                volumes[index] = volume
            }
        }
    }

    /// The next `count` ticks, visiting the stocks in turn from a random start.
    mutating func next(_ count: Int, at timestamp: Int64) -> [PriceTick] {
        (0..<count).map { _ in
            cursor = (cursor + 1 + Int(random.next() % 3)) % stocks.count
            let stock = stocks[cursor]
            let step = (random.unit() - 0.5) * 0.004
            let limit = stock.prevClose * 0.1
            prices[cursor] = min(stock.prevClose + limit, max(stock.prevClose - limit, prices[cursor] * (1 + step)))
            volumes[cursor] += Int64(100 * (1 + random.next() % 50))
            return PriceTick(
                code: stock.code, name: stock.name, price: Self.round(prices[cursor]), volume: volumes[cursor],
                prevClose: stock.prevClose, timestamp: timestamp)
        }
    }

    /// The lowest and highest prices the walk gives a stock: ±10 % of its previous close, in cents.
    static func priceRange(around prevClose: Double) -> (lowest: Double, highest: Double) {
        let limit = prevClose * 0.1
        return (round(prevClose - limit), round(prevClose + limit))
    }

    /// A-share prices tick in cents.
    private static func round(_ price: Double) -> Double { (price * 100).rounded() / 100 }
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
