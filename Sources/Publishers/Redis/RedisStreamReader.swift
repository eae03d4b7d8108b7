import Broker
import Journal
import Logging

/// What a stream reader hands its entries to: it journals them with their positions.
protocol StreamEntryConsumer: Sendable {
    /// Takes `entries`, in order, so that a journaled position always means "everything up to
    /// here is in"; retries what could not be journaled until it is, or until `control` stops.
    /// False when stopped before all were taken: the reader must not read past them.
    func take(_ entries: [RedisStreamReader.Entry], retrying control: ReaderThreadControl) -> Bool
    /// Journals `position` with nothing read yet; false when stopped while retrying it.
    func pin(_ position: String, retrying control: ReaderThreadControl) -> Bool
    /// How far before the position reading resumes after the consumer wants to see the entries
    /// again (`recall`) when the reader starts; nil for none.
    var recallSpan: Duration? { get }
    /// Entries up to the position reading resumes after, within `recallSpan` of it, oldest first:
    /// taken before, so only looked at, never taken again.
    func recall(_ entries: [RedisStreamReader.Entry])
}

extension StreamEntryConsumer {
    var recallSpan: Duration? { nil }
    func recall(_ entries: [RedisStreamReader.Entry]) {}
}

/// Reads one Redis stream with `XREAD BLOCK` on a thread of its own, hands entries to its consumer
/// (ticks to the broker, or the shared log's updates), and continues after the last one across
/// reconnects. It never reads past entries the broker could not journal: the consumer delivers
/// them again until it can. Entries trimmed away before it read them are gone; it reports that gap
/// and reads on.
final class RedisStreamReader: Sendable {
    /// One stream entry as XREAD returns it.
    struct Entry {
        var id: String
        var fields: [String: String]
    }

    private let address: RedisAddress
    private let stream: String
    private let resumeAfter: String
    /// Which of the source's connections this is: the tick stream or the shared log.
    private let connection: RedisSourceStatus.Connection
    private let block: Duration
    private let count: Int
    private let connectTimeout: Duration
    /// The connection's name in Redis (`CLIENT SETNAME`).
    private let clientName: String
    private let backoff: ReconnectBackoff
    private let consumer: any StreamEntryConsumer
    private let status: RedisSourceStatus
    private let logger: Logger
    private let control = ReaderThreadControl()

    /// `resumeAfter` is the id to read after: `$` for entries added from now on, `0-0` for all.
    init(
        configuration: RedisTickSourceConfiguration, stream: String, resumeAfter: String,
        connection: RedisSourceStatus.Connection, consumer: any StreamEntryConsumer, status: RedisSourceStatus,
        logger: Logger
    ) {
        address = configuration.address
        clientName = RedisConnection.clientName(connection.name, node: configuration.node?.node)
        self.stream = stream
        self.resumeAfter = resumeAfter
        self.connection = connection
        block = configuration.streamBlock
        count = configuration.streamCount
        connectTimeout = configuration.connectTimeout
        backoff = configuration.backoff
        self.consumer = consumer
        self.status = status
        self.logger = logger
        // A move ends the connection (or the backoff sleep) and the next one opens at the new address.
        address.onMove { [control] in control.requestReconnect() }
    }

    /// Starts the reader thread.
    func start() {
        status.set(connection, .connecting)
        ReaderThreadControl.spawn(name: "redis-xread:\(stream)") { [self] in run() }
    }

    /// Interrupts a blocked read or a backoff sleep and tells the thread to end.
    func requestStop() { control.requestStop() }

    /// Returns once the thread has ended.
    func waitUntilStopped() async { await control.waitUntilFinished() }

    private func run() {
        // Owned by this thread alone: the id after which the next XREAD continues, and the last one
        // a gap was reported after, so reconnecting before reading on does not report it again.
        var lastID = resumeAfter
        var gapReportedAfter: String?
        var recalled = false
        ReconnectingSession(
            connection: connection, activity: connection == .log ? "Redis shared log reading" : "Redis stream reading",
            metadata: ["stream": "\(stream)"], status: status,
            control: control, logger: logger
        ).run(backoff: backoff) { working throws(RedisError) in
            try session(lastID: &lastID, gapReportedAfter: &gapReportedAfter, recalled: &recalled) { resumingAfter in
                working(["after": "\(resumingAfter)"])
            }
        }
    }

