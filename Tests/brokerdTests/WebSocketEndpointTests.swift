import NIOCore
import NIOWebSocket
import Testing

@testable import brokerd

@Suite struct WebSocketEndpointTests {
    @Test func theEndpointPathMatchesWithOrWithoutTrailingSlashesOnly() {
        #expect(WebSocketEndpoint.isEndpoint("/ws/stock/prices"))
        #expect(WebSocketEndpoint.isEndpoint("/ws/stock/prices/"))
        #expect(!WebSocketEndpoint.isEndpoint("/ws/stock"))
        #expect(!WebSocketEndpoint.isEndpoint("/ws/stock/prices/x"))
        #expect(!WebSocketEndpoint.isEndpoint("/"))
    }

    private func closePayload(_ bytes: [UInt8]) -> ByteBuffer { ByteBuffer(bytes: bytes) }

    @Test func aClientsCloseIsAnsweredNormallyUnlessItsCodeIsInvalid() {
        #expect(WebSocketSession.answer(toClose: closePayload([])) == .normalClosure)
        #expect(WebSocketSession.answer(toClose: closePayload([0x03, 0xE8])) == .normalClosure, "1000")
        #expect(WebSocketSession.answer(toClose: closePayload([0x03, 0xE9] + Array("bye".utf8))) == .normalClosure, "1001")
        #expect(WebSocketSession.answer(toClose: closePayload([0x0F, 0xA0])) == .normalClosure, "4000, private use")
        #expect(WebSocketSession.answer(toClose: closePayload([0x03])) == .protocolError, "a one-byte code")
        #expect(WebSocketSession.answer(toClose: closePayload([0x03, 0xED])) == .protocolError, "1005 is never sent")
        #expect(WebSocketSession.answer(toClose: closePayload([0x13, 0x88])) == .protocolError, "5000 is out of range")
        #expect(WebSocketSession.answer(toClose: closePayload([0x03, 0xE8] + Array("再见".utf8))) == .normalClosure, "a UTF-8 reason")
        #expect(WebSocketSession.answer(toClose: closePayload([0x03, 0xE8, 0xFF, 0xFE])) == .dataInconsistentWithMessage, "1007")
    }
}
