import Broker
import Foundation

/// The strategies and stocks the simulator trades, as shipped in `Config/signals.json`.
public struct SimulatedMarket: Sendable, Decodable {
    /// One stock with the previous close its random walk starts from.
    public struct Stock: Sendable, Decodable {
        public let code: String
        public let name: String
        public let prevClose: Double
        public let reason: String?

        enum CodingKeys: String, CodingKey {
            case code, name, reason
            case prevClose = "prev_close"
        }

        /// Why the simulator cannot trade this stock, or nil: every tick its random walk can make
        /// must be one the broker takes, or the broker refuses every round the stock is in.
        func problem(_ limits: Limits) -> String? {
            if let reason = FieldRules.priceProblem(prevClose) {
                return "prev_close \(prevClose) is not a usable price; it \(reason)"
            }
            let (lowest, highest) = RandomWalk.priceRange(around: prevClose)
            for price in [lowest, highest] {
                if let reason = FieldRules.priceProblem(price) {
                    return """
                        prev_close \(prevClose) leaves the simulator no usable prices: it moves prices in whole cents \
                        within ±10 % of prev_close, which here reaches \(price), and a price \(reason)
                        """
                }
            }
            let probe = PriceTick(code: code, name: name, price: lowest, volume: 0, prevClose: prevClose, timestamp: 0)
            if let reason = Decider.problem(with: FedTick(probe), limits) { return "the broker would refuse its ticks: a tick \(reason)" }
            return nil
        }
    }

    /// A strategy and the stocks it signals.
    public struct Strategy: Sendable, Decodable {
        public let name: String
        public let signalDate: String?
        public let signals: [Stock]

        enum CodingKeys: String, CodingKey {
            case name, signals
            case signalDate = "signal_date"
        }
    }

    public let strategies: [Strategy]

    /// Loads the market file; a clear error names the file and what is wrong, down to the entry.
    public static func load(path: String, limits: Limits = Limits()) throws -> SimulatedMarket {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw SimulatedMarketError(path: path, reason: "cannot read it (\(error.localizedDescription))")
        }
        let market: SimulatedMarket
        do {
            market = try JSONDecoder().decode(SimulatedMarket.self, from: data)
        } catch {
            throw SimulatedMarketError(path: path, reason: "not a valid signals file (\(error))")
        }
        if let problem = market.problem(limits) { throw SimulatedMarketError(path: path, reason: problem) }
        return market
    }

    /// Why the simulator cannot trade this market, naming the first entry it cannot trade; nil
    /// when it can trade them all.
    func problem(_ limits: Limits) -> String? {
        for strategy in strategies {
            for (index, stock) in strategy.signals.enumerated() {
                if let reason = stock.problem(limits) {
                    return "strategy '\(strategy.name)', signal \(index + 1) (code '\(stock.code)'): \(reason)"
                }
            }
        }
        return nil
    }

    /// Every stock once, in file order.
    public var stocks: [Stock] {
        var seen = Set<String>()
        return strategies.flatMap(\.signals).filter { seen.insert($0.code).inserted }
    }

    /// The signal lists to journal for the strategies.
    public var signalLists: [(strategy: String, signals: [Signal])] {
        strategies.map { strategy in
            (strategy.name, strategy.signals.map { Signal(code: $0.code, name: $0.name, signalDate: strategy.signalDate, reason: $0.reason) })
        }
    }
}

/// A signals file that cannot be used.
public struct SimulatedMarketError: Error, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "\(path): \(reason)" }
}
