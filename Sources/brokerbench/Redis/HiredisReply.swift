/// One Redis reply, copied out of hiredis' reply tree before it is freed.
indirect enum HiredisReply: Sendable, CustomStringConvertible {
    case string([UInt8])
    case status(String)
    case error(String)
    case integer(Int64)
    case null
    case array([HiredisReply])

    /// The text of a bulk string or status reply.
    var text: String? {
        switch self {
        case .string(let bytes): String(decoding: bytes, as: UTF8.self)
        case .status(let text): text
        default: nil
        }
    }

    var description: String {
        switch self {
        case .string(let bytes): bytes.count <= 64 ? "\"\(String(decoding: bytes, as: UTF8.self))\"" : "<\(bytes.count) bytes>"
        case .status(let text): "+\(text)"
        case .error(let text): "-\(text)"
        case .integer(let value): ":\(value)"
        case .null: "nil"
        case .array(let items): "[\(items.prefix(4).map(\.description).joined(separator: ", "))\(items.count > 4 ? ", …" : "")]"
        }
    }
}
