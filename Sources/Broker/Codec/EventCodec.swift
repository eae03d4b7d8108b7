/// Encodes event payloads for the journal: one format-version byte, then the payload's fields.
///
/// The kind travels separately (the journal's `kind` column), so it is not repeated in the payload.
public enum EventCodec {
    /// The payload format this build writes and the newest it reads. Version 2 added the rule's
    /// condition and threshold to `alert_triggered`, version 3 the codes a list added to
    /// `signals_replaced`; older payloads still decode (without them).
    public static let formatVersion: UInt8 = 3

    /// The payload bytes of `event`; deterministic for equal events.
    public static func encode(_ event: Event) -> [UInt8] {
        var writer = BinaryWriter(reservingCapacity: 64)
        writer.write(byte: formatVersion)
        switch event {
        case .clientConnected(let p): writer.write(p)
        case .clientDisconnected(let p): writer.write(p)
        case .sessionExpired(let p): writer.write(p)
        case .subscribed(let p): writer.write(p)
        case .unsubscribed(let p): writer.write(p)
        case .priceTicked(let p): writer.write(p)
        case .klineUpdated(let p): writer.write(p)
        case .newsPublished(let p): writer.write(p)
        case .alertRuleSet(let p): writer.write(p)
        case .alertRuleRemoved(let p): writer.write(p)
        case .alertTriggered(let p): writer.write(p)
        case .signalsReplaced(let p): writer.write(p)
        case .sourceAdvanced(let p): writer.write(p)
        }
        return writer.bytes
    }

    /// Decodes a payload written by `encode` for the given journal kind number.
    public static func decode(kind: UInt16, payload: [UInt8]) throws(CodecError) -> Event {
        var reader = BinaryReader(payload)
        return try decode(kind: kind, from: &reader)
    }

    /// Decodes a payload occupying `range` of a larger buffer, without copying it out first.
    public static func decode(kind: UInt16, payload: [UInt8], range: Range<Int>) throws(CodecError) -> Event {
        var reader = BinaryReader(payload, range: range)
        return try decode(kind: kind, from: &reader)
    }

    private static func decode(kind rawKind: UInt16, from reader: inout BinaryReader) throws(CodecError) -> Event {
        guard let kind = EventKind(rawValue: rawKind) else { throw .unknownKind(rawKind) }
        let version = try reader.readByte()
        // Version 0 was never written; treating it as unsupported catches zero-filled garbage.
        guard version != 0, version <= formatVersion else {
            throw .unsupportedVersion(found: version, supported: formatVersion)
        }
        let event: Event
        switch kind {
        case .clientConnected: event = .clientConnected(try reader.read())
        case .clientDisconnected: event = .clientDisconnected(try reader.read())
        case .sessionExpired: event = .sessionExpired(try reader.read())
        case .subscribed: event = .subscribed(try reader.read())
        case .unsubscribed: event = .unsubscribed(try reader.read())
        case .priceTicked: event = .priceTicked(try reader.read())
        case .klineUpdated: event = .klineUpdated(try reader.read())
        case .newsPublished: event = .newsPublished(try reader.read())
        case .alertRuleSet: event = .alertRuleSet(try reader.read())
        case .alertRuleRemoved: event = .alertRuleRemoved(try reader.read())
        case .alertTriggered: event = .alertTriggered(try AlertTriggered(from: &reader, formatVersion: version))
        case .signalsReplaced: event = .signalsReplaced(try SignalsReplaced(from: &reader, formatVersion: version))
        case .sourceAdvanced: event = .sourceAdvanced(try reader.read())
        }
        try reader.expectEnd()
        return event
    }
}
