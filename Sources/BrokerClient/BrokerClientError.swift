/// Why `BrokerClient.run()` ended with an error, or a request could not be sent.
public enum BrokerClientError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Every reconnection attempt the schedule allows failed; the last failure.
    case gaveUp(after: ConnectionLoss)
    /// `run()` was called while the client was already running or after it ended.
    case alreadyRunning
    /// A request that is not kept across reconnections was made while no session was open.
    case notConnected

    public var description: String {
        switch self {
        case .gaveUp(let loss): "gave up reconnecting; last attempt: \(loss)"
        case .alreadyRunning: "the client is already running or has ended; make a new one"
        case .notConnected: "no session is open; retry once the state is connected or resumed"
        }
    }
}
