import Journal

/// How far the broker's journal has got: its last sequence number, read from the journal file
/// when brokerbench started the broker (a read-only SQLite connection, which answers however
/// busy the broker is), else from `GET /api/websocket/stats`.
struct JournalProbe: Sendable {
    let session: BrokerSession

    /// The last seq and when it was read (monotonic nanoseconds); nil when it could not be read.
    struct Reading: Sendable {
        let seq: UInt64
        let at: UInt64
    }

    /// Where readings come from, for the report.
    var source: String { session.journalPath == nil ? "GET /api/websocket/stats" : "the journal file" }

    func read(timeout: Duration = .seconds(1)) async -> Reading? {
        if let path = session.journalPath {
            guard let reader = try? JournalReader(path: path), let last = try? reader.last() else { return nil }
            return Reading(seq: last.seq, at: MonotonicClock.nanoseconds())
        }
        return await BrokerCounters.read(from: session, timeout: timeout).map {
            Reading(seq: $0.counters.lastSeq, at: $0.at)
        }
    }
}
