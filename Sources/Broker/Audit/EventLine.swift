import Journal

/// One line of an audit trail (`brokerd journal events`): a journal row with its decoded payload.
///
/// Encodes as `{"seq":12,"ts":"2026-11-23T09:30:00.123456Z","kind":"price_ticked","key":"600519","payload":{...}}`.
/// A row this build cannot decode keeps its kind number, the reason and the raw payload bytes.
public struct EventLine: Sendable, Encodable {
    /// Journal position.
    public var seq: UInt64
    /// Journal time, UTC microseconds.
    public var timestamp: Int64
    /// The journal's kind number.
    public var kind: UInt16
    /// The journal's key column: client id, code, user, strategy or news id.
    public var key: String?
    /// The decoded event, or why decoding failed.
    public var event: Result<Event, CodecError>
    /// The stored payload, shown only when it could not be decoded.
    public var rawPayload: [UInt8]

    /// Decodes `record`'s payload; never throws, an undecodable payload is reported in the line.
    public init(_ record: JournalRecord) {
        seq = record.seq
        timestamp = record.timestamp
        kind = record.kind
        key = record.key
        do {
            event = .success(try EventCodec.decode(kind: record.kind, payload: record.payload))
            rawPayload = []
        } catch {
            event = .failure(error)
            rawPayload = record.payload
        }
    }

    /// A line for an event already decoded.
    public init(_ recorded: RecordedEvent) {
        seq = recorded.seq
        timestamp = recorded.timestamp
        kind = recorded.event.kind.rawValue
        key = recorded.event.key
        event = .success(recorded.event)
        rawPayload = []
    }

    enum CodingKeys: String, CodingKey {
        case seq, ts, kind, key, payload, error
        case payloadHex = "payload_hex"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(seq, forKey: .seq)
        try container.encode(ISOTimestamp.format(microseconds: timestamp), forKey: .ts)
        try container.encode(key, forKey: .key)
        switch event {
        case .success(let event):
            try container.encode(event.kind.name, forKey: .kind)
            try container.encode(event.payload, forKey: .payload)
        case .failure(let error):
            if let known = EventKind(rawValue: kind) {
                try container.encode(known.name, forKey: .kind)
            } else {
                try container.encode(kind, forKey: .kind)
            }
            try container.encode(error.description, forKey: .error)
            let hex = rawPayload.map { byte in
                let digits = String(byte, radix: 16)
                return byte < 16 ? "0" + digits : digits
            }
            try container.encode(hex.joined(), forKey: .payloadHex)
        }
    }
}
