import NIOCore
import NIOWebSocket

/// Server-to-client WebSocket frames as bytes on the wire (RFC 6455 §5.2).
///
/// A server frame is never masked, so the same bytes serve every client: the fan-out frames a
/// message once and hands the one buffer to all its connections, which write it below NIO's frame
/// encoder (see `ConnectionWriter`).
enum WebSocketWire {
    /// One final text frame carrying `payload`; with `compressed`, RSV1 says the payload is
    /// deflated (see `PerMessageDeflate`).
    static func textFrame(_ payload: ByteBuffer, compressed: Bool = false) -> ByteBuffer {
        frame(opcode: compressed ? 0x40 | 0x1 : 0x1, payload)
    }

    /// The bytes of a final unmasked frame carrying `payload` bytes: its header and the payload.
    static func frameLength(payload: Int) -> Int {
        payload + (payload < 126 ? 2 : payload <= 0xFFFF ? 4 : 10)
    }

    /// A close frame with `code` and `reason` (cut to the 123 bytes a control frame leaves it).
    static func closeFrame(_ code: WebSocketErrorCode, reason: String) -> ByteBuffer {
        var payload = ByteBuffer()
        payload.write(webSocketErrorCode: code)
        payload.writeBytes(reason.utf8.prefix(123))
        return frame(opcode: 0x8, payload)
    }

    /// A frame of `opcode` (with RSV1 in it when set) and `payload`.
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
