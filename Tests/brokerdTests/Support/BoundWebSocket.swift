import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A WebSocket client on a plain blocking socket bound to a chosen local address (any 127.x.y.z
/// works on loopback), sending the headers a test chooses: a client at another address, or one
/// forging `X-Forwarded-For`. It does the handshake and reads the first message; that is all the
/// address tests need.
final class BoundWebSocket {
    private let descriptor: Int32
    private var buffer: [UInt8] = []
    private var closed = false

    /// Connects from `localAddress` to 127.0.0.1:`port` and completes the upgrade of `path`.
    init(port: Int, path: String = "/ws/stock/prices", from localAddress: String, headers: [(String, String)] = []) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw BoundWebSocketError.socket("socket(): errno \(errno)") }
        descriptor = fd
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard Self.withAddress(localAddress, port: 0, { bind(fd, $0, $1) }) == 0 else {
            throw BoundWebSocketError.socket("bind(\(localAddress)): errno \(errno)")
        }
        guard Self.withAddress("127.0.0.1", port: port, { connect(fd, $0, $1) }) == 0 else {
            throw BoundWebSocketError.socket("connect(127.0.0.1:\(port)): errno \(errno)")
        }
        let request = (
            [
                "GET \(path) HTTP/1.1", "Host: 127.0.0.1:\(port)", "Upgrade: websocket", "Connection: Upgrade",
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13",
            ] + headers.map { "\($0.0): \($0.1)" }
        ).joined(separator: "\r\n") + "\r\n\r\n"
        let bytes = Array(request.utf8)
        guard bytes.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, 0) }) == bytes.count else {
            throw BoundWebSocketError.socket("send: errno \(errno)")
        }
        let head = try readHead()
        guard head.hasPrefix("HTTP/1.1 101") else { throw BoundWebSocketError.refused(head) }
    }

    deinit { close() }

    /// Drops the connection without a close handshake, as a vanished client would.
    func close() {
        guard !closed else { return }
        closed = true
        Glibc.close(descriptor)
    }

    /// The next text message (server frames are unmasked), as a JSON object.
    func receive() throws -> [String: Any] {
        try fill(2)
        let opcode = buffer[0] & 0x0F
        var length = Int(buffer[1] & 0x7F)
        var offset = 2
        if length == 126 {
            try fill(4)
            length = Int(buffer[2]) << 8 | Int(buffer[3])
            offset = 4
        } else if length == 127 {
            try fill(10)
            length = buffer[2..<10].reduce(0) { $0 << 8 | Int($1) }
            offset = 10
        }
        try fill(offset + length)
        let payload = Array(buffer[offset..<offset + length])
        buffer.removeFirst(offset + length)
        guard opcode == 0x1 else { throw BoundWebSocketError.unexpectedFrame(opcode) }
        guard let object = try JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any] else {
            throw BoundWebSocketError.notJSON(String(decoding: payload, as: UTF8.self))
        }
        return object
    }

    private func readHead() throws -> String {
        let end = Array("\r\n\r\n".utf8)
        while true {
            if let range = buffer.firstRange(of: end) {
                let head = String(decoding: buffer[..<range.lowerBound], as: UTF8.self)
                buffer.removeFirst(range.upperBound)
                return head
            }
            try readMore()
        }
    }

    private func fill(_ count: Int) throws {
        while buffer.count < count { try readMore() }
    }

    private func readMore() throws {
        var chunk = [UInt8](repeating: 0, count: 4096)
        let read = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
        guard read > 0 else { throw BoundWebSocketError.closed(read == 0 ? "closed by the server" : "recv: errno \(errno)") }
        buffer += chunk[..<read]
    }

    private static func withAddress(_ host: String, port: Int, _ body: (UnsafePointer<sockaddr>, socklen_t) -> Int32) -> Int32 {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr(host)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
    }
}

enum BoundWebSocketError: Error {
    case socket(String)
    case refused(String)
    case closed(String)
    case unexpectedFrame(UInt8)
    case notJSON(String)
}
