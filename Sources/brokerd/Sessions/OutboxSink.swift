import Broker
import Journal
import Logging
import Metrics
import NIOCore
import Publishers
import Synchronization

/// Where the publishers' pushes go: each push is encoded once and handed to one task per fan-out
/// (event loop, price interval, compression), which frames it once (deflated where its connections
/// negotiated that), queues the same buffer to each of its connections' writers and flushes them;
/// their coalescing and slow-consumer rules take it from there.
///
/// Recipients of a subscription come from the projection's reverse index; the connections are
/// looked up under one lock per push, never per client, and kept, grouped by fan-out, until the
/// subscription's subscribers or the registry's connections change.
final class OutboxSink: PushSink {
    private let registry: ConnectionRegistry
    private let recipients = Mutex(RecipientCache())
    private let logger: Logger
    private let slowConsumers = Atomic<UInt64>(0)
    private let fanOuts: Mutex<FanOuts>
    private let slowConsumerCounter = Counter(label: "brokerd_slow_consumer_disconnects_total")
    /// From a tick's arrival (its timestamp: this node's, or the origin node's for a shared tick)
    /// to its price push reaching the event loops: journal, apply and publishers.
    private let tickAge = Metrics.Timer(label: "brokerd_tick_age_at_fanout_seconds")

    /// The broker's `price_interval`: the shortest time between two price updates of one
    /// subscription to a connection (see `LoopFanOut`); a connection may ask for a longer one.
    var priceInterval: Duration {
        fanOuts.withLock { $0.brokerInterval }
    }

    /// The fan-outs made so far, and the broker's price interval they follow.
    private struct FanOuts {
        var brokerInterval: Duration
        var byKey: [FanOutKey: LoopFanOut] = [:]

        /// The interval of the fan-out of connections that asked for `asked` (nil: the broker's).
        func interval(asked: Duration?) -> Duration {
            max(asked ?? .zero, brokerInterval)
        }
    }

    /// One fan-out per event loop, price interval asked for (nil: none, the broker's) and compression.
    private struct FanOutKey: Hashable {
        let eventLoop: ObjectIdentifier
        let asked: Duration?
        let compression: Bool
    }

    init(registry: ConnectionRegistry, logger: Logger, priceInterval: Duration = .zero) {
        self.registry = registry
        self.logger = logger
        fanOuts = Mutex(FanOuts(brokerInterval: max(.zero, priceInterval)))
    }

    /// Makes `interval` the broker's price interval (a reloaded `price_interval`) for the
    /// connections open too: each fan-out seals at the longer of it and what its connections asked
    /// for from its next seal on.
    func setPriceInterval(_ interval: Duration) {
        fanOuts.withLock { fanOuts in
            fanOuts.brokerInterval = max(.zero, interval)
            for (key, fanOut) in fanOuts.byKey {
                fanOut.setPriceInterval(TimeAmount(fanOuts.interval(asked: key.asked)))
            }
        }
    }

    /// Connections closed as slow consumers since start.
    var slowConsumerDisconnects: UInt64 {
        slowConsumers.load(ordering: .relaxed)
    }

    /// Counts and logs a connection closed for falling too far behind.
    func noteSlowConsumer(_ connection: LiveConnection) {
        slowConsumers.add(1, ordering: .relaxed)
        slowConsumerCounter.increment()
        logger.warning("slow consumer disconnected", metadata: ["client": "\(connection.clientID)", "queue": .stringConvertible(connection.queueDepth)])
    }

    /// The fan-out of the connections on `eventLoop` that asked for the price interval `asked`
    /// (nil or zero: none, so the broker's) and negotiated `compression` or not, made on first use
    /// and kept for the life of the process: one per loop, interval asked for and compression, and
    /// the intervals connections can ask for are few (`ConnectionPriceInterval.steps`). It seals
    /// at the longer of `asked` and the broker's interval, now and after the broker's changes.
    func fanOut(for eventLoop: any EventLoop, asked: Duration? = nil, compression: Bool = false) -> LoopFanOut {
        let key = FanOutKey(eventLoop: ObjectIdentifier(eventLoop), asked: asked == .zero ? nil : asked, compression: compression)
        return fanOuts.withLock { fanOuts in
            if let fanOut = fanOuts.byKey[key] { return fanOut }
            let fanOut = LoopFanOut(
                eventLoop: eventLoop, priceInterval: TimeAmount(fanOuts.interval(asked: key.asked)), compression: compression,
                dispatchLabel: key.asked == nil ? LoopFanOut.dispatchLabel : LoopFanOut.heldDispatchLabel)
            fanOuts.byKey[key] = fanOut
            return fanOut
        }
    }

