import Broker
import Foundation
import Testing
import TestSupport

/// News, k-lines and alerts end to end: HTTP ingest → journal → publishers → WebSocket clients.
@Suite(.serialized) struct ServerPublisherTests {
    private func subscribe(_ socket: TestWebSocket, _ type: String, _ target: String) async throws {
        try socket.send(["type": "subscribe", "subscription_type": type, "target": target])
        #expect(try await socket.receive(type: "subscribed") != nil)
        // Only subscriptions that carry prices get a price snapshot.
        if type != "news" { _ = try await socket.receive(type: "price_update") }
    }

    @Test func newsAndKlinesReachTheirSubscribers() async throws {
        let dir = try TemporaryDirectory()
        let broker = try await BrokerProcess(journal: dir.path("j.sqlite"))
        let socket = TestWebSocket(url: broker.webSocketURL)
        _ = try await socket.receive()
        try await subscribe(socket, "news", "macro")
        try await subscribe(socket, "stock", "600519")

        let (newsStatus, _) = try await HTTP.request(
            "POST", broker.baseURL + "/api/news", body: #"{"title":"降准","summary":"央行宣布降准","category":"macro"}"#)
        #expect(newsStatus == 200)
        let news = try #require(try await socket.receive(type: "news_update"))
        #expect((news["data"] as? [String: Any])?["title"] as? String == "降准")
        #expect(news["seq"] is Int)

        let bar = #"{"klines":[{"code":"600519","period":"1d","open":1800,"high":1860,"low":1790,"close":1850,"volume":99,"closed":true}]}"#
        #expect(try await HTTP.request("POST", broker.baseURL + "/api/klines", body: bar).0 == 200)
        let kline = try #require(try await socket.receive(type: "kline_update"))
        #expect((kline["data"] as? [String: Any])?["close"] as? Double == 1850)
        #expect((kline["data"] as? [String: Any])?["closed"] as? Bool == true)

        // Without start, a bar is the current period's: on the grid, not at the moment it was posted.
        func now() -> Int { Int(Date().timeIntervalSince1970 * 1_000_000) }
        let before = now()
        let minuteBar = #"{"klines":[{"code":"600519","period":"5m","open":1850,"high":1851,"low":1849,"close":1850.5}]}"#
        #expect(try await HTTP.request("POST", broker.baseURL + "/api/klines", body: minuteBar).0 == 200)
        let after = now()
        let fiveMinutes = try #require((try await socket.receive(type: "kline_update"))?["data"] as? [String: Any])
        let start = try #require(fiveMinutes["start"] as? Int)
        // The code's current period: at the session's edges, where its ticks are binned (09:30 during the opening auction).
        func binned(_ time: Int) -> Int { Int(TradingSession.binningTime(of: Int64(time), code: "600519")) }
        #expect(start % 300_000_000 == 0 && start > binned(before) - 300_000_000 && start <= binned(after), "start \(start), posted between \(before) and \(after)")

        let badBar = #"{"klines":[{"code":"600519","period":"1d","open":1800,"high":1700,"low":1790,"close":1850}]}"#
        #expect(try await HTTP.request("POST", broker.baseURL + "/api/klines", body: badBar).0 == 400)
        await socket.close()
        await broker.terminate()
    }

    @Test func aStrategySubscriberGetsTheKnownPricesOfTheCodesANewSignalListAdds() async throws {
        // The stock subscriber must get nothing new: a minute boundary mid-test would push it the
        // close of its code's 1m bar (a CI run crossed one at 15:01:00).
        try await waitForRoomInTheMinute(15)
        let dir = try TemporaryDirectory()
        let broker = try await BrokerProcess(journal: dir.path("j.sqlite"))
        func putSignals(_ codes: [String]) async throws -> Int {
            let signals = codes.map { #"{"code":"\#($0)"}"# }.joined(separator: ",")
            let (status, reply) = try await HTTP.request("PUT", broker.baseURL + "/api/signals/s1", body: #"{"signals":[\#(signals)]}"#)
            #expect(status == 200)
            return try #require(reply["seq"] as? Int)
        }
        _ = try await putSignals(["600100", "600200"])
        let ticks = #"{"ticks":[{"code":"600100","price":5,"prev_close":5},{"code":"600300","name":"维科技术","price":7,"prev_close":6.9,"volume":10}]}"#
        #expect(try await HTTP.request("POST", broker.baseURL + "/api/ticks", body: ticks).0 == 200)
        let strategy = TestWebSocket(url: broker.webSocketURL)
        let other = TestWebSocket(url: broker.webSocketURL)
        _ = try await strategy.receive()
        _ = try await other.receive()
        try strategy.send(["type": "subscribe", "subscription_type": "strategy", "target": "s1"])
        #expect(try await strategy.receive(type: "subscribed") != nil)
        let snapshot = try #require(try await strategy.receive(type: "price_update"))
        #expect((snapshot["data"] as? [[String: Any]])?.map { $0["code"] as? String } == ["600100"])
        func messagesUntilPong(_ socket: TestWebSocket) async throws -> [[String: Any]] {
            try socket.send(["type": "ping"])
            var messages: [[String: Any]] = []
            while let message = try await socket.receive(), message["type"] as? String != "pong" { messages.append(message) }
            return messages
        }
        try await subscribe(other, "stock", "600300")
        _ = try await messagesUntilPong(other)  // the stock's bars

        // 600200 dropped; 600300 added with a known price, 600500 without one.
        let replacedAt = try await putSignals(["600100", "600300", "600500"])
        let pushed = try await messagesUntilPong(strategy)
        #expect(pushed.count == 1, "\(pushed)")
        let update = try #require(pushed.first)
        #expect(update["type"] as? String == "price_update")
        #expect(update["target"] as? String == "s1")
        #expect(update["seq"] as? Int == replacedAt)
        let entries = try #require(update["data"] as? [[String: Any]])
        #expect(entries.map { $0["code"] as? String } == ["600300"])
        let entry = try #require(entries.first)
        #expect(entry["price"] as? Double == 7)
        #expect(entry["name"] as? String == "维科技术")
        // The shape of the snapshot a new subscriber of the list gets.
        let snapshotEntry = try #require((snapshot["data"] as? [[String: Any]])?.first)
        #expect(Set(entry.keys) == Set(snapshotEntry.keys))
        #expect(try await messagesUntilPong(other).isEmpty, "a stock subscriber of the added code gets nothing new")

        // Live prices of the new list keep flowing, in seq order after the push.
        #expect(try await HTTP.request("POST", broker.baseURL + "/api/ticks", body: #"{"ticks":[{"code":"600300","price":7.1}]}"#).0 == 200)
        let next = try #require(try await strategy.receive(type: "price_update"))
        #expect((next["seq"] as? Int ?? 0) > replacedAt)
        #expect((next["data"] as? [[String: Any]])?.first?["price"] as? Double == 7.1)
        await strategy.close()
        await other.close()
        await broker.terminate()
    }

    @Test func aClientSetsAnAlertAndReceivesItOnceWhenThePriceCrosses() async throws {
        let dir = try TemporaryDirectory()
        let broker = try await BrokerProcess(journal: dir.path("j.sqlite"))
        let socket = TestWebSocket(url: broker.webSocketURL)
        _ = try await socket.receive()
        try socket.send(["type": "set_alert", "code": "600519", "condition": "above", "threshold": 1900])
        let set = try #require(try await socket.receive(type: "alert_set"))
        let ruleID = try #require(set["rule_id"] as? String)

        try socket.send(["type": "set_alert", "code": "600519", "condition": "sideways", "threshold": 1])
        #expect(try await socket.receive()?["error"] as? String == "invalid_condition")

        let ticks = #"{"ticks":[{"code":"600519","price":1950},{"code":"600519","price":1960}]}"#
        #expect(try await HTTP.request("POST", broker.baseURL + "/api/ticks", body: ticks).0 == 200)
        let alert = try #require(try await socket.receive(type: "alert"))
        #expect((alert["data"] as? [String: Any])?["rule_id"] as? String == ruleID)

        try socket.send(["type": "list_alerts"])
        let list = try #require(try await socket.receive(type: "alerts"))
        #expect((list["rules"] as? [[String: Any]])?.first?["triggered"] as? Bool == true)

        try socket.send(["type": "remove_alert", "rule_id": ruleID])
        #expect(try await socket.receive(type: "alert_removed")?["rule_id"] as? String == ruleID)
        try socket.send(["type": "remove_alert", "rule_id": ruleID])
        #expect(try await socket.receive()?["type"] as? String == "error")
        await socket.close()
        await broker.terminate()
    }
}
