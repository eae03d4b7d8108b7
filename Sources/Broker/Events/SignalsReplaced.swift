/// Payload of `signals_replaced`: a strategy's whole signal list, replacing the previous one.
public struct SignalsReplaced: Sendable, Hashable, Codable {
    /// Strategy name.
    public var strategy: String
    /// The new list, in publisher order.
    public var signals: [Signal]

    /// Creates the payload.
    public init(strategy: String, signals: [Signal]) {
        self.strategy = strategy
        self.signals = signals
    }
}
