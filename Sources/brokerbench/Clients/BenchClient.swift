import HummingbirdWSClient
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// One WebSocket client of the benchmark: connects, subscribes to the strategy once, pings to stay
/// clear of the heartbeat timeout, and tallies every price entry it receives until cancelled.
///
/// The client is a plain NIO channel handler that does its own handshake and frame parsing on the
/// event loop that reads the socket: no task hop and no async iteration per message. With the
/// async WebSocket client the load tool needed a full core for 50k messages/s on a 2-core machine
/// and competed with the broker it measures.
struct BenchClient: Sendable {
    let url: String
    let strategy: BenchStrategy
    let sendTimes: SendTimeTable
    let configuration: WebSocketClientConfiguration
    let pingInterval: Duration
    let eventLoopGroup: any EventLoopGroup
    let logger: Logger

    /// Runs on `eventLoop` until the connection ends or the task is cancelled; cancellation is the
    /// normal end.
    func run(probe: ClientProbe, recorder: LatencyRecorder, settled: SettleSignal, on eventLoop: any EventLoop) async {
        guard let target = BenchTarget(url: url) else {
            probe.markEnded(reason: "not a ws:// URL: \(url)")
            settled.signal()
            return
        }
        let cancelled = Atomic<Bool>(false)
        do {
            let channel = try await ClientBootstrap(group: eventLoop)
                .channelOption(.tcpOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let handler = BenchConnectionHandler(
                            target: target, client: self, probe: probe, recorder: recorder, settled: settled)
                        try channel.pipeline.syncOperations.addHandler(handler)
                    }
                }
                .connect(host: target.host, port: target.port).get()
            try await withTaskCancellationHandler {
                try await channel.closeFuture.get()
            } onCancel: {
                cancelled.store(true, ordering: .relaxed)
                channel.close(promise: nil)
            }
        } catch {
            if !cancelled.load(ordering: .relaxed) && !Task.isCancelled { probe.markEnded(reason: "\(error)") }
        }
        if !cancelled.load(ordering: .relaxed) && !Task.isCancelled {
            probe.markEnded(reason: "closed by broker without a close frame")
        }
        settled.signal()
    }
}

/// Host, port and path of a `ws://` URL.
struct BenchTarget: Sendable {
    let host: String
    let port: Int
    let path: String

    init?(url: String) {
        guard url.hasPrefix("ws://") else { return nil }
        let rest = url.dropFirst("ws://".count)
        let authority = rest.prefix { $0 != "/" }
        path = rest.count > authority.count ? String(rest.dropFirst(authority.count)) : "/"
        if let colon = authority.lastIndex(of: ":"), let port = Int(authority[authority.index(after: colon)...]) {
            host = String(authority[..<colon])
            self.port = port
        } else {
            host = String(authority)
            port = 80
        }
    }
}

