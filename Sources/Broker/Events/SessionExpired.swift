/// Payload of `session_expired`: the session and its subscriptions are forgotten.
public struct SessionExpired: Sendable, Hashable, Codable {
    /// Session id.
    public var clientID: String

    /// Creates the payload.
    public init(clientID: String) {
        self.clientID = clientID
    }

    enum CodingKeys: String, CodingKey {
        case clientID = "client_id"
    }
}
