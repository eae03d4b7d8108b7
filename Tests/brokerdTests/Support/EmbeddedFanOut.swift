import Foundation
import NIOCore
import NIOEmbedded
import NIOWebSocket
import Testing

@testable import brokerd

/// Live connections whose writers write to embedded channels: the fan-out without sockets, where
/// "the loop is busy" is exactly "tasks not yet run".
enum EmbeddedFanOut {
    /// A live connection whose writer writes to an embedded channel on `loop`.
    static func connection(_ id: String, on loop: EmbeddedEventLoop, fanOut: LoopFanOut) throws -> (LiveConnection, EmbeddedChannel) {
        let channel = EmbeddedChannel(handler: WebSocketFrameEncoder(), loop: loop)
        _ = try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        let writer = try ConnectionWriter.install(on: channel, fanOut: fanOut, capacity: 64)
        return (LiveConnection(clientID: id, user: nil, remoteAddress: nil, writer: writer), channel)
    }

    /// Every frame written to `channel` in short: "type seq" for a message ("type" when it has no
    /// seq, as replies), "close CODE" for a close frame.
    static func outline(_ channel: EmbeddedChannel) throws -> [String] {
        var outline: [String] = []
        while let frame = try channel.readOutbound(as: ByteBuffer.self) {
            let bytes = Array(frame.readableBytesView)
            let headerLength = switch bytes[1] { case 126: 4; case 127: 10; default: 2 }
            let payload = bytes.dropFirst(headerLength)
            if bytes[0] & 0x0F == 0x8 {
                outline.append("close \(payload.prefix(2).reduce(0) { $0 << 8 | Int($1) })")
                continue
            }
            let message = try #require(try JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any])
            let type = message["type"] as? String ?? "?"
            outline.append((message["seq"] as? Int).map { "\(type) \($0)" } ?? type)
        }
        return outline
    }

    /// Every message written to `channel`: type, seq and, for price updates, code → price.
    static func messages(_ channel: EmbeddedChannel) throws -> [(type: String, seq: Int, prices: [String: Double])] {
        var messages: [(String, Int, [String: Double])] = []
        while let frame = try channel.readOutbound(as: ByteBuffer.self) {
            let bytes = Array(frame.readableBytesView)
            let headerLength = switch bytes[1] { case 126: 4; case 127: 10; default: 2 }
            let message = try #require(try JSONSerialization.jsonObject(with: Data(bytes.dropFirst(headerLength))) as? [String: Any])
            let data = message["data"] as? [[String: Any]] ?? []
            let prices = Dictionary(uniqueKeysWithValues: data.map { ($0["code"] as? String ?? "", $0["price"] as? Double ?? 0) })
            messages.append((message["type"] as? String ?? "?", try #require(message["seq"] as? Int), prices))
        }
        return messages
    }
}
