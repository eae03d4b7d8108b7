import Broker
import Logging
import NIOCore
import Synchronization

/// Turns applied events into pushes: for each round of events, every affected subscription gets
/// one message, encoded once and queued to each of its subscribers' outboxes.
///
/// Recipients come from the projection's reverse indexes (code → subscriptions → clients), so a
/// tick costs work in proportion to the clients that want it, never to all clients.
final class FanOut: EventObserver {
    private let registry: ConnectionRegistry
    private let logger: Logger
    private let counters = Mutex(Counters())

    struct Counters {
        var ticks: UInt64 = 0
        var messages: UInt64 = 0
        var slowConsumers: UInt64 = 0
    }

    init(registry: ConnectionRegistry, logger: Logger) {
        self.registry = registry
        self.logger = logger
    }

    var statistics: Counters { counters.withLock { $0 } }

    func applied(_ events: [RecordedEvent], projection: Projection) {
        var prices: [Subscription: [String: ServerMessage.PriceEntry]] = [:]
        var lastSeq: UInt64 = 0
        var ticks: UInt64 = 0
        for recorded in events {
            guard case .priceTicked(let tick) = recorded.event else { continue }
            ticks += 1
            lastSeq = recorded.seq
            let affected = projection.subscriptionsAffected(byCode: tick.code)
            guard !affected.isEmpty else { continue }
            let entry = ServerMessage.PriceEntry(tick)
            for subscription in affected {
                prices[subscription, default: [:]][tick.code] = entry
            }
        }
        var messages: UInt64 = 0
        for (subscription, entriesByCode) in prices {
            let entries = entriesByCode.values.sorted { $0.code < $1.code }
            messages += push(entries: entries, seq: lastSeq, to: subscription, projection: projection)
        }
        counters.withLock {
            $0.ticks += ticks
            $0.messages += messages
        }
    }

    /// Sends `entries` to every subscriber of `subscription`; returns how many clients got it.
    @discardableResult
    func push(entries: [ServerMessage.PriceEntry], seq: UInt64, to subscription: Subscription, projection: Projection) -> UInt64 {
        guard !entries.isEmpty else { return 0 }
        let subscribers = projection.subscriptions.subscribers(of: subscription)
        guard !subscribers.isEmpty else { return 0 }
        let frame = ServerMessage.encode(ServerMessage.PriceUpdate(entries: entries, seq: seq, subscription: subscription))
        var delivered: UInt64 = 0
        for connection in registry.connections(for: subscribers) {
            switch connection.outbox.pushPrices(frame, entries: entries, seq: seq, for: subscription) {
            case .queued:
                delivered += 1
            case .overflow:
                counters.withLock { $0.slowConsumers += 1 }
                logger.warning("slow consumer disconnected", metadata: ["client": "\(connection.clientID)", "queue": "\(connection.outbox.depth)"])
                connection.requestClose(.slowConsumer)
            case .closed:
                break
            }
        }
        return delivered
    }
}
