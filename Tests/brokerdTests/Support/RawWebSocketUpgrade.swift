import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A WebSocket upgrade on a raw socket that reads the server's first frame byte by byte.
///
/// Used for connections the broker closes right after the upgrade: HummingbirdWSClient was seen
/// (under CPU load) to miss a close frame arriving in the same read as the 101 response and to
/// hang until the server's close timeout, so those close frames are read off the wire here.
struct RawWebSocketUpgrade {
    /// The first frame after the 101 response.
    struct Frame {
        let opcode: UInt8
        let payload: [UInt8]

        /// The close code, for a close frame with one.
        var closeCode: UInt16? {
            guard opcode == 0x8, payload.count >= 2 else { return nil }
            return UInt16(payload[0]) << 8 | UInt16(payload[1])
        }

        /// The close reason, for a close frame.
        var closeReason: String { String(decoding: payload.dropFirst(2), as: UTF8.self) }
    }

    typealias Failure = RawSocketFailure

    /// Sends `request` as it is to the loopback `port` and returns all the server sends until it
    /// closes the connection; throws, with what came, when it keeps it open 10 s without a byte.
    static func exchange(port: Int, request: String) throws -> String {
        let fd = try LoopbackSocket.connect(port: port, readTimeout: 10)
        defer { close(fd) }
        let bytes = Array(request.utf8)
        guard bytes.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == bytes.count else {
            throw Failure(description: "write() failed: errno \(errno)")
        }
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = read(fd, &chunk, chunk.count)
            if count == 0 { return String(decoding: response, as: UTF8.self) }
            guard count > 0 else {
                throw Failure(description: "not closed by the server (errno \(errno)) after: \(String(decoding: response, as: UTF8.self))")
            }
            response += chunk[0..<count]
        }
    }

    /// Upgrades `path` on the loopback `port` with `headers`, and returns the first frame.
    static func firstFrame(port: Int, path: String, headers: [String: String] = [:]) throws -> Frame {
        let fd = try LoopbackSocket.connect(port: port, readTimeout: 10)
        defer { close(fd) }
        let extra = headers.map { "\($0.key): \($0.value)\r\n" }.joined()
        let request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\(extra)\r\n"
        let bytes = Array(request.utf8)
        guard bytes.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == bytes.count else {
            throw Failure(description: "write() failed: errno \(errno)")
        }

        func readByte() throws -> UInt8 {
            var byte: UInt8 = 0
            guard read(fd, &byte, 1) == 1 else { throw Failure(description: "connection ended or timed out (errno \(errno))") }
            return byte
        }
        // The response head ends with an empty line; reading byte by byte leaves the frame unread.
        var head: [UInt8] = []
        while !(head.count >= 4 && Array(head.suffix(4)) == Array("\r\n\r\n".utf8)) { head.append(try readByte()) }
        guard String(decoding: head, as: UTF8.self).hasPrefix("HTTP/1.1 101") else {
            throw Failure(description: "no upgrade: \(String(decoding: head, as: UTF8.self))")
        }
        let opcode = try readByte() & 0x0F
        var length = Int(try readByte() & 0x7F)
        guard length < 127 else { throw Failure(description: "unexpectedly long first frame") }
        if length == 126 { length = Int(try readByte()) << 8 | Int(try readByte()) }
        var payload: [UInt8] = []
        for _ in 0..<length { payload.append(try readByte()) }
        return Frame(opcode: opcode, payload: payload)
    }
}
