import Foundation
import HTTPTypes
import HummingbirdWSClient
import HummingbirdWSCompression
import Logging
import NIOCore
import NIOWebSocket

/// A scripted WebSocket client over a real socket: send JSON, await the next message.
final class TestWebSocket: Sendable {
    private let incoming: AsyncStream<Incoming>
    private let outgoing: AsyncStream<Outgoing>.Continuation
    private let task: Task<WebSocketCloseFrame?, any Error>
    private let iterator: IteratorBox

    enum Incoming: Sendable {
        case text(String)
        case closed
    }

    enum Outgoing: Sendable {
        case text(String)
        case binary([UInt8])
        case close
    }

    private final class IteratorBox: @unchecked Sendable {
        // @unchecked: a test drives one socket from one task at a time.
        var iterator: AsyncStream<Incoming>.AsyncIterator
        init(_ iterator: AsyncStream<Incoming>.AsyncIterator) { self.iterator = iterator }
    }

    /// Connects to `url`; `headers` go on the upgrade request (e.g. `Authorization`). With
    /// `compression` it offers permessage-deflate and, when the broker takes it, sends every
    /// message compressed.
    init(url: String, maxFrameSize: Int = 1 << 20, headers: [String: String] = [:], compression: Bool = false) {
        let (incoming, incomingContinuation) = AsyncStream<Incoming>.makeStream()
        let (outgoing, outgoingContinuation) = AsyncStream<Outgoing>.makeStream()
        self.incoming = incoming
        self.outgoing = outgoingContinuation
        self.iterator = IteratorBox(incoming.makeAsyncIterator())
        var configuration = WebSocketClientConfiguration()
        configuration.maxFrameSize = maxFrameSize
        configuration.autoPing = .disabled
        if compression {
            configuration.extensions = [
                WebSocketExtensionFactory.perMessageDeflate(maxDecompressedFrameSize: 1 << 20, minFrameSizeToCompress: 0).build()
            ]
        }
        for (name, value) in headers {
            guard let field = HTTPField.Name(name) else { continue }
            configuration.additionalHeaders[field] = value
        }
        task = Task {
            defer { incomingContinuation.yield(.closed); incomingContinuation.finish() }
            return try await WebSocketClient.connect(url: url, configuration: configuration, logger: Logger(label: "test-ws")) {
                inbound, outbound, _ in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for try await message in inbound.messages(maxSize: 1 << 24) {
                            if case .text(let text) = message { incomingContinuation.yield(.text(text)) }
                        }
                    }
                    group.addTask {
                        for await message in outgoing {
                            switch message {
                            case .text(let text): try await outbound.write(.text(text))
                            case .binary(let bytes): try await outbound.write(.binary(ByteBuffer(bytes: bytes)))
                            case .close:
                                try await outbound.close(.normalClosure, reason: nil)
                                return
                            }
                        }
                    }
                    try await group.next()
                    group.cancelAll()
                }
            }
        }
    }

    func send(_ object: [String: Any]) throws {
        let data = try JSONSerialization.data(withJSONObject: object)
        outgoing.yield(.text(String(decoding: data, as: UTF8.self)))
    }

    func sendRaw(_ text: String) { outgoing.yield(.text(text)) }
    func sendBinary(_ bytes: [UInt8]) { outgoing.yield(.binary(bytes)) }

    /// The next message as a JSON object; nil when the connection closed. Fails after `timeout`.
    func receive(timeout: Duration = .seconds(10)) async throws -> [String: Any]? {
        let box = iterator
        let next = try await withThrowingTaskGroup(of: Incoming?.self) { group in
            group.addTask { var it = box.iterator; let value = await it.next(); box.iterator = it; return value }
            group.addTask { try await Task.sleep(for: timeout); throw TestWebSocketError.timeout }
            let first = try await group.next() ?? nil
            group.cancelAll()
            return first
        }
        guard case .text(let text)? = next else { return nil }
        return try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
    }

    /// Receives until a message of `type` arrives (skipping others); nil if the connection closed first.
    func receive(type: String, timeout: Duration = .seconds(10)) async throws -> [String: Any]? {
        while let message = try await receive(timeout: timeout) {
            if message["type"] as? String == type { return message }
        }
        return nil
    }

    /// The close frame the server sent, once the connection is over.
    func closeFrame() async throws -> WebSocketCloseFrame? {
        try await task.value
    }

    func close() async {
        outgoing.yield(.close)
        _ = try? await task.value
    }
}

enum TestWebSocketError: Error {
    case timeout
}
