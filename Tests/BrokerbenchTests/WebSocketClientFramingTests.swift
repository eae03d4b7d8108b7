import Testing

@testable import brokerbench

/// RFC 6455 framing as the load tool's clients do it, on lengths at every header size boundary.
struct WebSocketClientFramingTests {
    /// A server frame: FIN, `opcode`, unmasked, with the shortest length encoding.
    private func serverFrame(opcode: UInt8 = WebSocketClientFraming.text, fin: Bool = true, payload: [UInt8]) -> [UInt8] {
        var frame: [UInt8] = [(fin ? 0x80 : 0) | opcode]
        switch payload.count {
        case ..<126: frame.append(UInt8(payload.count))
        case ..<65_536: frame += [126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        default: frame += [127] + (0..<8).reversed().map { UInt8((UInt64(payload.count) >> UInt64($0 * 8)) & 0xFF) }
        }
        return frame + payload
    }

    private func next(_ bytes: [UInt8], at offset: Int = 0, limit: Int = 1 << 22) -> WebSocketClientFraming.Next {
        bytes.withUnsafeBytes { WebSocketClientFraming.next(in: $0, at: offset, maximumPayload: limit) }
    }

    @Test(arguments: [0, 1, 125, 126, 65_535, 65_536, 70_000])
    func findsAServerFrameOfAnyLengthAndNeedsAllOfIt(length: Int) {
        let payload = (0..<length).map { UInt8(truncatingIfNeeded: $0 * 7) }
        let frame = serverFrame(payload: payload)
        let header = frame.count - length
        guard case .frame(let found) = next(frame) else {
            Issue.record("no frame for length \(length)")
            return
        }
        #expect(found.opcode == WebSocketClientFraming.text)
        #expect(found.fin)
        #expect(found.payload == header..<frame.count)
        #expect(Array(frame[found.payload]) == payload)
        // Every shorter prefix is incomplete, at each header size and one byte short of the end.
        for cut in Set([1, header - 1, header, frame.count - 1]) where cut < frame.count {
            #expect(next(Array(frame[..<cut])) == .incomplete, "length \(length) cut at \(cut)")
        }
    }

    @Test func readsFramesOneAfterAnotherFromOneBuffer() {
        let bytes = serverFrame(payload: Array("first".utf8)) + serverFrame(opcode: WebSocketClientFraming.ping, fin: false, payload: [])
            + serverFrame(payload: Array("third".utf8))
        var offset = 0
        var seen: [(UInt8, Bool, String)] = []
        while case .frame(let frame) = next(bytes, at: offset) {
            seen.append((frame.opcode, frame.fin, String(decoding: bytes[frame.payload], as: UTF8.self)))
            offset = frame.end
        }
        #expect(offset == bytes.count)
        #expect(seen.map { $0.0 } == [WebSocketClientFraming.text, WebSocketClientFraming.ping, WebSocketClientFraming.text])
        #expect(seen.map { $0.1 } == [true, false, true])
        #expect(seen.map { $0.2 } == ["first", "", "third"])
    }

    @Test func rsv1MarksACompressedMessageOnlyWherePermessageDeflateWasNegotiated() {
        let frame = [0xC1 as UInt8, 3, 0x01, 0x02, 0x03]
        guard case .invalid = next(frame) else {
            Issue.record("RSV1 was accepted without the extension")
            return
        }
        let negotiated = frame.withUnsafeBytes { WebSocketClientFraming.next(in: $0, at: 0, maximumPayload: 1 << 22, compression: true) }
        guard case .frame(let found) = negotiated else {
            Issue.record("RSV1 was refused with the extension")
            return
        }
        #expect(found.compressed && found.fin && found.payload == 2..<5)
        let rsv2 = [0xA1 as UInt8, 0].withUnsafeBytes { WebSocketClientFraming.next(in: $0, at: 0, maximumPayload: 1 << 22, compression: true) }
        guard case .invalid = rsv2 else {
            Issue.record("RSV2 was accepted")
            return
        }
    }

    @Test func refusesMaskedFramesReservedBitsAndFramesOverTheLimit() {
        guard case .invalid = next([0x81, 0x80 | 1, 1, 2, 3, 4, 0x41]) else {
            Issue.record("a masked server frame was accepted")
            return
        }
        guard case .invalid = next([0x81 | 0x40, 1, 0x41]) else {
            Issue.record("a frame with RSV1 was accepted")
            return
        }
        guard case .invalid(let reason) = next(serverFrame(payload: Array(repeating: 0, count: 200)), limit: 199) else {
            Issue.record("a frame over the limit was accepted")
            return
        }
        #expect(reason.contains("200"))
        // The limit is decided from the header alone: a 2^40-byte frame is refused before its bytes come.
        guard case .invalid = next([0x82, 127, 0, 0, 1, 0, 0, 0, 0, 0]) else {
            Issue.record("a frame longer than the limit waited for its bytes")
            return
        }
    }

    @Test(arguments: [0, 5, 125, 126, 65_535, 65_536])
    func aClientFrameUnmasksToItsPayload(length: Int) {
        let payload = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 3) }
        let mask: [UInt8] = [0x12, 0x34, 0x56, 0x78]
        let frame = WebSocketClientFraming.clientFrame(opcode: WebSocketClientFraming.text, payload: payload, mask: mask)
        #expect(frame[0] == 0x81)
        #expect(frame[1] & 0x80 != 0, "client frames must be masked")
        var length7 = Int(frame[1] & 0x7F)
        var offset = 2
        if length7 == 126 {
            length7 = Int(frame[2]) << 8 | Int(frame[3])
            offset = 4
        } else if length7 == 127 {
            length7 = frame[2..<10].reduce(0) { $0 << 8 | Int($1) }
            offset = 10
        }
        #expect(length7 == length)
        #expect(Array(frame[offset..<(offset + 4)]) == mask)
        let unmasked = frame[(offset + 4)...].enumerated().map { $1 ^ mask[$0 & 3] }
        #expect(unmasked == payload)
    }
}
