import Broker
import Metrics
import NIOCore

/// The price updates bound for one event loop's connections, merged while the loop is busy.
///
/// A push only records its prices on the loop (latest per code, per subscription) and makes sure
/// one flush is queued behind whatever the loop is doing. The flush encodes each subscription's
/// merged update once and queues it to that subscription's current connections. So a loop that
/// falls behind writes fewer, fresher rounds instead of a growing backlog of stale ones: the rate of
/// rounds adapts to what the sockets take, and ingest never waits for the fan-out.
final class LoopFanOut: Sendable {
    let eventLoop: any EventLoop
    /// Pending rounds; only touched on `eventLoop`.
    private let state: NIOLoopBoundBox<State>
    private let dispatch = Metrics.Timer(label: "brokerd_fanout_dispatch_seconds")

    private struct State {
        var rounds: [Subscription: Round] = [:]
        /// Subscriptions in the order their first pending push arrived.
        var order: [Subscription] = []
        var flushQueued = false
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
            guard !state.value.flushQueued else { return }
            state.value.flushQueued = true
            eventLoop.execute { [self] in flush() }
        }
    }

    private func flush() {
        let rounds = state.value.rounds
        let order = state.value.order
        state.value = State()
        for subscription in order {
            guard let round = rounds[subscription] else { continue }
            let entries = round.entries.values.sorted { $0.code < $1.code }
            let frame = WebSocketWire.textFrame(
                ServerMessage.encode(ServerMessage.PriceUpdate(entries: entries, seq: round.seq, subscription: subscription)))
            for connection in round.connections {
                connection.accept(connection.writer.enqueuePrices(frame, entries: entries, seq: round.seq, for: subscription))
            }
            for connection in round.connections { connection.writer.flush() }
            LabeledCounters.messagesOut.increment("price_update", by: round.connections.count)
            // From the oldest push merged into this round to its last socket write on this loop.
            dispatch.record(duration: ContinuousClock.now - round.since)
        }
    }
}
