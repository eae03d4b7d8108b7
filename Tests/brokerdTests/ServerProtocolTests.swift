import Foundation
import Testing
import TestSupport

/// The seed's WebSocket protocol against a real `brokerd serve` over real sockets.
@Suite(.serialized) struct ServerProtocolTests {
    private func startBroker(_ arguments: [String] = []) async throws -> (TemporaryDirectory, BrokerProcess) {
        let dir = try TemporaryDirectory()
        let broker = try await BrokerProcess(journal: dir.path("journal.sqlite"), arguments: arguments)
        return (dir, broker)
    }

    private func putSignals(_ broker: BrokerProcess, _ strategy: String, _ codes: [String], token: String? = nil) async throws {
        let signals = codes.map { #"{"code":"\#($0)","name":"Stock \#($0)"}"# }.joined(separator: ",")
        let (status, body) = try await HTTP.request("PUT", broker.baseURL + "/api/signals/\(strategy)", body: #"{"signals":[\#(signals)]}"#, token: token)
        #expect(status == 200, "PUT signals: \(body)")
    }

    private func postTicks(_ broker: BrokerProcess, _ ticks: [(String, Double)], token: String? = nil) async throws {
        let rows = ticks.map { #"{"code":"\#($0.0)","name":"Stock \#($0.0)","price":\#($0.1),"volume":1000,"prev_close":10.0}"# }
        let (status, body) = try await HTTP.request("POST", broker.baseURL + "/api/ticks", body: #"{"ticks":[\#(rows.joined(separator: ","))]}"#, token: token)
        #expect(status == 200, "POST ticks: \(body)")
    }

    private func connect(_ broker: BrokerProcess, query: String = "") async throws -> (TestWebSocket, [String: Any]) {
        let socket = TestWebSocket(url: broker.webSocketURL + query)
        let connected = try #require(try await socket.receive())
        #expect(connected["type"] as? String == "connected")
        return (socket, connected)
    }

    private func codes(_ update: [String: Any]?) -> [String] {
        ((update?["data"] as? [[String: Any]]) ?? []).compactMap { $0["code"] as? String }
    }

    /// The next price update on `socket`, held back by a price interval while 000001 and then
    /// 600519 at 1701 were posted: one update with both, 600519 at its latest price.
    private func expectOneMergedUpdate(_ socket: TestWebSocket) async throws {
        let merged = try #require(try await socket.receive(type: "price_update"))
        #expect(Set(codes(merged)) == ["600519", "000001"])
        let prices = (merged["data"] as? [[String: Any]] ?? []).compactMap { $0["price"] as? Double }
        #expect(prices.contains(1701), "the latest price of 600519: \(merged)")
    }

    @Test func statsCountMessagesInSinceStartClosedConnectionsIncluded() async throws {
        let dir = try TemporaryDirectory()
        let broker = try await BrokerProcess(journal: dir.path("j.sqlite"))
        let socket = TestWebSocket(url: broker.webSocketURL)
        _ = try await socket.receive()
        for _ in 0..<5 {
            try socket.send(["type": "ping"])
            _ = try await socket.receive(type: "pong")
        }
        await socket.close()
        var messagesIn = 0
        for _ in 0..<100 {
            let (_, stats) = try await HTTP.request("GET", broker.baseURL + "/api/websocket/stats")
            messagesIn = (stats["messages"] as? [String: Any])?["in"] as? Int ?? -1
            let active = (stats["connections"] as? [String: Any])?["active"] as? Int ?? -1
            if active == 0 { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(messagesIn == 5, "the pings of a connection that has closed still count")
        await broker.terminate()
    }

    @Test func theSeedFlowWorksUnchanged() async throws {
        let (dir, broker) = try await startBroker()
        try await putSignals(broker, "volume_wave", ["600519", "000001"])
        try await postTicks(broker, [("600519", 12.5)])

        let (socket, connected) = try await connect(broker)
        let clientID = try #require(connected["client_id"] as? String)
        #expect(clientID.wholeMatch(of: /client_[0-9a-f]{8}/) != nil)
        #expect(connected["resumed"] as? Bool == false)
        #expect(connected["seq"] is Int)

        try socket.send(["type": "subscribe", "subscription_type": "strategy", "target": "volume_wave"])
        let subscribed = try await socket.receive()
        #expect(subscribed?["type"] as? String == "subscribed")
        #expect(subscribed?["target"] as? String == "volume_wave")
        let snapshot = try await socket.receive()
        #expect(snapshot?["type"] as? String == "price_update")
        #expect(codes(snapshot) == ["600519"])

        try socket.send(["type": "ping"])
        #expect(try await socket.receive()?["type"] as? String == "pong")

        try await postTicks(broker, [("000001", 11.0), ("600519", 13.0), ("600000", 9.0)])
        let update = try await socket.receive(type: "price_update")
        #expect(Set(codes(update)) == ["000001", "600519"])
        let entry = try #require((update?["data"] as? [[String: Any]])?.first { $0["code"] as? String == "600519" })
        #expect(entry["price"] as? Double == 13.0)
        #expect(entry["change"] as? Double == 3.0)
        #expect(entry["change_percent"] as? Double == 30.0)
        #expect(update?["seq"] is Int)

        // Subscribing without subscription_type means strategy.
        try socket.send(["type": "unsubscribe", "target": "volume_wave"])
        #expect(try await socket.receive(type: "unsubscribed")?["target"] as? String == "volume_wave")
        await socket.close()
        #expect(await broker.terminate() == 0)
        _ = dir
    }

    @Test func repliesComeInTheOrderOfTheRequestsWhetherOrNotTheyNeedTheJournal() async throws {
        let (dir, broker) = try await startBroker()
        try await putSignals(broker, "volume_wave", ["600519"])
        let (socket, _) = try await connect(broker)
        // Sent back to back: the pings need no journal, the others do; none may overtake another.
        try socket.send(["type": "subscribe", "target": "volume_wave"])
        try socket.send(["type": "ping"])
        try socket.send(["type": "unsubscribe", "target": "volume_wave"])
        socket.sendRaw("{not json")
        try socket.send(["type": "list_alerts"])
        try socket.send(["type": "ping"])
        var types: [String] = []
        for _ in 0..<7 { types.append(try await socket.receive()?["type"] as? String ?? "nothing") }
        #expect(types == ["subscribed", "price_update", "pong", "unsubscribed", "error", "alerts", "pong"])
        await socket.close()
        await broker.terminate()
        _ = dir
    }

    @Test func everyDirectReplyEchoesItsRequestsIDAndPushesCarryNone() async throws {
        let (dir, broker) = try await startBroker(["--messages-per-second", "1", "--burst", "6"])
        try await putSignals(broker, "volume_wave", ["600519"])
        try await postTicks(broker, [("600519", 11.0)])
        let (socket, _) = try await connect(broker)
        try socket.send(["type": "subscribe", "target": "volume_wave", "id": 1])
        try socket.send(["type": "ping", "id": "p-2"])
        try socket.send(["type": "set_alert", "code": "600519", "condition": "above", "threshold": 12, "id": 3])
        try socket.send(["type": "list_alerts", "id": 4])
        try socket.send(["type": "unsubscribe", "target": "nope", "id": 5])
        try socket.send(["type": "unsubscribe", "target": "volume_wave"])
        // Past the burst: refused unread, yet answered with its id so a client knows what to resend.
        try socket.send(["type": "subscribe", "subscription_type": "stock", "target": "600519", "id": 7])
        var replies: [String] = []
        for _ in 0..<8 {
            let message = try #require(try await socket.receive())
            replies.append("\(message["type"] as? String ?? "?")/\(message["error"] as? String ?? "")/\(message["id"].map { "\($0)" } ?? "-")")
        }
        #expect(replies == [
            "subscribed//1", "price_update//-", "pong//p-2", "alert_set//3", "alerts//4", "error/not_subscribed/5", "unsubscribed//-",
            "error/rate_limited/7",
        ])
        await socket.close()
        await broker.terminate()
        _ = dir
    }

    @Test func underLiveTicksNoPriceUpdateComesBeforeSubscribedOrAfterUnsubscribed() async throws {
        // The simulator ticks every Shanghai code of the shipped strategies a few thousand times a
        // second, so pushes of the board are in flight whenever the client subscribes or leaves it.
        let (dir, broker) = try await startBroker([
            "--simulator", "on", "--simulator-rate", "3000", "--messages-per-second", "1000", "--burst", "1000",
        ])
        let (socket, _) = try await connect(broker)
        var live = 0
        for cycle in 0..<200 {
            try socket.send(["type": "subscribe", "subscription_type": "market", "target": "sh"])
            // Nothing of the board while the client is not subscribed (cycle > 0: since `unsubscribed`).
            var next = try #require(try await socket.receive())
            while next["type"] as? String != "subscribed" {
                Issue.record("cycle \(cycle): \(next["type"] ?? "?") before subscribed (\(next["details"] ?? ""))")
                next = try #require(try await socket.receive())
            }
            let snapshot = try #require(try await socket.receive())
            #expect(snapshot["type"] as? String == "price_update", "cycle \(cycle): the snapshot comes right after subscribed")
            var seq = try #require(snapshot["seq"] as? Int)
            try socket.send(["type": "unsubscribe", "subscription_type": "market", "target": "sh"])
            next = try #require(try await socket.receive())
            while next["type"] as? String == "price_update" {
                let pushed = try #require(next["seq"] as? Int)
                #expect(pushed > seq, "cycle \(cycle): a live update newer than what came before it")
                seq = pushed
                live += 1
                next = try #require(try await socket.receive())
            }
            #expect(next["type"] as? String == "unsubscribed", "cycle \(cycle)")
        }
        // After the last `unsubscribed`, the pong is next.
        try socket.send(["type": "ping"])
        #expect(try await socket.receive()?["type"] as? String == "pong")
        #expect(live > 0, "live updates reached the client between its subscribes and unsubscribes")
        await socket.close()
        await broker.terminate()
        _ = dir
    }

    @Test func withAPriceIntervalTicksWithinItReachTheClientAsOneUpdate() async throws {
        let (dir, broker) = try await startBroker(["--price-interval", "3"])
        try await putSignals(broker, "volume_wave", ["600519", "000001"])
        let (socket, _) = try await connect(broker)
        try socket.send(["type": "subscribe", "subscription_type": "strategy", "target": "volume_wave"])
        _ = try await socket.receive(type: "subscribed")
        _ = try await socket.receive(type: "price_update")

        try await postTicks(broker, [("600519", 1700)])
        let first = try #require(try await socket.receive(type: "price_update"))
        #expect(codes(first) == ["600519"])

        // Two ticks in two requests, well within the 3 s since that update: one update brings both,
        // where without the interval each request's tick would come in an update of its own.
        try await postTicks(broker, [("000001", 11)])
        try await postTicks(broker, [("600519", 1701)])
        try await expectOneMergedUpdate(socket)
        try socket.send(["type": "ping"])
        #expect(try await socket.receive()?["type"] as? String == "pong")
        await socket.close()
        await broker.terminate()
        _ = dir
    }

    /// An operator pages through the connections (NATS's `connz` has `offset` and `limit` too):
    /// oldest first, `count` of them all; without either, every row as before.
    @Test func theConnectionsAreListedAPageAtATime() async throws {
        let (dir, broker) = try await startBroker()
        var sockets: [TestWebSocket] = []
        var ids: [String] = []
        for _ in 0..<5 {
            let (socket, connected) = try await connect(broker)
            sockets.append(socket)
            ids.append(try #require(connected["client_id"] as? String))
        }
        func page(_ query: String) async throws -> (Int, [String: Any], [String]) {
            let (status, body) = try await HTTP.request("GET", broker.baseURL + "/api/websocket/clients" + query)
            return (status, body, (body["clients"] as? [[String: Any]] ?? []).compactMap { $0["client_id"] as? String })
        }
        let (_, whole, all) = try await page("")
        #expect(all == ids && whole["count"] as? Int == 5, "oldest first: \(whole)")
        #expect(whole["offset"] == nil && whole["limit"] == nil, "no page asked for, none named")
        let (_, first, firstRows) = try await page("?limit=2")
        #expect(firstRows == Array(ids[0..<2]) && first["count"] as? Int == 5 && first["offset"] as? Int == 0 && first["limit"] as? Int == 2, "\(first)")
        let (_, _, middle) = try await page("?offset=1&limit=3")
        #expect(middle == Array(ids[1..<4]))
        let (_, _, last) = try await page("?offset=3&limit=10")
        #expect(last == Array(ids[3...]))
        let (_, zero, zeroRows) = try await page("?offset=0")
        #expect(zeroRows == ids && zero["offset"] as? Int == 0 && zero["limit"] == nil, "a page asked for is named: \(zero)")
        let (_, beyond, beyondRows) = try await page("?offset=5")
        #expect(beyondRows.isEmpty && beyond["count"] as? Int == 5 && beyond["offset"] as? Int == 5 && beyond["limit"] == nil, "\(beyond)")
        for (query, error) in [
            ("?limit=0", "invalid_limit"), ("?limit=100001", "invalid_limit"), ("?limit=x", "invalid_limit"),
            ("?offset=-1", "invalid_offset"), ("?offset=1000001", "invalid_offset"), ("?offset=1.5", "invalid_offset"),
            ("?subscriptions=all", "invalid_subscriptions"), ("?subscriptions=", "invalid_subscriptions"),
        ] {
            let (status, body, _) = try await page(query)
            #expect(status == 400 && body["error"] as? String == error, "\(query): \(body)")
        }
        // Each row lists its subscriptions and their count, or with ?subscriptions=count the count alone.
        try sockets[0].send(["type": "subscribe", "subscription_type": "stock", "targets": ["600519", "000001"]])
        for _ in 0..<2 { #expect(try await sockets[0].receive(type: "subscribed") != nil) }
        let listed = try #require((try await page("?limit=1").1["clients"] as? [[String: Any]])?.first)
        #expect((listed["subscriptions"] as? [[String: Any]])?.count == 2 && listed["subscription_count"] as? Int == 2, "\(listed)")
        let (countedStatus, countedBody, countedRows) = try await page("?limit=1&subscriptions=count")
        let counted = try #require((countedBody["clients"] as? [[String: Any]])?.first)
        #expect(countedStatus == 200 && countedRows == [ids[0]] && countedBody["count"] as? Int == 5, "\(countedBody)")
        #expect(counted["subscriptions"] == nil && counted["subscription_count"] as? Int == 2, "\(counted)")
        let (_, everyCounted, _) = try await page("?subscriptions=count")
        let counts = (everyCounted["clients"] as? [[String: Any]] ?? []).map { $0["subscription_count"] as? Int }
        #expect(counts == [2, 0, 0, 0, 0] && everyCounted["offset"] == nil, "every row counted, no page named: \(everyCounted)")
        let (_, explicit, _) = try await page("?limit=1&subscriptions=list")
        #expect(((explicit["clients"] as? [[String: Any]])?.first?["subscriptions"] as? [Any])?.count == 2, "\(explicit)")
        for socket in sockets { await socket.close() }
        #expect(await broker.terminate() == 0)
        _ = dir
    }

    @Test func aClientAsksForItsOwnPriceIntervalInTheURL() async throws {
        let (dir, broker) = try await startBroker()
        try await putSignals(broker, "volume_wave", ["600519", "000001"])
        // 2.5 s is rounded up to the next step, 5 s, and `connected` says so.
        let (held, heldConnected) = try await connect(broker, query: "?price_interval=2.5")
        #expect(heldConnected["price_interval"] as? Double == 5)
        let (every, everyConnected) = try await connect(broker)
        #expect(everyConnected["price_interval"] == nil, "no interval, none shown: \(everyConnected)")
        for socket in [held, every] {
            try socket.send(["type": "subscribe", "subscription_type": "strategy", "target": "volume_wave"])
            _ = try await socket.receive(type: "subscribed")
            _ = try await socket.receive(type: "price_update")
        }
        let (_, listed) = try await HTTP.request("GET", broker.baseURL + "/api/websocket/clients")
        let intervals = (listed["clients"] as? [[String: Any]] ?? []).map { ($0["client_id"] as? String ?? "", $0["price_interval"] as? Double) }
        #expect(Dictionary(intervals, uniquingKeysWith: { $1 }) == [heldConnected["client_id"] as? String ?? "": 5, everyConnected["client_id"] as? String ?? "": 0])

        try await postTicks(broker, [("600519", 1700)])
        #expect(codes(try await held.receive(type: "price_update")) == ["600519"], "a price after a quiet interval, at once")
        #expect(codes(try await every.receive(type: "price_update")) == ["600519"])

        // Within the held client's 5 s: it gets both in one update once they have passed; the other
        // client, on the same broker, gets each request's tick as it comes.
        try await postTicks(broker, [("000001", 11)])
        try await postTicks(broker, [("600519", 1701)])
        #expect(codes(try await every.receive(type: "price_update")) == ["000001"])
        #expect(codes(try await every.receive(type: "price_update")) == ["600519"])
        try await expectOneMergedUpdate(held)
        // The held client's waits are timed apart from the broker's own dispatch.
        let samples = try await metricSamples(of: broker)
        #expect((samples.value("brokerd_fanout_dispatch_held_seconds_count") ?? 0) >= 2, "the first update and the merged one")
        // Not a timing bound: the merged update waits for the 5 s interval by design.
        #expect((samples.value("brokerd_fanout_dispatch_held_seconds_sum") ?? 0) >= 1, "the merged update waited seconds")
        #expect((samples.value("brokerd_fanout_dispatch_seconds_count") ?? 0) >= 3, "the plain client's updates")
        for socket in [held, every] { await socket.close() }
        await broker.terminate()
        _ = dir
    }

    /// A reloaded `price_interval` reaches the connections open: one that asked for none gets the
    /// broker's new interval, one that asked for a shorter one the longer of the two; lowered
    /// again, each gets what it had.
    @Test func aReloadedPriceIntervalReachesTheConnectionsOpen() async throws {
        let dir = try TemporaryDirectory()
        let config = dir.path("brokerd.toml")
        try "[limits]\nprice_interval = 0\n".write(toFile: config, atomically: true, encoding: .utf8)
        let broker = try await BrokerProcess(journal: dir.path("journal.sqlite"), arguments: ["--config", config])
        try await putSignals(broker, "volume_wave", ["600519", "000001"])
        let (plain, plainConnected) = try await connect(broker)
        let (asked, askedConnected) = try await connect(broker, query: "?price_interval=0.5")
        for socket in [plain, asked] {
            try socket.send(["type": "subscribe", "subscription_type": "strategy", "target": "volume_wave"])
            _ = try await socket.receive(type: "subscribed")
            _ = try await socket.receive(type: "price_update")
        }
        func intervals() async throws -> [Double?] {
            let (_, listed) = try await HTTP.request("GET", broker.baseURL + "/api/websocket/clients")
            let byClient = Dictionary(
                (listed["clients"] as? [[String: Any]] ?? []).map { ($0["client_id"] as? String ?? "", $0["price_interval"] as? Double) },
                uniquingKeysWith: { $1 })
            return [plainConnected, askedConnected].map { byClient[$0["client_id"] as? String ?? ""] ?? nil }
        }
        func reload(_ interval: String) async throws {
            try "[limits]\nprice_interval = \(interval)\n".write(toFile: config, atomically: true, encoding: .utf8)
            let (status, body) = try await HTTP.request("POST", broker.baseURL + "/api/config/reload")
            #expect(status == 200 && body["applied"] as? [String] == ["price_interval"], "\(body)")
        }
        #expect(try await intervals() == [0, 0.5])

        try await reload("3")
        #expect(try await intervals() == [3, 3])
        let (later, laterConnected) = try await connect(broker)
        #expect(laterConnected["price_interval"] as? Double == 3, "a connection after the reload")
        await later.close()
        // The plain client's first update after a quiet interval goes out at once, the next two
        // ticks within the 3 s come merged.
        try await postTicks(broker, [("600519", 1700)])
        #expect(codes(try await plain.receive(type: "price_update")) == ["600519"])
        try await postTicks(broker, [("000001", 11)])
        try await postTicks(broker, [("600519", 1701)])
        try await expectOneMergedUpdate(plain)

        try await reload("0")
        #expect(try await intervals() == [0, 0.5], "the client's own again")
        try await postTicks(broker, [("000001", 12)])
        try await postTicks(broker, [("600519", 1702)])
        #expect(codes(try await plain.receive(type: "price_update")) == ["000001"], "each at once again")
        #expect(codes(try await plain.receive(type: "price_update")) == ["600519"])
        for socket in [plain, asked] { await socket.close() }
        await broker.terminate()
    }

    /// Reloads of `price_interval` while ticks flow to clients that asked for none and for their
    /// own: no price is repeated or goes back, and every client gets every code's last price
    /// (a writer waiting for an interval when it changed still writes what it held).
    @Test func priceIntervalReloadsWhileTicksFlowLoseAndReorderNothing() async throws {
        let dir = try TemporaryDirectory()
        let config = dir.path("brokerd.toml")
        try "[limits]\nprice_interval = 0\n".write(toFile: config, atomically: true, encoding: .utf8)
        let broker = try await BrokerProcess(journal: dir.path("journal.sqlite"), arguments: ["--config", config])
        let codes = ["600519", "000001", "600036"]
        try await putSignals(broker, "volume_wave", codes)
        var sockets: [TestWebSocket] = []
        for query in ["", "", "?price_interval=0.05", "?price_interval=0.25"] {
            let (socket, _) = try await connect(broker, query: query)
            try socket.send(["type": "subscribe", "subscription_type": "strategy", "target": "volume_wave"])
            _ = try await socket.receive(type: "subscribed")
            _ = try await socket.receive(type: "price_update")
            sockets.append(socket)
        }
        // Prices rise with every post, so a client's prices of a code must rise too.
        let intervals = ["0.1", "0", "0.3", "0.02", "0", "0.5", "0"]
        var price = 1000.0
        for (round, interval) in intervals.enumerated() {
            for _ in 0..<15 {
                price += 1
                try await postTicks(broker, codes.map { ($0, price) })
            }
            try "[limits]\nprice_interval = \(interval)\n".write(toFile: config, atomically: true, encoding: .utf8)
            let (status, body) = try await HTTP.request("POST", broker.baseURL + "/api/config/reload")
            #expect(status == 200 && body["applied"] as? [String] == ["price_interval"], "round \(round): \(body)")
        }
        price += 1
        try await postTicks(broker, codes.map { ($0, price) })
        for (index, socket) in sockets.enumerated() {
            var latest: [String: Double] = [:]
            while codes.contains(where: { latest[$0] != price }) {
                let update = try #require(try await socket.receive(type: "price_update"), "client \(index)")
                for entry in update["data"] as? [[String: Any]] ?? [] {
                    guard let code = entry["code"] as? String, let value = entry["price"] as? Double else { continue }
                    #expect(value > latest[code] ?? 0, "client \(index), \(code): \(value) after \(latest[code] ?? 0)")
                    latest[code] = value
                }
            }
            await socket.close()
        }
        await broker.terminate()
    }

    @Test func aPriceIntervalThatIsNotSecondsIsAnErrorAfterConnectedAndTheConnectionWorks() async throws {
        let (dir, broker) = try await startBroker(["--price-interval", "0.1"])
        let (socket, connected) = try await connect(broker, query: "?price_interval=fast")
        #expect(connected["price_interval"] as? Double == 0.1, "the broker's")
        let error = try #require(try await socket.receive())
        #expect(error["type"] as? String == "error")
        #expect(error["error"] as? String == "invalid_price_interval")
        #expect((error["details"] as? String ?? "").contains("got 'fast'"))
        try socket.send(["type": "ping"])
        #expect(try await socket.receive()?["type"] as? String == "pong")
        await socket.close()
        await broker.terminate()
        _ = dir
    }

    /// A client that offers permessage-deflate (as browsers do) gets it: the broker's messages and
    /// its own go compressed, and the flow is the same as a plain client's beside it.
    @Test func aClientOfferingCompressionGetsItAndTheFlowIsUnchanged() async throws {
        let (dir, broker) = try await startBroker()
        try await putSignals(broker, "volume_wave", ["600519", "000001"])
        let compressed = TestWebSocket(url: broker.webSocketURL, compression: true)
        let compressedConnected = try #require(try await compressed.receive(type: "connected"))
        let (plain, plainConnected) = try await connect(broker)
        for socket in [compressed, plain] {
            // The compressed client's requests go deflated (its extension compresses every message).
            try socket.send(["type": "subscribe", "subscription_type": "strategy", "target": "volume_wave"])
            _ = try await socket.receive(type: "subscribed")
            _ = try await socket.receive(type: "price_update")
        }
        let (_, listed) = try await HTTP.request("GET", broker.baseURL + "/api/websocket/clients")
        let compression = Dictionary(
            (listed["clients"] as? [[String: Any]] ?? []).map { ($0["client_id"] as? String ?? "", $0["compression"] as? Bool) },
            uniquingKeysWith: { $1 })
        #expect(compression == [compressedConnected["client_id"] as? String ?? "": true, plainConnected["client_id"] as? String ?? "": false])

        try await postTicks(broker, (0..<20).map { ("6000\(10 + $0)", 20) } + [("600519", 1700), ("000001", 11)])
        for socket in [compressed, plain] {
            let update = try #require(try await socket.receive(type: "price_update"))
            #expect(Set(codes(update)) == ["600519", "000001"])
            try socket.send(["type": "ping"])
            #expect(try await socket.receive()?["type"] as? String == "pong")
        }
        // What went out deflated and what deflate saved, apart from the plain client's bytes.
        let samples = try await metricSamples(of: broker)
        #expect((samples.value("brokerd_ws_bytes_out_total", ["compression": "deflate"]) ?? 0) > 0)
        #expect((samples.value("brokerd_ws_bytes_out_total", ["compression": "none"]) ?? 0) > 0)
        #expect((samples.value("brokerd_ws_deflate_saved_bytes_total") ?? 0) > 0)
        for socket in [compressed, plain] { await socket.close() }
        await broker.terminate()
        _ = dir
    }

    @Test func withCompressionOffAnOfferIsDeclinedAndTheClientWorksPlain() async throws {
        let (dir, broker) = try await startBroker(["--websocket-compression", "off"])
        let socket = TestWebSocket(url: broker.webSocketURL, compression: true)
        let connected = try #require(try await socket.receive(type: "connected"))
        try socket.send(["type": "ping"])
        #expect(try await socket.receive()?["type"] as? String == "pong")
        let (_, listed) = try await HTTP.request("GET", broker.baseURL + "/api/websocket/clients")
        let row = (listed["clients"] as? [[String: Any]] ?? []).first { $0["client_id"] as? String == connected["client_id"] as? String }
        #expect(row?["compression"] as? Bool == false)
        await socket.close()
        await broker.terminate()
        _ = dir
    }

    @Test func aBurstOfRequestsLongerThanTheInboxIsReadOnceItDrainsAndAnsweredInOrder() async throws {
        let (dir, broker) = try await startBroker(["--messages-per-second", "1000", "--burst", "1000"])
        let (socket, _) = try await connect(broker)
        // 256 messages that need the journal: four times what a session queues before it stops reading.
        let pairs = 128
        for _ in 0..<pairs {
            try socket.send(["type": "subscribe", "subscription_type": "stock", "target": "600519"])
            try socket.send(["type": "unsubscribe", "subscription_type": "stock", "target": "600519"])
        }
        try socket.send(["type": "ping"])
        var types: [String] = []
        for _ in 0..<(3 * pairs + 1) { types.append(try await socket.receive()?["type"] as? String ?? "nothing") }
        let expected = Array(repeating: ["subscribed", "price_update", "unsubscribed"], count: pairs).flatMap { $0 } + ["pong"]
        #expect(types == expected)
        await socket.close()
        await broker.terminate()
        _ = dir
    }

    @Test func stockAndMarketSubscriptionsRouteByCodeAndBoard() async throws {
        let (dir, broker) = try await startBroker()
        let (stock, _) = try await connect(broker)
        try stock.send(["type": "subscribe", "subscription_type": "stock", "target": "000001"])
        _ = try await stock.receive(type: "subscribed")
        _ = try await stock.receive(type: "price_update")
        let (market, _) = try await connect(broker)
        try market.send(["type": "subscribe", "subscription_type": "market", "target": "sh"])
        _ = try await market.receive(type: "subscribed")
        _ = try await market.receive(type: "price_update")

        try await postTicks(broker, [("600519", 20), ("000001", 11), ("300750", 30)])
        #expect(codes(try await stock.receive(type: "price_update")) == ["000001"])
        #expect(codes(try await market.receive(type: "price_update")) == ["600519"])

        // Strategy membership follows the latest signal list.
        let (strategy, _) = try await connect(broker)
        try await putSignals(broker, "breakout", ["300750"])
        try strategy.send(["type": "subscribe", "target": "breakout"])
        _ = try await strategy.receive(type: "subscribed")
        #expect(codes(try await strategy.receive(type: "price_update")) == ["300750"])
        try await putSignals(broker, "breakout", ["600519"])
        try await postTicks(broker, [("300750", 31), ("600519", 21)])
        #expect(codes(try await strategy.receive(type: "price_update")) == ["600519"])

        for socket in [stock, market, strategy] { await socket.close() }
        await broker.terminate()
        _ = dir
    }

    @Test func aTickThatLeavesOutFieldsKeepsWhatTheBrokerKnewOfTheCodeAlsoAfterARestart() async throws {
        let dir = try TemporaryDirectory()
        var broker = try await BrokerProcess(journal: dir.path("journal.sqlite"))
        let signals = #"{"signals":[{"code":"600519","name":"贵州茅台"},{"code":"000002","name":"万科A"}]}"#
        #expect(try await HTTP.request("PUT", broker.baseURL + "/api/signals/partial", body: signals).0 == 200)
        let full = #"{"ticks":[{"code":"600519","name":"贵州茅台","price":1850.5,"volume":12345678,"prev_close":1825.2}]}"#
        #expect(try await HTTP.request("POST", broker.baseURL + "/api/ticks", body: full).0 == 200)
        let (socket, _) = try await connect(broker)
        try socket.send(["type": "subscribe", "target": "partial"])
        _ = try await socket.receive(type: "subscribed")
        _ = try await socket.receive(type: "price_update")

        let bare = #"{"ticks":[{"code":"600519","price":1851},{"code":"000002","price":7.5}]}"#
        #expect(try await HTTP.request("POST", broker.baseURL + "/api/ticks", body: bare).0 == 200)
        func rows(_ update: [String: Any]?) -> [String] {
            ((update?["data"] as? [[String: Any]]) ?? []).map { entry in
                ["code", "name", "price", "volume", "change", "change_percent"].map { "\(entry[$0] ?? "-")" }.joined(separator: " ")
            }.sorted()
        }
        // The known name, cumulative volume and previous close; the signal list's name for a code no tick named.
        let expected = ["000002 万科A 7.5 0 0 0", "600519 贵州茅台 1851 12345678 25.8 1.41"]
        #expect(rows(try await socket.receive(type: "price_update")) == expected)
        await socket.close()
        #expect(await broker.terminate() == 0)

        // The journal holds what was filled in: a replay shows the same.
        broker = try await BrokerProcess(journal: dir.path("journal.sqlite"))
        let (fresh, _) = try await connect(broker)
        try fresh.send(["type": "subscribe", "target": "partial"])
        _ = try await fresh.receive(type: "subscribed")
        #expect(rows(try await fresh.receive(type: "price_update")) == expected)
        await fresh.close()
        await broker.terminate()
    }

    @Test func statsAndClientsShowConnectionsAndSubscriptions() async throws {
        let (dir, broker) = try await startBroker()
        let (socket, connected) = try await connect(broker)
        try socket.send(["type": "subscribe", "subscription_type": "stock", "target": "600519"])
        _ = try await socket.receive(type: "price_update")

        let (statsStatus, stats) = try await HTTP.request("GET", broker.baseURL + "/api/websocket/stats")
        #expect(statsStatus == 200)
        #expect((stats["connections"] as? [String: Any])?["active"] as? Int == 1)
        #expect((stats["subscriptions"] as? [String: Any])?["stock"] as? Int == 1)
        #expect(((stats["journal"] as? [String: Any])?["last_seq"] as? Int ?? 0) >= 2)
        // Checkpoints beside the writer: counted, none failed (how many ran depends on timing).
        let checkpoints = (stats["journal"] as? [String: Any])?["checkpoints"] as? [String: Any]
        #expect(checkpoints?["failed"] as? Int == 0, "\(stats)")
        #expect(checkpoints?["background"] is Int && checkpoints?["writer"] is Int, "\(stats)")
        #expect((stats["journal"] as? [String: Any])?["failed_commits"] as? Int == 0, "\(stats)")
        #expect((stats["journal"] as? [String: Any])?["last_commit_failure"] is NSNull, "\(stats)")

        let (clientsStatus, clients) = try await HTTP.request("GET", broker.baseURL + "/api/websocket/clients")
        #expect(clientsStatus == 200)
        let row = try #require((clients["clients"] as? [[String: Any]])?.first)
        #expect(row["client_id"] as? String == connected["client_id"] as? String)
        #expect((row["subscriptions"] as? [[String: Any]])?.first?["target"] as? String == "600519")
        #expect(row["remote"] as? String == "127.0.0.1")
        await socket.close()
        await broker.terminate()
        _ = dir
    }

    @Test func severalTargetsInOneMessageAreSubscribedTogetherOrNotAtAll() async throws {
        let (dir, broker) = try await startBroker(["--max-subscriptions-per-client", "4"])
        try await postTicks(broker, [("600519", 1850), ("000001", 11.2)])
        let (socket, _) = try await connect(broker)
        try socket.send(["type": "subscribe", "subscription_type": "stock", "targets": ["600519", "000001", "600036"], "id": "watchlist"])
        // A reply and a snapshot each, in the order asked, every reply answering the one message.
        var replies: [String] = []
        var snapshots: [String] = []
        while replies.count < 3 || snapshots.count < 3, let message = try await socket.receive() {
            switch message["type"] as? String {
            case "subscribed":
                #expect(message["id"] as? String == "watchlist", "\(message)")
                replies.append(message["target"] as? String ?? "?")
            case "price_update":
                snapshots.append("\(message["target"] as? String ?? "?") \(codes(message))")
            default:
                break
            }
        }
        #expect(replies == ["600519", "000001", "600036"])
        #expect(snapshots == ["600519 [\"600519\"]", "000001 [\"000001\"]", "600036 []"])

        // Over the limit of 4 with one more than fits, or with one bad target: nothing of it.
        for targets in [["600000", "600001"], ["600000", "not a code"]] {
            try socket.send(["type": "subscribe", "subscription_type": "stock", "targets": targets])
            let refusal = try #require(try await socket.receive(type: "error"))
            #expect(["too_many_subscriptions", "invalid_target"].contains(refusal["error"] as? String), "\(refusal)")
        }
        let (_, stats) = try await HTTP.request("GET", broker.baseURL + "/api/websocket/stats")
        #expect((stats["subscriptions"] as? [String: Any])?["stock"] as? Int == 3, "\(stats)")

        // Unsubscribed together too; one not held refuses the message.
        try socket.send(["type": "unsubscribe", "subscription_type": "stock", "targets": ["600036", "300750"]])
        #expect(try await socket.receive(type: "error")?["error"] as? String == "not_subscribed")
        try socket.send(["type": "unsubscribe", "subscription_type": "stock", "targets": ["600036", "000001"]])
        #expect(try await socket.receive(type: "unsubscribed")?["target"] as? String == "600036")
        #expect(try await socket.receive(type: "unsubscribed")?["target"] as? String == "000001")
        let (_, after) = try await HTTP.request("GET", broker.baseURL + "/api/websocket/stats")
        #expect((after["subscriptions"] as? [String: Any])?["stock"] as? Int == 1, "\(after)")
        await socket.close()
        await broker.terminate()
        _ = dir
    }

    @Test func theSubscriptionsAPIListsWhoListensToWhatConnectedOrHeldForAResume() async throws {
        let (dir, broker) = try await startBroker()
        var sockets: [TestWebSocket] = []
        var ids: [String] = []
        for targets in [["600519", "000001"], ["600519"], ["600519"]] {
            let (socket, connected) = try await connect(broker)
            for target in targets {
                try socket.send(["type": "subscribe", "subscription_type": "stock", "target": target])
                _ = try await socket.receive(type: "subscribed")
            }
            sockets.append(socket)
            ids.append(try #require(connected["client_id"] as? String))
        }
        // The last one leaves: its session keeps its subscription for the resume window.
        await sockets[2].close()
        for _ in 0..<200 {
            let (_, stats) = try await HTTP.request("GET", broker.baseURL + "/api/websocket/stats")
            if (stats["connections"] as? [String: Any])?["active"] as? Int == 2 { break }
            try await Task.sleep(for: .milliseconds(25))
        }

        let (status, listed) = try await HTTP.request("GET", broker.baseURL + "/api/websocket/subscriptions")
        #expect(status == 200 && listed["count"] as? Int == 2, "\(listed)")
        let rows = (listed["subscriptions"] as? [[String: Any]] ?? []).map {
            "\($0["type"] as? String ?? "?"):\($0["target"] as? String ?? "?") \($0["subscribers"] as? Int ?? -1)/\($0["connected"] as? Int ?? -1)"
        }
        #expect(rows == ["stock:600519 3/2", "stock:000001 1/1"])
        let (_, one) = try await HTTP.request("GET", broker.baseURL + "/api/websocket/subscriptions?type=stock&target=600519")
        let clients = (one["subscriptions"] as? [[String: Any]])?.first?["clients"] as? [String]
        #expect(clients == ids.sorted(), "\(one)")
        let (refused, body) = try await HTTP.request("GET", broker.baseURL + "/api/websocket/subscriptions?type=stocks")
        #expect(refused == 400 && body["error"] as? String == "invalid_type", "\(body)")
        for socket in sockets.prefix(2) { await socket.close() }
        await broker.terminate()
        _ = dir
    }

    @Test func pushPricesSendsAStrategysCurrentPricesNow() async throws {
        let (dir, broker) = try await startBroker()
        try await putSignals(broker, "volume_wave", ["600519"])
        try await postTicks(broker, [("600519", 15)])
        let (socket, _) = try await connect(broker)
        try socket.send(["type": "subscribe", "target": "volume_wave"])
        _ = try await socket.receive(type: "price_update")

        let (status, body) = try await HTTP.request("POST", broker.baseURL + "/api/websocket/push/prices?strategy=volume_wave")
        #expect(status == 200)
        #expect(body["clients"] as? Int == 1)
        #expect(codes(try await socket.receive(type: "price_update")) == ["600519"])
        await socket.close()
        await broker.terminate()
        _ = dir
    }
}
