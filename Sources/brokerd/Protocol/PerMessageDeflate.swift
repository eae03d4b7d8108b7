import CompressNIO
import NIOCore

/// WebSocket compression, permessage-deflate (RFC 7692), as brokerd speaks it: every compressed
/// message stands on its own, in both directions (`server_no_context_takeover`,
/// `client_no_context_takeover`). So one compressed frame serves every connection of a fan-out
/// that negotiated it, as one plain frame serves the rest, and a connection holds no compression
/// state between messages: an idle one costs nothing more. Browsers and Python's `websockets`
/// offer the extension on their own.
enum PerMessageDeflate {
    static let name = "permessage-deflate"

    /// The broker's answer to an offer it takes (`Sec-WebSocket-Extensions`).
    static let response = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"

    /// Messages shorter than this go out plain: deflate saves little on them (a pong, an error).
    static let minimumPayload = 128

    /// Whether one of the offers in a client's `Sec-WebSocket-Extensions` header values is one the
    /// broker takes: permessage-deflate with parameters it can honour (RFC 7692 §7.1). An offer
    /// that asks the broker for a window below 2^15 (`server_max_window_bits` < 15) is declined,
    /// since the broker's frames are compressed once for many connections, with one window.
    static func acceptsOffer(in headerValues: [String]) -> Bool {
        headerValues.lazy.flatMap { $0.split(separator: ",") }.contains(where: isAcceptable)
    }

    private static func isAcceptable(_ offer: Substring) -> Bool {
        let parts = offer.split(separator: ";", omittingEmptySubsequences: false).map { $0.trimmingWhitespace() }
        guard parts.first?.lowercased() == name else { return false }
        var seen: Set<String> = []
        for parameter in parts.dropFirst() {
            let pair = parameter.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map { $0.trimmingWhitespace() }
            // An empty parameter (`permessage-deflate;`) or one without a name is no parameter.
            guard let parameterName = pair.first, !parameterName.isEmpty else { return false }
            let key = parameterName.lowercased()
            // A parameter twice makes the offer invalid (§7.1).
            guard seen.insert(key).inserted else { return false }
            let value = pair.count == 2 ? Int(pair[1].trimmingCharacters(in: "\"")) : nil
            switch key {
            case "server_no_context_takeover", "client_no_context_takeover":
                guard pair.count == 1 else { return false }
            case "client_max_window_bits":
                // Any window the client uses for its messages inflates with 2^15.
                guard pair.count == 1 || (value.map { (8...15).contains($0) } ?? false) else { return false }
            case "server_max_window_bits":
                guard value == 15 else { return false }
            default:
                return false
            }
        }
        return true
    }

    /// A message's payload as a compressed text frame (RSV1 set), made with `compressor`, a raw
    /// deflate stream that starts over after each message; nil when compressing does not make it
    /// smaller.
    static func compressedTextFrame(_ payload: ByteBuffer, compressor: ZlibCompressor) -> ByteBuffer? {
        var input = payload
        var output = ByteBuffer()
        output.reserveCapacity(compressor.maxSize(from: payload))
        defer { try? compressor.reset() }
        do {
            try compressor.deflate(from: &input, to: &output, flush: .sync)
        } catch {
            return nil
        }
        // A sync flush ends with an empty stored block, 00 00 FF FF, which the sender leaves out
        // (§7.2.1) and the receiver puts back.
        guard input.readableBytes == 0, output.readableBytes > 4, output.readableBytes - 4 < payload.readableBytes else { return nil }
        return WebSocketWire.textFrame(output.getSlice(at: output.readerIndex, length: output.readableBytes - 4)!, compressed: true)
    }

    /// A raw deflate stream for `compressedTextFrame`: a 2^15 window, zlib's default level.
    static func makeCompressor() -> ZlibCompressor? {
        try? ZlibCompressor(algorithm: .deflate, configuration: ZlibConfiguration(windowSize: 15))
    }

    enum InflateFailure: Error, Equatable {
        /// Larger than the limit once inflated.
        case tooLarge
        /// Not a deflate stream.
        case corrupt
    }

    /// A client's compressed message (its frames' payloads joined) inflated, at most `maxBytes`.
    static func inflate(_ message: ByteBuffer, maxBytes: Int) throws(InflateFailure) -> ByteBuffer {
        var input = message
        input.writeBytes([0x00, 0x00, 0xFF, 0xFF])
        do {
            let decompressor = try ZlibDecompressor(algorithm: .deflate, windowSize: 15)
            var output = ByteBuffer()
            output.reserveCapacity(min(maxBytes, max(256, message.readableBytes * 4)))
            while true {
                do {
                    // Returns once the input is used up (or the stream ended, anything after it ignored).
                    try decompressor.inflate(from: &input, to: &output)
                    break
                } catch let error as CompressNIOError where error == .bufferOverflow {
                    // The output is full and zlib may hold more: more room, up to a byte past the
                    // limit, which tells a message of exactly `maxBytes` from a longer one.
                    guard output.readableBytes <= maxBytes else { throw InflateFailure.tooLarge }
                    output.reserveCapacity(min(maxBytes + 1, output.capacity * 2))
                } catch let error as CompressNIOError where error == .inputBufferOverflow {
                    break  // every byte read, nothing more to write
                }
            }
            guard output.readableBytes <= maxBytes else { throw InflateFailure.tooLarge }
            return output
        } catch let failure as InflateFailure {
            throw failure
        } catch {
            throw .corrupt
        }
    }
}

extension Substring {
    fileprivate func trimmingWhitespace() -> Substring {
        let start = firstIndex { !$0.isWhitespace } ?? endIndex
        let end = lastIndex { !$0.isWhitespace }.map(index(after:)) ?? start
        return self[start..<Swift.max(start, end)]
    }

    fileprivate func trimmingCharacters(in character: Character) -> Substring {
        var text = self
        while text.first == character { text = text.dropFirst() }
        while text.last == character { text = text.dropLast() }
        return text
    }
}
