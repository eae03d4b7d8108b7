import Foundation
import NIOCore

@testable import brokerd

#if canImport(Glibc)
import Glibc
#endif

/// A WebSocket client on a raw socket that completes the handshake, sends what it is told and
/// reads nothing until asked to (`readFrame`): a slow consumer. Its receive buffer is tiny, so the
/// broker's writes back up.
final class StalledWebSocket {
    private let fd: Int32
    /// Bytes read with the 101 response, not yet taken as frames.
    private var pending: [UInt8] = []
    /// The 101 response's head.
    private(set) var responseHead = ""

    typealias Failure = RawSocketFailure

    /// Upgrades `path`, with `headers` ("Name: value") on the request.
    init(port: Int, path: String = "/ws/stock/prices", readTimeout: Int? = nil, headers: [String] = []) throws {
        fd = try LoopbackSocket.connect(port: port, receiveBuffer: 2048, readTimeout: readTimeout)
        try write(Array((
            "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                + headers.map { $0 + "\r\n" }.joined() + "\r\n").utf8))
        // Read the 101 response (and whatever follows it in the same segment), then never again.
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1024)
        while !response.contains(sequence: Array("\r\n\r\n".utf8)) {
            let count = read(fd, &chunk, chunk.count)
            guard count > 0 else { throw Failure(description: "handshake failed: \(String(decoding: response, as: UTF8.self))") }
            response += chunk[0..<count]
        }
        guard String(decoding: response, as: UTF8.self).hasPrefix("HTTP/1.1 101") else {
            throw Failure(description: "no upgrade: \(String(decoding: response, as: UTF8.self))")
        }
        let headEnd = (0...(response.count - 4)).first { response[$0..<($0 + 4)].elementsEqual("\r\n\r\n".utf8) }! + 4
        pending = Array(response[headEnd...])
        responseHead = String(decoding: response[..<headEnd], as: UTF8.self)
    }

    /// Reads the next server frame (unmasked, as a server sends them), its payload inflated when
    /// RSV1 says it is compressed (permessage-deflate); throws when the connection ends or a read
    /// times out.
    func readFrame() throws -> RawWebSocketUpgrade.Frame {
        let head = try readExactly(2)
        var length = Int(head[1] & 0x7F)
        if length == 126 {
            length = try readExactly(2).reduce(0) { $0 << 8 | Int($1) }
        } else if length == 127 {
            length = try readExactly(8).reduce(0) { $0 << 8 | Int($1) }
        }
        var payload = try readExactly(length)
        if head[0] & 0x40 != 0 {
            payload = Array(try PerMessageDeflate.inflate(ByteBuffer(bytes: payload), maxBytes: 1 << 24).readableBytesView)
        }
        return RawWebSocketUpgrade.Frame(opcode: head[0] & 0x0F, payload: payload)
    }

    private func readExactly(_ count: Int) throws -> [UInt8] {
        var chunk = [UInt8](repeating: 0, count: 4096)
        while pending.count < count {
            let read = Glibc.read(fd, &chunk, chunk.count)
            guard read > 0 else { throw Failure(description: "connection ended or timed out (errno \(errno))") }
            pending += chunk[0..<read]
        }
        defer { pending.removeFirst(count) }
        return Array(pending[0..<count])
    }

    /// Sends one masked text frame, as a client must.
    func send(_ text: String) throws {
        try write(Self.frame(opcode: 0x1, payload: Array(text.utf8)))
    }

    /// Sends one data or control frame as it is: any opcode (0 continuation, 1 text, 2 binary,
    /// 9 ping…), any bytes, FIN or not, reserved bits (`rsv`, e.g. 0x40 for RSV1), masked unless told.
    func sendFrame(opcode: UInt8, payload: [UInt8], fin: Bool = true, rsv: UInt8 = 0, masked: Bool = true) throws {
        var frame = Self.frame(opcode: opcode, payload: payload)
        if !fin { frame[0] &= 0x7F }
        frame[0] |= rsv & 0x70
        if !masked {
            // Without the mask bit and the 4 mask bytes, the payload as it is.
            let headLength = payload.count < 126 ? 2 : 4
            frame = Array(frame[0..<headLength]) + payload
            frame[1] &= 0x7F
        }
        try write(frame)
    }

    /// Sends `count` masked ping control frames, each with `payloadSize` bytes, in one write.
    func ping(count: Int = 1, payloadSize: Int = 0) throws {
        let frame = Self.frame(opcode: 0x9, payload: [UInt8](repeating: 0x2A, count: payloadSize))
        try write(Array([[UInt8]](repeating: frame, count: count).joined()))
    }

    /// One final masked frame.
    private static func frame(opcode: UInt8, payload: [UInt8]) -> [UInt8] {
        var frame: [UInt8] = [0x80 | opcode]
        if payload.count < 126 {
            frame.append(0x80 | UInt8(payload.count))
        } else {
            frame += [0x80 | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        }
        let mask: [UInt8] = [0x12, 0x34, 0x56, 0x78]
        frame += mask
        frame += payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
        return frame
    }

    private func write(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let count = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            guard count > 0 else { throw Failure(description: "write() failed: errno \(errno)") }
            offset += count
        }
    }

    deinit { close(fd) }
}

extension Array where Element: Equatable {
    fileprivate func contains(sequence: [Element]) -> Bool {
        guard count >= sequence.count else { return false }
        return (0...(count - sequence.count)).contains { self[$0..<($0 + sequence.count)].elementsEqual(sequence) }
    }
}
