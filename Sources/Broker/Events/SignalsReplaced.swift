/// Payload of `signals_replaced`: a strategy's whole signal list, replacing the previous one.
public struct SignalsReplaced: Sendable, Hashable, Codable {
    /// Strategy name.
    public var strategy: String
    /// The new list, in publisher order.
    public var signals: [Signal]
    /// The codes of `signals` the list it replaced did not hold, in list order: the strategy's live
    /// subscribers get their known prices, as a new subscriber would. Nil in rows written before
    /// event format 3, which did not journal it.
    public var addedCodes: [String]?

    /// Creates the payload.
    public init(strategy: String, signals: [Signal], addedCodes: [String]? = nil) {
        self.strategy = strategy
        self.signals = signals
        self.addedCodes = addedCodes
    }

    /// The replacement of `previous`, the strategy's list until now, by `signals`.
    public init(strategy: String, replacing previous: [Signal], with signals: [Signal]) {
        let held = Set(previous.map(\.code))
        self.init(strategy: strategy, signals: signals, addedCodes: signals.map(\.code).filter { !held.contains($0) })
    }

    enum CodingKeys: String, CodingKey {
        case strategy, signals
        case addedCodes = "added_codes"
    }
}
