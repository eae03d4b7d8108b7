#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads just what the benchmark needs from a server message, in one pass over its bytes.
///
/// A full JSON decode per message would make the load tool, not the broker, the bottleneck at
/// hundreds of thousands of entries per second. The scanner walks the strings of the object and
/// looks at the values of three keys only: `type`, `code` and `volume`. Every entry of a
/// `price_update` has exactly one `code` and one `volume`, so pairing them in order of appearance
/// works whatever the key order inside an entry.
enum ServerFrameScanner {
    private static let quote = UInt8(ascii: "\"")
    private static let backslash = UInt8(ascii: "\\")
    private static let colon = UInt8(ascii: ":")

    /// Scans `bytes`; appends the entries of a `price_update` to `entries` (cleared first).
    static func scan(_ bytes: UnsafeRawBufferPointer, entries: inout [ScannedEntry]) -> ServerMessageKind {
        entries.removeAll(keepingCapacity: true)
        var kind = ServerMessageKind.other
        var pendingCode: Int?
        var pendingID: UInt64?
        var index = 0
        let count = bytes.count
        while index < count {
            // Find the next string.
            guard let opening = find(quote, in: bytes, from: index) else { break }
            let stringStart = opening + 1
            guard let stringEnd = endOfString(bytes, from: stringStart) else { break }
            index = stringEnd + 1
            // A key is a string followed by a colon.
            var valueStart = index
            while valueStart < count, isSpace(bytes[valueStart]) { valueStart += 1 }
            guard valueStart < count, bytes[valueStart] == colon else { continue }
            valueStart += 1
            while valueStart < count, isSpace(bytes[valueStart]) { valueStart += 1 }
            guard valueStart < count else { break }

            switch key(bytes, stringStart, stringEnd) {
            case .type:
                guard bytes[valueStart] == quote, let valueEnd = endOfString(bytes, from: valueStart + 1) else { continue }
                kind = messageKind(bytes, valueStart + 1, valueEnd)
                index = valueEnd + 1
            case .code:
                guard bytes[valueStart] == quote, let valueEnd = endOfString(bytes, from: valueStart + 1) else { continue }
                pendingCode = integer(bytes, valueStart + 1, valueEnd).map { Int($0) } ?? -1
                index = valueEnd + 1
            case .volume:
                var valueEnd = valueStart
                while valueEnd < count, isNumberByte(bytes[valueEnd]) { valueEnd += 1 }
                pendingID = number(bytes, valueStart, valueEnd) ?? 0
                index = valueEnd
            case .none:
                continue
            }
            if let code = pendingCode, let id = pendingID {
                entries.append(ScannedEntry(code: code, tickID: id))
                pendingCode = nil
                pendingID = nil
            }
        }
        return kind
    }

    private enum Key { case type, code, volume }

    @inline(__always)
    private static func key(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> Key? {
        switch end - start {
        case 4:
            if matches(bytes, start, "type") { return .type }
            if matches(bytes, start, "code") { return .code }
            return nil
        case 6:
            return matches(bytes, start, "volume") ? .volume : nil
        default:
            return nil
        }
    }

    private static func messageKind(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> ServerMessageKind {
        let length = end - start
        if length == 12, matches(bytes, start, "price_update") { return .priceUpdate }
        if length == 4, matches(bytes, start, "pong") { return .pong }
        if length == 5, matches(bytes, start, "error") { return .error }
        if length == 9, matches(bytes, start, "connected") { return .connected }
        if length == 10, matches(bytes, start, "subscribed") { return .subscribed }
        return .other
    }

    /// Index of the closing quote of a string whose first byte is at `start`.
    @inline(__always)
    private static func endOfString(_ bytes: UnsafeRawBufferPointer, from start: Int) -> Int? {
        var index = start
        while let candidate = find(quote, in: bytes, from: index) {
            // The quote is escaped when an odd number of backslashes precede it.
            var backslashes = 0
            while candidate - backslashes - 1 >= start && bytes[candidate - backslashes - 1] == backslash {
                backslashes += 1
            }
            if backslashes % 2 == 0 { return candidate }
            index = candidate + 1
        }
        return nil
    }

    /// Index of the next `byte` at or after `start` (memchr, which scans many bytes per step).
    @inline(__always)
    private static func find(_ byte: UInt8, in bytes: UnsafeRawBufferPointer, from start: Int) -> Int? {
        guard start < bytes.count, let base = bytes.baseAddress,
            let found = memchr(base + start, Int32(byte), bytes.count - start)
        else { return nil }
        return base.distance(to: UnsafeRawPointer(found))
    }

    @inline(__always)
    private static func matches(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ literal: StaticString) -> Bool {
        let length = literal.utf8CodeUnitCount
        guard start + length <= bytes.count else { return false }
        let pointer = literal.utf8Start
        for offset in 0..<length where bytes[start + offset] != pointer[offset] { return false }
        return true
    }

    @inline(__always)
    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09
    }

    @inline(__always)
    private static func isNumberByte(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e")
            || byte == UInt8(ascii: "E") || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-")
    }

    /// A run of decimal digits, or nil if anything else is in it.
    @inline(__always)
    private static func integer(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> UInt64? {
        guard end > start, end - start <= 19 else { return nil }
        var value: UInt64 = 0
        for index in start..<end {
            let digit = bytes[index] &- 0x30
            guard digit < 10 else { return nil }
            value = value * 10 + UInt64(digit)
        }
        return value
    }

    /// A JSON number holding a whole value: digits, or (slow path) a fraction or exponent such as
    /// `12345.0` or `1.2345e+04` from an encoder that writes volumes as doubles.
    private static func number(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> UInt64? {
        if let value = integer(bytes, start, end) { return value }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
        guard let value = Double(text), value >= 0, value < 1e18, value == value.rounded() else { return nil }
        return UInt64(value)
    }
}
