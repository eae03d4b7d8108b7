import Broker
import Logging
import NIOCore
import NIOEmbedded
import Publishers
import Testing

@testable import brokerd

/// Who gets a push: the sink keeps each subscription's recipients between pushes, so every change
/// of subscribers or connections must reach the next push.
@Suite struct OutboxSinkTests {
    private let strategy = Subscription(type: .strategy, target: "volume_wave")

    @Test func everyChangeOfSubscribersOrConnectionsReachesTheNextPush() throws {
        var world = World(strategy)
        for id in ["c1", "c2", "c3"] {
            world.apply(.clientConnected(ClientConnected(clientID: id, user: nil, remoteAddress: nil, node: "n")))
            try world.connect(id)
        }
        world.subscribe("c1")
        world.subscribe("c2")
        #expect(try world.push(price: 1) == ["c1", "c2"])
        #expect(try world.push(price: 2) == ["c1", "c2"], "unchanged")

        world.subscribe("c3")
        #expect(try world.push(price: 3) == ["c1", "c2", "c3"], "a new subscriber")

        world.apply(.unsubscribed(SubscriptionChange(clientID: "c1", subscription: strategy)))
        #expect(try world.push(price: 4) == ["c2", "c3"], "an unsubscribe")

        world.registry.remove(try #require(world.registry["c2"]))
        #expect(try world.push(price: 5) == ["c3"], "a connection that closed")

        let oldChannel = try #require(world.channels["c3"])
        try world.connect("c3")
        #expect(try world.push(price: 6) == ["c3"])
        #expect(try EmbeddedFanOut.messages(oldChannel).isEmpty, "the replaced connection of c3 got nothing")
    }

    @Test func aLookupOlderThanTheKeptOneIsNotKept() throws {
        let (connection, _) = try EmbeddedFanOut.connection("c1", on: EmbeddedEventLoop(), fanOut: LoopFanOut(eventLoop: EmbeddedEventLoop()))
        var cache = RecipientCache()
        cache.keep([[connection]], of: strategy, version: 7, generation: 2)
        #expect(cache.groups(of: strategy, version: 7, generation: 2)?.first?.first === connection)
        #expect(cache.groups(of: strategy, version: 8, generation: 2) == nil, "other subscribers")
        #expect(cache.groups(of: strategy, version: 7, generation: 3) == nil, "other connections")

        cache.keep([], of: strategy, version: 7, generation: 1)
        #expect(cache.groups(of: strategy, version: 7, generation: 2)?.count == 1, "the stale lookup was dropped")

        let other = Subscription(type: .stock, target: "600519")
        cache.keep([[connection]], of: other, version: 9, generation: 3)
        #expect(cache.groups(of: strategy, version: 7, generation: 3) == nil, "a new generation drops every entry")
        #expect(cache.groups(of: other, version: 9, generation: 3) != nil)
    }
}

/// A sink with connections on one embedded loop, and the projection it is given.
private struct World {
    let strategy: Subscription
    let loop = EmbeddedEventLoop()
    let fanOut: LoopFanOut
    let registry = ConnectionRegistry()
    let sink: OutboxSink
    var projection = Projection()
    var channels: [String: EmbeddedChannel] = [:]

    init(_ strategy: Subscription) {
        self.strategy = strategy
        fanOut = LoopFanOut(eventLoop: loop)
        sink = OutboxSink(registry: registry, logger: Logger(label: "test"))
    }

    mutating func apply(_ events: Event...) {
        for event in events {
            projection.apply(RecordedEvent(seq: projection.lastSeq + 1, timestamp: 0, event: event))
        }
    }

    mutating func subscribe(_ id: String) {
        apply(.subscribed(SubscriptionChange(clientID: id, subscription: strategy)))
    }

    /// Connects `id` (again: a resumed session's new connection replaces the old one).
    @discardableResult
    mutating func connect(_ id: String) throws -> LiveConnection {
        let (connection, channel) = try EmbeddedFanOut.connection(id, on: loop, fanOut: fanOut)
        registry.add(connection)
        channels[id] = channel
        return connection
    }

    /// Sends a price push and returns the clients whose channels got it.
    mutating func push(price: Double) throws -> Set<String> {
        let tick = PriceTick(code: "600519", name: "贵州茅台", price: price, volume: 1, prevClose: 10, timestamp: 0)
        sink.send(.prices([tick]), seq: projection.lastSeq, to: strategy, projection: projection)
        loop.run()
        var reached: Set<String> = []
        for (id, channel) in channels {
            let prices = try EmbeddedFanOut.messages(channel).compactMap { $0.prices["600519"] }
            #expect(prices.count <= 1)
            if prices == [price] { reached.insert(id) }
        }
        return reached
    }
}
