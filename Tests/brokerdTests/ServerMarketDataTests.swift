import Broker
import Foundation
import Journal
import Testing
import TestSupport

@testable import brokerd

/// The market data over HTTP (`GET /api/prices`, `/api/klines`, `/api/news`) and the operators'
/// listing of alert rules (`GET /api/alerts/rules`), against a real broker fed over its own API.
@Suite(.serialized) struct ServerMarketDataTests {
    /// A strategy of three codes, ticks of two of them and of one code outside it.
    private func feed(_ broker: BrokerProcess, token: String? = nil) async throws {
        let signals = #"{"signals":[{"code":"600519","name":"贵州茅台"},{"code":"000001","name":"平安银行"},{"code":"300750","name":"宁德时代"}]}"#
        #expect(try await HTTP.request("PUT", broker.baseURL + "/api/signals/volume_wave", body: signals, token: token).0 == 200)
        let ticks = #"""
            {"ticks":[{"code":"600519","name":"贵州茅台","price":1850.5,"volume":1200,"prev_close":1825.2},
            {"code":"000001","price":12.3,"volume":800,"prev_close":12.0},
            {"code":"688981","name":"中芯国际","price":88.8,"volume":50,"prev_close":90}]}
            """#
        #expect(try await HTTP.request("POST", broker.baseURL + "/api/ticks", body: ticks, token: token).0 == 200)
    }

    private func get(_ broker: BrokerProcess, _ path: String, token: String? = nil) async throws -> (Int, [String: Any]) {
        try await HTTP.request("GET", broker.baseURL + path, token: token)
    }

    private func codes(_ body: [String: Any]) -> [String] {
        (body["prices"] as? [[String: Any]] ?? []).compactMap { $0["code"] as? String }
    }

    private func lastSeq(_ broker: BrokerProcess) throws -> Int? {
        try JournalReader(path: broker.journalPath).last().map { Int($0.seq) }
    }

    @Test func pricesAreReadByCodesStrategyOrMarketAsPriceUpdatesCarryThem() async throws {
        let dir = try TemporaryDirectory()
        let broker = try await BrokerProcess(journal: dir.path("j.sqlite"))
        try await feed(broker)

        let (status, byCodes) = try await get(broker, "/api/prices?codes=600519,600000,600519")
        #expect(status == 200, "\(byCodes)")
        #expect(codes(byCodes) == ["600519"] && byCodes["count"] as? Int == 1, "asked twice, listed once")
        #expect(byCodes["unknown"] as? [String] == ["600000"])
        #expect(byCodes["seq"] as? Int == (try lastSeq(broker)))
        let moutai = try #require((byCodes["prices"] as? [[String: Any]])?.first)
        #expect(moutai["name"] as? String == "贵州茅台" && moutai["price"] as? Double == 1850.5 && moutai["volume"] as? Int == 1200)
        #expect(moutai["change"] as? Double == 25.3 && moutai["change_percent"] as? Double == 1.39, "\(moutai)")

        let (_, strategy) = try await get(broker, "/api/prices?strategy=volume_wave")
        #expect(codes(strategy) == ["000001", "600519"] && strategy["strategy"] as? String == "volume_wave")
        #expect(strategy["unknown"] as? [String] == ["300750"], "listed by the strategy, no tick yet")
        // The tick left its name out: the signal list's name, as a subscriber's snapshot has it.
        #expect((strategy["prices"] as? [[String: Any]])?.first?["name"] as? String == "平安银行")

        let (_, market) = try await get(broker, "/api/prices?market=sh")
        #expect(codes(market) == ["600519", "688981"] && market["market"] as? String == "sh" && market["unknown"] == nil)
    }

    @Test func aBadPriceQueryIsRefusedAndAStrategyWithoutSignalsIsNotFound() async throws {
        let dir = try TemporaryDirectory()
        let broker = try await BrokerProcess(journal: dir.path("j.sqlite"))
        try await feed(broker)
        for (path, status, error) in [
            ("/api/prices", 400, "missing_query"), ("/api/prices?codes=600519&market=sh", 400, "missing_query"),
            ("/api/prices?codes=600519,,000001", 400, "invalid_code"), ("/api/prices?codes=60%200519", 400, "invalid_code"),
            ("/api/prices?market=hk", 400, "invalid_market"), ("/api/prices?strategy=", 400, "invalid_strategy"),
            ("/api/prices?strategy=nobody", 404, "unknown_strategy"),
            ("/api/klines", 400, "missing_code"), ("/api/klines?code=600519&period=2m", 400, "invalid_period"),
            ("/api/news?limit=501", 400, "invalid_limit"), ("/api/news?code=%E8%8C%85", 400, "invalid_code"),
        ] {
            let (got, body) = try await get(broker, path)
            #expect(got == status && body["error"] as? String == error, "\(path): \(got) \(body)")
        }
        let many = (0...1_000).map { String(format: "%06d", $0) }.joined(separator: ",")
        #expect(try await get(broker, "/api/prices?codes=\(many)").1["error"] as? String == "too_many_codes")
    }

    @Test func barsAreTheLatestOfEachPeriodBuiltFromTicksOrIngested() async throws {
        let dir = try TemporaryDirectory()
        let broker = try await BrokerProcess(journal: dir.path("j.sqlite"))
        // The minute bars checked are the open ones: no boundary may close them meanwhile.
        try await waitForRoomInTheMinute(10)
        try await feed(broker)
        let daily = #"{"klines":[{"code":"600519","period":"1d","open":1800,"high":1860,"low":1790,"close":1850,"volume":99,"closed":true}]}"#
        #expect(try await HTTP.request("POST", broker.baseURL + "/api/klines", body: daily).0 == 200)

        let (status, body) = try await get(broker, "/api/klines?code=600519")
        #expect(status == 200 && body["code"] as? String == "600519", "\(body)")
        let bars = body["bars"] as? [[String: Any]] ?? []
        #expect(bars.map { $0["period"] as? String } == ["1m", "5m", "1d"], "the shortest period first: \(bars)")
        // The minute bars are being built from the tick; the daily bar is the one ingested.
        #expect(bars.prefix(2).allSatisfy { $0["close"] as? Double == 1850.5 && $0["closed"] as? Bool == false }, "\(bars)")
        #expect(bars.last?["close"] as? Double == 1850 && bars.last?["closed"] as? Bool == true)

        let (_, oneperiod) = try await get(broker, "/api/klines?code=600519&period=1d")
        #expect((oneperiod["bars"] as? [[String: Any]])?.map { $0["period"] as? String } == ["1d"] && oneperiod["count"] as? Int == 1)
        let (_, none) = try await get(broker, "/api/klines?code=600000")
        #expect(none["count"] as? Int == 0 && (none["bars"] as? [Any])?.isEmpty == true, "a code without bars has none: \(none)")
    }

    @Test func newsIsReadNewestFirstByCategoryAndCode() async throws {
        let dir = try TemporaryDirectory()
        let broker = try await BrokerProcess(journal: dir.path("j.sqlite"))
        var seqs: [String: Int] = [:]
        for (id, category, codes) in [("n1", "macro", "[]"), ("n2", "company", #"["600519"]"#), ("n3", "company", #"["000001"]"#)] {
            let item = #"{"id":"\#(id)","title":"t-\#(id)","category":"\#(category)","codes":\#(codes)}"#
            let (status, body) = try await HTTP.request("POST", broker.baseURL + "/api/news", body: item)
            #expect(status == 200, "\(body)")
            seqs[id] = body["seq"] as? Int
        }
        func ids(_ path: String) async throws -> (ids: [String], count: Int?) {
            let (status, body) = try await get(broker, path)
            #expect(status == 200, "\(path): \(body)")
            let rows = body["news"] as? [[String: Any]] ?? []
            return (rows.compactMap { $0["id"] as? String }, body["count"] as? Int)
        }
        #expect(try await ids("/api/news").ids == ["n3", "n2", "n1"])
        #expect(try await ids("/api/news?category=all").ids == ["n3", "n2", "n1"])
        #expect(try await ids("/api/news?category=company").ids == ["n3", "n2"])
        #expect(try await ids("/api/news?code=600519").ids == ["n2"])
        let limited = try await ids("/api/news?limit=1")
        #expect(limited.ids == ["n3"] && limited.count == 3, "count says how many matched")

        let (_, body) = try await get(broker, "/api/news?code=600519")
        let row = try #require((body["news"] as? [[String: Any]])?.first)
        // The item as news_update carries it, and the seq that published it.
        #expect(row["seq"] as? Int == seqs["n2"] && row["title"] as? String == "t-n2" && row["codes"] as? [String] == ["600519"])
        #expect(row["published_at"] != nil && row["category"] as? String == "company")
    }

    @Test func withClientAuthAReaderShowsAClientTokenAndSeesWhatItsAllowListGrants() async throws {
        let dir = try TemporaryDirectory()
        let admin = "admin-secret"
        let broker = try await BrokerProcess(
            journal: dir.path("j.sqlite"), arguments: ["--admin-token", admin], environment: ["BROKERD_JWT_SECRET": TestTokens.secret])
        try await feed(broker, token: admin)
        for (id, category, codes) in [("n1", "macro", "[]"), ("n2", "company", #"["600519"]"#), ("n3", "company", #"["000001"]"#)] {
            let item = #"{"id":"\#(id)","title":"t","category":"\#(category)","codes":\#(codes)}"#
            #expect(try await HTTP.request("POST", broker.baseURL + "/api/news", body: item, token: admin).0 == 200)
        }

        let (missing, refusal) = try await get(broker, "/api/prices?codes=600519")
        #expect(missing == 401 && refusal["error"] as? String == "unauthorized", "\(refusal)")
        let (bad, invalid) = try await get(broker, "/api/prices?codes=600519", token: "not.a.token")
        #expect(bad == 401 && invalid["error"] as? String == "invalid_token", "\(invalid)")

        let narrow = try await TestTokens.valid(user: "alice", allow: ["stock": ["600519"], "news": ["macro"]])
        #expect(codes(try await get(broker, "/api/prices?codes=600519", token: narrow).1) == ["600519"])
        for path in ["/api/prices?codes=600519,000001", "/api/prices?market=sh", "/api/prices?strategy=volume_wave", "/api/klines?code=000001"] {
            let (status, body) = try await get(broker, path, token: narrow)
            #expect(status == 403 && body["error"] as? String == "not_allowed", "\(path): \(status) \(body)")
        }
        #expect(try await get(broker, "/api/klines?code=600519", token: narrow).0 == 200)
        // Only what a subscription could bring: news of macro, and items tagged with its stock.
        let news = try await get(broker, "/api/news", token: narrow).1
        #expect((news["news"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == ["n2", "n1"], "\(news)")

        // A strategy grants the prices of the codes it lists.
        let strategy = try await TestTokens.valid(user: "bob", allow: ["strategy": ["volume_wave"]])
        #expect(codes(try await get(broker, "/api/prices?codes=000001,600519", token: strategy).1) == ["000001", "600519"])
        #expect(try await get(broker, "/api/prices?codes=688981", token: strategy).0 == 403)

        // No allow claim, or the admin token: everything.
        let everything = try await TestTokens.valid(user: "carol")
        #expect(codes(try await get(broker, "/api/prices?market=sh", token: everything).1) == ["600519", "688981"])
        #expect(codes(try await get(broker, "/api/prices?market=sh", token: admin).1) == ["600519", "688981"])
        #expect((try await get(broker, "/api/news", token: admin).1["count"]) as? Int == 3)
        #expect(await broker.terminate() == 0)
    }

    @Test func withClientAuthTheStrategiesAndTheirSignalsAreReadWithATokenThatGrantsThem() async throws {
        let dir = try TemporaryDirectory()
        let admin = "admin-secret"
        let broker = try await BrokerProcess(
            journal: dir.path("j.sqlite"), arguments: ["--admin-token", admin], environment: ["BROKERD_JWT_SECRET": TestTokens.secret])
        try await feed(broker, token: admin)
        let other = #"{"signals":[{"code":"688981","name":"中芯国际"}]}"#
        #expect(try await HTTP.request("PUT", broker.baseURL + "/api/signals/momentum", body: other, token: admin).0 == 200)
        func names(_ body: [String: Any]) -> [String] { (body["strategies"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String } }

        for path in ["/api/strategies", "/api/signals/buy?strategy=volume_wave"] {
            let (status, body) = try await get(broker, path)
            #expect(status == 401 && body["error"] as? String == "unauthorized", "\(path): \(status) \(body)")
        }
        let bob = try await TestTokens.valid(user: "bob", allow: ["strategy": ["volume_wave"]])
        let (listed, strategies) = try await get(broker, "/api/strategies", token: bob)
        #expect(listed == 200 && names(strategies) == ["volume_wave"] && strategies["count"] as? Int == 1, "\(strategies)")
        let (read, signals) = try await get(broker, "/api/signals/buy?strategy=volume_wave", token: bob)
        #expect(read == 200 && signals["count"] as? Int == 3, "\(signals)")
        let (refused, refusal) = try await get(broker, "/api/signals/buy?strategy=momentum", token: bob)
        #expect(refused == 403 && refusal["error"] as? String == "not_allowed", "\(refusal)")

        let stocksOnly = try await TestTokens.valid(user: "alice", allow: ["stock": ["600519"]])
        #expect(names(try await get(broker, "/api/strategies", token: stocksOnly).1) == [])
        for token in [admin, try await TestTokens.valid(user: "carol")] {
            #expect(names(try await get(broker, "/api/strategies", token: token).1) == ["momentum", "volume_wave"])
            #expect(try await get(broker, "/api/signals/buy?strategy=momentum", token: token).1["count"] as? Int == 1)
        }
        #expect(await broker.terminate() == 0)
    }

    @Test func operatorsListAlertRulesByUserAndCodeWithWhetherTheyFired() async throws {
        let dir = try TemporaryDirectory()
        let broker = try await BrokerProcess(journal: dir.path("j.sqlite"))
        for (id, user, code, threshold) in [("r1", "bob", "600519", 1900.0), ("r2", "alice", "600519", 1800.0), ("r3", "alice", "000001", 20.0)] {
            let rule = #"{"id":"\#(id)","user":"\#(user)","code":"\#(code)","condition":"above","threshold":\#(threshold)}"#
            #expect(try await HTTP.request("POST", broker.baseURL + "/api/alerts/rules", body: rule).0 == 201)
        }
        try await feed(broker)  // 600519 at 1850.5: r2 fires, r1 does not

        func rules(_ query: String) async throws -> (rows: [[String: Any]], count: Int?) {
            let (status, body) = try await get(broker, "/api/alerts/rules" + query)
            #expect(status == 200, "\(query): \(body)")
            return (body["rules"] as? [[String: Any]] ?? [], body["count"] as? Int)
        }
        let all = try await rules("")
        #expect(all.rows.compactMap { $0["rule_id"] as? String } == ["r2", "r3", "r1"], "by user, then id")
        #expect(all.rows.compactMap { $0["user"] as? String } == ["alice", "alice", "bob"])
        #expect(all.rows.compactMap { $0["triggered"] as? Bool } == [true, false, false], "\(all.rows)")
        #expect(try await rules("?user=alice").rows.compactMap { $0["rule_id"] as? String } == ["r2", "r3"])
        #expect(try await rules("?code=600519").rows.compactMap { $0["rule_id"] as? String } == ["r2", "r1"])
        #expect(try await rules("?user=alice&code=000001").rows.compactMap { $0["rule_id"] as? String } == ["r3"])
        let limited = try await rules("?limit=1")
        #expect(limited.rows.count == 1 && limited.count == 3)
        #expect(try await get(broker, "/api/alerts/rules?limit=0").1["error"] as? String == "invalid_limit")
    }
}
