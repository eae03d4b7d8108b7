/// Why bytes could not be decoded into an event or a projection; never a trap.
public enum CodecError: Error, Sendable, Equatable {
    /// The input ended `needed` bytes early while reading at `offset`.
    case truncated(offset: Int, needed: Int)
    /// A string at `offset` is not valid UTF-8.
    case invalidUTF8(offset: Int)
    /// A varint at `offset` does not fit its target integer type.
    case varintOverflow(offset: Int)
    /// An enum field held a raw value this build does not know.
    case unknownEnumValue(type: String, raw: UInt64)
    /// The journal kind number is not an `EventKind`.
    case unknownKind(UInt16)
    /// The data carries a format version this build cannot read (newer, or the never-written 0).
    case unsupportedVersion(found: UInt8, supported: UInt8)
    /// Bytes were left over after the value was complete.
    case trailingBytes(count: Int)
    /// The bytes parse but describe an impossible state (duplicate keys, wrong order, over capacity).
    case corrupt(String)

    /// Short snake_case code for logs and API errors.
    public var error: String {
        switch self {
        case .truncated: "truncated"
        case .invalidUTF8: "invalid_utf8"
        case .varintOverflow: "varint_overflow"
        case .unknownEnumValue: "unknown_enum_value"
        case .unknownKind: "unknown_kind"
        case .unsupportedVersion: "unsupported_version"
        case .trailingBytes: "trailing_bytes"
        case .corrupt: "corrupt"
        }
    }

    /// What was wrong and what to do about it.
    public var details: String {
        switch self {
        case .truncated(let offset, let needed):
            "input ends \(needed) byte(s) short at offset \(offset); the record or snapshot is incomplete"
        case .invalidUTF8(let offset):
            "string at offset \(offset) is not valid UTF-8; the data is corrupt"
        case .varintOverflow(let offset):
            "integer at offset \(offset) is too large for its field; the data is corrupt"
        case .unknownEnumValue(let type, let raw):
            "\(type) value \(raw) is unknown; the data is corrupt or from a newer brokerd"
        case .unknownKind(let kind):
            "event kind \(kind) is unknown; upgrade brokerd to read this journal"
        case .unsupportedVersion(let found, let supported):
            "format version \(found) is not readable by this build (it reads 1...\(supported)); if the data is newer, upgrade brokerd"
        case .trailingBytes(let count):
            "\(count) unexpected byte(s) after the end of the value; the data is corrupt"
        case .corrupt(let reason):
            "data is inconsistent: \(reason)"
        }
    }
}

extension CodecError: CustomStringConvertible {
    /// `code: details`, for logs.
    public var description: String { "\(error): \(details)" }
}
