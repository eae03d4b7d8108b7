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

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Upgrades `path` on the loopback `port` with `headers`, and returns the first frame.
    static func firstFrame(port: Int, path: String, headers: [String: String] = [:]) throws -> Frame {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket() failed: errno \(errno)") }
        defer { close(fd) }
        // A bound on every read, so a broker that never answers fails the test instead of hanging it.
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw Failure(description: "connect() failed: errno \(errno)") }
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
        if length == 126 { length = Int(try readByte()) << 8 | Int(try readByte()) }
        guard length < 127 else { throw Failure(description: "unexpectedly long first frame") }
        var payload: [UInt8] = []
        for _ in 0..<length { payload.append(try readByte()) }
        return Frame(opcode: opcode, payload: payload)
    }
}
