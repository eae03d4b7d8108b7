/// One Redis reply, copied out of hiredis' reply tree so it outlives `freeReplyObject`.
package indirect enum RedisReply: Sendable, Hashable, CustomStringConvertible {
    /// A bulk string (binary-safe).
    case bulk([UInt8])
    /// A simple status such as `OK`.
    case status(String)
    /// An error reply.
    case error(String)
    /// An integer reply.
    case integer(Int64)
    /// The nil bulk or nil array (e.g. `XREAD BLOCK` timing out, `GET` of a missing key).
    case null
    /// A multi-bulk reply.
    case array([RedisReply])

    /// The bulk or status text, decoded as UTF-8.
    package var text: String? {
        switch self {
        case .bulk(let bytes): String(decoding: bytes, as: UTF8.self)
        case .status(let text): text
        default: nil
        }
    }

    /// A short rendering for error messages.
    package var description: String {
        switch self {
        case .bulk(let bytes): bytes.count <= 64 ? "\"\(String(decoding: bytes, as: UTF8.self))\"" : "<\(bytes.count) bytes>"
        case .status(let text): "+\(text)"
        case .error(let text): "-\(text)"
        case .integer(let value): ":\(value)"
        case .null: "nil"
        case .array(let items): "[\(items.prefix(4).map(\.description).joined(separator: ", "))\(items.count > 4 ? ", …" : "")]"
        }
    }
}
