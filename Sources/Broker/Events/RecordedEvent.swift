/// An event as stored in the journal, with its position and time.
public struct RecordedEvent: Sendable, Hashable {
    /// Journal position, strictly increasing without gaps.
    public var seq: UInt64
    /// UTC microseconds, assigned by the journal.
    public var timestamp: Int64
    /// The event.
    public var event: Event

    /// Creates a recorded event.
    public init(seq: UInt64, timestamp: Int64, event: Event) {
        self.seq = seq
        self.timestamp = timestamp
        self.event = event
    }
}