/// The client's protocol on its event loop: upgrade, subscribe, then parse server frames (never
/// masked) straight from the socket's bytes and tally the price entries.
final class BenchConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let target: BenchTarget
    private let client: BenchClient
    private let probe: ClientProbe
    private let recorder: LatencyRecorder
    private let settled: SettleSignal
    private var upgraded = false
    private var buffer = ByteBuffer()
    private var partial: ByteBuffer?
    private var entries: [ScannedEntry] = []
    private var ids: [UInt64] = []
    private var sentAt: [UInt64] = []
    private var latencies: [UInt64] = []
    private var pings: RepeatedTask?

    init(target: BenchTarget, client: BenchClient, probe: ClientProbe, recorder: LatencyRecorder, settled: SettleSignal) {
        self.target = target
        self.client = client
        self.probe = probe
        self.recorder = recorder
        self.settled = settled
        let size = client.strategy.size
        entries.reserveCapacity(size)
        ids.reserveCapacity(size)
        sentAt.reserveCapacity(size)
        latencies.reserveCapacity(size)
    }

    func channelActive(context: ChannelHandlerContext) {
        let request = "GET \(target.path) HTTP/1.1\r\nHost: \(target.host):\(target.port)\r\nUpgrade: websocket\r\n"
            + "Connection: Upgrade\r\nSec-WebSocket-Key: YnJva2VyYmVuY2gtY2xpZW50\r\nSec-WebSocket-Version: 13\r\n\r\n"
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: request)), promise: nil)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        pings?.cancel()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        buffer.writeBuffer(&bytes)
        if !upgraded {
            guard let end = buffer.readableBytesView.firstRange(of: Array("\r\n\r\n".utf8)) else { return }
            let head = buffer.readString(length: end.upperBound - buffer.readerIndex) ?? ""
            guard head.hasPrefix("HTTP/1.1 101") else {
                probe.markEnded(reason: "upgrade refused: \(head.prefix { $0 != "\r" })")
                context.close(promise: nil)
                return
            }
            upgraded = true
            probe.markConnected()
            send(client.strategy.subscribeMessage, context: context)
            let interval = TimeAmount.nanoseconds(Int64(client.pingInterval.components.seconds) * 1_000_000_000)
            pings = context.eventLoop.scheduleRepeatedTask(
                initialDelay: .nanoseconds(Int64(Double(interval.nanoseconds) * Double.random(in: 0.5..<1.0))), delay: interval
            ) { [bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)] _ in
                // Cancelled when the channel goes inactive, so the handler and context are still in place.
                bound.value.0.send(#"{"type":"ping"}"#, context: bound.value.1)
            }
        }
        while let frame = nextFrame() {
            handle(frame, context: context)
        }
        buffer.discardReadBytes()
    }

    /// The next complete frame in `buffer`: its opcode, FIN bit and payload.
    private func nextFrame() -> (opcode: UInt8, fin: Bool, payload: ByteBuffer)? {
        guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self),
            let second = buffer.getInteger(at: buffer.readerIndex + 1, as: UInt8.self)
        else { return nil }
        var headerLength = 2
        var length = Int(second & 0x7F)
        if length == 126 {
            guard let extended = buffer.getInteger(at: buffer.readerIndex + 2, as: UInt16.self) else { return nil }
            length = Int(extended)
            headerLength = 4
        } else if length == 127 {
            guard let extended = buffer.getInteger(at: buffer.readerIndex + 2, as: UInt64.self) else { return nil }
            length = Int(extended)
            headerLength = 10
        }
        guard buffer.readableBytes >= headerLength + length else { return nil }
        buffer.moveReaderIndex(forwardBy: headerLength)
        let payload = buffer.readSlice(length: length)!
        return (first & 0x0F, first & 0x80 != 0, payload)
    }

    private func handle(_ frame: (opcode: UInt8, fin: Bool, payload: ByteBuffer), context: ChannelHandlerContext) {
        let message: ByteBuffer
        switch frame.opcode {
        case 0x1, 0x2:
            guard frame.fin else {
                partial = frame.payload
                return
            }
            message = frame.payload
        case 0x0:
            guard var assembled = partial else { return }
            var payload = frame.payload
            assembled.writeBuffer(&payload)
            guard frame.fin else {
                partial = assembled
                return
            }
            partial = nil
            message = assembled
        case 0x8:
            var payload = frame.payload
            let code = payload.readInteger(as: UInt16.self).map(String.init) ?? "-"
            probe.markEnded(reason: "closed by broker: \(code) \(payload.readString(length: payload.readableBytes) ?? "")")
            context.close(promise: nil)
            return
        default:
            return
        }
        let receivedAt = MonotonicClock.nanoseconds()
        let kind = message.withUnsafeReadableBytes { ServerFrameScanner.scan($0, entries: &entries) }
        switch kind {
        case .priceUpdate:
            ids.removeAll(keepingCapacity: true)
            for entry in entries { ids.append(entry.tickID) }
            client.sendTimes.lookUp(ids, into: &sentAt)
            latencies.removeAll(keepingCapacity: true)
            probe.record(entries, sentAt: sentAt, receivedAt: receivedAt, strategy: client.strategy, latencies: &latencies)
            recorder.record(latencies, receivedAt: receivedAt)
        case .subscribed:
            probe.markSubscribed()
            settled.signal()
        case .error:
            probe.recordError(String(buffer: message))
            // An error before `subscribed` means the subscription was refused.
            if probe.status != .subscribed { settled.signal() }
        case .connected, .pong, .other:
            break
        }
    }

    /// Sends a masked text frame, as a client must.
    private func send(_ text: String, context: ChannelHandlerContext) {
        let payload = Array(text.utf8)
        var frame = ByteBuffer()
        frame.writeInteger(UInt8(0x81))
        if payload.count < 126 {
            frame.writeInteger(UInt8(0x80 | payload.count))
        } else {
            frame.writeInteger(UInt8(0x80 | 126))
            frame.writeInteger(UInt16(payload.count))
        }
        let mask = (0..<4).map { _ in UInt8.random(in: .min ... .max) }
        frame.writeBytes(mask)
        frame.writeBytes(payload.enumerated().map { $0.element ^ mask[$0.offset & 3] })
        context.writeAndFlush(wrapOutboundOut(frame), promise: nil)
    }
}
