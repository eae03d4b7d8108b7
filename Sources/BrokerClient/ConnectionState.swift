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
