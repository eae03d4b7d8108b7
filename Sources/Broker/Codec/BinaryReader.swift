/// Reads brokerd's compact binary format; every read is bounds-checked and throws instead of trapping.
public struct BinaryReader: Sendable {
    private let bytes: [UInt8]
    /// Offset of the next byte to read.
    public private(set) var position: Int
    private let end: Int

    /// Reads all of `bytes`.
    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
        position = 0
        end = bytes.count
    }

    /// Reads only `range` of `bytes`; the range is clamped to the array.
    public init(_ bytes: [UInt8], range: Range<Int>) {
        self.bytes = bytes
        let clamped = range.clamped(to: 0..<bytes.count)
        position = clamped.lowerBound
        end = clamped.upperBound
    }

    /// Bytes left to read.
    public var remaining: Int { end - position }

    /// Whether all bytes have been read.
    public var isAtEnd: Bool { position >= end }

    /// Throws `trailingBytes` unless everything was consumed.
    public func expectEnd() throws(CodecError) {
        if position < end { throw .trailingBytes(count: end - position) }
    }

    /// Reads one raw byte.
    @inline(__always)
    public mutating func readByte() throws(CodecError) -> UInt8 {
        guard position < end else { throw .truncated(offset: position, needed: 1) }
        let byte = bytes[position]
        position += 1
        return byte
    }

    /// Reads an unsigned LEB128 varint of at most 10 bytes.
    public mutating func readVarint() throws(CodecError) -> UInt64 {
        let start = position
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard position < end else { throw .truncated(offset: position, needed: 1) }
            let byte = bytes[position]
            position += 1
            // The tenth byte may only contribute the single top bit of a UInt64.
            if shift == 63 && byte > 1 { throw .varintOverflow(offset: start) }
            result |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return result }
            shift += 7
        }
    }

    /// Reads a zigzag-encoded signed varint.
    public mutating func readSigned() throws(CodecError) -> Int64 {
        let raw = try readVarint()
        return Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }

    /// Reads a count or length that must fit in the bytes left, so corrupt input cannot make us
    /// allocate huge arrays. Each element takes at least `minimumElementSize` bytes.
    public mutating func readCount(minimumElementSize: Int = 1) throws(CodecError) -> Int {
        let start = position
        let raw = try readVarint()
        guard raw <= UInt64(Int.max) else { throw .varintOverflow(offset: start) }
        let count = Int(raw)
        let (needed, overflow) = count.multipliedReportingOverflow(by: max(minimumElementSize, 1))
        guard !overflow, needed <= remaining else {
            throw .truncated(offset: position, needed: overflow ? Int.max : needed - remaining)
        }
        return count
    }

    /// Reads an 8-byte little-endian bit pattern.
    public mutating func readDouble() throws(CodecError) -> Double {
        guard end - position >= 8 else { throw .truncated(offset: position, needed: 8 - (end - position)) }
        var bits: UInt64 = 0
        for i in 0..<8 {
            bits |= UInt64(bytes[position + i]) << UInt64(i * 8)
        }
        position += 8
        return Double(bitPattern: bits)
    }

    /// Reads a byte that must be 0 or 1.
    public mutating func readBool() throws(CodecError) -> Bool {
        switch try readByte() {
        case 0: return false
        case 1: return true
        case let other: throw .unknownEnumValue(type: "Bool", raw: UInt64(other))
        }
    }

    /// Reads a length-prefixed UTF-8 string, validating it.
    public mutating func readString() throws(CodecError) -> String {
        let length = try readCount()
        let start = position
        let string: String? = bytes.withUnsafeBufferPointer { buffer in
            String(validating: UnsafeBufferPointer(rebasing: buffer[start..<start + length]), as: UTF8.self)
        }
        guard let string else { throw .invalidUTF8(offset: start) }
        position += length
        return string
    }

    /// Reads a 0/1 presence byte and then the string when present.
    public mutating func readOptionalString() throws(CodecError) -> String? {
        try readBool() ? try readString() : nil
    }

    /// Reads a value that knows its own binary form.
    public mutating func read<T: BinaryCodable>(_ type: T.Type = T.self) throws(CodecError) -> T {
        try T(from: &self)
    }

    /// Reads a 0/1 presence byte and then the value when present.
    public mutating func readOptional<T: BinaryCodable>(_ type: T.Type = T.self) throws(CodecError) -> T? {
        try readBool() ? try T(from: &self) : nil
    }

    /// Reads a 0/1 presence byte and then the double when present.
    public mutating func readOptionalDouble() throws(CodecError) -> Double? {
        try readBool() ? try readDouble() : nil
    }

    /// Reads a count then that many elements.
    public mutating func readArray<T: BinaryCodable>(of type: T.Type = T.self) throws(CodecError) -> [T] {
        let count = try readCount()
        var values: [T] = []
        values.reserveCapacity(count)
        for _ in 0..<count {
            values.append(try T(from: &self))
        }
        return values
    }

    /// Reads a count then that many strings.
    public mutating func readStrings() throws(CodecError) -> [String] {
        let count = try readCount()
        var values: [String] = []
        values.reserveCapacity(count)
        for _ in 0..<count {
            values.append(try readString())
        }
        return values
    }
}
