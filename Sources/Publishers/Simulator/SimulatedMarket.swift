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

    /// Loads the market file; a clear error names the file and what is wrong.
    public static func load(path: String) throws -> SimulatedMarket {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw SimulatedMarketError(path: path, reason: "cannot read it (\(error.localizedDescription))")
        }
        do {
            return try JSONDecoder().decode(SimulatedMarket.self, from: data)
        } catch {
            throw SimulatedMarketError(path: path, reason: "not a valid signals file (\(error))")
        }
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
