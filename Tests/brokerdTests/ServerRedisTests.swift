import Broker
import Foundation
import Journal
import Testing
import TestSupport


@Suite(.serialized) struct ServerRedisTests {
    private func journaledPrices(_ journal: String) throws -> [Double] {
        let cursor = try JournalReader(path: journal).records(JournalQuery(kinds: [EventKind.priceTicked.rawValue]))
        var prices: [Double] = []
        while let record = try cursor.next() {
            if case .priceTicked(let tick) = try EventCodec.decode(kind: record.kind, payload: record.payload) { prices.append(tick.price) }
        }
        return prices
    }

    /// A Redis that takes the connection and never answers AUTH or SELECT (frozen, stopped, a proxy
    /// whose backend is gone): the readers and the publisher waited in them for good, and SIGTERM
    /// with them, until the process was killed without closing its clients or its journal.
    @Test func aShutdownWhileRedisTakesConnectionsButNeverAnswersClosesTheClientsAndExits() async throws {
        let redis = try SilentListener()
        let dir = try TemporaryDirectory()
        let journal = dir.path("j.sqlite")
        let broker = try await BrokerProcess(journal: journal, arguments: ["--redis-url", "redis://:secret@127.0.0.1:\(redis.port)/1"])
        let socket = TestWebSocket(url: broker.webSocketURL)
        let clientID = try #require(try await socket.receive()?["client_id"] as? String)
        try await Task.sleep(for: .seconds(1))  // the Redis threads are in AUTH by now

        broker.process.terminate()
        // Not a measure of speed: without the fix it waited for ever.
        for _ in 0..<600 where broker.process.isAlive { try await Task.sleep(for: .milliseconds(50)) }
        #expect(!broker.process.isAlive, "still running 30 s after SIGTERM")
        if broker.process.isAlive { await broker.kill9() }
        #expect(await broker.waitForExit() == 0)
        let disconnects = try journaledEvents(journal, kinds: [.clientDisconnected]).compactMap { event -> ClientDisconnected? in
            if case .clientDisconnected(let payload) = event { payload } else { nil }
        }
        #expect(disconnects.map(\.clientID) == [clientID] && disconnects.first?.reason == .shutdown, "\(disconnects)")
        await socket.close()
    }

