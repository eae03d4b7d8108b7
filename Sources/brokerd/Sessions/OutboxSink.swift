import Broker
import Journal
import Logging
import Metrics
import NIOCore
import Publishers
import Synchronization

/// Where the publishers' pushes go: each push is encoded once, and the same buffer is queued to
/// every recipient with one task per event loop, which queues it to each of its connections'
/// writers and flushes them; their coalescing and slow-consumer rules take it from there.
///
/// Recipients of a subscription come from the projection's reverse index; the connections are
/// looked up under one lock per push, never per client.
final class OutboxSink: PushSink {
    private let registry: ConnectionRegistry
    private let logger: Logger
    private let counters = Mutex(Counters())
    private let slowConsumers = Atomic<UInt64>(0)
    private let loops = Mutex<[ObjectIdentifier: LoopFanOut]>([:])
    private let slowConsumerCounter = Counter(label: "brokerd_slow_consumer_disconnects_total")
    /// From a tick's arrival (its timestamp: this node's, or the origin node's for a shared tick)
    /// to its price push reaching the event loops: journal, apply and publishers.
    private let tickAge = Metrics.Timer(label: "brokerd_tick_age_at_fanout_seconds")

    struct Counters {
        var messages: UInt64 = 0
        var slowConsumers: UInt64 = 0
        var byType: [String: UInt64] = [:]
    }

    init(registry: ConnectionRegistry, logger: Logger) {
        self.registry = registry
        self.logger = logger
    }

    var statistics: Counters {
        var statistics = counters.withLock { $0 }
        statistics.slowConsumers = slowConsumers.load(ordering: .relaxed)
        return statistics
    }

    /// Counts and logs a connection closed for falling too far behind.
    func noteSlowConsumer(_ connection: LiveConnection) {
        slowConsumers.add(1, ordering: .relaxed)
        slowConsumerCounter.increment()
        logger.warning("slow consumer disconnected", metadata: ["client": "\(connection.clientID)", "queue": "\(connection.queueDepth)"])
    }

    /// The fan-out state of `eventLoop`, made on first use; one per loop for the life of the process.
    func fanOut(for eventLoop: any EventLoop) -> LoopFanOut {
        loops.withLock { loops in
            if let loop = loops[ObjectIdentifier(eventLoop)] { return loop }
            let loop = LoopFanOut(eventLoop: eventLoop)
            loops[ObjectIdentifier(eventLoop)] = loop
            return loop
        }
    }

    @discardableResult
    func send(_ push: Push, seq: UInt64, to subscription: Subscription, projection: Projection) -> Int {
        let subscribers = projection.subscriptions.subscribers(of: subscription)
        guard !subscribers.isEmpty else { return 0 }
        return deliver(push, seq: seq, subscription: subscription, to: registry.connections(for: subscribers))
    }

    @discardableResult
    func send(_ push: Push, seq: UInt64, toAnyOf subscriptions: [Subscription], projection: Projection) -> Int {
        var reached: Set<String> = []
        var sent = 0
        for subscription in subscriptions {
            let subscribers = projection.subscriptions.subscribers(of: subscription).subtracting(reached)
            guard !subscribers.isEmpty else { continue }
            reached.formUnion(subscribers)
            sent += deliver(push, seq: seq, subscription: subscription, to: registry.connections(for: subscribers))
        }
        return sent
    }

    @discardableResult
    func send(_ push: Push, seq: UInt64, toUser user: String) -> Int {
        deliver(push, seq: seq, subscription: nil, to: registry.connections(ofUser: user))
    }

    private func deliver(_ push: Push, seq: UInt64, subscription: Subscription?, to connections: [LiveConnection]) -> Int {
        guard !connections.isEmpty else { return 0 }
        let type: String
        switch push {
        case .prices(let ticks):
            guard let subscription, !ticks.isEmpty else { return 0 }
            type = "price_update"
            if let oldest = ticks.lazy.map(\.timestamp).min() {
                tickAge.recordMicroseconds(max(0, WallClock.microsecondsNow() - oldest))
            }
            let entries = ticks.map(ServerMessage.PriceEntry.init)
            // Merged per event loop while the loop is busy, then encoded once per loop (see LoopFanOut).
            for group in Self.byEventLoop(connections) {
                group[0].writer.fanOut.push(entries, seq: seq, for: subscription, to: group)
            }
        case .message(let name, let data):
            type = name
            let frame = WebSocketWire.textFrame(
                ServerMessage.encode(ServerMessage.Envelope(type: name, data: data, seq: seq, subscription: subscription)))
            // Behind the price rounds pending on each loop, so every connection gets seqs in order.
            for group in Self.byEventLoop(connections) {
                group[0].writer.fanOut.push(message: frame, type: name, to: group)
            }
        }
        counters.withLock {
            $0.messages += UInt64(connections.count)
            $0.byType[type, default: 0] += UInt64(connections.count)
        }
        return connections.count
    }

    /// The connections split by the event loop that writes them, in their original order.
    private static func byEventLoop(_ connections: [LiveConnection]) -> [[LiveConnection]] {
        var groups: [[LiveConnection]] = []
        var indexOfLoop: [ObjectIdentifier: Int] = [:]
        for connection in connections {
            let loop = ObjectIdentifier(connection.writer.eventLoop)
            if let index = indexOfLoop[loop] {
                groups[index].append(connection)
            } else {
                indexOfLoop[loop] = groups.count
                groups.append([connection])
            }
        }
        return groups
    }
}
