import CompressNIO
import Glibc
import NIOCore
import Synchronization

/// A flag that threads poll to know they should stop.
final class StopFlag: Sendable {
    private let value = Atomic<Bool>(false)

    func set() { value.store(true, ordering: .relaxed) }
    var isSet: Bool { value.load(ordering: .relaxed) }
}

/// One client thread of the load tool: connects its share of the clients a few at a time, then
/// reads all of them with epoll until `stop` is set.
///
/// Every client's socket, buffers and protocol state belong to this thread alone; what the
/// benchmark reads (probes, the latency recorder, the settle signals) is shared and locked.
struct ClientLoop: Sendable {
    struct Member: Sendable {
        let probe: ClientProbe
        let settled: SettleSignal
    }

    let client: BenchClient
    let address: SocketAddress
    let members: [Member]
    /// This thread's clients' latencies.
    let recorder: LatencyRecorder
    /// Clients of this thread that may be connecting (not yet subscribed, refused or gone) at once.
    let connectLimit: Int
    let stop: StopFlag

    /// Runs on the calling thread until `stop` is set; then closes every socket.
    func run() {
        let runner: ClientLoopRunner
        do {
            runner = try ClientLoopRunner(self)
        } catch {
            for member in members {
                member.probe.markEnded(reason: "\(error)")
                member.settled.signal()
            }
            return
        }
        runner.run()
    }
}

/// The state of one client's connection; only its loop's thread touches it.
private final class ClientConnection {
    enum Phase { case waiting, connecting, upgrading, open, ended }

    let member: ClientLoop.Member
    /// Index in the loop's table, and the connection's epoll token.
    let token: Int
    var fd: Int32 = -1
    var phase = Phase.waiting
    /// Bytes of an incomplete upgrade answer or frame.
    var inbound: [UInt8] = []
    /// A fragmented message's payload so far.
    var fragments: [UInt8]?
    /// Whether the fragmented message is compressed.
    var fragmentsCompressed = false
    /// Whether the broker took the offer of permessage-deflate.
    var compression = false
    /// Bytes the socket did not take yet.
    var outbound: [UInt8] = []
    var watchingWrites = false
    var nextPing = UInt64.max
    /// Whether the connection still counts against the loop's connect limit.
    var connecting = false

    init(member: ClientLoop.Member, token: Int) {
        self.member = member
        self.token = token
    }
}

private final class ClientLoopRunner {
    private let loop: ClientLoop
    private let poll: Epoll
    private let connections: [ClientConnection]
    private let buffer: UnsafeMutableRawBufferPointer
    private let upgradeRequest: [UInt8]
    private let pingNanos: UInt64
    private var nextToStart = 0
    private var connecting = 0
    private var nextPingSweep: UInt64 = 0
    // Scratch space for one message at a time.
    private var entries: [ScannedEntry] = []
    private var ids: [UInt64] = []
    private var sentAt: [UInt64] = []
    private var latencies: [UInt64] = []
    /// Inflates compressed messages (permessage-deflate), one at a time.
    private let inflater: ZlibDecompressor?
    private var inflated = ByteBuffer()

    private static let pingSweepNanos: UInt64 = 100_000_000

    init(_ loop: ClientLoop) throws {
        self.loop = loop
        poll = try Epoll()
        connections = loop.members.enumerated().map { ClientConnection(member: $0.element, token: $0.offset) }
        buffer = .allocate(byteCount: 1 << 16, alignment: 16)
        upgradeRequest = loop.client.upgradeRequest
        inflater = loop.client.compression ? try ZlibDecompressor(algorithm: .deflate, windowSize: 15) : nil
        pingNanos = UInt64(max(loop.client.pingInterval.seconds, 0.001) * 1e9)
        let size = loop.client.strategy.size
        entries.reserveCapacity(size)
        ids.reserveCapacity(size)
        sentAt.reserveCapacity(size)
        latencies.reserveCapacity(size)
    }

    deinit { buffer.deallocate() }

    func run() {
        while !loop.stop.isSet {
            startConnects()
            // Short waits while connecting, so freed connect slots are used soon.
            poll.wait(milliseconds: nextToStart < connections.count ? 2 : 50) { token, events in
                handle(connections[Int(token)], events: events)
            }
            sweepPings()
        }
        for connection in connections where connection.fd >= 0 {
            close(connection.fd)
            connection.fd = -1
        }
    }

    // MARK: Connecting

    private func startConnects() {
        while connecting < loop.connectLimit && nextToStart < connections.count {
            let connection = connections[nextToStart]
            nextToStart += 1
            start(connection)
        }
    }

