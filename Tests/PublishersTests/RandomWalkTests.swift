import Broker
import Foundation
import Testing

@testable import Publishers

/// The simulator's walk: trading days, daily limits and how far a day moves.
@Suite struct RandomWalkTests {
    /// 2026-11-20, a Friday, as `TradingCalendar` counts days.
    static let friday: Int64 = 20_777

    /// `hours` (fractions allowed) after 00:00 Asia/Shanghai on `day`, in UTC microseconds.
    static func time(_ day: Int64, _ hours: Double) -> Int64 {
        TradingCalendar.start(ofDay: day) + Int64(hours * 3_600_000_000)
    }

    /// The first tick of each code among `ticks`.
    static func firstByCode(_ ticks: [PriceTick]) -> [String: PriceTick] {
        ticks.reduce(into: [:]) { first, tick in first[tick.code] = first[tick.code] ?? tick }
    }

    /// The last tick of each code among `ticks`.
    static func lastByCode(_ ticks: [PriceTick]) -> [String: PriceTick] {
        ticks.reduce(into: [:]) { last, tick in last[tick.code] = tick }
    }

    /// The most one tick adds to a stock's volume.
    static let largestTrade: Int64 = 5_000

    static func stock(_ code: String, _ name: String, _ prevClose: Double) -> SimulatedMarket.Stock {
        SimulatedMarket.Stock(code: code, name: name, prevClose: prevClose, reason: nil)
    }

    // MARK: Trading days

    @Test func aFreshStartOpensTheDayAtThePreviousCloseWithNothingTraded() throws {
        let stocks = try SimulatorTests.shippedMarket.stocks
        var walk = RandomWalk(stocks: stocks, ticksPerSecond: 20, seed: 7)
        let first = Self.firstByCode(walk.next(stocks.count * 20, at: Self.time(Self.friday, 10)))
        #expect(first.count == stocks.count)
        for stock in stocks {
            let tick = try #require(first[stock.code])
            #expect(tick.volume <= Self.largestTrade, "\(stock.code) opened with \(tick.volume) traded")
            #expect(tick.prevClose == stock.prevClose)
            #expect(abs(tick.price - stock.prevClose) <= stock.prevClose * 0.002 + 0.01, "\(stock.code): \(tick.price)")
        }
    }

    @Test func atShanghaiMidnightTheLastPriceBecomesThePreviousCloseAndTheVolumeRestarts() throws {
        let stocks = try SimulatorTests.shippedMarket.stocks
        var walk = RandomWalk(stocks: stocks, ticksPerSecond: 20, seed: 8)
        let friday = (0..<50).flatMap { _ in walk.next(20, at: Self.time(Self.friday, 23.999)) }
        let saturday = (0..<50).flatMap { _ in walk.next(20, at: Self.time(Self.friday + 1, 0)) }

        let closes = Self.lastByCode(friday), opens = Self.firstByCode(saturday)
        for stock in stocks {
            let close = try #require(closes[stock.code]), open = try #require(opens[stock.code])
            #expect(open.prevClose == close.price, "\(stock.code)")
            #expect(open.volume <= Self.largestTrade && open.volume < close.volume, "\(stock.code): \(open.volume)")
        }
        for tick in saturday {
            #expect(tick.prevClose == closes[tick.code]?.price, "\(tick.code): the new previous close holds all day")
        }
    }

    @Test func aRestartOnTheSameTradingDayGoesOnFromTheJournaledTicks() throws {
        let stocks = try SimulatorTests.shippedMarket.stocks
        let stock = try #require(stocks.first)
        let last = PriceTick(
            code: stock.code, name: stock.name, price: stock.prevClose * 1.05, volume: 9_000_000, prevClose: stock.prevClose,
            timestamp: Self.time(Self.friday, 10))
        var walk = RandomWalk(stocks: stocks, ticksPerSecond: 20, seed: 11, continuing: [stock.code: last])

        let first = try #require(Self.firstByCode(walk.next(stocks.count * 20, at: Self.time(Self.friday, 14)))[stock.code])
        #expect(first.volume > 9_000_000)
        #expect(first.prevClose == stock.prevClose)
        #expect(abs(first.price - last.price) <= last.price * 0.002 + 0.01, "\(first.price)")
    }

