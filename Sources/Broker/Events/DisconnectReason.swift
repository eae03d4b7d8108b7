/// Why a client's connection ended.
public enum DisconnectReason: String, Sendable, Hashable, Codable, CaseIterable {
    /// The client closed the connection.
    case closed
    /// Nothing was received for the heartbeat timeout.
    case heartbeatTimeout = "heartbeat_timeout"
    /// The outbound queue overflowed even after coalescing.
    case slowConsumer = "slow_consumer"
    /// An operator or policy removed the client.
    case kicked
    /// The broker shut down cleanly.
    case shutdown
    /// The client was connected when the process died; found at start-up.
    case brokerRestart = "broker_restart"
    /// The token the client connected with expired (its `exp` passed) while it was connected.
    case tokenExpired = "token_expired"
    /// A resume of the session took it over while this connection still looked alive (a network
    /// that dropped without closing it, a client that reconnected before the broker noticed).
    case replaced
}
