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
        json.raw(#"{"count":"#)
        json.integer(update.count)
        json.raw(#","data":"#)
        PriceEntry.write(update.data, into: &json)
        json.raw(#","seq":"#)
        json.integer(update.seq)
        json.raw(#","subscription_type":"#)
        json.string(update.subscriptionType)
        json.raw(#","target":"#)
        json.string(update.target)
        json.raw(#","timestamp":"#)
        json.string(update.timestamp)
        json.raw(#","type":"#)
        json.string(update.type)
        json.raw("}")
        return json.buffer
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
            json.raw(#"{"change":"#)
            json.number(entry.change)
            json.raw(#","change_percent":"#)
            json.number(entry.changePercent)
            json.raw(#","code":"#)
            json.string(entry.code)
            json.raw(#","name":"#)
            json.string(entry.name)
            json.raw(#","price":"#)
            json.number(entry.price)
            json.raw(#","timestamp":"#)
            json.string(entry.timestamp)
            json.raw(#","volume":"#)
            json.integer(entry.volume)
            json.raw("}")
        }
        json.raw("]")
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
