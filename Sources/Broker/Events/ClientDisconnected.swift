/// Payload of `client_disconnected`: the session is gone but resumable until `resumeDeadline`.
public struct ClientDisconnected: Sendable, Hashable, Codable {
    /// Session id.
    public var clientID: String
    /// Why the connection ended.
    public var reason: DisconnectReason
    /// UTC microseconds until which the session may be resumed.
    ///
    /// Decided when the disconnect is decided, so replay never depends on the current configuration.
    public var resumeDeadline: Int64

    /// Creates the payload.
    public init(clientID: String, reason: DisconnectReason, resumeDeadline: Int64) {
        self.clientID = clientID
        self.reason = reason
        self.resumeDeadline = resumeDeadline
    }

    enum CodingKeys: String, CodingKey {
        case clientID = "client_id"
        case reason
        case resumeDeadline = "resume_deadline"
    }
}
