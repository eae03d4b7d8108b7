import Broker
import Logging
import NIOCore
import Publishers
import Synchronization

/// Where the publishers' pushes go: each push is encoded once and the same buffer is queued to
/// every recipient's outbox, whose coalescing and slow-consumer rules take it from there.
///
/// Recipients of a subscription come from the projection's reverse index; the connections are
/// looked up under one lock per push, never per client.
final class OutboxSink: PushSink {
    private let registry: ConnectionRegistry
    private let logger: Logger
    private let counters = Mutex(Counters())

    struct Counters {
        var messages: UInt64 = 0
        var slowConsumers: UInt64 = 0
        var byType: [String: UInt64] = [:]
    }

    init(registry: ConnectionRegistry, logger: Logger) {
        self.registry = registry
        self.logger = logger
    }

    var statistics: Counters { counters.withLock { $0 } }

    @discardableResult
    func send(_ push: Push, seq: UInt64, to subscription: Subscription, projection: Projection) -> Int {
        let subscribers = projection.subscriptions.subscribers(of: subscription)
        guard !subscribers.isEmpty else { return 0 }
        return deliver(push, seq: seq, subscription: subscription, to: registry.connections(for: subscribers))
    }

    @discardableResult
    func send(_ push: Push, seq: UInt64, toUser user: String) -> Int {
        deliver(push, seq: seq, subscription: nil, to: registry.connections(ofUser: user))
    }

    private func deliver(_ push: Push, seq: UInt64, subscription: Subscription?, to connections: [LiveConnection]) -> Int {
        guard !connections.isEmpty else { return 0 }
        let type: String
        let outcomes: [(LiveConnection, Outbox.Pushed)]
        switch push {
        case .prices(let ticks):
            guard let subscription, !ticks.isEmpty else { return 0 }
            type = "price_update"
            let entries = ticks.map(ServerMessage.PriceEntry.init)
            let frame = ServerMessage.encode(ServerMessage.PriceUpdate(entries: entries, seq: seq, subscription: subscription))
            outcomes = connections.map { ($0, $0.outbox.pushPrices(frame, entries: entries, seq: seq, for: subscription)) }
        case .message(let name, let data):
            type = name
            let frame = ServerMessage.encode(ServerMessage.Envelope(type: name, data: data, seq: seq, subscription: subscription))
            outcomes = connections.map { ($0, $0.outbox.push(frame)) }
        }
        var delivered = 0
        for (connection, outcome) in outcomes {
            switch outcome {
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
        counters.withLock {
            $0.messages += UInt64(delivered)
            $0.byType[type, default: 0] += UInt64(delivered)
        }
        return delivered
    }
}
