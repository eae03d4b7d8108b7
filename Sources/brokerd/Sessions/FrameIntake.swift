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
    /// Strikes before an abusive client (oversized frames, binary or broken messages) is closed.
    static let strikesBeforeKick = 20
    /// A client refused for its rate again and again for this long, never quiet for
    /// `overRateQuiet` in between, is closed: it keeps sending after it was told.
    static let sustainedOverRate: Int64 = 2_000_000
    /// A pause in refusals this long ends a run of them: the client slowed down. Half the clients'
    /// wait after a refusal (1 s), so that a client pacing itself starts a new run each time.
    static let overRateQuiet: Int64 = 500_000

    private let limits: Configuration.Limits
    private var bucket: TokenBucket
    private var strikes = 0
    /// Over the rate: when the current run of refusals began and when its last one was (µs).
    private var overRate: (since: Int64, last: Int64)?
    /// When a refusal was last logged, and how many were not logged since (µs).
    private var refusalLog: (last: Int64, unlogged: Int) = (0, 0)
    private var assembler: MessageAssembler
    /// Whether the message being taken in is compressed (RSV1 on its first frame; only on a
    /// connection that negotiated permessage-deflate, `WebSocketSession` fails any other).
    private var compressedMessage = false

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
            refuse(
                "incomplete_message", "a new message began before the last fragment of the one before; that one was dropped",
                connection: connection, logger: logger)
        }
        if opcode != .continuation { compressedMessage = frame.rsv1 }
        switch assembler.take(opcode, frame.data, fin: frame.fin) {
        case .message(let message, let opcode):
            if let message = compressedMessage ? inflate(message, connection: connection, logger: logger) : message {
                request = handle(message, isText: opcode == .text, connection: connection, logger: logger)
            }
        case .tooLarge:
            refuseTooLarge("", connection: connection, logger: logger)
        case .strayContinuation:
            strikes += 1
            refuse(
                "unexpected_continuation", "a continuation frame came with no fragmented message to continue; it was dropped",
                connection: connection, logger: logger)
        case .incomplete:
            break
        }
        if strikes >= Self.strikesBeforeKick {
            logger.warning("closing an abusive client", metadata: ["client": "\(connection.clientID)"])
            connection.requestClose(.kicked)
        }
        return request
    }

    /// A compressed message inflated, up to `max_frame_bytes`; nil, refused, when it cannot be.
    private mutating func inflate(_ message: ByteBuffer, connection: LiveConnection, logger: Logger) -> ByteBuffer? {
        do {
            return try PerMessageDeflate.inflate(message, maxBytes: limits.maxFrameBytes)
        } catch {
            switch error {
            case .tooLarge:
                refuseTooLarge(" once inflated", connection: connection, logger: logger)
            case .corrupt:
                strikes += 1
                refuse(
                    "invalid_compression", "the message's deflate data could not be inflated (RFC 7692); it was dropped",
                    connection: connection, logger: logger)
            }
            return nil
        }
    }

    private mutating func refuseTooLarge(_ how: String, connection: LiveConnection, logger: Logger) {
        strikes += 5
        refuse(
            "frame_too_large", "messages may be at most \(limits.maxFrameBytes) bytes\(how); this one was dropped",
            connection: connection, logger: logger)
    }

    private mutating func handle(_ message: ByteBuffer, isText: Bool, connection: LiveConnection, logger: Logger) -> IdentifiedRequest? {
        let now = WallClock.microsecondsNow()
        guard bucket.take(now: now) else {
            // Not a strike each: a client re-subscribing in one burst gets a few dozen refusals
            // before the first can reach it, and is not abusive for that. One that goes on being
            // refused is.
            if Self.isSustainedOverRate(&overRate, now: now) { strikes = Self.strikesBeforeKick }
            LabeledCounters.messagesIn.increment("rate_limited")
            // Parsed only for its id: a client pacing its requests learns which one to send again.
            refuse(
                "rate_limited",
                "more than \(limits.messagesPerSecond) messages per second (burst \(limits.burst)); slow down",
                answering: isText ? ClientRequest.id(in: message.readableBytesView) : nil,
                connection: connection, logger: logger)
            return nil
        }
        guard isText else {
            strikes += 1
            LabeledCounters.messagesIn.increment("binary")
            refuse(
                "binary_not_supported", "send JSON text frames; binary frames are not part of the protocol",
                connection: connection, logger: logger)
            return nil
        }
        // Read as it is, never repaired: a replacement character in a target would be journaled.
        guard let text = String(validating: message.readableBytesView, as: UTF8.self) else {
            strikes += 1
            LabeledCounters.messagesIn.increment("invalid")
            refuse("invalid_utf8", "text frames must be UTF-8; this one was dropped", connection: connection, logger: logger)
            return nil
        }
        let parsed: IdentifiedRequest
        do {
            parsed = try ClientRequest.parse(text, maxTargetLength: Broker.Limits().maxTargetLength)
        } catch {
            LabeledCounters.messagesIn.increment("invalid")
            refuse(error.error, error.details, answering: error.id, connection: connection, logger: logger)
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

    /// Answers a refused message with `error` and logs it at debug: one line a second at most per
    /// connection, saying how many went unlogged before it, so a flood of bad messages is no
    /// flood of lines.
    private mutating func refuse(
        _ error: String, _ details: String, answering id: RequestID? = nil, connection: LiveConnection, logger: Logger
    ) {
        connection.send(ServerMessage.error(error, details, answering: id))
        let now = WallClock.microsecondsNow()
        guard now - refusalLog.last >= 1_000_000 else {
            refusalLog.unlogged += 1
            return
        }
        logger.debug(
            "refused a client message",
            metadata: [
                "client": "\(connection.clientID)", "error": "\(error)", "details": "\(details)",
                "unlogged_before": .stringConvertible(refusalLog.unlogged),
            ])
        refusalLog = (now, 0)
    }

    /// Notes a refusal for the rate at `now` in `run`; true once the refusals have gone on for
    /// `sustainedOverRate` without a pause of `overRateQuiet`.
    static func isSustainedOverRate(_ run: inout (since: Int64, last: Int64)?, now: Int64) -> Bool {
        guard let current = run, now - current.last < overRateQuiet else {
            run = (since: now, last: now)
            return false
        }
        run = (since: current.since, last: now)
        return now - current.since >= sustainedOverRate
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
