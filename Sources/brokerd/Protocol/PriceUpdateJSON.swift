import Broker
import NIOCore

extension ServerMessage {
    /// A price update as JSON, byte for byte what `encode(_:)` with `JSONEncoder` gives (sorted keys,
    /// the same numbers and string escapes), written straight into the buffer.
    ///
    /// Price updates are most of what the broker encodes, once per fan-out round and group of
    /// connections and again for every coalesced client; `JSONEncoder` builds a tree of boxed values
    /// for each first. Non-finite numbers, which `JSONEncoder` refuses, take its path and its error.
    static func encode(_ update: PriceUpdate) -> ByteBuffer {
        guard PriceEntry.allFinite(update.data) else { return encodeWithFoundation(update) }
        var json = JSONBytes(capacity: 160 + update.data.count * 170)
        writePriceUpdate(
            count: update.count, seq: update.seq, subscriptionType: update.subscriptionType, target: update.target,
            timestamp: update.timestamp, into: &json
        ) { PriceEntry.write(update.data, into: &$0) }
        return json.buffer
    }

    /// A price update whose entries are written already, one JSON object each (`BoardSnapshot`):
    /// byte for byte what `encode(_:)` makes of the same entries.
    static func encodePriceUpdate(entries: [ByteBuffer], seq: UInt64, subscription: Subscription, timestamp: String) -> ByteBuffer {
        var json = JSONBytes(capacity: 160 + entries.reduce(0) { $0 + $1.readableBytes + 1 })
        writePriceUpdate(
            count: entries.count, seq: seq, subscriptionType: subscription.type.rawValue, target: subscription.target,
            timestamp: timestamp, into: &json
        ) { json in
            json.raw("[")
            for (index, entry) in entries.enumerated() {
                if index > 0 { json.raw(",") }
                json.bytes(entry)
            }
            json.raw("]")
        }
        return json.buffer
    }

    private static func writePriceUpdate(
        count: Int, seq: UInt64, subscriptionType: String, target: String, timestamp: String, into json: inout JSONBytes,
        data: (inout JSONBytes) -> Void
    ) {
        json.raw(#"{"count":"#)
        json.integer(count)
        json.raw(#","data":"#)
        data(&json)
        json.raw(#","seq":"#)
        json.integer(seq)
        json.raw(#","subscription_type":"#)
        json.string(subscriptionType)
        json.raw(#","target":"#)
        json.string(target)
        json.raw(#","timestamp":"#)
        json.string(timestamp)
        json.raw(#","type":"price_update"}"#)
    }
}

extension ServerMessage.PriceEntry {
    /// Whether `JSONEncoder` can encode every number of `entries` (it refuses non-finite ones).
    static func allFinite(_ entries: [Self]) -> Bool {
        entries.allSatisfy { $0.price.isFinite && $0.change.isFinite && $0.changePercent.isFinite }
    }

    /// `entries` as a JSON array, as `JSONEncoder` writes it with sorted keys; finite numbers only.
    static func write(_ entries: [Self], into json: inout JSONBytes) {
        json.raw("[")
        for (index, entry) in entries.enumerated() {
            if index > 0 { json.raw(",") }
            entry.write(into: &json)
        }
        json.raw("]")
    }

    /// The entry as a JSON object, as `JSONEncoder` writes it with sorted keys; finite numbers only.
    func write(into json: inout JSONBytes) {
        json.raw(#"{"change":"#)
        json.number(change)
        json.raw(#","change_percent":"#)
        json.number(changePercent)
        json.raw(#","code":"#)
        json.string(code)
        json.raw(#","name":"#)
        json.string(name)
        json.raw(#","price":"#)
        json.number(price)
        json.raw(#","timestamp":"#)
        json.string(timestamp)
        json.raw(#","volume":"#)
        json.integer(volume)
        json.raw("}")
    }
}

/// JSON written as `JSONEncoder` writes it with `.withoutEscapingSlashes`: numbers as their
/// `description` without a trailing `.0`, strings with `"`, `\` and control characters escaped.
struct JSONBytes {
    private(set) var buffer: ByteBuffer

    init(capacity: Int) {
        buffer = ByteBuffer()
        buffer.reserveCapacity(capacity)
    }

    /// Bytes that are JSON already.
    mutating func raw(_ text: StaticString) {
        buffer.writeStaticString(text)
    }

    /// Bytes that are JSON already, written before.
    mutating func bytes(_ json: ByteBuffer) {
        buffer.writeImmutableBuffer(json)
    }

    mutating func integer(_ value: some BinaryInteger) {
        buffer.writeString(value.description)
    }

    /// A finite number.
    mutating func number(_ value: Double) {
        var text = value.description
        if text.hasSuffix(".0") { text.removeLast(2) }
        buffer.writeString(text)
    }

    mutating func string(_ value: String) {
        buffer.writeInteger(UInt8(ascii: "\""))
        var value = value
        value.withUTF8 { bytes in
            var clean = 0  // start of the bytes not written yet
            for (index, byte) in bytes.enumerated() where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                buffer.writeBytes(UnsafeBufferPointer(rebasing: bytes[clean..<index]))
                clean = index + 1
                switch byte {
                case UInt8(ascii: "\""): buffer.writeStaticString(#"\""#)
                case UInt8(ascii: "\\"): buffer.writeStaticString(#"\\"#)
                case 0x08: buffer.writeStaticString(#"\b"#)
                case 0x0C: buffer.writeStaticString(#"\f"#)
                case 0x0A: buffer.writeStaticString(#"\n"#)
                case 0x0D: buffer.writeStaticString(#"\r"#)
                case 0x09: buffer.writeStaticString(#"\t"#)
                default:
                    buffer.writeStaticString(#"\u00"#)
                    buffer.writeInteger(Self.hexDigits[Int(byte >> 4)])
                    buffer.writeInteger(Self.hexDigits[Int(byte & 0xF)])
                }
            }
            buffer.writeBytes(UnsafeBufferPointer(rebasing: bytes[clean...]))
        }
        buffer.writeInteger(UInt8(ascii: "\""))
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)
}
