import NIOCore
import NIOWebSocket

/// Server-to-client WebSocket frames as bytes on the wire (RFC 6455 §5.2).
///
/// A server frame is never masked, so the same bytes serve every client: the fan-out frames a
/// message once and hands the one buffer to all its connections, which write it below NIO's frame
/// encoder (see `ConnectionWriter`).
enum WebSocketWire {
    /// One final text frame carrying `payload`.
    static func textFrame(_ payload: ByteBuffer) -> ByteBuffer {
        frame(opcode: 0x1, payload)
    }

    /// A close frame with `code` and `reason` (cut to the 123 bytes a control frame leaves it).
    static func closeFrame(_ code: WebSocketErrorCode, reason: String) -> ByteBuffer {
        var payload = ByteBuffer()
        payload.write(webSocketErrorCode: code)
        payload.writeBytes(reason.utf8.prefix(123))
        return frame(opcode: 0x8, payload)
    }

    private static func frame(opcode: UInt8, _ payload: ByteBuffer) -> ByteBuffer {
        let length = payload.readableBytes
        var frame = ByteBuffer()
        frame.reserveCapacity(length + 10)
        frame.writeInteger(0x80 | opcode)  // FIN and the opcode
        switch length {
        case ..<126:
            frame.writeInteger(UInt8(length))
        case ...0xFFFF:
            frame.writeInteger(UInt8(126))
            frame.writeInteger(UInt16(length))
        default:
            frame.writeInteger(UInt8(127))
            frame.writeInteger(UInt64(length))
        }
        var payload = payload
        frame.writeBuffer(&payload)
        return frame
    }
}
