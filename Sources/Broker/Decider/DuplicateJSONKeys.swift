/// Finds an object key given twice in one JSON object, which the JSON parsers here would settle
/// differently (Foundation's `JSONSerialization` keeps one, `JSONDecoder` another) and a proxy or a
/// client library in front of brokerd a third way: such input is refused rather than guessed at.
///
/// Keys are compared as decoded (`"a"` and `"\u0061"` are the same key). Not a validator: it
/// returns nil for input that is not JSON, which the parser then refuses with its own error.
/// WebSocket messages, HTTP bodies and the Redis tick channel all refuse such input.
public enum DuplicateJSONKeys {
    /// The first key that repeats within one object, or nil when there is none.
    public static func first(in bytes: some Collection<UInt8>) -> String? {
        // Read in place when the bytes are contiguous (an Array, Data, a native String's UTF-8).
        bytes.withContiguousStorageIfAvailable(first(inBuffer:)) ?? Array(bytes).withUnsafeBufferPointer(first(inBuffer:))
    }

    private static func first(inBuffer bytes: UnsafeBufferPointer<UInt8>) -> String? {
        // One entry per open object or array: an object's keys so far, or nil for an array.
        var open: [Set<String>?] = []
        var expectingKey = false
        var index = 0
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "{"):
                open.append([])
                expectingKey = true
            case UInt8(ascii: "["):
                open.append(nil)
                expectingKey = false
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                guard !open.isEmpty else { return nil }
                open.removeLast()
                expectingKey = false
            case UInt8(ascii: ","):
                expectingKey = open.last.map { $0 != nil } ?? false
            case UInt8(ascii: "\""):
                guard let end = stringEnd(bytes, from: index) else { return nil }
                if expectingKey, var keys = open.last ?? nil {
                    guard let key = decode(bytes[(index + 1)..<end]) else { return nil }
                    guard keys.insert(key).inserted else { return key }
                    open[open.count - 1] = keys
                    expectingKey = false
                }
                index = end
            default:
                break
            }
            index += 1
        }
        return nil
    }

    /// The index of the quote that closes the string opened at `start`.
    private static func stringEnd(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Int? {
        var index = start + 1
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "\\"): index += 2
            case UInt8(ascii: "\""): return index
            default: index += 1
            }
        }
        return nil
    }

    /// A string's content with its escapes resolved; nil for a malformed escape.
    private static func decode(_ content: Slice<UnsafeBufferPointer<UInt8>>) -> String? {
        guard content.contains(UInt8(ascii: "\\")) else { return String(decoding: content, as: UTF8.self) }
        var scalars = String.UnicodeScalarView()
        var utf8: [UInt8] = []
        func flush() {
            scalars.append(contentsOf: String(decoding: utf8, as: UTF8.self).unicodeScalars)
            utf8.removeAll()
        }
        var index = content.startIndex
        while index < content.endIndex {
            let byte = content[index]
            guard byte == UInt8(ascii: "\\") else {
                utf8.append(byte)
                index += 1
                continue
            }
            guard index + 1 < content.endIndex else { return nil }
            let escaped = content[index + 1]
            index += 2
            let simple: UInt8? = switch escaped {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): escaped
            case UInt8(ascii: "b"): 0x08
            case UInt8(ascii: "f"): 0x0C
            case UInt8(ascii: "n"): 0x0A
            case UInt8(ascii: "r"): 0x0D
            case UInt8(ascii: "t"): 0x09
            default: nil
            }
            if let simple {
                utf8.append(simple)
                continue
            }
            guard escaped == UInt8(ascii: "u"), let unit = hex4(content, at: index) else { return nil }
            index += 4
            flush()
            if (0xD800..<0xDC00).contains(unit), index + 6 <= content.endIndex, content[index] == UInt8(ascii: "\\"),
                content[index + 1] == UInt8(ascii: "u"), let low = hex4(content, at: index + 2), (0xDC00..<0xE000).contains(low)
            {
                index += 6
                scalars.append(Unicode.Scalar(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)) ?? "\u{FFFD}")
            } else {
                scalars.append(Unicode.Scalar(unit) ?? "\u{FFFD}")
            }
        }
        flush()
        return String(scalars)
    }

    private static func hex4(_ content: Slice<UnsafeBufferPointer<UInt8>>, at index: Int) -> UInt32? {
        guard index + 4 <= content.endIndex else { return nil }
        return UInt32(String(decoding: content[index..<(index + 4)], as: UTF8.self), radix: 16)
    }
}
