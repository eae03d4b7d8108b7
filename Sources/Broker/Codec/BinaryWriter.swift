/// Appends values in brokerd's compact binary format to a byte array.
///
/// Format: unsigned integers as LEB128 varints, signed as zigzag varints, `Double` as its 8-byte
/// little-endian bit pattern (exact, including NaN payloads and -0), strings as byte length + UTF-8,
/// `Bool` as one byte, optionals as a 0/1 byte then the value, arrays as count + elements.
public struct BinaryWriter: Sendable {
    /// The bytes written so far.
    public private(set) var bytes: [UInt8]

    /// Creates an empty writer, optionally reserving capacity.
    public init(reservingCapacity capacity: Int = 64) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// Appends one raw byte.
    public mutating func write(byte: UInt8) {
        bytes.append(byte)
    }

    /// Appends an unsigned LEB128 varint.
    public mutating func write(varint value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    /// Appends a non-negative count or length.
    public mutating func write(count: Int) {
        write(varint: UInt64(count))
    }

    /// Appends a zigzag-encoded signed varint, so small negative numbers stay short.
    public mutating func write(signed value: Int64) {
        write(varint: UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    /// Appends the 8-byte little-endian bit pattern.
    public mutating func write(double value: Double) {
        let bits = value.bitPattern
        for shift in stride(from: 0, to: 64, by: 8) {
            bytes.append(UInt8(truncatingIfNeeded: bits >> UInt64(shift)))
        }
    }

    /// Appends the UTF-8 byte length then the bytes.
    public mutating func write(string value: String) {
        var value = value
        value.withUTF8 { utf8 in
            write(count: utf8.count)
            bytes.append(contentsOf: utf8)
        }
    }

    /// Appends 1 or 0.
    public mutating func write(bool value: Bool) {
        bytes.append(value ? 1 : 0)
    }

    /// Appends 0 for nil, or 1 followed by the string.
    public mutating func write(optionalString value: String?) {
        write(presenceOf: value) { $0.write(string: $1) }
    }

    /// Appends a value that knows its own binary form.
    public mutating func write<T: BinaryCodable>(_ value: T) {
        value.encode(to: &self)
    }

    /// Appends 0 for nil, or 1 followed by the value.
    public mutating func write<T: BinaryCodable>(optional value: T?) {
        write(presenceOf: value) { $1.encode(to: &$0) }
    }

    /// Appends 0 for nil, or 1 followed by the bit pattern.
    public mutating func write(optionalDouble value: Double?) {
        write(presenceOf: value) { $0.write(double: $1) }
    }

    /// Appends 0 for nil, or 1 followed by what `body` appends for the value.
    private mutating func write<V>(presenceOf value: V?, _ body: (inout BinaryWriter, V) -> Void) {
        guard let value else {
            bytes.append(0)
            return
        }
        bytes.append(1)
        body(&self, value)
    }

    /// Appends the count then each element.
    public mutating func write<T: BinaryCodable>(array values: [T]) {
        write(count: values.count)
        for value in values {
            value.encode(to: &self)
        }
    }

    /// Appends the count then each string.
    public mutating func write(strings values: [String]) {
        write(count: values.count)
        for value in values {
            write(string: value)
        }
    }
}
