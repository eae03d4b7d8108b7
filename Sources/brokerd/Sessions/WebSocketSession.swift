import Broker
import Journal
import Hummingbird
import NIOCore
import NIOWebSocket

/// One WebSocket connection, served by a channel handler on the connection's event loop instead
/// of a task that lives as long as the connection.
///
/// Frames are read here, after NIO's frame decoder and protocol error handler. Control frames are
/// answered at once; data frames go through the `SessionInbox`: while nothing is in flight they
/// are worked on right here (`FrameIntake`), and the first one that needs the store starts a
/// short-lived task that carries it out (`ClientSession.perform`), takes whatever arrived
/// meanwhile in order, and ends when nothing is left. Opening the session (auth, journal) and
/// ending it (journaling the disconnect) are such tasks too. An idle connection holds no task:
/// its memory is the channel, its handlers and this object.
final class WebSocketSession: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    /// Frames that may wait for the task before the socket is no longer read.
    static let maxQueuedFrames = 64

    private let runtime: BrokerRuntime
    private let writer: ConnectionWriter
    /// The upgrade request, until the session is open.
    private var upgrade: Request?
    private var inbox = SessionInbox<WebSocketFrame>()
    private var intake: FrameIntake
    private var session: ClientSession?
    private var connection: LiveConnection?
    private var readingPaused = false
    private var context: ChannelHandlerContext?

    /// What the task that owns the inbox does next.
    enum Step: Sendable {
        case perform(ClientSession, IdentifiedRequest, LiveConnection)
        case end(ClientSession, LiveConnection)
        case done
    }

    /// Call on the channel's event loop, with the writer installed on the channel.
    init(upgrade: Request, writer: ConnectionWriter, runtime: BrokerRuntime) {
        self.upgrade = upgrade
        self.writer = writer
        self.runtime = runtime
        intake = FrameIntake(limits: runtime.connectionLimits, now: WallClock.microsecondsNow())
    }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        writer.onCloseSent { [weak self] in self?.closeFrameSent() }
        guard let upgrade else { return }
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let eventLoop = context.eventLoop
        let peer = context.channel.remoteAddress
        let writer = writer
        let runtime = runtime
        Task { [upgrade, peer, writer, runtime, eventLoop, bound] in
            await WebSocketSession.open(upgrade: upgrade, peer: peer, writer: writer, runtime: runtime, on: eventLoop, bound)
        }
        // A client gone during the upgrade sends no `channelInactive` to a handler added after it.
        if !context.channel.isActive { beginEnd(dropQueued: false) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        writer.onCloseSent(nil)
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        connection?.noteActivity()
        // Every client frame is masked (RFC 6455 §5.1), and no reserved bit may be set (§5.2)
        // but RSV1 on the first frame of a compressed message, where permessage-deflate was
        // negotiated (RFC 7692 §6): otherwise the connection fails, whatever the opcode.
        guard frame.maskKey != nil, frame.reservedBits.isEmpty || (frame.reservedBits == .rsv1 && mayBeCompressed(frame)) else {
            return failProtocol()
        }
        switch frame.opcode {
        case .text, .binary, .continuation:
            receive(WebSocketFrame(fin: frame.fin, rsv1: frame.rsv1, opcode: frame.opcode, data: frame.unmaskedData))
        case .ping:
            let payload = frame.unmaskedData
            guard frame.fin, payload.readableBytes < 126 else { return failProtocol() }
            // A client that pings without reading gets no pongs queued up in memory: while the
            // socket takes nothing, pings go unanswered (RFC 6455 §5.5.3 lets an endpoint answer
            // only the latest of several pings).
            guard !writer.closeSent, context.channel.isWritable else { return }
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, data: payload)), promise: nil)
        case .pong:
            guard frame.fin else { return failProtocol() }
        case .connectionClose:
            receivedClose(frame)
        default:
            failProtocol()
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        beginEnd(dropQueued: false)
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            // The client shut its side without a close frame: answer with ours and close.
            beginEnd(dropQueued: false)
            writer.closeNow(.normalClosure, reason: "", discardQueued: false, then: .closeSocket)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Protocol errors were answered by `WebSocketProtocolErrorHandler` (1002, 1009) and I/O
        // errors close the channel; either way the session ends with `channelInactive`.
        runtime.logger.debug("connection error", metadata: ["client": "\(connection?.clientID ?? "-")", "error": "\(error)"])
    }

    // MARK: Frames

    private func receive(_ frame: WebSocketFrame) {
        switch inbox.receive(frame) {
        case .workNow:
            guard let session, let connection else { return }
            if let request = intake.take(frame, connection: connection, logger: runtime.logger) {
                inbox.claim()
                start(.perform(session, request, connection))
            }
            if connection.requestedClose != nil { beginEnd(dropQueued: true) }
        case .queued:
            if inbox.queued >= Self.maxQueuedFrames { pauseReading() }
        case .dropped:
            break
        }
    }

    /// The client's close frame: answered with ours (unless we sent one first) and the socket closed.
    private func receivedClose(_ frame: WebSocketFrame) {
        guard !writer.closeSent else {
            context?.close(promise: nil)
            return
        }
        beginEnd(dropQueued: false)
        writer.closeNow(Self.answer(toClose: frame.unmaskedData), reason: "", discardQueued: false, then: .closeSocket)
    }

    /// The close code that answers a client's close frame with `payload` (RFC 6455 §7.4): 1002
    /// for a code no endpoint may send, 1007 for a reason that is not UTF-8 (§5.5.1, §8.1).
    static func answer(toClose payload: ByteBuffer) -> WebSocketErrorCode {
        switch payload.readableBytes {
        case 0: return .normalClosure
        case 1: return .protocolError
        default:
            let code = payload.getInteger(at: payload.readerIndex, as: UInt16.self) ?? 0
            switch code {
            case 1000...1003, 1007...1011, 3000...4999:
                let reason = payload.readableBytesView.dropFirst(2)
                return String(validating: reason, as: UTF8.self) == nil ? .dataInconsistentWithMessage : .normalClosure
            default: return .protocolError
            }
        }
    }

    /// Whether `frame` may carry RSV1: the first frame of a text or binary message, on a
    /// connection that negotiated permessage-deflate (never a continuation or control frame).
    private func mayBeCompressed(_ frame: WebSocketFrame) -> Bool {
        writer.fanOut.compresses && (frame.opcode == .text || frame.opcode == .binary)
    }

    /// Closes the connection for a WebSocket protocol violation (1002).
    private func failProtocol() {
        writer.closeNow(.protocolError, reason: "", discardQueued: false, then: .closeSocket)
    }

    private func pauseReading() {
        guard !readingPaused, let context else { return }
        readingPaused = true
        context.channel.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in }
    }

    private func resumeReading() {
        guard readingPaused, let context else { return }
        readingPaused = false
        context.channel.setOption(ChannelOptions.autoRead, value: true).whenComplete { _ in }
        context.read()
    }

    // MARK: The inbox's task

    /// The session is open (or was refused: nil); the opening task goes on with what queued meanwhile.
    private func didOpen(_ opened: (ClientSession, LiveConnection)?) -> Step {
        upgrade = nil
        if let opened {
            session = opened.0
            connection = opened.1
        } else {
            _ = inbox.end(dropQueued: true)
        }
        return nextStep()
    }

    /// The next thing the owning task does: frames that need no store are worked on here, on the
    /// event loop, until one needs the store, the session ends, or nothing is left.
    private func nextStep() -> Step {
        while true {
            switch inbox.next() {
            case .frame(let frame):
                guard let session, let connection else { continue }
                let request = intake.take(frame, connection: connection, logger: runtime.logger)
                // Closed by the broker (abuse, slow consumer…): nothing more is read.
                if connection.requestedClose != nil { _ = inbox.end(dropQueued: true) }
                if let request { return .perform(session, request, connection) }
            case .end:
                guard let session, let connection else { return .done }
                return .end(session, connection)
            case .idle:
                resumeReading()
                return .done
            }
        }
    }

    /// Our close frame went out: when the broker asked for it, the session ends now, and frames
    /// still waiting are not read (as a session that stops reading would not).
    private func closeFrameSent() {
        guard let connection, connection.requestedClose != nil else { return }
        beginEnd(dropQueued: true)
    }

    private func beginEnd(dropQueued: Bool) {
        guard inbox.end(dropQueued: dropQueued) else { return }
        start(nextStep())
    }

    private func start(_ step: Step) {
        let eventLoop = writer.eventLoop
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        Task { [step, eventLoop, bound] in
            await WebSocketSession.run(step, on: eventLoop, bound)
        }
    }

    /// Opens the session, then goes on with the frames that arrived meanwhile.
    private static func open(
        upgrade: Request, peer: SocketAddress?, writer: ConnectionWriter, runtime: BrokerRuntime, on eventLoop: any EventLoop,
        _ bound: NIOLoopBound<WebSocketSession>
    ) async {
        let opened = await ClientSession.open(upgrade: upgrade, peer: peer, writer: writer, runtime: runtime)
        let next: Step
        do {
            next = try await eventLoop.submit { bound.value.didOpen(opened) }.get()
        } catch {
            return
        }
        await run(next, on: eventLoop, bound)
    }

    /// Runs steps until the inbox is idle or the session ended; each next step is taken on the loop.
    private static func run(_ first: Step, on eventLoop: any EventLoop, _ bound: NIOLoopBound<WebSocketSession>) async {
        var step = first
        while true {
            switch step {
            case .perform(let session, let request, let connection):
                await session.perform(request, connection: connection)
            case .end(let session, let connection):
                await session.end(connection)
                return
            case .done:
                return
            }
            do {
                step = try await eventLoop.submit { bound.value.nextStep() }.get()
            } catch {
                return
            }
        }
    }
}
