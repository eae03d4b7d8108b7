import Broker
import Foundation
import Synchronization
import Testing
import TestSupport

@testable import Publishers

@Suite struct SimulatorTests {
    /// The repository's root, found relative to this file.
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The repository's `Config/signals.json`.
    static var shippedMarket: SimulatedMarket {
        get throws { try SimulatedMarket.load(path: repositoryRoot.appendingPathComponent("Config/signals.json").path) }
    }
    private var shippedMarket: SimulatedMarket { get throws { try Self.shippedMarket } }

    @Test func theShippedSignalsFileDescribesValidStrategies() throws {
        let market = try shippedMarket
        #expect(market.strategies.map(\.name).contains("volume_wave"))
        for (strategy, signals) in market.signalLists {
            let refusal = Self.refusal(of: .replaceSignals(strategy: strategy, signals: signals))
            #expect(refusal == nil, "\(strategy): \(refusal.map(String.init(describing:)) ?? "")")
        }
    }

    @Test func theBuiltInMarketIsTheShippedSignalsFile() throws {
        #expect(
            try SimulatedMarket.builtIn() == shippedMarket,
            "SimulatedMarket+BuiltIn.swift and Config/signals.json differ: copy the file into builtInSignals")
    }

    @Test func withoutASignalsFileTheBuiltInMarketIsTraded() throws {
        let dir = try TemporaryDirectory()
        let (market, origin) = try SimulatedMarket.locate(path: nil, in: dir.url.path)
        #expect(origin == .builtIn && "\(origin)" == "built-in")
        #expect(market == (try SimulatedMarket.builtIn()))
    }

    @Test func aSignalsFileAtTheDefaultPathWinsOverTheBuiltInMarket() throws {
        let dir = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: dir.path("Config"), withIntermediateDirectories: true)
        let path = try signalsFile(with: #"{"code": "000001", "name": "平安银行", "prev_close": 11.2}"#, at: dir.path("Config/signals.json"))
        let (market, origin) = try SimulatedMarket.locate(path: nil, in: dir.url.path)
        #expect(origin == .file(path))
        #expect(market.stocks.map(\.code) == ["600519", "000001"])
    }

    @Test func aSignalsFileThatCannotBeUsedIsAnErrorNamingItsAbsolutePathNotTheBuiltInMarket() throws {
        let dir = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: dir.path("Config"), withIntermediateDirectories: true)
        try Data("{\"strategies\": [".utf8).write(to: URL(fileURLWithPath: dir.path("Config/signals.json")))
        #expect {
            try SimulatedMarket.locate(path: nil, in: dir.url.path)
        } throws: { error in
            let error = error as? SimulatedMarketError
            return error?.path == dir.path("Config/signals.json") && error?.reason.contains("not a valid signals file") == true
        }
    }

    @Test func aConfiguredSignalsFileThatDoesNotExistIsAnErrorNotTheBuiltInMarket() throws {
        let dir = try TemporaryDirectory()
        #expect {
            try SimulatedMarket.locate(path: "markets/../signals.json", in: dir.url.path)
        } throws: { error in
            (error as? SimulatedMarketError)?.path == dir.path("signals.json")
        }
    }

    /// Why the decider refuses `command` on an empty state, or nil when it accepts it.
    private static func refusal(of command: Command) -> BrokerError? {
        do {
            _ = try Decider.decide(command, state: Projection(), limits: Limits())
            return nil
        } catch {
            return error
        }
    }

    @Test func theRandomWalkIsValidInput() throws {
        var walk = RandomWalk(stocks: try shippedMarket.stocks, ticksPerSecond: 20, seed: 9)
        for round in 0..<500 {
            #expect(Self.refusal(of: .ingestTicks(walk.next(20, at: Int64(round)).map(FedTick.init))) == nil)
        }
    }

    @Test func theSameSeedGivesTheSameWalk() throws {
        let stocks = try shippedMarket.stocks
        var a = RandomWalk(stocks: stocks, ticksPerSecond: 20, seed: 42)
        var b = RandomWalk(stocks: stocks, ticksPerSecond: 20, seed: 42)
        #expect(a.next(100, at: 1) == b.next(100, at: 1))
    }

    @Test func aWalkGivenAnotherRateStepsAsOneStartedAtIt() throws {
        let stocks = try shippedMarket.stocks
        var changed = RandomWalk(stocks: stocks, ticksPerSecond: 20, seed: 42)
        changed.setRate(2_000)
        var started = RandomWalk(stocks: stocks, ticksPerSecond: 2_000, seed: 42)
        #expect(changed.next(100, at: 1) == started.next(100, at: 1))
        var unchanged = RandomWalk(stocks: stocks, ticksPerSecond: 20, seed: 42)
        var other = RandomWalk(stocks: stocks, ticksPerSecond: 2_000, seed: 42)
        #expect(unchanged.next(100, at: 1) != other.next(100, at: 1), "the rate matters")
    }

    @Test func theRunningSourceTakesANewRateFromItsNextRound() async throws {
        // One tick a second: a thousand would take a quarter of an hour.
        let rate = SimulatorRate(1)
        let source = SimulatorSource(market: try shippedMarket, rate: rate, seed: 1)
        let sizes = Mutex<[Int]>([])
        let task = Task { try await source.run { ticks in sizes.withLock { $0.append(ticks.count) } } }
        defer { task.cancel() }
        try await eventually("the first tick") { sizes.withLock { !$0.isEmpty } }
        #expect(sizes.withLock { $0.allSatisfy { $0 == 1 } })
        rate.ticksPerSecond = 10_000
        try await eventually("a thousand ticks at the new rate") { sizes.withLock { $0.reduce(0, +) >= 1_000 } }
        // And back down: rounds of a single tick again.
        rate.ticksPerSecond = 20
        let seen = sizes.withLock { $0.count }
        try await eventually("a round of one tick") { sizes.withLock { $0.dropFirst(seen).contains(1) } }
    }

    @Test func theSourceDeliversAboutItsRateUntilCancelled() async throws {
        let source = SimulatorSource(market: try shippedMarket, rate: SimulatorRate(200), seed: 1)
        let delivered = TickCounter()
        let task = Task { try await source.run { ticks in await delivered.add(ticks.count) } }
        while await delivered.count < 20 { try await Task.sleep(for: .milliseconds(10)) }
        task.cancel()
        _ = try? await task.value
        #expect(await delivered.count >= 20)
    }

    @Test func aRoundLargerThanTheDecidersBatchLimitIsDeliveredInBatchesItTakes() async throws {
        // 250,000 ticks/s is 12,500 ticks per 50 ms round, more than the decider takes at once.
        let source = SimulatorSource(market: try shippedMarket, rate: SimulatorRate(250_000), seed: 1)
        let batches = BatchLog()
        let task = Task {
            try await source.run { ticks in await batches.add(size: ticks.count, refusal: Self.refusal(of: .ingestTicks(ticks.map(FedTick.init)))) }
        }
        while await batches.sizes.count < 4 { try await Task.sleep(for: .milliseconds(10)) }
        task.cancel()
        _ = try? await task.value

        let (sizes, refusals) = (await batches.sizes, await batches.refusals)
        #expect(refusals.isEmpty, "\(refusals)")
        #expect(Array(sizes.prefix(2)) == [10_000, 2_500])
    }

    /// A signals file whose `breakout` strategy holds a good entry and then `entry`.
    private func signalsFile(with entry: String, in dir: TemporaryDirectory) throws -> String {
        try signalsFile(with: entry, at: dir.path("signals.json"))
    }

    /// `signalsFile(with:in:)` at `path`.
    private func signalsFile(with entry: String, at path: String) throws -> String {
        let json = """
            {"strategies": [{"name": "breakout", "signals": [
                {"code": "600519", "name": "贵州茅台", "prev_close": 1685.0},
                \(entry)
            ]}]}
            """
        try Data(json.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test(arguments: [
        (#"{"code": "000001", "name": "平安银行", "prev_close": 0}"#, "prev_close 0.0 is not a usable price"),
        (#"{"code": "000001", "name": "平安银行", "prev_close": -11.2}"#, "prev_close -11.2 is not a usable price"),
        (#"{"code": "000001", "name": "平安银行", "prev_close": 0.004}"#, "prev_close 0.004 leaves the simulator no usable prices"),
        (#"{"code": "000001", "name": "平安银行", "prev_close": 1e12}"#, "leaves the simulator no usable prices"),
        (#"{"code": "00 0001", "name": "平安银行", "prev_close": 11.2}"#, "invalid code"),
    ])
    func anEntryTheSimulatorCouldNotTradeIsRefusedAtLoadByName(entry: String, reason: String) throws {
        let dir = try TemporaryDirectory()
        let path = try signalsFile(with: entry, in: dir)
        #expect {
            try SimulatedMarket.load(path: path)
        } throws: { error in
            let text = "\(error)"
            return text.contains(path) && text.contains("strategy 'breakout', signal 2") && text.contains(reason)
        }
    }

    @Test func theSmallestPriceTheSimulatorCanTradeIsACent() throws {
        let dir = try TemporaryDirectory()
        let path = try signalsFile(with: #"{"code": "000001", "name": "平安银行", "prev_close": 0.01}"#, in: dir)
        let stocks = try SimulatedMarket.load(path: path).stocks
        var walk = RandomWalk(stocks: stocks, ticksPerSecond: 20, seed: 3)
        for round in 0..<100 {
            #expect(Self.refusal(of: .ingestTicks(walk.next(10, at: Int64(round)).map(FedTick.init))) == nil)
        }
    }

    @Test func aStockUnderTwoYuanMovesThoughOneStepIsUnderHalfACent() throws {
        let dir = try TemporaryDirectory()
        let path = try signalsFile(with: #"{"code": "600000", "name": "浦发银行", "prev_close": 1.85}"#, in: dir)
        // A trading day of 2 ticks/s over two stocks: 14,400 steps of 1.85 × ±2.9 bp, about 0.05 cents.
        var walk = RandomWalk(stocks: try SimulatedMarket.load(path: path).stocks, ticksPerSecond: 2, seed: 5)
        let prices = Set((0..<288).flatMap { walk.next(100, at: Int64($0)) }.filter { $0.code == "600000" }.map(\.price))
        #expect(prices.count > 3, "\(prices.sorted())")
    }

    @Test func aMissingOrBrokenSignalsFileIsAClearError() throws {
        #expect {
            try SimulatedMarket.load(path: "/nonexistent/signals.json")
        } throws: { error in
            "\(error)".contains("/nonexistent/signals.json")
        }
    }
}

actor TickCounter {
    private(set) var count = 0
    func add(_ n: Int) { count += n }
}

actor BatchLog {
    private(set) var sizes: [Int] = []
    private(set) var refusals: [BrokerError] = []
    func add(size: Int, refusal: BrokerError?) {
        sizes.append(size)
        if let refusal { refusals.append(refusal) }
    }
}