    @discardableResult
    func send(_ push: Push, seq: UInt64, to subscription: Subscription, projection: Projection) -> Int {
        let version = projection.subscriptions.version(of: subscription)
        guard version != 0 else { return 0 }
        let generation = registry.generation
        if let groups = recipients.withLock({ $0.groups(of: subscription, version: version, generation: generation) }) {
            return deliver(push, seq: seq, subscription: subscription, to: groups)
        }
        let groups = Self.byFanOut(registry.connections(for: projection.subscriptions.subscribers(of: subscription)))
        recipients.withLock { $0.keep(groups, of: subscription, version: version, generation: generation) }
        return deliver(push, seq: seq, subscription: subscription, to: groups)
    }

    @discardableResult
    func send(_ push: Push, seq: UInt64, toAnyOf subscriptions: [Subscription], projection: Projection) -> Int {
        var reached: Set<String> = []
        var sent = 0
        for subscription in subscriptions {
            let subscribers = projection.subscriptions.subscribers(of: subscription).subtracting(reached)
            guard !subscribers.isEmpty else { continue }
            reached.formUnion(subscribers)
            sent += deliver(push, seq: seq, subscription: subscription, to: Self.byFanOut(registry.connections(for: subscribers)))
        }
        return sent
    }

    @discardableResult
    func send(_ push: Push, seq: UInt64, toUser user: String) -> Int {
        deliver(push, seq: seq, subscription: nil, to: Self.byFanOut(registry.connections(ofUser: user)))
    }

    /// Sends `push` to `groups`, the recipients split by fan-out (`byFanOut`).
    private func deliver(_ push: Push, seq: UInt64, subscription: Subscription?, to groups: [[LiveConnection]]) -> Int {
        let count = groups.reduce(0) { $0 + $1.count }
        guard count > 0 else { return 0 }
        switch push {
        case .prices(let ticks):
            guard let subscription, !ticks.isEmpty else { return 0 }
            if let oldest = ticks.lazy.map(\.timestamp).min() {
                tickAge.recordMicroseconds(max(0, WallClock.microsecondsNow() - oldest))
            }
            let entries = ticks.map(ServerMessage.PriceEntry.init)
            // Merged per fan-out (event loop, price interval, compression) while the loop is
            // busy, then encoded once per fan-out (see LoopFanOut).
            for group in groups {
                group[0].writer.fanOut.push(entries, seq: seq, for: subscription, to: group)
            }
        case .message(let name, let data):
            let payload = ServerMessage.encode(ServerMessage.Envelope(type: name, data: data, seq: seq, subscription: subscription))
            // Behind the price rounds pending in each fan-out, so every connection gets seqs in
            // order; each fan-out frames it once for its connections (compressed or not).
            for group in groups {
                group[0].writer.fanOut.push(message: payload, type: name, to: group)
            }
        }
        return count
    }

    /// The connections split by the fan-out that writes them (one per event loop, price interval
    /// and compression), in their original order; no empty group.
    static func byFanOut(_ connections: [LiveConnection]) -> [[LiveConnection]] {
        var groups: [[LiveConnection]] = []
        var indexOfFanOut: [ObjectIdentifier: Int] = [:]
        for connection in connections {
            let fanOut = ObjectIdentifier(connection.writer.fanOut)
            if let index = indexOfFanOut[fanOut] {
                groups[index].append(connection)
            } else {
                indexOfFanOut[fanOut] = groups.count
                groups.append([connection])
            }
        }
        return groups
    }
}

/// The recipients of each subscription pushed to, grouped by fan-out, while they stay valid:
/// an entry holds for one version of the subscription's subscribers (`SubscriptionIndex.version`)
/// and one generation of the registry. A new generation drops every entry, so the cache never keeps
/// a closed connection past the next push.
struct RecipientCache {
    private var generation: UInt64 = 0
    private var entries: [Subscription: (version: UInt64, groups: [[LiveConnection]])] = [:]

    func groups(of subscription: Subscription, version: UInt64, generation: UInt64) -> [[LiveConnection]]? {
        guard generation == self.generation, let entry = entries[subscription], entry.version == version else { return nil }
        return entry.groups
    }

    /// Keeps `groups`, looked up at `generation` (read before the lookup) for `version`.
    mutating func keep(_ groups: [[LiveConnection]], of subscription: Subscription, version: UInt64, generation: UInt64) {
        if generation != self.generation {
            // A lookup that began before a change may finish after a newer one was kept: keep neither.
            guard generation > self.generation else { return }
            entries = [:]
            self.generation = generation
        }
        entries[subscription] = (version, groups)
    }
}
