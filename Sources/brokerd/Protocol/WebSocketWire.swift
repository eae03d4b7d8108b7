import NIOCore

/// Server-to-client WebSocket frames as bytes on the wire (RFC 6455 §5.2).
///
/// A server frame is never masked, so the same bytes serve every client: the fan-out frames a
/// message once and hands the one buffer to all its connections, which write it below NIO's frame
/// encoder (see `ConnectionWriter`).
enum WebSocketWire {
    /// One final text frame carrying `payload`.
    static func textFrame(_ payload: ByteBuffer) -> ByteBuffer {
        let length = payload.readableBytes
        var frame = ByteBuffer()
        frame.reserveCapacity(length + 10)
        frame.writeInteger(UInt8(0x81))  // FIN, opcode 1 (text)
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
