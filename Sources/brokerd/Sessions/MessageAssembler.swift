import NIOCore

/// Reassembles a client's fragmented WebSocket messages and refuses any above the size limit.
///
/// Pure: frames in, complete messages (or a refusal) out. An oversized message is refused once,
/// when it crosses the limit; its remaining fragments are dropped without another refusal. A text
/// or binary frame while a fragmented message is unfinished drops that message and starts anew.
struct MessageAssembler {
    /// A data frame's opcode.
    enum Opcode: Equatable {
        case text
        case binary
        case continuation
    }

    enum Outcome: Equatable {
        /// A complete message with the opcode of its first frame.
        case message(ByteBuffer, Opcode)
        /// More fragments are needed (or an oversized message's fragments are being dropped).
        case incomplete
        /// The message grew past `maxBytes`: it is dropped.
        case tooLarge
        /// A continuation frame with no fragmented message to continue: it is dropped.
        case strayContinuation
    }

    let maxBytes: Int
    private var fragments = ByteBuffer()
    private var fragmentedOpcode: Opcode?
    private var skippingOversized = false

    init(maxBytes: Int) {
        self.maxBytes = maxBytes
    }

    /// Whether a fragmented message has begun and not ended: a text or binary frame now would
    /// drop it (the protocol allows no other message between its fragments). Not an oversized one
    /// whose fragments are being skipped: that one was refused and dropped already.
    var isAssembling: Bool { fragmentedOpcode != nil && !skippingOversized }

    /// Bytes of storage held for fragments: none between messages.
    var heldCapacity: Int { fragments.capacity }

    /// Takes one data frame's opcode, payload and FIN bit.
    ///
    /// A message of one frame is handed on as it came, without a copy; the fragments of a longer
    /// one are gathered in storage of its own, let go with the message: kept for the next one, it
    /// would hold every connection's largest message for the connection's life (clearing a buffer
    /// whose storage the message shares gives it new storage of the same size).
    mutating func take(_ opcode: Opcode, _ payload: ByteBuffer, fin: Bool) -> Outcome {
        let frameOpcode = opcode
        if frameOpcode != .continuation, fin {
            fragmentedOpcode = nil
            skippingOversized = false
            fragments = ByteBuffer()
            return payload.readableBytes > maxBytes ? .tooLarge : .message(payload, frameOpcode)
        }
        var opcode = opcode
        var data = payload
        switch frameOpcode {
        case .continuation:
            guard let started = fragmentedOpcode else { return .strayContinuation }
            opcode = started
            if !skippingOversized { fragments.writeBuffer(&data) }
        default:
            fragments.clear()
            skippingOversized = false
            fragments.writeBuffer(&data)
        }
        var outcome = Outcome.incomplete
        if fragments.readableBytes > maxBytes && !skippingOversized {
            skippingOversized = true
            fragments = ByteBuffer()
            outcome = .tooLarge
        }
        guard fin else {
            fragmentedOpcode = opcode
            return outcome
        }
        fragmentedOpcode = nil
        if skippingOversized {
            skippingOversized = false
            return outcome
        }
        let message = fragments
        fragments = ByteBuffer()
        return .message(message, opcode)
    }
}
