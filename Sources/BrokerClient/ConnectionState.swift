/// Where a `BrokerClient` is in its connection's life.
public enum ConnectionState: Sendable, Hashable {
    /// `run()` has not been called yet.
    case idle
    /// Opening a connection; `attempt` is 0 for the first one and counts reconnections after.
    case connecting(attempt: Int)
    /// A fresh session is open and its subscriptions were sent.
    case connected(clientID: String)
    /// The previous session was resumed: subscriptions restored, missed bars, news and alerts replayed.
    case resumed(clientID: String)
    /// The connection was lost; the next attempt starts after `delay`.
    case backingOff(attempt: Int, delay: Duration, after: ConnectionLoss)
    /// The client gave up after its last attempt failed.
    case failed(ConnectionLoss)
    /// `stop()` was called or the task running the client was cancelled.
    case stopped

    /// True while a session is open.
    public var isOpen: Bool {
        switch self {
        case .connected, .resumed: true
        default: false
        }
    }
}

/// Why a connection ended or could not be opened.
public enum ConnectionLoss: Sendable, Hashable, CustomStringConvertible {
    /// The TCP connection or the WebSocket upgrade failed.
    case connectFailed(String)
    /// The broker did not open a session within `connectTimeout`.
    case connectTimedOut
    /// The broker sent nothing within `pongTimeout` of a ping.
    case heartbeatTimedOut
    /// The broker closed the connection with a close frame.
    case closedByBroker(code: Int, reason: String?)
    /// The open connection broke without a close frame (the broker died, the network failed).
    case dropped(String)

    public var description: String {
        switch self {
        case .connectFailed(let error): "could not connect: \(error)"
        case .connectTimedOut: "no session within the connect timeout"
        case .heartbeatTimedOut: "no answer to a ping within the pong timeout"
        case .closedByBroker(let code, let reason): "closed by the broker (\(code)\(reason.map { " \($0)" } ?? ""))"
        case .dropped(let error): "connection dropped: \(error)"
        }
    }
}

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
