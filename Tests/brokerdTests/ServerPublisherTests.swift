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