    private func start(_ connection: ClientConnection) {
        connection.connecting = true
        connecting += 1
        connection.phase = .connecting
        let fd = socket(loop.address.family, Int32(SOCK_STREAM.rawValue | SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return end(connection, "socket failed: \(String(cString: strerror(errno)))") }
        connection.fd = fd
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        let failure = loop.address.connect(fd)
        guard failure == 0 else { return end(connection, "connect failed: \(String(cString: strerror(failure)))") }
        do {
            try poll.add(fd, interest: Epoll.readable | Epoll.writable, token: UInt64(connection.token))
            connection.watchingWrites = true
        } catch {
            end(connection, "\(error)")
        }
    }

    private func finishConnect(_ connection: ClientConnection) {
        var failure: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(connection.fd, SOL_SOCKET, SO_ERROR, &failure, &length)
        guard failure == 0 else { return end(connection, "connect failed: \(String(cString: strerror(failure)))") }
        connection.phase = .upgrading
        send(upgradeRequest, on: connection)
        if connection.phase == .upgrading { watch(connection, writes: !connection.outbound.isEmpty) }
    }

    // MARK: Events

    private func handle(_ connection: ClientConnection, events: UInt32) {
        switch connection.phase {
        case .connecting:
            finishConnect(connection)
        case .upgrading, .open:
            if events & Epoll.writable != 0 { flushOutbound(connection) }
            if events & (Epoll.readable | Epoll.failed) != 0 { readAvailable(connection) }
        case .waiting, .ended:
            break
        }
    }

    private func readAvailable(_ connection: ClientConnection) {
        let count = read(connection.fd, buffer.baseAddress, buffer.count)
        if count > 0 {
            consume(UnsafeRawBufferPointer(rebasing: buffer[0..<count]), on: connection)
        } else if count == 0 {
            end(connection, "closed by broker without a close frame")
        } else if errno != EAGAIN && errno != EINTR {
            end(connection, "read failed: \(String(cString: strerror(errno)))")
        }
    }

    /// Handles what can be handled of `bytes` (after what is left from earlier reads) and keeps the rest.
    private func consume(_ bytes: UnsafeRawBufferPointer, on connection: ClientConnection) {
        if connection.inbound.isEmpty {
            let used = process(bytes, on: connection)
            if connection.phase != .ended && used < bytes.count {
                connection.inbound = Array(bytes[used...])
            }
        } else {
            let pending = connection.inbound + Array(bytes)
            let used = pending.withUnsafeBytes { process($0, on: connection) }
            connection.inbound = connection.phase == .ended ? [] : Array(pending[used...])
        }
    }

    /// Handles the upgrade answer and the complete frames in `bytes`; returns how many bytes it used.
    private func process(_ bytes: UnsafeRawBufferPointer, on connection: ClientConnection) -> Int {
        var offset = 0
        if connection.phase == .upgrading {
            guard let headEnd = Self.endOfHead(bytes) else {
                if bytes.count > 16_384 { end(connection, "upgrade answer has no end") }
                return 0
            }
            let statusLine = String(decoding: bytes.prefix { $0 != 0x0D }, as: UTF8.self)
            guard statusLine.hasPrefix("HTTP/1.1 101") else {
                end(connection, "upgrade refused: \(statusLine)")
                return bytes.count
            }
            connection.phase = .open
            connection.compression = String(decoding: bytes[..<headEnd], as: UTF8.self).contains("permessage-deflate")
            connection.member.probe.markConnected()
            send(WebSocketClientFraming.clientText(loop.client.strategy.subscribeMessage), on: connection)
            connection.nextPing = MonotonicClock.nanoseconds() + UInt64(Double(pingNanos) * Double.random(in: 0.5..<1.0))
            offset = headEnd
        }
        while connection.phase == .open {
            switch WebSocketClientFraming.next(
                in: bytes, at: offset, maximumPayload: loop.client.maximumFrameSize, compression: connection.compression)
            {
            case .incomplete:
                return offset
            case .invalid(let reason):
                end(connection, reason)
            case .frame(let frame):
                offset = frame.end
                handle(frame, payload: UnsafeRawBufferPointer(rebasing: bytes[frame.payload]), on: connection)
            }
        }
        return bytes.count
    }

    /// The index just past the blank line ending an HTTP head, if `bytes` hold one.
    private static func endOfHead(_ bytes: UnsafeRawBufferPointer) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for index in 3..<bytes.count
        where bytes[index] == 0x0A && bytes[index - 1] == 0x0D && bytes[index - 2] == 0x0A && bytes[index - 3] == 0x0D {
            return index + 1
        }
        return nil
    }

    private func handle(_ frame: WebSocketClientFraming.Frame, payload: UnsafeRawBufferPointer, on connection: ClientConnection) {
        switch frame.opcode {
        case WebSocketClientFraming.text, WebSocketClientFraming.binary:
            if frame.fin {
                receive(payload, compressed: frame.compressed, on: connection)
            } else {
                connection.fragments = Array(payload)
                connection.fragmentsCompressed = frame.compressed
            }
        case WebSocketClientFraming.continuation:
            guard var message = connection.fragments else {
                return end(connection, "a continuation frame with no message to continue")
            }
            message.append(contentsOf: payload)
            if frame.fin {
                connection.fragments = nil
                message.withUnsafeBytes { receive($0, compressed: connection.fragmentsCompressed, on: connection) }
            } else {
                connection.fragments = message
            }
        case WebSocketClientFraming.close:
            let code = payload.count >= 2 ? String(UInt16(payload[0]) << 8 | UInt16(payload[1])) : "-"
            let reason = String(decoding: payload.dropFirst(2), as: UTF8.self)
            end(connection, "closed by broker: \(code) \(reason)")
        case WebSocketClientFraming.ping:
            send(
                WebSocketClientFraming.clientFrame(
                    opcode: WebSocketClientFraming.pong, payload: payload, mask: WebSocketClientFraming.randomMask()),
                on: connection)
        default:
            break
        }
    }

