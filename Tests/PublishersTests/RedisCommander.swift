@testable import Publishers

/// The publishing side for tests: PUBLISH, XADD and SET over one hiredis connection.
final class RedisCommander {
    private let connection: RedisConnection

    init(url: RedisURL) throws {
        connection = try RedisConnection(url: url, timeout: .seconds(2))
        connection.setReadTimeout(.seconds(5))
    }

    struct Refused: Error, CustomStringConvertible {
        var description: String
    }

    /// Any command, and its reply.
    func command(_ arguments: String...) throws -> RedisReply {
        try connection.command(arguments)
    }

    func ping() throws -> Bool {
        try connection.command(["PING"]) == .status("PONG")
    }

    /// Publishes `message` and returns how many subscribers got it.
    @discardableResult
    func publish(_ message: String, to channel: String = "ticks") throws -> Int64 {
        guard case .integer(let receivers) = try connection.command(["PUBLISH", channel, message]) else {
            throw Refused(description: "PUBLISH \(channel) did not return a count")
        }
        return receivers
    }

    /// How many clients subscribe to `channel`.
    func subscribers(of channel: String = "ticks") throws -> Int64 {
        guard case .array(let pair) = try connection.command(["PUBSUB", "NUMSUB", channel]), pair.count == 2,
            case .integer(let count) = pair[1]
        else { throw Refused(description: "PUBSUB NUMSUB \(channel) gave an unexpected reply") }
        return count
    }

    /// How many clients other than this one are connected and not subscribed (`CLIENT LIST TYPE normal`).
    func otherClients() throws -> Int {
        guard let list = try connection.command(["CLIENT", "LIST", "TYPE", "normal"]).text else {
            throw Refused(description: "CLIENT LIST gave no text")
        }
        return list.split(separator: "\n").count - 1
    }

    /// The connected clients' ids by name (`CLIENT LIST`), those without a name left out.
    func clientIDsByName() throws -> [String: String] {
        guard let list = try connection.command(["CLIENT", "LIST"]).text else { throw Refused(description: "CLIENT LIST gave no text") }
        var ids: [String: String] = [:]
        for line in list.split(separator: "\n") {
            let fields = Dictionary(
                line.split(separator: " ").compactMap { field -> (String, String)? in
                    let pair = field.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                    return pair.count == 2 ? (String(pair[0]), String(pair[1])) : nil
                }, uniquingKeysWith: { first, _ in first })
            if let id = fields["id"], let name = fields["name"], !name.isEmpty { ids[name] = id }
        }
        return ids
    }

    /// How many connections the server has taken since it started (`INFO stats`).
    func connectionsReceived() throws -> Int {
        guard let info = try connection.command(["INFO", "stats"]).text,
            let line = info.split(whereSeparator: \.isNewline).first(where: { $0.hasPrefix("total_connections_received:") }),
            let count = Int(line.dropFirst("total_connections_received:".count))
        else { throw Refused(description: "INFO stats gave no total_connections_received") }
        return count
    }

    /// Closes one client's connection (`CLIENT KILL ID`).
    func killClient(id: String) throws {
        guard try connection.command(["CLIENT", "KILL", "ID", id]) == .integer(1) else {
            throw Refused(description: "CLIENT KILL ID \(id) closed no connection")
        }
    }

    /// Appends an entry with `fields` (in order) and returns its id.
    @discardableResult
    func xadd(_ stream: String, _ fields: KeyValuePairs<String, String>) throws -> String {
        let reply = try connection.command(["XADD", stream, "*"] + fields.flatMap { [$0.key, $0.value] })
        guard let id = reply.text, case .bulk = reply else { throw Refused(description: "XADD \(stream) answered \(reply)") }
        return id
    }

    /// Closes every pub/sub client's connection, as a Redis restart or a proxy would.
    func killSubscribers() throws {
        guard case .integer = try connection.command(["CLIENT", "KILL", "TYPE", "pubsub"]) else {
            throw Refused(description: "CLIENT KILL TYPE pubsub did not return a count")
        }
    }

    /// Trims `stream` to its newest `length` entries, as `XADD … MAXLEN` does.
    func xtrim(_ stream: String, maxLength length: Int) throws {
        guard case .integer = try connection.command(["XTRIM", stream, "MAXLEN", String(length)]) else {
            throw Refused(description: "XTRIM \(stream) did not return a count")
        }
    }

    func set(_ key: String, _ value: String) throws {
        let reply = try connection.command(["SET", key, value])
        guard reply == .status("OK") else { throw Refused(description: "SET \(key) answered \(reply)") }
    }
}
