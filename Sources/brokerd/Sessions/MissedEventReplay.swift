import Broker
import Journal
import NIOCore
import Publishers

/// What a resumed client missed and cannot get from the latest prices: bar closes of its stocks,
/// news of its subscriptions, its alerts — read from the journal in seq order and sent to it.
///
/// It holds only what it needs of the projection (the session's subscriptions, its owner's rules),
/// taken once: the long read runs off the store, while events go on being applied. The
/// subscriptions cannot change meanwhile, since the session's connection is not taking requests yet.
struct MissedEventReplay: Sendable {
    let subscriptions: Set<Subscription>
    /// The user whose alerts the connection gets (its client id when anonymous).
    let owner: String
    /// The owner's alert rules by id, for the notices of firings journaled before event format 2,
    /// which do not hold the rule's condition and threshold.
    let rules: [String: AlertRule]

    static let kinds: Set<UInt16> = [EventKind.klineUpdated.rawValue, EventKind.newsPublished.rawValue, EventKind.alertTriggered.rawValue]

    init(for connection: LiveConnection, projection: Projection) {
        subscriptions = projection.subscriptions.subscriptions(of: connection.clientID)
        owner = connection.user ?? connection.clientID
        rules = Dictionary(projection.alerts.rules(ofUser: owner).map { ($0.id, $0) }, uniquingKeysWith: { $1 })
    }

    /// The first seq to replay for a client that saw everything through `since` and whose session
    /// began at `startedAt` (it cannot have missed anything older: so `since=0` is not a scan of
    /// the whole journal). Not the session's latest connect: a resume cut off while it caught up
    /// leaves the client with what it had. Tells the client when compaction archived part of it.
    static func firstSeq(since: UInt64, startedAt: Int64, reader: JournalReader, to connection: LiveConnection) throws -> UInt64 {
        let first = try reader.first()
        var from = since + 1
        // (At the first row, the session may have begun before it: compacted, so not a bound.)
        if let sessionStart = try reader.firstSeq(atOrAfter: startedAt), sessionStart != first?.seq {
            from = max(from, sessionStart)
        }
        // After `brokerd journal compact`, the oldest events live in an archive the broker does not read.
        if let first, first.seq > from {
            connection.send(ServerMessage.error(
                "resume_incomplete",
                "events \(from)…\(first.seq - 1) were compacted into an archive; bars, news and alerts among them are not replayed"))
        }
        return from
    }

    /// Reading the journal failed part-way through a catch-up: what was sent before `unreadFrom` stays
    /// sent, the events from there on were not replayed.
    struct ReadFailure: Error {
        /// The first seq not read.
        let unreadFrom: UInt64
        let underlying: any Error
    }

    /// Sends `connection` what of `seqs` it missed, in seq order, `limit` messages at most; stops
    /// when it can no longer reach the client (its next resume starts over from the same `since`). Returns how many
    /// it sent, and the seq it stopped at when it stopped at `limit` before the end of `seqs`.
    ///
    /// An event this build cannot decode is not replayed: the client gets a `resume_incomplete`
    /// naming its seq in its place, and the catch-up goes on. Throws `ReadFailure` when the journal
    /// itself cannot be read part-way.
    @discardableResult
    func send(
        _ seqs: ClosedRange<UInt64>, from reader: JournalReader, to connection: LiveConnection, limit: Int = .max
    ) throws(ReadFailure) -> (sent: Int, stoppedAt: UInt64?) {
        var readThrough = seqs.lowerBound - 1
        do {
            return try send(seqs, from: reader, to: connection, limit: limit, readThrough: &readThrough)
        } catch {
            throw ReadFailure(unreadFrom: readThrough + 1, underlying: error)
        }
    }

    private func send(
        _ seqs: ClosedRange<UInt64>, from reader: JournalReader, to connection: LiveConnection, limit: Int,
        readThrough: inout UInt64
    ) throws -> (sent: Int, stoppedAt: UInt64?) {
        var sent = 0
        let cursor = try reader.records(JournalQuery(fromSeq: seqs.lowerBound, toSeq: seqs.upperBound, kinds: Self.kinds))
        while sent < limit, connection.isReachable, let record = try cursor.next() {
            // Rows of other kinds between the last one read and this one were not asked for.
            readThrough = record.seq
            guard let message = try message(for: record) else { continue }
            connection.send(message)
            sent += 1
            if sent == limit, record.seq < seqs.upperBound { return (sent, record.seq) }
        }
        return (sent, nil)
    }

    /// What the client gets of `record`: nil when it is not for this client.
    private func message(for record: JournalRecord) throws -> ByteBuffer? {
        let event: Event
        do {
            event = try EventCodec.decode(kind: record.kind, payload: record.payload)
        } catch {
            return ServerMessage.error(
                "resume_incomplete", "event \(record.seq) could not be decoded (\(error)); it is not replayed")
        }
        let message: (type: String, data: any Encodable & Sendable, subscription: Subscription?)
        switch event {
        case .klineUpdated(let bar) where bar.closed:
            let stock = Subscription(type: .stock, target: bar.code)
            guard subscriptions.contains(stock) else { return nil }
            message = ("kline_update", bar, stock)
        case .newsPublished(let item):
            // The subscription the live push would have named.
            guard let subscription = NewsPublisher.subscriptions(reachedBy: item).first(where: subscriptions.contains) else { return nil }
            message = ("news_update", item, subscription)
        case .alertTriggered(let triggered) where triggered.user == owner:
            message = ("alert", AlertNotice(triggered: triggered, ruleNow: rules[triggered.ruleID], at: record.timestamp), nil)
        default:
            return nil
        }
        return ServerMessage.encode(
            ServerMessage.Envelope(type: message.type, data: message.data, seq: record.seq, subscription: message.subscription))
    }
}