    @Test func aRestartOnALaterTradingDayRollsTheJournaledTicksOver() throws {
        let stocks = try SimulatorTests.shippedMarket.stocks
        let stock = try #require(stocks.first)
        // The previous close the signals file gives, as every tick of the day before carried it.
        let last = PriceTick(
            code: stock.code, name: stock.name, price: stock.prevClose * 1.05, volume: 9_000_000, prevClose: stock.prevClose,
            timestamp: Self.time(Self.friday, 15))
        var walk = RandomWalk(stocks: stocks, ticksPerSecond: 20, seed: 11, continuing: [stock.code: last])

        let first = try #require(Self.firstByCode(walk.next(stocks.count * 20, at: Self.time(Self.friday + 3, 9.5)))[stock.code])
        #expect(first.volume <= Self.largestTrade)
        #expect(first.prevClose == last.price)
    }

    @Test func aJournaledTickWithoutAPreviousCloseHasItsPriceTakenAsTheClose() throws {
        let stock = Self.stock("600519", "贵州茅台", 1685)
        let last = PriceTick(code: stock.code, name: stock.name, price: 1700, volume: 1_000, prevClose: 0, timestamp: Self.time(Self.friday, 10))
        var walk = RandomWalk(stocks: [stock], ticksPerSecond: 20, seed: 1, continuing: [stock.code: last])
        #expect(walk.next(1, at: Self.time(Self.friday, 11)).first?.prevClose == 1700)
    }

    // MARK: Limits and moves

    @Test func theWalkReachesEachBoardsLimitsInCentsAndNeverPassesThem() throws {
        let stocks = [
            Self.stock("600519", "贵州茅台", 1685), Self.stock("000001", "平安银行", 11.2), Self.stock("300750", "宁德时代", 255.8),
            Self.stock("688981", "中芯国际", 88.5), Self.stock("430047", "诺思兰德", 15.6), Self.stock("920001", "北交新股", 9.99),
            Self.stock("600001", "*ST某某", 3.15),
        ]
        let expected: [String: (Double, Double)] = [
            "600519": (1516.5, 1853.5), "000001": (10.08, 12.32), "300750": (204.64, 306.96), "688981": (70.8, 106.2),
            "430047": (10.92, 20.28), "920001": (6.99, 12.99), "600001": (2.84, 3.47),
        ]
        // Under a tick a day: every step is a whole day's 2 %, so the walk hits both limits often.
        var walk = RandomWalk(stocks: stocks, ticksPerSecond: 0.0001, seed: 3)
        let ticks = (0..<400).flatMap { _ in walk.next(100, at: Self.time(Self.friday, 10)) }

        for stock in stocks {
            let prices = ticks.filter { $0.code == stock.code }.map(\.price)
            let (lowest, highest) = try #require(expected[stock.code])
            #expect(prices.min() == lowest && prices.max() == highest, "\(stock.code): \(prices.min() ?? 0)…\(prices.max() ?? 0)")
            for price in prices {
                #expect((price * 100).rounded() / 100 == price, "\(stock.code): \(price) is not in cents")
            }
        }
    }

    @Test func aStocksDayMovesAboutTwoPercentAtTheConfiguredRate() throws {
        let stocks = try SimulatorTests.shippedMarket.stocks
        // 2 ticks/s over 16 stocks: 1,800 ticks a stock in a 4-hour trading day.
        let ticksPerSecond = 2.0
        let ticksPerDay = Int(ticksPerSecond * RandomWalk.tradingSecondsPerDay)
        var moves: [Double] = []
        for seed in UInt64(1)...20 {
            var walk = RandomWalk(stocks: stocks, ticksPerSecond: ticksPerSecond, seed: seed)
            let day = (0..<ticksPerDay / 100).flatMap { _ in walk.next(100, at: Self.time(Self.friday, 10)) }
            moves += Self.lastByCode(day).values.map { log($0.price / $0.prevClose) }
        }
        let mean = moves.reduce(0, +) / Double(moves.count)
        let deviation = (moves.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(moves.count - 1)).squareRoot()
        #expect(deviation > 0.017 && deviation < 0.023, "a day's standard deviation: \(deviation)")
    }

    @Test func theStepShrinksWithTheSquareRootOfAStocksTicksPerDay() {
        // The default: 20 ticks/s over 16 stocks, 18,000 ticks a stock a day.
        #expect(abs(RandomWalk.stepDeviation(ticksPerSecond: 20, stocks: 16) - 0.02 / 18_000.0.squareRoot()) < 1e-12)
        #expect(RandomWalk.stepDeviation(ticksPerSecond: 0.001, stocks: 16) == 0.02)
    }
}
