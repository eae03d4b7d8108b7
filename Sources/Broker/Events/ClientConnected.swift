/// Payload of `client_connected`: a new session, or the resume of a gone one with the same id.
public struct ClientConnected: Sendable, Hashable, Codable {
    /// Session id handed to the client (`client_1a2b3c4d`).
    public var clientID: String
    /// Authenticated user, nil for anonymous clients.
    public var user: String?
    /// Peer address as seen by the server (or the proxy's forwarded address).
    public var remoteAddress: String?
    /// Name of the broker node that accepted the connection.
    public var node: String

    /// Creates the payload.
    public init(clientID: String, user: String? = nil, remoteAddress: String? = nil, node: String) {
        self.clientID = clientID
        self.user = user
        self.remoteAddress = remoteAddress
        self.node = node
    }

    enum CodingKeys: String, CodingKey {
        case clientID = "client_id"
        case user
        case remoteAddress = "remote_address"
        case node
    }
}
