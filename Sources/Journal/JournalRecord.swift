/// An event to be appended: the journal assigns its seq, timestamp and hash.
public struct NewRecord: Sendable, Hashable {
    /// The event kind, a number the layer above gives meaning to.
    public var kind: UInt16
    /// What the event is about (a client id, a code…), kept in its own column for filtering.
    public var key: String?
    /// The encoded event.
    public var payload: [UInt8]

    public init(kind: UInt16, key: String?, payload: [UInt8]) {
        self.kind = kind
        self.key = key
        self.payload = payload
    }
}

/// A row of the journal as stored.
public struct JournalRecord: Sendable, Hashable {
    /// Journal position: strictly increasing, without gaps.
    public var seq: UInt64
    /// When the event was committed, UTC microseconds; never decreases along the journal.
    public var timestamp: Int64
    public var kind: UInt16
    public var key: String?
    public var payload: [UInt8]
    /// SHA-256 of the previous row's hash and this row's content.
    public var hash: [UInt8]

    public init(seq: UInt64, timestamp: Int64, kind: UInt16, key: String?, payload: [UInt8], hash: [UInt8]) {
        self.seq = seq
        self.timestamp = timestamp
        self.kind = kind
        self.key = key
        self.payload = payload
        self.hash = hash
    }
}

/// Where an appended event landed.
public struct JournalPosition: Sendable, Hashable {
    public var seq: UInt64
    public var timestamp: Int64

    public init(seq: UInt64, timestamp: Int64) {
        self.seq = seq
        self.timestamp = timestamp
    }
}
