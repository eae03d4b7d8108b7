import Broker
import Synchronization
import Testing

@testable import Publishers

/// A reload of `redis_url` moves the broker's Redis connections (`RedisAddress.move(to:)`): the
/// readers, the publisher to the other nodes and the K-line cache, each against two real
/// redis-servers, the old address and the new.
@Suite(.serialized) struct RedisAddressTests {
    private static let fastBackoff = ReconnectBackoff(initial: .milliseconds(20), maximum: .milliseconds(200))

    @Test func aMoveTellsEveryListenerAndMovingToTheSameAddressIsNone() {
        let address = RedisAddress(RedisURL(host: "10.0.0.1"))
        let told = Mutex(0)
        address.onMove { told.withLock { $0 += 1 } }
        address.onMove { told.withLock { $0 += 10 } }

        #expect(!address.move(to: RedisURL(host: "10.0.0.1")))
        #expect(address.moves == 0 && told.withLock { $0 } == 0)
        #expect(address.move(to: RedisURL(host: "10.0.0.2", port: 7000)))
        #expect(address.current == (RedisURL(host: "10.0.0.2", port: 7000), 1))
        #expect(told.withLock { $0 } == 11)
        #expect(address.move(to: RedisURL(host: "10.0.0.1")))
        #expect(address.moves == 2 && told.withLock { $0 } == 22)
        #expect(address.description == "redis://10.0.0.1:6379/0")
    }

    @Test func aMovedSourceReadsTheNewRedisAtOnceAndTheMoveIsNoFailure() async throws {
        let (old, new) = (try await RedisServer(), try await RedisServer())
        let (oldCommander, newCommander) = (try old.commander(), try new.commander())
        let address = RedisAddress(old.url)
        let recorder = BatchRecorder()
        let source = try RedisTickSource(
            configuration: RedisTickSourceConfiguration(
                url: old.url, address: address, channel: "ticks", stream: "ticks-stream", streamBlock: .milliseconds(200),
                backoff: Self.fastBackoff),
            resumeAfter: "0-0", deliver: recorder.deliver)
        source.start()
        try await eventually("the source to connect") { source.snapshot.state == .connected }
        #expect(try oldCommander.publish(#"{"code":"600519","price":1850}"#) == 1)
        try oldCommander.xadd("ticks-stream", ["code": "600000", "price": "10.5"])
        try await eventually("the old Redis' ticks") { recorder.ticks.count == 2 }

        #expect(address.move(to: new.url))
        try await eventually("the subscription on the new Redis") { try newCommander.subscribers() == 1 }
        try await eventually("the source to be connected again") { source.snapshot.state == .connected }
        #expect(try oldCommander.subscribers() == 0, "the old subscription is closed")
        #expect(try newCommander.publish(#"{"code":"000001","price":12}"#) == 1)
        try newCommander.xadd("ticks-stream", ["code": "600036", "price": "35"])
        try await eventually("the new Redis' ticks") { recorder.ticks.count == 4 }

        #expect(Set(recorder.ticks.suffix(2).map(\.code)) == ["000001", "600036"])
        #expect(source.snapshot.lastError == nil, "a move is not an outage: \(source.snapshot)")
        #expect(source.configuration.url == new.url)
        try await finishes("stop()") { await source.stop() }
    }

    @Test func aSourceBackingOffFromAnOldRedisThatIsGoneConnectsToTheNewOneAtOnce() async throws {
        let (old, new) = (try await RedisServer(), try await RedisServer())
        let address = RedisAddress(old.url)
        let recorder = BatchRecorder()
        // Backoff long enough that only the move can end it within the test.
        let source = try RedisTickSource(
            configuration: RedisTickSourceConfiguration(
                url: old.url, address: address, backoff: ReconnectBackoff(initial: .seconds(60), maximum: .seconds(60))),
            deliver: recorder.deliver)
        source.start()
        try await eventually("the source to connect") { source.snapshot.state == .connected }
        old.kill()
        try await eventually("the source to back off") { source.snapshot.channelState == .backingOff }

        address.move(to: new.url)
        try await eventually("the source to connect to the new Redis", within: .seconds(10)) { source.snapshot.state == .connected }
        #expect(try new.commander().publish(#"{"code":"000001","price":12}"#) == 1)
        try await eventually("the new Redis' tick") { recorder.ticks.map(\.code) == ["000001"] }
        try await finishes("stop()") { await source.stop() }
    }

