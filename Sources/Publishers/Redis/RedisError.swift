/// Why talking to Redis failed; `description` is a sentence for logs and `/readyz`.
public enum RedisError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The URL (shown without user and password) is not `redis://[[user]:password@]host[:port][/db]`.
    case invalidURL(String, reason: String)
    /// A source or cache setting is unusable.
    case invalidConfiguration(setting: String, reason: String)
    /// The TCP connection (or the handshake after it) could not be established.
    case connectionFailed(endpoint: String, reason: String)
    /// Reading or writing on an established connection failed; the connection is unusable now.
    case connectionLost(reason: String)
    /// Redis answered a command with an error reply.
    case commandFailed(command: String, message: String)
    /// Redis answered with a reply of a shape the command cannot produce.
    case unexpectedReply(command: String, reply: String)
    /// The instance a sentinel named as the master says (`ROLE`) it is something else.
    case notMaster(endpoint: String, role: String)
    /// The instance written to is a read-only replica (`ROLE`, or a `READONLY` refusal).
    case readOnlyReplica(endpoint: String)

    public var description: String {
        switch self {
        case .invalidURL(let url, let reason):
            "invalid Redis URL '\(url)': \(reason); use redis://host[:port][/db]"
        case .invalidConfiguration(let setting, let reason):
            "invalid Redis setting \(setting): \(reason)"
        case .connectionFailed(let endpoint, let reason):
            "cannot connect to Redis at \(endpoint): \(reason)"
        case .connectionLost(let reason):
            "Redis connection lost: \(reason)"
        case .commandFailed(let command, let message):
            "Redis refused \(command): \(message)"
        case .unexpectedReply(let command, let reply):
            "Redis answered \(command) with an unexpected reply: \(reply)"
        case .notMaster(let endpoint, let role):
            "the sentinel names \(endpoint) as the master, but it says it is a \(role == "slave" ? "replica" : role): the sentinel is out of date or a failover is under way"
        case .readOnlyReplica(let endpoint):
            "Redis at \(endpoint) is a read-only replica: nothing is shared through it until the address leads to the master (a failover under way, or redis_url names a replica)"
        }
    }
}