    /// One connection's life: connect, then XREAD after `lastID` until the connection fails or is
    /// shut down. `onReading` is called at the first XREAD answered without an error.
    private func session(
        lastID: inout String, gapReportedAfter: inout String?, recalled: inout Bool, onReading: (_ resumingAfter: String) -> Void
    ) throws(RedisError) {
        let connection = try RedisConnection(url: address.url, timeout: connectTimeout, name: clientName)
        defer {
            control.detach()
            connection.close()
        }
        guard control.attach(connection.fileDescriptor) else { return }
        // XREAD BLOCK answers within `block`; much longer silence means the peer is gone.
        connection.setReadTimeout(block + .seconds(10))
        if lastID == "$" {
            // "$" means "after whatever is there now", which a reconnect would re-evaluate and
            // so skip entries added during the outage. Pin it to a concrete id once, and journal
            // it before reading on: else a restart before the first entry came would start from
            // "$" again and skip what was added while the broker was down.
            let pinned = try endID(connection, newest: true) ?? "0-0"
            guard consumer.pin(pinned, retrying: control) else { return }
            lastID = pinned
        }
        if !recalled {
            try recall(before: lastID, connection)
            recalled = true
        }
        if gapReportedAfter != lastID, let firstID = try trimmedPast(lastID, connection) {
            gapReportedAfter = lastID
            status.update { $0.gaps += 1 }
            logger.error(
                "Redis stream trimmed past where reading resumes: the entries between are lost unread; reading on from its first entry",
                metadata: ["stream": "\(stream)", "after": "\(lastID)", "first_entry": "\(firstID)"])
        }
        let blockMilliseconds = max(1, Int(block.components.seconds * 1000 + block.components.attoseconds / 1_000_000_000_000_000))
        let command = ["XREAD", "COUNT", String(count), "BLOCK", String(blockMilliseconds), "STREAMS", stream]
        var reading = false
        while !control.isStopping {
            // The first read of a session does not block, so an empty backlog is known at once.
            let reply = try connection.command(reading ? command + [lastID] : ["XREAD", "COUNT", String(count), "STREAMS", stream, lastID])
            let entries = try Self.entries(of: reply, command: "XREAD \(stream)")
            if !reading {
                reading = true
                onReading(lastID)
            }
            if !entries.isEmpty {
                status.update { $0.messages += entries.count }
                guard consumer.take(entries, retrying: control) else { return }
                lastID = entries[entries.count - 1].id
            }
            // Fewer than asked for: this read reached the end, and what it brought is in.
            if entries.count < count { status.reachedEnd(self.connection) }
        }
    }

    /// The stream's first entry id when it is newer than `position`: the stream was trimmed
    /// (MAXLEN, XTRIM) past it, and the entries between were removed before they were read. Nil
    /// when not, or when it cannot be told (`position` is `$`).
    ///
    /// Trimming that took the entry at `position` and none after it looks the same, and is reported
    /// too: Redis keeps no trace of trimmed entries (XINFO's `max-deleted-entry-id` counts XDEL only).
    ///
    /// `0-0` (pinned while the stream was empty or missing) is before every entry, so no first
    /// entry is past it: there, entries removed before any was read show as more entries ever
    /// added than the stream holds (XINFO STREAM's `entries-added`, Redis 7 and later; nil on older
    /// servers, and when the stream is missing).
    private func trimmedPast(_ position: String, _ connection: RedisConnection) throws(RedisError) -> String? {
        guard let after = StreamID(position) else { return nil }
        if after == StreamID.zero { return try removedBeforeAnyRead(connection) }
        guard let first = try endID(connection, newest: false), let firstID = StreamID(first), after < firstID else { return nil }
        return first
    }