    @Test func aMovedPublisherSharesThroughTheNewRedisWithNoOutage() async throws {
        let (old, new) = (try await RedisServer(), try await RedisServer())
        let address = RedisAddress(old.url)
        let publisher = RedisBroadcaster(
            url: old.url, address: address, channels: SharedChannels(tickChannel: "ticks"), origin: NodeOrigin(node: "node-a"),
            healthCheckInterval: .seconds(30), backoff: Self.fastBackoff)
        // The other node, already on the new Redis.
        let recorder = BatchRecorder()
        let other = try RedisTickSource(
            configuration: RedisTickSourceConfiguration(url: new.url, node: NodeOrigin(node: "node-b"), backoff: Self.fastBackoff),
            deliver: recorder.deliver)
        other.start()
        try await eventually("the other node to subscribe") { other.snapshot.state == .connected }
        publisher.start()
        try await eventually("the publisher to connect") { publisher.snapshot.state == .connected }
        let before = FedTick(code: "600519", name: "", price: 1850, volume: 1, prevClose: 1800, timestamp: 1_700_000_000_000_000)
        #expect(publisher.offer(.ticks([before])))
        try await eventually("the tick published to the old Redis") { publisher.snapshot.published == 1 }

        // Idle (no health check due for 30 s): only the move wakes it.
        address.move(to: new.url)
        let after = FedTick(code: "000001", name: "", price: 12, volume: 1, prevClose: 11, timestamp: 1_700_000_001_000_000)
        let newCommander = try new.commander()
        try await eventually("the publisher on the new Redis") { try newCommander.otherClients() == 1 }
        #expect(publisher.offer(.ticks([after])))
        try await eventually("the tick through the new Redis") { recorder.ticks.map(\.code) == ["000001"] }
        #expect(publisher.snapshot.outages == 0, "\(publisher.snapshot)")
        await publisher.stop()
        await other.stop()
    }

    @Test func aMovedKlineCacheLooksUpTheNewRedis() async throws {
        let (old, new) = (try await RedisServer(), try await RedisServer())
        try old.commander().set("kline:600519:1m", #"{"open":1850,"high":1856,"low":1849,"close":1855,"start":1699999980}"#)
        try new.commander().set("kline:600519:1m", #"{"open":1850,"high":1866,"low":1849,"close":1865,"start":1700000040}"#)
        let address = RedisAddress(old.url)
        let cache = RedisKlineCache(url: old.url, address: address)
        #expect(try await cache.latestBar(code: "600519", period: "1m")?.close == 1855)

        address.move(to: new.url)
        #expect(try await cache.latestBar(code: "600519", period: "1m")?.close == 1865)
        #expect(cache.url == new.url)
    }

    @Test func aPauseAfterTheOldRedisFailedDoesNotHoldForTheNewOne() async throws {
        let (old, new) = (try await RedisServer(), try await RedisServer())
        try new.commander().set("kline:600519:1m", #"{"open":1850,"high":1866,"low":1849,"close":1865,"start":1700000040}"#)
        let address = RedisAddress(old.url)
        let cache = RedisKlineCache(url: old.url, address: address, pauseAfterFailure: .seconds(600))
        old.kill()
        await #expect(throws: RedisError.self) { try await cache.latestBar(code: "600519", period: "1m") }
        #expect(try await cache.latestBar(code: "600519", period: "1m") == nil, "paused")

        address.move(to: new.url)
        #expect(try await cache.latestBar(code: "600519", period: "1m")?.close == 1865)
    }
}
