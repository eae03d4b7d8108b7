import Broker
import Foundation

/// The strategies and stocks the simulator trades: `Config/signals.json` when there is one, else the
/// same market built into the binary (`builtIn`).
public struct SimulatedMarket: Sendable, Equatable, Decodable {
    /// One stock with the previous close its random walk starts from.
    public struct Stock: Sendable, Equatable, Decodable {
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
            let limit = DailyLimit.of(code: code)
            let (lowest, highest) = limit.prices(around: prevClose)
            for price in [lowest, highest] {
                if let reason = FieldRules.priceProblem(price) {
                    return """
                        prev_close \(prevClose) leaves the simulator no usable prices: it moves prices in whole cents \
                        within ±\(limit.percent) % of prev_close, which here reaches \(price), and a price \(reason)
                        """
                }
            }
            let probe = PriceTick(code: code, name: name, price: lowest, volume: 0, prevClose: prevClose, timestamp: 0)
            if let reason = Decider.problem(with: FedTick(probe), limits) { return "the broker would refuse its ticks: a tick \(reason)" }
            return nil
        }
    }

    /// A strategy and the stocks it signals.
    public struct Strategy: Sendable, Equatable, Decodable {
        public let name: String
        public let signalDate: String?
        public let signals: [Stock]

        enum CodingKeys: String, CodingKey {
            case name, signals
            case signalDate = "signal_date"
        }
    }

    public let strategies: [Strategy]

    /// The signals file read when none is configured, relative to the working directory.
    public static let defaultPath = "Config/signals.json"

    /// The market to simulate and where it came from: the file at `path`, or when none is given
    /// `defaultPath`, and when that file does not exist the built-in market. A file that exists but
    /// cannot be used, and a given `path` that does not exist, are errors naming the file's
    /// absolute path: the simulator never falls back from a file it was meant to read.
    /// - Parameter directory: what a relative path is relative to; nil for the working directory.
    public static func locate(
        path: String?, in directory: String? = nil, limits: Limits = Limits()
    ) throws(SimulatedMarketError) -> (market: SimulatedMarket, origin: Origin) {
        let base = URL(fileURLWithPath: directory ?? FileManager.default.currentDirectoryPath, isDirectory: true)
        let file = URL(fileURLWithPath: path ?? defaultPath, relativeTo: base).absoluteURL.standardizedFileURL.path
        if path == nil, !FileManager.default.fileExists(atPath: file) { return (try builtIn(limits: limits), .builtIn) }
        return (try load(path: file, limits: limits), .file(file))
    }

    /// Where a market came from.
    public enum Origin: Sendable, Equatable, CustomStringConvertible {
        /// A signals file, by absolute path.
        case file(String)
        /// The market built into the binary.
        case builtIn

        /// The file's path, or `built-in`.
        public var description: String {
            switch self {
            case .file(let path): path
            case .builtIn: "built-in"
            }
        }
    }

    /// Loads the market file; a clear error names the file and what is wrong, down to the entry.
    public static func load(path: String, limits: Limits = Limits()) throws(SimulatedMarketError) -> SimulatedMarket {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw SimulatedMarketError(path: path, reason: "cannot read it (\(error.localizedDescription))")
        }
        return try decode(data, from: path, limits: limits)
    }

    /// The market built into the binary, the one `Config/signals.json` ships.
    public static func builtIn(limits: Limits = Limits()) throws(SimulatedMarketError) -> SimulatedMarket {
        try decode(Data(builtInSignals.utf8), from: "built-in market", limits: limits)
    }

    /// Decodes and checks a signals file's contents; `source` names it in errors.
    private static func decode(_ data: Data, from source: String, limits: Limits) throws(SimulatedMarketError) -> SimulatedMarket {
        let market: SimulatedMarket
        do {
            market = try JSONDecoder().decode(SimulatedMarket.self, from: data)
        } catch {
            throw SimulatedMarketError(path: source, reason: "not a valid signals file (\(error))")
        }
        if let problem = market.problem(limits) { throw SimulatedMarketError(path: source, reason: problem) }
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
    /// The file, or `built-in market`.
    public let path: String
    /// What is wrong with it.
    public let reason: String
    public var description: String { "\(path): \(reason)" }
}