    /// The stream's first entry id (or `none` when it is empty) when entries were removed from it
    /// before any was read; nil when none were, or when it cannot be told.
    private func removedBeforeAnyRead(_ connection: RedisConnection) throws(RedisError) -> String? {
        guard case .array(let flat) = try connection.command(["XINFO", "STREAM", stream]) else { return nil }
        var fields: [String: RedisReply] = [:]
        var index = 0
        while index + 1 < flat.count {
            if let key = flat[index].text { fields[key] = flat[index + 1] }
            index += 2
        }
        guard case .integer(let length) = fields["length"], case .integer(let added) = fields["entries-added"], added > length else {
            return nil
        }
        if case .array(let first)? = fields["first-entry"], let id = first.first?.text { return id }
        return "none"
    }

    /// Hands the consumer the entries within its `recallSpan` up to `position` (at most
    /// `maxRecalled`, the newest), once per reader: what this process read before is known to it.
    private func recall(before position: String, _ connection: RedisConnection) throws(RedisError) {
        guard let span = consumer.recallSpan, let end = StreamID(position), end != StreamID.zero else { return }
        let spanMilliseconds = UInt64(span.components.seconds) * 1_000
        let start = end.milliseconds > spanMilliseconds ? end.milliseconds - spanMilliseconds : 0
        let command = ["XREVRANGE", stream, position, "\(start)-0", "COUNT", String(Self.maxRecalled)]
        let reply = try connection.command(command)
        if case .error(let message) = reply { throw .commandFailed(command: "XREVRANGE \(stream)", message: message) }
        guard case .array(let items) = reply else { throw .unexpectedReply(command: "XREVRANGE \(stream)", reply: reply.description) }
        var entries: [Entry] = []
        for item in items.reversed() { entries.append(try Self.entry(item, command: "XREVRANGE \(stream)")) }
        consumer.recall(entries)
    }

    /// Most entries recalled at start.
    static let maxRecalled = 10_000

    /// The id of the stream's newest or oldest entry; nil when it has none.
    private func endID(_ connection: RedisConnection, newest: Bool) throws(RedisError) -> String? {
        let command = newest ? ["XREVRANGE", stream, "+", "-", "COUNT", "1"] : ["XRANGE", stream, "-", "+", "COUNT", "1"]
        let reply = try connection.command(command)
        if case .error(let message) = reply { throw .commandFailed(command: "\(command[0]) \(stream)", message: message) }
        guard case .array(let items) = reply else { throw .unexpectedReply(command: "\(command[0]) \(stream)", reply: reply.description) }
        guard let first = items.first else { return nil }
        return try Self.entry(first, command: "\(command[0]) \(stream)").id
    }

    /// The entries of an XREAD reply: nil on timeout, else `[[stream, [[id, [field, value, ...]], ...]]]`.
    static func entries(of reply: RedisReply, command: String) throws(RedisError) -> [Entry] {
        switch reply {
        case .null:
            return []
        case .error(let message):
            throw .commandFailed(command: command, message: message)
        case .array(let streams):
            var entries: [Entry] = []
            for stream in streams {
                guard case .array(let pair) = stream, pair.count == 2, case .array(let items) = pair[1] else {
                    throw .unexpectedReply(command: command, reply: stream.description)
                }
                for item in items { entries.append(try entry(item, command: command)) }
            }
            return entries
        default:
            throw .unexpectedReply(command: command, reply: reply.description)
        }
    }

    private static func entry(_ reply: RedisReply, command: String) throws(RedisError) -> Entry {
        guard case .array(let parts) = reply, parts.count == 2, let id = parts[0].text else {
            throw .unexpectedReply(command: command, reply: reply.description)
        }
        var fields: [String: String] = [:]
        // A trimmed-away entry can come back with nil fields; it then simply has none.
        if case .array(let flat) = parts[1] {
            var index = 0
            while index + 1 < flat.count {
                if let key = flat[index].text, let value = flat[index + 1].text { fields[key] = value }
                index += 2
            }
        }
        return Entry(id: id, fields: fields)
    }
}
