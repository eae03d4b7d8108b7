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
