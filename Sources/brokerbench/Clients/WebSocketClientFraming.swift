/// WebSocket framing as a client sees it (RFC 6455 §5.2): server frames in, masked frames out.
enum WebSocketClientFraming {
    /// A complete frame from the server: its opcode, FIN bit, where its payload lies in the bytes
    /// it was read from, and where the next frame starts.
    struct Frame: Equatable {
        let opcode: UInt8
        let fin: Bool
        /// RSV1: the message this frame begins is compressed (permessage-deflate).
        var compressed = false
        let payload: Range<Int>
        var end: Int { payload.upperBound }
    }

    enum Next: Equatable {
        case frame(Frame)
        /// More bytes are needed.
        case incomplete
        /// The bytes break the protocol; the connection cannot go on.
        case invalid(String)
    }

    static let continuation: UInt8 = 0x0
    static let text: UInt8 = 0x1
    static let binary: UInt8 = 0x2
    static let close: UInt8 = 0x8
    static let ping: UInt8 = 0x9
    static let pong: UInt8 = 0xA

    /// The frame starting at `offset` in `bytes`, if it is all there; RSV1 only where
    /// permessage-deflate was negotiated (`compression`).
    static func next(in bytes: UnsafeRawBufferPointer, at offset: Int, maximumPayload: Int, compression: Bool = false) -> Next {
        let available = bytes.count - offset
        guard available >= 2 else { return .incomplete }
        let first = bytes[offset]
        let second = bytes[offset + 1]
        guard second & 0x80 == 0 else { return .invalid("the server sent a masked frame") }
        guard first & 0x70 == 0 || (compression && first & 0x70 == 0x40) else {
            return .invalid("the server set reserved bits without an extension")
        }
        var headerLength = 2
        var length = UInt64(second & 0x7F)
        if length == 126 {
            guard available >= 4 else { return .incomplete }
            length = UInt64(bytes[offset + 2]) << 8 | UInt64(bytes[offset + 3])
            headerLength = 4
        } else if length == 127 {
            guard available >= 10 else { return .incomplete }
            length = 0
            for index in 2..<10 { length = length << 8 | UInt64(bytes[offset + index]) }
            headerLength = 10
        }
        guard length <= UInt64(maximumPayload) else {
            return .invalid("a frame of \(length) bytes is over the limit of \(maximumPayload)")
        }
        guard available - headerLength >= Int(length) else { return .incomplete }
        let start = offset + headerLength
        return .frame(
            Frame(opcode: first & 0x0F, fin: first & 0x80 != 0, compressed: first & 0x40 != 0, payload: start..<(start + Int(length))))
    }

    /// A final frame of `opcode` carrying `payload`, masked with `mask` as a client must.
    static func clientFrame(opcode: UInt8, payload: some Collection<UInt8>, mask: [UInt8]) -> [UInt8] {
        precondition(mask.count == 4, "a WebSocket mask is 4 bytes")
        var frame: [UInt8] = [0x80 | opcode]
        frame.reserveCapacity(payload.count + 14)
        switch payload.count {
        case ..<126:
            frame.append(0x80 | UInt8(payload.count))
        case ..<65_536:
            frame.append(0x80 | 126)
            frame.append(UInt8(payload.count >> 8))
            frame.append(UInt8(payload.count & 0xFF))
        default:
            frame.append(0x80 | 127)
            for shift in stride(from: 56, through: 0, by: -8) { frame.append(UInt8((UInt64(payload.count) >> UInt64(shift)) & 0xFF)) }
        }
        frame.append(contentsOf: mask)
        for (index, byte) in payload.enumerated() { frame.append(byte ^ mask[index & 3]) }
        return frame
    }

    /// A text frame with a fresh random mask.
    static func clientText(_ text: String) -> [UInt8] {
        clientFrame(opcode: Self.text, payload: Array(text.utf8), mask: randomMask())
    }

    static func randomMask() -> [UInt8] {
        (0..<4).map { _ in UInt8.random(in: .min ... .max) }
    }
}
