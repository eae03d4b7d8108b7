import Broker
import Journal
import NIOCore
import NIOWebSocket
import Synchronization

/// Writes one connection's messages on its channel's event loop.
///
/// Messages arrive as finished WebSocket frames (`WebSocketWire`) and enter the pipeline just below
/// NIO's frame encoder, through `EncodedFrameOutlet`: a fan-out's one buffer goes to every client
/// without being framed again per client. Frames the session writes itself (pong) still take the
/// encoder; both reach the socket in the order they were written on the event loop.
///
/// Everything for the client — fan-out rounds, replies, the close — reaches the writer as a task on
/// that event loop, in the order it was produced, so the queue has a single owner and no lock.
/// A fan-out round is written by its event loop a slice of connections per task (see `LoopFanOut`);
/// each connection writes everything its socket takes and flushes once, instead of one awaited write
/// per message. When the socket stops taking data, messages wait in the `OutboxQueue` (coalesced,
/// bounded) and the writer retries shortly; while nothing waits, a message goes straight to the socket.
final class ConnectionWriter: Sendable {
    let eventLoop: any EventLoop
    /// Price rounds of every connection on `eventLoop`.
    let fanOut: LoopFanOut
    private let channel: any Channel
    /// Its channel's identity: what holds the connection's `max_clients` slot.
    var channelID: ObjectIdentifier { ObjectIdentifier(channel) }
    /// The queue, the retry flag, the outlet's context and the close hook, only ever touched on
    /// `eventLoop` (the box checks it in debug builds).
    private let state: NIOLoopBoundBox<State>
    private let sent = Atomic<UInt64>(0)
    private let queued = Atomic<Int>(0)
    /// Since when (UTC microseconds) the socket has taken nothing while messages waited; 0 while
    /// it takes what there is.
    private let stalledSince = Atomic<Int64>(0)

    private struct State {
        var queue: OutboxQueue
        var retryScheduled = false
        /// Whether our close frame went out.
        var closeSent = false
        let outlet: ChannelHandlerContext
        /// Told on the event loop when the writer sent its close frame.
        var onCloseSent: (() -> Void)?
    }

    /// What happens to the socket after the close frame.
    enum AfterClose {
        /// The client answers with its close frame, or is cut off after `closeGrace`.
        case awaitReply
        /// The socket is closed once the frame is written (our answer to the client's close).
        case closeSocket
        /// The socket is closed right behind the frame, written or not (a connection replaced by
        /// another, which may lead nowhere: its socket may never take the frame).
        case closeSocketNow
    }

    /// How soon a writer whose socket stopped taking data tries again.
    static let retryInterval: TimeAmount = .milliseconds(2)
    /// How long a client gets to answer our close frame before the socket is closed anyway.
    static let closeGrace: TimeAmount = .seconds(5)

    /// Installs the outlet below the channel's WebSocket frame encoder and makes the writer; call
    /// on `channel.eventLoop`.
    static func install(on channel: any Channel, fanOut: LoopFanOut, capacity: Int) throws -> ConnectionWriter {
        let pipeline = channel.pipeline.syncOperations
        let encoder = try pipeline.handler(type: WebSocketFrameEncoder.self)
        let outlet = EncodedFrameOutlet()
        try pipeline.addHandler(outlet, position: .before(encoder))
        let context = try pipeline.context(handler: outlet)
        return ConnectionWriter(channel: channel, fanOut: fanOut, outlet: context, capacity: capacity)
    }

    /// Call on `channel.eventLoop`.
    private init(channel: any Channel, fanOut: LoopFanOut, outlet: ChannelHandlerContext, capacity: Int) {
        eventLoop = channel.eventLoop
        self.fanOut = fanOut
        self.channel = channel
        let queue = OutboxQueue(capacity: capacity)
        self.capacity = queue.capacity
        state = NIOLoopBoundBox(State(queue: queue, outlet: outlet), eventLoop: channel.eventLoop)
    }

    /// Messages waiting for the socket, as of the last write.
    var depth: Int { queued.load(ordering: .relaxed) }
    /// Whether the socket is still open; callable from anywhere.
    var isConnected: Bool { channel.isActive }
    /// How many messages may wait for the socket before the client is a slow consumer.
    let capacity: Int
    /// Messages handed to the socket.
    var sentCount: UInt64 { sent.load(ordering: .relaxed) }

    /// How long (microseconds, as of `now` on `ElapsedClock`) the socket has taken nothing while
    /// messages waited for it; 0 while it takes what there is. Callable from anywhere.
    func stalledFor(at now: Int64) -> Int64 {
        let since = stalledSince.load(ordering: .relaxed)
        return since == 0 ? 0 : max(0, now - since)
    }

    // MARK: On the event loop

    /// Queues a message that must arrive; call on `eventLoop`, then `flush()`.
    private func enqueue(_ frame: ByteBuffer) -> OutboxQueue.Pushed {
        state.value.queue.push(frame)
    }

    /// Queues a price update (shared while the client keeps up, merged when behind); call on `eventLoop`.
    private func enqueuePrices(
        _ frame: ByteBuffer, entries: [ServerMessage.PriceEntry], seq: UInt64, for subscription: Subscription
    ) -> OutboxQueue.Pushed {
        state.value.queue.pushPrices(frame, entries: entries, seq: seq, for: subscription)
    }

