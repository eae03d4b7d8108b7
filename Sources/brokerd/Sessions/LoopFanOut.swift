import Broker
import Metrics
import NIOCore

/// The pushes bound for one event loop's connections: price updates merged while the loop is
/// busy, and messages kept in order with them.
///
/// A push only records its prices on the loop (latest per code, per subscription) and makes sure
/// the loop is writing. Pending prices are encoded once per subscription and written to its
/// connections a slice at a time (`sliceSize` sockets per loop task), so the loop reads new pushes
/// between slices. A loop that falls behind writes fewer, fresher rounds instead of a growing
/// backlog of stale ones: the rate of rounds adapts to what the sockets take, and ingest never
/// waits for the fan-out.
///
/// Prices that arrive while a round of the same subscription is being written join it, unless a
/// message is queued behind that round: the connections it has not reached yet get one message with
/// both (encoded once more for them), and only those it already wrote need a next round. So a tick
/// waits at most for the rest of the round in progress, not for that round and then a whole next one.
///
/// Other pushes (bar updates, news, alerts) take the same path, so a connection gets everything in
/// seq order: a message that arrives while price rounds for any of its recipients are pending seals
/// them, and the rounds pending before them (they are encoded and queued ahead of it); prices that
/// come after it start new rounds behind it. Rounds none of its recipients get stay open to merging,
/// so a stream of bar updates to a few stock subscribers does not stop the rounds of everyone else
/// from merging while the loop is busy. Price rounds of different subscriptions are merged apart, so
/// between themselves they can reach a connection out of seq order.
final class LoopFanOut: Sendable {
    let eventLoop: any EventLoop
    /// How many connections one loop task writes before the loop takes other work.
    let sliceSize: Int
    /// Pending rounds and encoded pushes; only touched on `eventLoop`.
    private let state: NIOLoopBoundBox<State>
    private let dispatch = Metrics.Timer(label: "brokerd_fanout_dispatch_seconds")

    /// Enough sockets per task that a task costs little next to its writes (~10 µs each), few
    /// enough that pushes wait a fraction of a millisecond for the loop.
    static let defaultSliceSize = 32

    private struct State {
        var rounds: [Subscription: Round] = [:]
        /// Subscriptions in the order their first pending push arrived.
        var order: [Subscription] = []
        /// Whether a task that writes is queued on the loop.
        var writeQueued = false
        /// Pushes encoded and waiting for the loop, oldest first.
        var encoded = CircularBuffer<Encoded>()
        /// The push being written, a slice at a time.
        var writing: InProgress?
    }

    /// A push encoded once for all its connections on this loop.
    private struct Encoded {
        enum Kind {
            /// A price round: merged per connection when that connection is behind (see `OutboxQueue`).
            case prices(entries: [ServerMessage.PriceEntry], seq: UInt64, subscription: Subscription)
            /// A message every connection must get.
            case message(type: String)
        }

        let kind: Kind
        let frame: ByteBuffer
        let connections: [LiveConnection]
        let since: ContinuousClock.Instant
    }

    private struct InProgress {
        var push: Encoded
        /// How many of its connections have it.
        var written: Int
    }

    private struct Round {
        var entries: [String: ServerMessage.PriceEntry]
        var seq: UInt64
        /// The connections on this loop still to get these prices: the subscription's as of the
        /// latest push, less those a round in progress gives them to.
        var connections: [LiveConnection]
        /// When the oldest merged push arrived.
        var since: ContinuousClock.Instant
    }

    init(eventLoop: any EventLoop, sliceSize: Int = LoopFanOut.defaultSliceSize) {
        self.eventLoop = eventLoop
        self.sliceSize = max(1, sliceSize)
        state = .makeBoxSendingValue(State(), eventLoop: eventLoop)
    }

    /// Records a price update for `connections` (all on this loop); callable from anywhere.
    func push(
        _ entries: [ServerMessage.PriceEntry], seq: UInt64, for subscription: Subscription, to connections: [LiveConnection]
    ) {
        let now = ContinuousClock.now
        eventLoop.execute { [self] in
            if var round = state.value.rounds[subscription] {
                for entry in entries { round.entries[entry.code] = entry }
                round.seq = seq
                // The newest recipients: a client that subscribed meanwhile gets the merged update,
                // one that left does not.
                round.connections = connections
                state.value.rounds[subscription] = round
            } else {
                state.value.rounds[subscription] = Round(
                    entries: Dictionary(entries.map { ($0.code, $0) }, uniquingKeysWith: { $1 }), seq: seq,
                    connections: connections, since: now)
                state.value.order.append(subscription)
            }
            scheduleWrite()
        }
    }

    /// Queues a message (`frame`, of `type`) for `connections` (all on this loop) behind everything
    /// pending; callable from anywhere.
    func push(message frame: ByteBuffer, type: String, to connections: [LiveConnection]) {
        let now = ContinuousClock.now
        eventLoop.execute { [self] in
            // Pending rounds that reach a recipient go first: their prices are older than this message.
            let recipients = Set(connections.map(ObjectIdentifier.init))
            let reaching = state.value.order.lastIndex { subscription in
                state.value.rounds[subscription]?.connections.contains { recipients.contains(ObjectIdentifier($0)) } ?? false
            }
            if let reaching { encodePendingRounds(through: reaching) }
            state.value.encoded.append(Encoded(kind: .message(type: type), frame: frame, connections: connections, since: now))
            scheduleWrite()
        }
    }

