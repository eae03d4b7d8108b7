import Publishers

/// Why `brokerbench redis` could not set up Redis or read the broker's progress.
enum RedisBenchError: Error, CustomStringConvertible {
    case serverMissing(executable: String)
    case serverNotAnswering(port: Int, log: String)
    /// Connecting or talking to Redis failed.
    case redis(RedisError)
    case commandFailed(command: String, reply: String)
    case brokerNotConnected(state: String)
    case journalUnreadable(source: String)

    var description: String {
        switch self {
        case .serverMissing(let executable):
            "\(executable) was not found (or is not executable): install redis-server (scripts/setup --tests), or pass --redis-url of a running Redis"
        case .serverNotAnswering(let port, let log):
            "redis-server on port \(port) did not answer PING; its log ends:\n\(log)"
        case .redis(let error):
            error.description
        case .commandFailed(let command, let reply):
            "Redis answered \(command) with \(reply)"
        case .brokerNotConnected(let state):
            "the broker's Redis source is '\(state)', not 'connected' (is the broker started with --redis-url?)"
        case .journalUnreadable(let source):
            "could not read the broker's journal seq from \(source)"
        }
    }
}