    /// Writes a message that must arrive (`enqueue`) and flushes; call on `eventLoop`.
    func deliver(_ frame: ByteBuffer) -> OutboxQueue.Pushed {
        if writeDirectly(frame) { return .queued }
        let pushed = enqueue(frame)
        flush()
        return pushed
    }

    /// Writes a fan-out price update (`enqueuePrices`) and flushes; call on `eventLoop`.
    func deliverPrices(
        _ frame: ByteBuffer, entries: [ServerMessage.PriceEntry], seq: UInt64, for subscription: Subscription
    ) -> OutboxQueue.Pushed {
        if writeDirectly(frame) { return .queued }
        let pushed = enqueuePrices(frame, entries: entries, seq: seq, for: subscription)
        flush()
        return pushed
    }

    /// Writes and flushes `frame` when nothing is queued before it and the socket takes data: what
    /// the queue would do, without passing through it (the common case of a client that keeps up).
    private func writeDirectly(_ frame: ByteBuffer) -> Bool {
        guard state.value.queue.isEmpty, !state.value.queue.isClosed, channel.isWritable else { return false }
        state.value.outlet.writeAndFlush(NIOAny(frame), promise: nil)
        sent.add(1, ordering: .relaxed)
        return true
    }

    /// Whether our close frame went out; call on `eventLoop`.
    var closeSent: Bool { state.value.closeSent }

    /// Sets what to do when the close frame went out (nil to forget it); call on `eventLoop`.
    func onCloseSent(_ hook: (() -> Void)?) {
        state.value.onCloseSent = hook
    }

    /// Writes what is queued while the socket takes it, flushes once, and retries later for the rest.
    func flush() {
        var written: UInt64 = 0
        // Writability is checked once per flush: what one round adds is bounded, and NIO buffers it.
        if channel.isWritable {
            while let frame = state.value.queue.next(framing: fanOut.textFrame) {
                write(frame)
                written += 1
            }
        }
        if written > 0 {
            state.value.outlet.flush()
            sent.add(written, ordering: .relaxed)
        }
        queued.store(state.value.queue.depth, ordering: .relaxed)
        if written > 0 || state.value.queue.isEmpty {
            stalledSince.store(0, ordering: .relaxed)
        } else if stalledSince.load(ordering: .relaxed) == 0 {
            stalledSince.store(ElapsedClock.microsecondsNow(), ordering: .relaxed)
        }
        guard !state.value.queue.isEmpty, !state.value.retryScheduled else { return }
        guard channel.isActive else {
            state.value.queue.close(discardQueued: true)
            queued.store(0, ordering: .relaxed)
            return
        }
        state.value.retryScheduled = true
        eventLoop.scheduleTask(in: Self.retryInterval) { [self] in
            state.value.retryScheduled = false
            flush()
        }
    }

    // MARK: From anywhere

    /// Queues a message that must arrive and flushes; callable from anywhere.
    func send(_ frame: ByteBuffer) {
        eventLoop.execute { [self] in
            _ = deliver(frame)
        }
    }

    /// Ends the writer: what is queued is written (or dropped when `discardQueued`), then, when a
    /// `code` is given, the close frame; a client that does not answer it is cut off after `closeGrace`.
    func close(_ code: WebSocketErrorCode?, reason: String, discardQueued: Bool, then after: AfterClose = .awaitReply) {
        eventLoop.execute { [self] in
            closeNow(code, reason: reason, discardQueued: discardQueued, then: after)
        }
    }

    /// `close`, on `eventLoop`. Once closed, the writer takes only a close frame it has not sent
    /// yet: a session that ended without one (`LiveConnection.finish`) can be overtaken by the close
    /// the broker decided on for it, and that close's frame still goes out.
    func closeNow(_ code: WebSocketErrorCode?, reason: String, discardQueued: Bool, then after: AfterClose = .awaitReply) {
        if state.value.queue.isClosed {
            guard code != nil, !state.value.closeSent, channel.isActive else { return }
        } else {
            state.value.queue.close(discardQueued: discardQueued)
            // The last messages go to NIO's buffer whether or not the socket takes them now: they
            // are bounded by the queue's capacity, and the close frame must come after them.
            var written: UInt64 = 0
            while let frame = state.value.queue.next(framing: fanOut.textFrame) {
                write(frame)
                written += 1
            }
            state.value.outlet.flush()
            sent.add(written, ordering: .relaxed)
            queued.store(0, ordering: .relaxed)
        }
        guard let code else { return }
        state.value.closeSent = true
        let closeWritten = state.value.outlet.writeAndFlush(NIOAny(WebSocketWire.closeFrame(code, reason: reason)))
        let channel = channel
        switch after {
        case .awaitReply:
            eventLoop.scheduleTask(in: Self.closeGrace) { channel.close(promise: nil) }
        case .closeSocket:
            closeWritten.whenComplete { _ in channel.close(promise: nil) }
        case .closeSocketNow:
            channel.close(promise: nil)
        }
        state.value.onCloseSent?()
    }

    private func write(_ frame: ByteBuffer) {
        state.value.outlet.write(NIOAny(frame), promise: nil)
    }
}

/// Where finished WebSocket frames enter a connection's pipeline: just below the frame encoder, so
/// they reach the socket (through anything below, such as TLS) without being framed again.
final class EncodedFrameOutlet: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
}