    private func scheduleWrite() {
        guard !state.value.writeQueued else { return }
        state.value.writeQueued = true
        eventLoop.execute { [self] in writeSlice() }
    }

    /// Writes the next `sliceSize` connections of what is pending, oldest push first, and queues
    /// itself again while anything is left.
    private func writeSlice() {
        guard var current = state.value.writing ?? nextPush().map({ InProgress(push: $0, written: 0) }) else {
            state.value.writeQueued = false
            return
        }
        // A message queued behind the round must stay ahead of prices that came after it.
        if state.value.encoded.isEmpty { joinPendingPrices(&current) }
        let push = current.push
        let slice = push.connections[current.written..<min(current.written + sliceSize, push.connections.count)]
        switch push.kind {
        case .prices(let entries, let seq, let subscription):
            for connection in slice {
                connection.accept(connection.writer.enqueuePrices(push.frame, entries: entries, seq: seq, for: subscription))
            }
            LabeledCounters.messagesOut.increment("price_update", by: slice.count)
        case .message(let type):
            for connection in slice { connection.accept(connection.writer.enqueue(push.frame)) }
            LabeledCounters.messagesOut.increment(type, by: slice.count)
        }
        for connection in slice { connection.writer.flush() }
        current.written = slice.endIndex
        if current.written < push.connections.count {
            state.value.writing = current
        } else {
            state.value.writing = nil
            // From the push (the oldest merged into a round) to its last socket write on this loop.
            dispatch.record(duration: ContinuousClock.now - push.since)
        }
        eventLoop.execute { [self] in writeSlice() }
    }

    /// The oldest encoded push; pending rounds stay open to merging until everything encoded
    /// before them is out.
    private func nextPush() -> Encoded? {
        if state.value.encoded.isEmpty { encodePendingRounds() }
        return state.value.encoded.popFirst()
    }

    /// Lets prices that arrived for the subscription of the round being written join it for the
    /// connections it has not reached yet; the pending round keeps only the others.
    private func joinPendingPrices(_ current: inout InProgress) {
        guard case .prices(let entries, _, let subscription) = current.push.kind,
            var pending = state.value.rounds[subscription]
        else { return }
        let (joining, waiting) = Self.split(pending.connections, unreached: current.push.connections[current.written...])
        if waiting.isEmpty {
            state.value.rounds[subscription] = nil
            state.value.order.removeAll { $0 == subscription }
        } else {
            pending.connections = waiting
            state.value.rounds[subscription] = pending
        }
        guard !joining.isEmpty else { return }
        var merged = Dictionary(entries.map { ($0.code, $0) }, uniquingKeysWith: { $1 })
        for (code, entry) in pending.entries { merged[code] = entry }
        current = InProgress(
            push: Self.encode(merged, seq: pending.seq, subscription: subscription, to: joining, since: current.push.since),
            written: 0)
    }

    /// Splits `latest`, the recipients of pending prices, into those among `unreached` (which get
    /// them with the round in progress) and the rest (which wait for the next round).
    private static func split(
        _ latest: [LiveConnection], unreached: ArraySlice<LiveConnection>
    ) -> (joining: [LiveConnection], waiting: [LiveConnection]) {
        // Usually the subscribers did not change: the same connections in the same order.
        if latest.count >= unreached.endIndex, zip(unreached, latest[unreached.indices]).allSatisfy({ $0 === $1 }) {
            return (Array(unreached), Array(latest[..<unreached.startIndex] + latest[unreached.endIndex...]))
        }
        let current = Set(latest.map(ObjectIdentifier.init))
        let joining = unreached.filter { current.contains(ObjectIdentifier($0)) }
        let joined = Set(joining.map(ObjectIdentifier.init))
        return (joining, latest.filter { !joined.contains(ObjectIdentifier($0)) })
    }

    /// A price round encoded once for `connections`.
    private static func encode(
        _ entries: [String: ServerMessage.PriceEntry], seq: UInt64, subscription: Subscription, to connections: [LiveConnection],
        since: ContinuousClock.Instant
    ) -> Encoded {
        let sorted = entries.values.sorted { $0.code < $1.code }
        let frame = WebSocketWire.textFrame(
            ServerMessage.encode(ServerMessage.PriceUpdate(entries: sorted, seq: seq, subscription: subscription)))
        return Encoded(
            kind: .prices(entries: sorted, seq: seq, subscription: subscription), frame: frame, connections: connections, since: since)
    }

    /// Turns the merged pending rounds, all or those up to `order[last]`, into encoded ones, in
    /// the order their first pushes came.
    private func encodePendingRounds(through last: Int? = nil) {
        let end = min(last.map { $0 + 1 } ?? state.value.order.count, state.value.order.count)
        let sealed = state.value.order[..<end]
        state.value.order.removeFirst(end)
        for subscription in sealed {
            guard let round = state.value.rounds.removeValue(forKey: subscription), !round.connections.isEmpty else { continue }
            state.value.encoded.append(
                Self.encode(round.entries, seq: round.seq, subscription: subscription, to: round.connections, since: round.since))
        }
    }
}
