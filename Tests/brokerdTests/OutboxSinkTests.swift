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

    /// Connections that asked for different price intervals share an event loop but not a
    /// fan-out: one with an interval gets the prices within it merged, once it has passed, while
    /// the others get each push at once; a message reaches both, in seq order with their prices.
    @Test func connectionsOfOneLoopGetTheirOwnPriceInterval() throws {
        let loop = EmbeddedEventLoop()
        let registry = ConnectionRegistry()
        let sink = OutboxSink(registry: registry, logger: Logger(label: "test"))
        let everyPush = sink.fanOut(for: loop)
        let perSecond = sink.fanOut(for: loop, asked: .seconds(1))
        #expect(sink.fanOut(for: loop, asked: .zero) === everyPush, "the broker's interval when none is asked for")
        #expect(sink.fanOut(for: loop, asked: .seconds(1)) === perSecond, "one fan-out per loop and interval")
        #expect(perSecond !== everyPush && perSecond.priceInterval == .seconds(1))

        var projection = Projection()
        var channels: [String: EmbeddedChannel] = [:]
        for (id, fanOut) in [("fast", everyPush), ("slow", perSecond), ("fast2", everyPush)] {
            let (connection, channel) = try EmbeddedFanOut.connection(id, on: loop, fanOut: fanOut)
            registry.add(connection)
            channels[id] = channel
            for event in [
                Event.clientConnected(ClientConnected(clientID: id, user: nil, remoteAddress: nil, node: "n")),
                .subscribed(SubscriptionChange(clientID: id, subscription: strategy)),
            ] {
                projection.apply(RecordedEvent(seq: projection.lastSeq + 1, timestamp: 0, event: event))
            }
        }
        #expect(OutboxSink.byFanOut(registry.all.sorted { $0.clientID < $1.clientID }).map { $0.map(\.clientID) } == [["fast", "fast2"], ["slow"]])

        func push(_ code: String, _ price: Double, seq: UInt64) {
            let tick = PriceTick(code: code, name: code, price: price, volume: 1, prevClose: 10, timestamp: 0)
            sink.send(.prices([tick]), seq: seq, to: strategy, projection: projection)
            loop.run()
        }
        func prices(_ id: String) throws -> [[String: Double]] {
            try EmbeddedFanOut.messages(#require(channels[id])).map(\.prices)
        }
        push("600519", 1, seq: 10)
        push("600519", 2, seq: 11)
        push("000001", 3, seq: 12)
        #expect(try prices("fast") == [["600519": 1], ["600519": 2], ["000001": 3]])
        #expect(try prices("fast2") == [["600519": 1], ["600519": 2], ["000001": 3]])
        #expect(try prices("slow") == [["600519": 1]], "the first price after a quiet interval at once, the rest held")

        loop.advanceTime(by: .milliseconds(999))
        #expect(try prices("slow").isEmpty)
        loop.advanceTime(by: .milliseconds(1))
        #expect(try prices("slow") == [["600519": 2, "000001": 3]], "merged, once the interval passed")

        push("600519", 4, seq: 13)
        sink.send(.message(type: "news_update", data: ["title": "t"]), seq: 14, to: strategy, projection: projection)
        loop.run()
        for id in ["fast", "slow"] {
            let outline = try EmbeddedFanOut.outline(#require(channels[id]))
            #expect(outline == ["price_update 13", "news_update 14"], "\(id): the held price goes out ahead of the message")
        }
    }

    /// A reloaded broker interval reaches every fan-out made so far: those of connections that
    /// asked for none take it, those that asked for one take the longer of the two, and a fan-out
    /// made after it starts with it.
    @Test func theBrokersPriceIntervalChangedReachesTheFanOutsMadeBefore() {
        let (loop, other) = (EmbeddedEventLoop(), EmbeddedEventLoop())
        let sink = OutboxSink(registry: ConnectionRegistry(), logger: Logger(label: "test"), priceInterval: .milliseconds(100))
        let broker = sink.fanOut(for: loop)
        let compressed = sink.fanOut(for: other, compression: true)
        let asked = sink.fanOut(for: loop, asked: .milliseconds(250))
        let askedLess = sink.fanOut(for: loop, asked: .milliseconds(50))
        #expect(askedLess !== broker, "it asked for its own: a broker's interval lowered later must not go below it")
        #expect([broker, compressed, asked, askedLess].map(\.priceInterval) == [.milliseconds(100), .milliseconds(100), .milliseconds(250), .milliseconds(100)])

        sink.setPriceInterval(.milliseconds(500))
        #expect(sink.priceInterval == .milliseconds(500))
        #expect([broker, compressed, asked, askedLess].map(\.priceInterval) == [.milliseconds(500), .milliseconds(500), .milliseconds(500), .milliseconds(500)])
        #expect(sink.fanOut(for: other).priceInterval == .milliseconds(500), "made after the change")

        sink.setPriceInterval(.zero)
        #expect([broker, compressed, asked, askedLess].map(\.priceInterval) == [.zero, .zero, .milliseconds(250), .milliseconds(50)])
        #expect(sink.fanOut(for: loop) === broker && sink.fanOut(for: loop, asked: .milliseconds(250)) === asked, "the same fan-outs")
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
