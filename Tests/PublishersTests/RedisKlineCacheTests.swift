import Broker
import Testing

@testable import Publishers

@Suite(.serialized) struct RedisKlineCacheTests {
    @Test func aBarStoredWithSetIsReadBack() async throws {
        let server = try await RedisServer()
        try server.commander().set(
            "kline:600519:1m", #"{"open":1850,"high":1856.5,"low":1849,"close":1855,"volume":1200,"start":1699999980}"#)
        let cache = RedisKlineCache(url: server.url)

        let bar = try #require(try await cache.latestBar(code: "600519", period: "1m"))

        #expect(bar == KlineBar(
            code: "600519", period: "1m", open: 1850, high: 1856.5, low: 1849, close: 1855, volume: 1200,
            start: 1_699_999_980_000_000, closed: false))
    }

    @Test func aNewKeyPatternIsUsedFromTheNextLookup() async throws {
        let server = try await RedisServer()
        try server.commander().set(
            "bars:1m:600519", #"{"open":1850,"high":1856.5,"low":1849,"close":1855,"volume":1200,"start":1699999980}"#)
        let cache = RedisKlineCache(url: server.url)
        #expect(try await cache.latestBar(code: "600519", period: "1m") == nil, "not under the default pattern")

        cache.setKeyPattern("bars:{period}:{code}")
        #expect(cache.keyPattern == "bars:{period}:{code}")
        #expect(try await cache.latestBar(code: "600519", period: "1m")?.close == 1855)
    }

    @Test func ofAnArrayOfBarsTheLastIsTaken() async throws {
        let server = try await RedisServer()
        try server.commander().set(
            "kline:600000:5m",
            #"[{"open":10,"high":11,"low":9,"close":10.5,"start":1700000100000},{"open":"10.5","high":"10.9","low":"10.4","close":"10.8","volume":"300","start":1700000400000}]"#)
        let cache = RedisKlineCache(url: server.url)

        let bar = try #require(try await cache.latestBar(code: "600000", period: "5m"))

        #expect(bar.close == 10.8 && bar.volume == 300 && bar.start == 1_700_000_400_000_000)
    }

    @Test func aMissingKeyOrAnUnusableValueGivesNoBar() async throws {
        let server = try await RedisServer()
        try server.commander().set("kline:000001:1m", "garbage")
        let cache = RedisKlineCache(url: server.url)

        #expect(try await cache.latestBar(code: "600519", period: "1d") == nil)
        #expect(try await cache.latestBar(code: "000001", period: "1m") == nil)
    }

    @Test func aBarTheBrokerWouldRefuseGivesNoBar() async throws {
        let server = try await RedisServer()
        try server.commander().set("kline:600003:1d", #"{"open":"nan","high":"inf","low":"-5","close":"10.5"}"#)
        try server.commander().set("kline:600004:1d", #"{"open":20,"high":1,"low":30,"close":-4,"start":1700000000}"#)
        let cache = RedisKlineCache(url: server.url)

        #expect(try await cache.latestBar(code: "600003", period: "1d") == nil)
        #expect(try await cache.latestBar(code: "600004", period: "1d") == nil)
    }

    @Test(arguments: [
        #"{"open":10,"high":11,"low":9,"close":10.5}"#,  // no start: 0
        #"{"open":10,"high":11,"low":9,"close":10.5,"start":0}"#,
        #"{"open":10,"high":11,"low":9,"close":10.5,"start":900000000}"#,  // seconds, in 1998
        #"{"open":10,"high":11,"low":9,"close":10.5,"start":900000000000000}"#,  // microseconds, in 1998
    ])
    func aBarStartingBefore2000IsRefusedAsPOSTApiKlinesRefusesIt(json: String) throws {
        let bar = try #require(RedisKlineCache.decodeBar(Array(json.utf8), code: "600519", period: "1d"))
        #expect(RedisKlineCache.refusal(of: bar)?.contains("before 2000") == true)
    }

    @Test func aBarStartingIn2000OrLaterIsTaken() throws {
        let json = #"{"open":10,"high":11,"low":9,"close":10.5,"start":946684800}"#
        let bar = try #require(RedisKlineCache.decodeBar(Array(json.utf8), code: "600519", period: "1d"))
        #expect(RedisKlineCache.refusal(of: bar) == nil)
    }

    @Test func aCachedBarWithoutAStartGivesNoBar() async throws {
        let server = try await RedisServer()
        try server.commander().set("kline:600519:1d", #"{"open":10,"high":11,"low":9,"close":10.5}"#)
        let cache = RedisKlineCache(url: server.url)

        #expect(try await cache.latestBar(code: "600519", period: "1d") == nil)
    }

    @Test func anUnreachableServerIsATypedErrorThenLookupsPauseWithoutTryingIt() async throws {
        let cache = RedisKlineCache(url: RedisURL(host: "127.0.0.1", port: try RedisServer.freePort()), pauseAfterFailure: .seconds(60))
        await #expect(throws: RedisError.self) { try await cache.latestBar(code: "600519", period: "1m") }
        // Paused: "no bar", without another connect attempt (which would throw again).
        #expect(try await cache.latestBar(code: "600519", period: "1m") == nil)
        #expect(try await cache.latestBar(code: "000001", period: "1d") == nil)
    }

    @Test func lookupsResumeOnceThePauseIsOver() async throws {
        let server = try await RedisServer()
        try server.commander().set("kline:600519:1m", #"{"open":10,"high":11,"low":9,"close":10.5,"start":1700000000}"#)
        let cache = RedisKlineCache(url: RedisURL(host: "127.0.0.1", port: try RedisServer.freePort()), pauseAfterFailure: .zero)
        await #expect(throws: RedisError.self) { try await cache.latestBar(code: "600519", period: "1m") }
        await #expect(throws: RedisError.self, "no pause: tried again") { try await cache.latestBar(code: "600519", period: "1m") }
        _ = server
    }
}
