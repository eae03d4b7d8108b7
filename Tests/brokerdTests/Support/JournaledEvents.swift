import Broker
import Journal

/// The events of `kinds` in the journal at `path`, in seq order, read through a read-only
/// connection (safe while the broker appends).
func journaledEvents(_ path: String, kinds: [EventKind]) throws -> [Event] {
    let cursor = try JournalReader(path: path).records(JournalQuery(kinds: Set(kinds.map(\.rawValue))))
    var events: [Event] = []
    while let record = try cursor.next() {
        events.append(try EventCodec.decode(kind: record.kind, payload: record.payload))
    }
    return events
}
