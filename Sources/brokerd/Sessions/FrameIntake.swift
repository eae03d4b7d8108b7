import Broker
import Journal
import Logging
import NIOCore
import NIOWebSocket

/// Takes one client's data frames in arrival order on the connection's event loop: counts them for
/// the heartbeat, reassembles fragments, enforces the size limit, the rate limit and the abuse
/// strikes, and answers what needs no store (pong, errors). What needs the store comes back as a
/// request for `ClientSession.perform`.
struct FrameIntake {
    /// Strikes before an abusive client (sustained over-rate, oversized frames) is closed.
    static let strikesBeforeKick = 20

    private let limits: Configuration.Limits
    private var bucket: TokenBucket
    private var strikes = 0
    private var assembler: MessageAssembler

    init(limits: Configuration.Limits, now: Int64) {
        self.limits = limits
        bucket = TokenBucket(rate: limits.messagesPerSecond, burst: limits.burst, now: now)
        assembler = MessageAssembler(maxBytes: limits.maxFrameBytes)
    }

    /// Takes one data frame (unmasked); returns the request that needs the store, if it completed one.
    mutating func take(_ frame: WebSocketFrame, connection: LiveConnection, logger: Logger) -> IdentifiedRequest? {
        connection.noteReceived()
        var request: IdentifiedRequest?
        let opcode = Self.opcode(frame.opcode)
        if opcode != .continuation, assembler.isAssembling {
            strikes += 1
            connection.send(ServerMessage.error(
                "incomplete_message", "a new message began before the last fragment of the one before; that one was dropped"))
        }
        switch assembler.take(opcode, frame.data, fin: frame.fin) {
        case .message(let message, let opcode):
            request = handle(message, isText: opcode == .text, connection: connection)
        case .tooLarge:
            strikes += 5
            connection.send(ServerMessage.error(
                "frame_too_large", "messages may be at most \(limits.maxFrameBytes) bytes; this one was dropped"))
        case .strayContinuation:
            strikes += 1
            connection.send(ServerMessage.error(
                "unexpected_continuation", "a continuation frame came with no fragmented message to continue; it was dropped"))
        case .incomplete:
            break
        }
        if strikes >= Self.strikesBeforeKick {
            logger.warning("closing an abusive client", metadata: ["client": "\(connection.clientID)"])
            connection.requestClose(.kicked)
        }
        return request
    }

    private mutating func handle(_ message: ByteBuffer, isText: Bool, connection: LiveConnection) -> IdentifiedRequest? {
        guard bucket.take(now: WallClock.microsecondsNow()) else {
            strikes += 1
            LabeledCounters.messagesIn.increment("rate_limited")
            // Parsed only for its id: a client pacing its requests learns which one to send again.
            connection.send(ServerMessage.error(
                "rate_limited",
                "more than \(limits.messagesPerSecond) messages per second (burst \(limits.burst)); slow down",
                answering: isText ? ClientRequest.id(in: message.readableBytesView) : nil))
            return nil
        }
        guard isText else {
            strikes += 1
            LabeledCounters.messagesIn.increment("binary")
            connection.send(ServerMessage.error("binary_not_supported", "send JSON text frames; binary frames are not part of the protocol"))
            return nil
        }
        // Read as it is, never repaired: a replacement character in a target would be journaled.
        guard let text = String(validating: message.readableBytesView, as: UTF8.self) else {
            strikes += 1
            LabeledCounters.messagesIn.increment("invalid")
            connection.send(ServerMessage.error("invalid_utf8", "text frames must be UTF-8; this one was dropped"))
            return nil
        }
        let parsed: IdentifiedRequest
        do {
            parsed = try ClientRequest.parseIdentified(text, maxTargetLength: Broker.Limits().maxTargetLength)
        } catch {
            LabeledCounters.messagesIn.increment("invalid")
            connection.send(ServerMessage.error(error.error, error.details, answering: error.id))
            return nil
        }
        LabeledCounters.messagesIn.increment(parsed.request.type)
        strikes = max(0, strikes - 1)
        guard parsed.request != .ping else {
            connection.send(ServerMessage.reply(ServerMessage.Pong(timestamp: WireTime.now()), to: parsed.id))
            return nil
        }
        return parsed
    }

    /// The assembler's opcode for a data frame's (text, binary or continuation).
    private static func opcode(_ opcode: WebSocketOpcode) -> MessageAssembler.Opcode {
        switch opcode {
        case .text: .text
        case .binary: .binary
        default: .continuation
        }
    }
}
