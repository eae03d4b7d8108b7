import Broker
import Metrics
import NIOCore

/// The pushes bound for one event loop's connections: price updates merged while the loop is
/// busy, and messages kept in order with them.
///
/// A push only records its prices on the loop (latest per code, per subscription) and makes sure
/// one flush is queued behind whatever the loop is doing. The flush encodes each subscription's
/// merged update once and queues it to that subscription's current connections. So a loop that
/// falls behind writes fewer, fresher rounds instead of a growing backlog of stale ones: the rate of
/// rounds adapts to what the sockets take, and ingest never waits for the fan-out.
///
/// Other pushes (bar updates, news, alerts) take the same path, so a connection gets everything in
/// seq order: a message that arrives while price rounds for any of its recipients are pending seals
/// them, and the rounds pending before them (they are encoded and queued ahead of it); prices that
/// come after it start new rounds behind it. Rounds none of its recipients get stay open to merging,
/// so a stream of bar updates to a few stock subscribers does not stop the rounds of everyone else
/// from merging while the loop is busy.
final class LoopFanOut: Sendable {
    let eventLoop: any EventLoop
    /// Pending rounds and encoded pushes; only touched on `eventLoop`.
    private let state: NIOLoopBoundBox<State>
    private let dispatch = Metrics.Timer(label: "brokerd_fanout_dispatch_seconds")

    private struct State {
        var rounds: [Subscription: Round] = [:]
        /// Subscriptions in the order their first pending push arrived.
        var order: [Subscription] = []
        var flushQueued = false
        /// Pushes encoded and waiting for the flush, oldest first.
        var encoded: [Encoded] = []
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

    private struct Round {
        var entries: [String: ServerMessage.PriceEntry]
        var seq: UInt64
        /// The subscription's connections on this loop as of the latest push.
        var connections: [LiveConnection]
        /// When the oldest merged push arrived.
        var since: ContinuousClock.Instant
    }

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
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
            scheduleFlush()
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
            scheduleFlush()
        }
    }

    private func scheduleFlush() {
        guard !state.value.flushQueued else { return }
        state.value.flushQueued = true
        eventLoop.execute { [self] in flush() }
    }

    /// Writes everything pending: the encoded pushes, then the merged rounds, each encoded once.
    private func flush() {
        encodePendingRounds()
        let pushes = state.value.encoded
        state.value.encoded = []
        state.value.flushQueued = false
        for push in pushes {
            switch push.kind {
            case .prices(let entries, let seq, let subscription):
                for connection in push.connections {
                    connection.accept(connection.writer.enqueuePrices(push.frame, entries: entries, seq: seq, for: subscription))
                }
                LabeledCounters.messagesOut.increment("price_update", by: push.connections.count)
            case .message(let type):
                for connection in push.connections { connection.accept(connection.writer.enqueue(push.frame)) }
                LabeledCounters.messagesOut.increment(type, by: push.connections.count)
            }
            for connection in push.connections { connection.writer.flush() }
            // From the push (the oldest merged into a round) to its last socket write on this loop.
            dispatch.record(duration: ContinuousClock.now - push.since)
        }
    }

    /// Turns the merged pending rounds, all or those up to `order[last]`, into encoded ones, in
    /// the order their first pushes came.
    private func encodePendingRounds(through last: Int? = nil) {
        let end = min(last.map { $0 + 1 } ?? state.value.order.count, state.value.order.count)
        let sealed = state.value.order[..<end]
        state.value.order.removeFirst(end)
        for subscription in sealed {
            guard let round = state.value.rounds.removeValue(forKey: subscription), !round.connections.isEmpty else { continue }
            let entries = round.entries.values.sorted { $0.code < $1.code }
            let frame = WebSocketWire.textFrame(
                ServerMessage.encode(ServerMessage.PriceUpdate(entries: entries, seq: round.seq, subscription: subscription)))
            state.value.encoded.append(
                Encoded(
                    kind: .prices(entries: entries, seq: round.seq, subscription: subscription), frame: frame,
                    connections: round.connections, since: round.since))
        }
    }
}