    @Test func ticksFromRedisReachClientsAndTheStreamResumesAfterARestartWithoutDuplicates() async throws {
        let redis = try await RedisProcess()
        let dir = try TemporaryDirectory()
        let journal = dir.path("j.sqlite")
        let arguments = ["--redis-url", redis.url, "--redis-stream", "tick_stream"]
        var broker = try await BrokerProcess(journal: journal, arguments: arguments)
        let socket = TestWebSocket(url: broker.webSocketURL)
        _ = try await socket.receive()
        try socket.send(["type": "subscribe", "subscription_type": "stock", "target": "600519"])
        _ = try await socket.receive(type: "price_update")

        // Pub/sub: the source may still be subscribing; publish until a subscriber received it.
        var receivers = "0"
        for _ in 0..<100 where receivers == "0" {
            receivers = try redis.cli("PUBLISH", "ticks", #"{"code":"600519","name":"贵州茅台","price":12.5}"#)
            if receivers == "0" { try await Task.sleep(for: .milliseconds(50)) }
        }
        let published = try await socket.receive(type: "price_update")
        #expect((published?["data"] as? [[String: Any]])?.first?["price"] as? Double == 12.5)

        try redis.cli("XADD", "tick_stream", "*", "tick", #"{"code":"600519","price":13}"#)
        let streamed = try await socket.receive(type: "price_update")
        #expect((streamed?["data"] as? [[String: Any]])?.first?["price"] as? Double == 13)
        await socket.close()
        #expect(await broker.terminate() == 0)

        // While the broker is down the stream grows; after the restart it reads on from where it stopped.
        try redis.cli("XADD", "tick_stream", "*", "tick", #"{"code":"600519","price":14}"#)
        try redis.cli("XADD", "tick_stream", "*", "tick", #"{"code":"600519","price":15}"#)
        broker = try await BrokerProcess(journal: journal, arguments: arguments)
        var prices: [Double] = []
        for _ in 0..<200 {
            prices = try journaledPrices(journal)
            if prices.contains(15) { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(await broker.terminate() == 0)
        #expect(prices.filter { $0 != 12.5 } == [13, 14, 15], "each stream entry exactly once, in order")
        #expect(try JournalReader(path: journal).verify().isValid)
    }

    /// Publishes `price` for 600519 on `redis`' tick channel until a subscriber got it (the
    /// broker's subscription may still be opening); false when none did within 5 s.
    private func publishUntilHeard(_ price: Double, on redis: RedisProcess) async throws -> Bool {
        for _ in 0..<100 {
            if try redis.cli("PUBLISH", "ticks", #"{"code":"600519","price":\#(price)}"#) != "0" { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return false
    }

    /// A client of `broker` subscribed to 600519, its snapshot taken.
    private func stockSubscriber(_ broker: BrokerProcess) async throws -> TestWebSocket {
        let socket = TestWebSocket(url: broker.webSocketURL)
        _ = try await socket.receive()
        try socket.send(["type": "subscribe", "subscription_type": "stock", "target": "600519"])
        _ = try await socket.receive(type: "price_update")
        return socket
    }

    /// The price of the next price update `socket` gets.
    private func nextPrice(_ socket: TestWebSocket) async throws -> Double? {
        (try await socket.receive(type: "price_update")?["data"] as? [[String: Any]])?.first?["price"] as? Double
    }

    @Test func aReloadedRedisURLMovesTheBrokerToTheNewRedisWithItsClientsConnected() async throws {
        let (old, new) = (try await RedisProcess(), try await RedisProcess())
        let dir = try TemporaryDirectory()
        let config = dir.path("brokerd.toml")
        try "[redis]\nurl = \"\(old.url)\"\n".write(toFile: config, atomically: true, encoding: .utf8)
        let broker = try await BrokerProcess(journal: dir.path("j.sqlite"), arguments: ["--config", config])
        let socket = try await stockSubscriber(broker)
        #expect(try await publishUntilHeard(12.5, on: old))
        #expect(try await nextPrice(socket) == 12.5)

        try "[redis]\nurl = \"\(new.url)\"\n".write(toFile: config, atomically: true, encoding: .utf8)
        let (status, body) = try await HTTP.request("POST", broker.baseURL + "/api/config/reload")
        #expect(status == 200 && body["applied"] as? [String] == ["redis_url"], "\(body)")
        #expect(try await publishUntilHeard(13, on: new), "the broker subscribes on the new Redis")
        #expect(try await nextPrice(socket) == 13)
        #expect(try old.cli("PUBSUB", "NUMSUB", "ticks").hasSuffix("0"), "the old subscription is closed")
        var stats: [String: Any] = [:]
        for _ in 0..<100 {
            stats = try await HTTP.request("GET", broker.baseURL + "/api/websocket/stats").1
            if (stats["redis_outbound"] as? [String: Any])?["state"] as? String == "connected" { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        let redis = stats["redis"] as? [String: Any]
        #expect(redis?["state"] as? String == "connected" && redis?["lastError"] == nil, "a move is no outage: \(stats)")
        #expect((stats["redis_outbound"] as? [String: Any])?["outages"] as? Int == 0, "\(stats)")
        let settings = try await HTTP.request("GET", broker.baseURL + "/api/config").1["settings"] as? [String: Any]
        #expect(settings?["redis_url"] as? String == new.url + "/0")

        // Without a URL the broker would start its simulator: that waits for a restart.
        try "".write(toFile: config, atomically: true, encoding: .utf8)
        let (_, unset) = try await HTTP.request("POST", broker.baseURL + "/api/config/reload")
        #expect(unset["applied"] as? [String] == [] && unset["restart_required"] as? [String] == ["redis_url"], "\(unset)")
        #expect(try await publishUntilHeard(14, on: new))
        #expect(try await nextPrice(socket) == 14)
        await socket.close()
        #expect(await broker.terminate() == 0)
    }

    @Test func withSentinelsTheBrokerFollowsAFailoverAndItsClientsKeepTheirPrices() async throws {
        let master = try await RedisProcess()
        let replica = try await RedisProcess(arguments: ["--replicaof", "127.0.0.1", "\(master.port)"])
        let dir = try TemporaryDirectory()
        let sentinel = try await RedisProcess(sentinelOf: master, name: "brokermaster", directory: dir.url.path)
        // redis_url's host and port lead nowhere: the sentinel says where the master is.
        let broker = try await BrokerProcess(
            journal: dir.path("j.sqlite"),
            arguments: [
                "--redis-url", "redis://127.0.0.1:\(try freePort())", "--redis-sentinels", "redis://127.0.0.1:\(sentinel.port)",
                "--redis-sentinel-master", "brokermaster", "--redis-health-check-interval", "0.5",
            ])
        let socket = try await stockSubscriber(broker)
        #expect(try await publishUntilHeard(12.5, on: master))
        #expect(try await nextPrice(socket) == 12.5)
        func sentinelStats() async throws -> [String: Any]? {
            try await HTTP.request("GET", broker.baseURL + "/api/websocket/stats").1["redis_sentinel"] as? [String: Any]
        }
        let before = try await sentinelStats()
        #expect(before?["master"] as? String == "127.0.0.1:\(master.port)" && before?["state"] as? String == "connected", "\(before ?? [:])")

        // Sentinel learns of the replica from the master's INFO, every few seconds.
        var replicas = ""
        for _ in 0..<400 where !(replicas.contains("flags\nslave\n") && replicas.contains("master-link-status\nok")) {
            replicas = try sentinel.cli("SENTINEL", "REPLICAS", "brokermaster")
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(try sentinel.cli("SENTINEL", "FAILOVER", "brokermaster") == "OK", "replicas known: \(replicas)")
        // The sentinel promotes the replica and announces it (its log says when, or that it gave up).
        for _ in 0..<600 where try !sentinel.switchedTheMaster(named: "brokermaster") {
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(try sentinel.switchedTheMaster(named: "brokermaster"))
        var after: [String: Any]?
        for _ in 0..<300 {
            after = try await sentinelStats()
            if after?["master"] as? String == "127.0.0.1:\(replica.port)" { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(after?["master"] as? String == "127.0.0.1:\(replica.port)" && after?["switches"] as? Int == 1, "\(after ?? [:])")
        // The failover's epoch, as the sentinels say at the next check of the master (every 0.5 s here).
        for _ in 0..<300 where after?["config_epoch"] as? Int != 1 {
            try await Task.sleep(for: .milliseconds(100))
            after = try await sentinelStats()
        }
        #expect(after?["config_epoch"] as? Int == 1, "\(after ?? [:])")
        #expect(try await publishUntilHeard(13, on: replica), "the broker subscribes on the new master")
        #expect(try await nextPrice(socket) == 13)
        let metrics = try await HTTP.text(broker.baseURL + "/metrics")
        #expect(metrics.contains("brokerd_redis_sentinel_switches_total 1") && metrics.contains("brokerd_redis_sentinel_up 1"))
        await socket.close()
        #expect(await broker.terminate() == 0)
    }

    @Test func reloadedSentinelsAreAskedAndTheBrokerMovesToTheirMasterWithItsClientsConnected() async throws {
        let (first, second) = (try await RedisProcess(), try await RedisProcess())
        let dir = try TemporaryDirectory()
        let firstSentinel = try await RedisProcess(sentinelOf: first, name: "brokermaster", directory: dir.url.path)
        let secondSentinel = try await RedisProcess(sentinelOf: second, name: "othermaster", directory: dir.url.path)
        let config = dir.path("brokerd.toml")
        // redis_url's host and port lead nowhere: the sentinels say where the master is.
        let redis = "[redis]\nurl = \"redis://127.0.0.1:\(try freePort())\"\n"
        func followed(by sentinel: RedisProcess, as name: String) -> String {
            redis + "sentinels = [\"\(sentinel.url)\"]\nsentinel_master = \"\(name)\"\n"
        }
        try followed(by: firstSentinel, as: "brokermaster").write(toFile: config, atomically: true, encoding: .utf8)
        let broker = try await BrokerProcess(journal: dir.path("j.sqlite"), arguments: ["--config", config])
        let socket = try await stockSubscriber(broker)
        #expect(try await publishUntilHeard(12.5, on: first))
        #expect(try await nextPrice(socket) == 12.5)

        let (status, body) = try await broker.reload(writing: followed(by: secondSentinel, as: "othermaster"), to: config)
        #expect(status == 200 && body["applied"] as? [String] == ["redis_sentinels", "redis_sentinel_master"], "\(body)")
        #expect(try await publishUntilHeard(13, on: second), "the broker subscribes on the other sentinels' master")
        #expect(try await nextPrice(socket) == 13)
        let sentinel = try await HTTP.request("GET", broker.baseURL + "/api/websocket/stats").1["redis_sentinel"] as? [String: Any]
        #expect(sentinel?["sentinel"] as? String == "127.0.0.1:\(secondSentinel.port)", "\(sentinel ?? [:])")
        #expect(sentinel?["master"] as? String == "127.0.0.1:\(second.port)" && sentinel?["switches"] as? Int == 0, "\(sentinel ?? [:])")
        #expect(sentinel?["master_role"] as? String == "master", "\(sentinel ?? [:])")

        // Without sentinels redis_url would say where Redis is (nowhere): that waits for a restart.
        let (_, unset) = try await broker.reload(writing: redis, to: config)
        #expect(unset["applied"] as? [String] == [], "\(unset)")
        #expect(unset["restart_required"] as? [String] == ["redis_sentinels", "redis_sentinel_master"], "\(unset)")
        #expect(try await publishUntilHeard(14, on: second))
        #expect(try await nextPrice(socket) == 14)
        await socket.close()
        #expect(await broker.terminate() == 0)
    }

    @Test func aReloadedLogLengthTrimsTheSharedLog() async throws {
        let redis = try await RedisProcess()
        let dir = try TemporaryDirectory()
        let config = dir.path("brokerd.toml")
        try "[redis]\nurl = \"\(redis.url)\"\nlog_length = 1000000\n".write(toFile: config, atomically: true, encoding: .utf8)
        let broker = try await BrokerProcess(journal: dir.path("j.sqlite"), arguments: ["--config", config])
        func postNews(_ range: ClosedRange<Int>) async throws {
            for index in range {
                let body = #"{"id":"n-\#(index)","title":"headline \#(index)","category":"company"}"#
                #expect(try await HTTP.request("POST", broker.baseURL + "/api/news", body: body).0 == 200)
            }
        }
        func logLength() throws -> Int { Int(try redis.cli("XLEN", "ticks:log")) ?? -1 }
        try await postNews(1...150)
        for _ in 0..<200 where try logLength() < 150 { try await Task.sleep(for: .milliseconds(25)) }
        #expect(try logLength() == 150)

        let (status, body) = try await broker.reload(writing: "[redis]\nurl = \"\(redis.url)\"\nlog_length = 10\n", to: config)
        #expect(status == 200 && body["applied"] as? [String] == ["redis_log_length"], "\(body)")
        try await postNews(151...300)
        // Once the last is appended, `MAXLEN ~` has trimmed whole nodes of the stream (100 entries
        // each): about 10 are left, never 300.
        for _ in 0..<200 where !(try redis.cli("XREVRANGE", "ticks:log", "+", "-", "COUNT", "1").contains("n-300")) {
            try await Task.sleep(for: .milliseconds(25))
        }
        #expect(try redis.cli("XREVRANGE", "ticks:log", "+", "-", "COUNT", "1").contains("n-300"))
        let length = try logLength()
        #expect(length >= 10 && length <= 200, "\(length)")
        #expect(await broker.terminate() == 0)
    }

    @Test func entriesAddedWhileTheBrokerIsDownAreReadEvenIfNoneCameBefore() async throws {
        let redis = try await RedisProcess()
        try redis.cli("XADD", "tick_stream", "*", "tick", #"{"code":"600519","price":1}"#)
        let dir = try TemporaryDirectory()
        let journal = dir.path("j.sqlite")
        let arguments = ["--redis-url", redis.url, "--redis-stream", "tick_stream"]
        var broker = try await BrokerProcess(journal: journal, arguments: arguments)
        // The first run starts after what the stream held ("$") and journals where that is,
        // though no entry came while it ran.
        var positions = 0
        for _ in 0..<200 where positions == 0 {
            // The shared log's reader journals where it starts too.
            positions = try journaledEvents(journal, kinds: [.sourceAdvanced]).count {
                if case .sourceAdvanced(let advanced) = $0 { advanced.source == "redis-stream:tick_stream" } else { false }
            }
            if positions == 0 { try await Task.sleep(for: .milliseconds(25)) }
        }
        #expect(positions == 1, "the stream position the first run started from")
        #expect(await broker.terminate() == 0)

        for price in [2, 3, 4] {
            try redis.cli("XADD", "tick_stream", "*", "tick", #"{"code":"600519","price":\#(price)}"#)
        }
        broker = try await BrokerProcess(journal: journal, arguments: arguments)
        var prices: [Double] = []
        for _ in 0..<200 where prices.count < 3 {
            prices = try journaledPrices(journal)
            if prices.count < 3 { try await Task.sleep(for: .milliseconds(25)) }
        }
        #expect(await broker.terminate() == 0)
        #expect(prices == [2, 3, 4], "what was added while the broker was down, once, and nothing from before it started")
    }

    @Test func aStreamTrimmedPastTheJournaledPositionWhileTheBrokerWasDownIsAGapInStatsAndMetrics() async throws {
        let redis = try await RedisProcess()
        let dir = try TemporaryDirectory()
        let journal = dir.path("j.sqlite")
        let arguments = ["--redis-url", redis.url, "--redis-stream", "tick_stream"]
        var broker = try await BrokerProcess(journal: journal, arguments: arguments)
        try redis.cli("XADD", "tick_stream", "*", "tick", #"{"code":"600519","price":1}"#)
        for _ in 0..<200 where try journaledPrices(journal).isEmpty { try await Task.sleep(for: .milliseconds(25)) }
        #expect(await broker.terminate() == 0)

        // While the broker is down, more arrives than the stream keeps.
        for price in [2, 3, 4] { try redis.cli("XADD", "tick_stream", "*", "tick", #"{"code":"600519","price":\#(price)}"#) }
        try redis.cli("XTRIM", "tick_stream", "MAXLEN", "1")
        broker = try await BrokerProcess(journal: journal, arguments: arguments)
        for _ in 0..<200 where try !journaledPrices(journal).contains(4) { try await Task.sleep(for: .milliseconds(25)) }

        let (_, stats) = try await HTTP.request("GET", broker.baseURL + "/api/websocket/stats")
        let exposition = try await HTTP.text(broker.baseURL + "/metrics")
        #expect(await broker.terminate() == 0)
        #expect((stats["redis"] as? [String: Any])?["gaps"] as? Int == 1)
        #expect(exposition.contains("\nbrokerd_redis_stream_gaps_total 1"))
        // Counts since start are counters, so that rate() works on them.
        for name in ["brokerd_redis_stream_gaps_total", "brokerd_redis_messages_received_total", "brokerd_redis_reconnects_total"] {
            #expect(exposition.contains("# TYPE \(name) counter"), "\(name)")
        }
        #expect(broker.logText.contains("trimmed past"))
        #expect(try journaledPrices(journal) == [1, 4], "the entries trimmed away are lost; reading goes on")
    }

    @Test func aNewStockSubscriberGetsTheLatestBarsFromTheJournalAndTheSeedsKlineCache() async throws {
        let redis = try await RedisProcess()
        // The seed's cache shape: bare code keys, the Python feeder's numeric strings, daily bars.
        try redis.cli("SET", "600519", #"[{"open":"1700","high":"1720","low":"1690","close":"1710","volume":"5","start":1700000000},"#
            + #"{"open":"1710","high":"1760","low":"1700","close":"1755","volume":"8","start":1700086400}]"#)
        let dir = try TemporaryDirectory()
        let broker = try await BrokerProcess(
            journal: dir.path("j.sqlite"), arguments: ["--redis-url", redis.url, "--redis-kline-key", "{code}"])
        let minuteBar = #"{"klines":[{"code":"600519","period":"1m","open":1750,"high":1758,"low":1749,"close":1756,"volume":3,"closed":true}]}"#
        #expect(try await HTTP.request("POST", broker.baseURL + "/api/klines", body: minuteBar).0 == 200)

        let socket = TestWebSocket(url: broker.webSocketURL)
        _ = try await socket.receive()
        try socket.send(["type": "subscribe", "subscription_type": "stock", "target": "600519"])
        _ = try await socket.receive(type: "price_update")
        var bars: [String: [String: Any]] = [:]
        for _ in 0..<2 {
            let message = try #require(try await socket.receive(type: "kline_update"))
            let bar = try #require(message["data"] as? [String: Any])
            bars[try #require(bar["period"] as? String)] = bar
        }
        #expect(bars["1m"]?["close"] as? Double == 1756, "journaled bar")
        #expect(bars["1d"]?["close"] as? Double == 1755, "the cache's latest daily bar")
        #expect(bars["1d"]?["closed"] as? Bool == false)

        // A code the cache does not hold gets no cached bar, and the subscription still works.
        try socket.send(["type": "subscribe", "subscription_type": "stock", "target": "000001"])
        #expect(try await socket.receive(type: "subscribed") != nil)
        #expect(try await socket.receive()?["type"] as? String == "price_update")
        try socket.send(["type": "ping"])
        #expect(try await socket.receive()?["type"] as? String == "pong", "no bar for a code neither journal nor cache knows")
        await socket.close()
        #expect(await broker.terminate() == 0)
    }

    @Test func aReloadedKlineKeyIsUsedForTheNextSubscriber() async throws {
        let redis = try await RedisProcess()
        try redis.cli("SET", "bars:600519:1d", #"{"open":"1700","high":"1720","low":"1690","close":"1711","volume":"5","start":1700000000}"#)
        let dir = try TemporaryDirectory()
        let config = dir.path("brokerd.toml")
        try "[redis]\nurl = \"\(redis.url)\"\nkline_key = \"kline:{code}:{period}\"\n".write(toFile: config, atomically: true, encoding: .utf8)
        let broker = try await BrokerProcess(journal: dir.path("j.sqlite"), arguments: ["--config", config])
        let (status, body) = try await broker.reload(writing: "[redis]\nurl = \"\(redis.url)\"\nkline_key = \"bars:{code}:{period}\"\n", to: config)
        #expect(status == 200 && body["applied"] as? [String] == ["redis_kline_key"], "\(body)")
        let socket = TestWebSocket(url: broker.webSocketURL)
        _ = try await socket.receive()
        try socket.send(["type": "subscribe", "subscription_type": "stock", "target": "600519"])
        let bar = try await socket.receive(type: "kline_update")
        #expect((bar?["data"] as? [String: Any])?["close"] as? Double == 1711, "\(bar ?? [:])")
        await socket.close()
        #expect(await broker.terminate() == 0)
    }

    @Test func aSlowKlineCacheDoesNotHoldUpTheClientsNextRequests() async throws {
        let redis = try await RedisProcess()
        try redis.cli("SET", "kline:600519:1d", #"{"open":"1700","high":"1720","low":"1690","close":"1711","volume":"5","start":1700000000}"#)
        let dir = try TemporaryDirectory()
        let broker = try await BrokerProcess(
            journal: dir.path("j.sqlite"), arguments: ["--redis-url", redis.url, "--redis-kline-key", "kline:{code}:{period}"])
        let socket = TestWebSocket(url: broker.webSocketURL)
        _ = try await socket.receive()
        // Redis answers no command for 600 ms (under the cache's 1 s timeout): the lookup waits it out.
        try redis.cli("CLIENT", "PAUSE", "600", "ALL")
        try socket.send(["type": "subscribe", "subscription_type": "stock", "target": "600519"])
        try socket.send(["type": "ping"])
        var order: [String] = []
        while !(order.contains("pong") && order.contains("kline_update")), let message = try await socket.receive() {
            order.append(message["type"] as? String ?? "?")
        }
        let pong = try #require(order.firstIndex(of: "pong"), "\(order)")
        let bar = try #require(order.firstIndex(of: "kline_update"), "\(order)")
        #expect(pong < bar, "the ping was answered while the cache was read: \(order)")
        await socket.close()
        #expect(await broker.terminate() == 0)
    }

    @Test func aBarBeingBuiltFromTicksGoesWithTheSnapshotAndNoOlderCachedBarFollowsIt() async throws {
        let redis = try await RedisProcess()
        let cachedBar = { (period: String, close: Int) in
            #"{"open":"1700","high":"1720","low":"1690","close":"\#(close)","volume":"5","start":1700000000}"#
        }
        try redis.cli("SET", "kline:600519:1m", cachedBar("1m", 1701))
        try redis.cli("SET", "kline:600519:5m", cachedBar("5m", 1705))
        try redis.cli("SET", "kline:600519:1d", cachedBar("1d", 1711))
        let dir = try TemporaryDirectory()
        let broker = try await BrokerProcess(
            journal: dir.path("j.sqlite"), arguments: ["--redis-url", redis.url, "--redis-kline-key", "kline:{code}:{period}"])
        // Opens the 1m and 5m bars the broker builds from ticks; nothing is journaled for them yet,
        // and they do not close before the test is done.
        try await waitForRoomInTheMinute(10)
        let tick = #"{"ticks":[{"code":"600519","name":"贵州茅台","price":1850.5,"volume":100}]}"#
        #expect(try await HTTP.request("POST", broker.baseURL + "/api/ticks", body: tick).0 == 200)

        let socket = TestWebSocket(url: broker.webSocketURL)
        _ = try await socket.receive()
        try socket.send(["type": "subscribe", "subscription_type": "stock", "target": "600519"])
        _ = try await socket.receive(type: "price_update")
        try socket.send(["type": "ping"])
        // The cache is read off the client's message order: its bar may come before or after the pong.
        var bars: [(period: String, close: Double, closed: Bool)] = []
        var ponged = false
        while !ponged || !bars.contains(where: { $0.period == "1d" }), let message = try await socket.receive() {
            if message["type"] as? String == "pong" { ponged = true }
            guard message["type"] as? String == "kline_update", let bar = message["data"] as? [String: Any] else { continue }
            bars.append((try #require(bar["period"] as? String), try #require(bar["close"] as? Double), try #require(bar["closed"] as? Bool)))
        }
        // Every cached bar goes in one step with the 1d one; one more pong makes sure none trails.
        try socket.send(["type": "ping"])
        while let message = try await socket.receive(), message["type"] as? String != "pong" {
            guard message["type"] as? String == "kline_update", let bar = message["data"] as? [String: Any] else { continue }
            bars.append((try #require(bar["period"] as? String), try #require(bar["close"] as? Double), try #require(bar["closed"] as? Bool)))
        }
        await socket.close()
        #expect(await broker.terminate() == 0)

        #expect(bars.filter { $0.period == "1m" }.map(\.close) == [1850.5], "the bar being built, and no cached 1m bar after it")
        #expect(bars.filter { $0.period == "5m" }.map(\.close) == [1850.5], "the bar being built, and no cached 5m bar after it")
        #expect(bars.filter { $0.period.hasSuffix("m") }.allSatisfy { !$0.closed })
        #expect(bars.filter { $0.period == "1d" }.map(\.close) == [1711], "no daily bar is built from ticks: the cache's")
    }
}