    /// One complete message from the broker, inflated first when it came compressed.
    private func receive(_ message: UnsafeRawBufferPointer, compressed: Bool, on connection: ClientConnection) {
        guard compressed else { return deliver(message, on: connection) }
        guard let inflater else { return end(connection, "a compressed message without permessage-deflate") }
        connection.member.probe.noteCompressedMessage()
        var input = ByteBuffer(bytes: message)
        input.writeBytes([0x00, 0x00, 0xFF, 0xFF])
        inflated.clear()
        inflated.reserveCapacity(max(4_096, message.count * 8))
        do {
            while true {
                do {
                    try inflater.inflate(from: &input, to: &inflated)
                    break
                } catch let error as CompressNIOError where error == .bufferOverflow {
                    inflated.reserveCapacity(inflated.capacity * 2)
                } catch let error as CompressNIOError where error == .inputBufferOverflow {
                    break
                }
            }
            try inflater.reset()
        } catch {
            try? inflater.reset()  // the loop's other connections use it next
            return end(connection, "a compressed message that does not inflate: \(error)")
        }
        inflated.withUnsafeReadableBytes { deliver($0, on: connection) }
    }

    /// One complete message from the broker.
    private func deliver(_ message: UnsafeRawBufferPointer, on connection: ClientConnection) {
        let receivedAt = MonotonicClock.nanoseconds()
        let probe = connection.member.probe
        switch ServerFrameScanner.scan(message, entries: &entries) {
        case .priceUpdate:
            ids.removeAll(keepingCapacity: true)
            for entry in entries { ids.append(entry.tickID) }
            loop.client.sendTimes.lookUp(ids, into: &sentAt)
            latencies.removeAll(keepingCapacity: true)
            probe.record(entries, sentAt: sentAt, receivedAt: receivedAt, strategy: loop.client.strategy, latencies: &latencies)
            loop.recorder.record(latencies, receivedAt: receivedAt)
        case .subscribed:
            probe.markSubscribed()
            settle(connection)
        case .error:
            probe.recordError(String(decoding: message, as: UTF8.self))
            // An error before `subscribed` means the subscription was refused.
            if probe.status != .subscribed { settle(connection) }
        case .connected, .pong, .other:
            break
        }
    }

    // MARK: Writing

    private func send(_ bytes: [UInt8], on connection: ClientConnection) {
        guard connection.outbound.isEmpty else {
            connection.outbound += bytes
            return
        }
        let written = bytes.withUnsafeBytes { write(connection.fd, $0.baseAddress, $0.count) }
        if written == bytes.count { return }
        if written < 0 && errno != EAGAIN && errno != EINTR {
            return end(connection, "write failed: \(String(cString: strerror(errno)))")
        }
        connection.outbound = Array(bytes[max(0, written)...])
        watch(connection, writes: true)
    }

    private func flushOutbound(_ connection: ClientConnection) {
        guard !connection.outbound.isEmpty else { return watch(connection, writes: false) }
        let written = connection.outbound.withUnsafeBytes { write(connection.fd, $0.baseAddress, $0.count) }
        if written < 0 {
            if errno != EAGAIN && errno != EINTR { end(connection, "write failed: \(String(cString: strerror(errno)))") }
            return
        }
        connection.outbound.removeFirst(written)
        if connection.outbound.isEmpty { watch(connection, writes: false) }
    }

    private func watch(_ connection: ClientConnection, writes: Bool) {
        guard connection.watchingWrites != writes, connection.fd >= 0 else { return }
        do {
            try poll.modify(
                connection.fd, interest: Epoll.readable | (writes ? Epoll.writable : 0), token: UInt64(connection.token))
            connection.watchingWrites = writes
        } catch {
            end(connection, "\(error)")
        }
    }

    private func sweepPings() {
        let now = MonotonicClock.nanoseconds()
        guard now >= nextPingSweep else { return }
        nextPingSweep = now + Self.pingSweepNanos
        for connection in connections where connection.phase == .open && connection.nextPing <= now {
            connection.nextPing = now + pingNanos
            send(WebSocketClientFraming.clientText(#"{"type":"ping"}"#), on: connection)
        }
    }

    // MARK: Ending

    /// The client is subscribed, refused or gone: it no longer counts as connecting.
    private func settle(_ connection: ClientConnection) {
        if connection.connecting {
            connection.connecting = false
            connecting -= 1
        }
        connection.member.settled.signal()
    }

    private func end(_ connection: ClientConnection, _ reason: String) {
        guard connection.phase != .ended else { return }
        connection.member.probe.markEnded(reason: reason)
        if connection.fd >= 0 {
            close(connection.fd)
            connection.fd = -1
        }
        connection.phase = .ended
        connection.outbound = []
        connection.fragments = nil
        settle(connection)
    }
}
