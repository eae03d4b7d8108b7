import CompressNIO
import Foundation
import NIOCore
import Testing

@testable import brokerd

/// permessage-deflate as the broker speaks it: which offers it takes, frames every client can
/// inflate on its own, and client messages inflated within the size limit.
@Suite struct PerMessageDeflateTests {
    @Test(arguments: [
        ["permessage-deflate"],
        ["permessage-deflate; client_max_window_bits"],
        ["permessage-deflate; client_max_window_bits=10"],
        ["permessage-deflate; client_max_window_bits=\"12\""],
        ["permessage-deflate; server_max_window_bits=15; server_no_context_takeover; client_no_context_takeover"],
        ["permessage-deflate;client_max_window_bits"],
        ["PerMessage-Deflate; Client_No_Context_Takeover"],
        // The first offer asks for a smaller window than the broker compresses with; the second is taken.
        ["permessage-deflate; server_max_window_bits=10, permessage-deflate"],
        ["x-webkit-deflate-frame", "permessage-deflate"],
    ])
    func offersTheBrokerTakes(_ headerValues: [String]) {
        #expect(PerMessageDeflate.acceptsOffer(in: headerValues))
    }

    @Test(arguments: [
        [],
        ["x-webkit-deflate-frame"],
        ["permessage-deflate; server_max_window_bits=10"],
        ["permessage-deflate; server_max_window_bits"],
        ["permessage-deflate; client_max_window_bits=16"],
        ["permessage-deflate; client_max_window_bits=7"],
        ["permessage-deflate; server_no_context_takeover=1"],
        ["permessage-deflate; server_no_context_takeover; server_no_context_takeover"],
        ["permessage-deflate; unknown_parameter"],
        ["permessage-deflater"],
        // Malformed: an empty parameter, one without a name, a value left empty.
        ["permessage-deflate;"],
        ["permessage-deflate; ; client_max_window_bits"],
        ["permessage-deflate; =15"],
        ["permessage-deflate; client_max_window_bits="],
        [";"],
        [""],
    ])
    func offersTheBrokerDeclines(_ headerValues: [String]) {
        #expect(!PerMessageDeflate.acceptsOffer(in: headerValues))
    }

    @Test func aCompressedFrameHasRSV1AndInflatesOnItsOwnEveryTime() throws {
        let compressor = try #require(PerMessageDeflate.makeCompressor())
        let json = #"{"type":"price_update","data":["# + Array(repeating: #"{"code":"600519","name":"贵州茅台","price":1876.5}"#, count: 20)
            .joined(separator: ",") + "]}"
        for _ in 0..<3 {
            // The same stream for each message, started over each time: no message needs the one before.
            let frame = try #require(PerMessageDeflate.compressedTextFrame(ByteBuffer(string: json), compressor: compressor))
            let (first, payload) = try Self.split(frame)
            #expect(first == 0xC1, "FIN, RSV1 and the text opcode")
            #expect(payload.readableBytes < json.utf8.count / 4)
            let inflated = try PerMessageDeflate.inflate(payload, maxBytes: 1 << 16)
            #expect(String(buffer: inflated) == json)
        }
    }

    @Test func whatDeflateDoesNotShortenIsNotCompressed() throws {
        let compressor = try #require(PerMessageDeflate.makeCompressor())
        var random = SystemRandomNumberGenerator()
        let noise = (0..<300).map { _ in UInt8.random(in: 0...255, using: &random) }
        #expect(PerMessageDeflate.compressedTextFrame(ByteBuffer(bytes: noise), compressor: compressor) == nil)
    }

    @Test func aMessageLargerThanTheLimitOnceInflatedIsRefused() throws {
        // 1 MiB of spaces deflates to about a kilobyte.
        var zeros = ByteBuffer(repeating: UInt8(ascii: " "), count: 1 << 20)
        let compressor = try ZlibCompressor(algorithm: .deflate)
        var deflated = ByteBuffer()
        deflated.reserveCapacity(compressor.maxSize(from: zeros))
        try compressor.deflate(from: &zeros, to: &deflated, flush: .sync)
        let message = deflated.getSlice(at: 0, length: deflated.readableBytes - 4)!
        #expect(message.readableBytes < 8_192)
        #expect(throws: PerMessageDeflate.InflateFailure.tooLarge) { try PerMessageDeflate.inflate(message, maxBytes: 65_536) }
        #expect(try PerMessageDeflate.inflate(message, maxBytes: 1 << 20).readableBytes == 1 << 20)
    }

    @Test func bytesThatAreNotDeflateAreRefused() {
        #expect(throws: PerMessageDeflate.InflateFailure.corrupt) {
            try PerMessageDeflate.inflate(ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x12]), maxBytes: 65_536)
        }
    }

    /// The first byte and the payload of an unmasked server frame.
    static func split(_ frame: ByteBuffer) throws -> (UInt8, ByteBuffer) {
        let bytes = Array(frame.readableBytesView)
        let headerLength = switch bytes[1] & 0x7F { case 126: 4; case 127: 10; default: 2 }
        return (bytes[0], ByteBuffer(bytes: bytes.dropFirst(headerLength)))
    }
}
