import Testing
@testable import Broker

@Suite("Projection: routing and market data")
struct ProjectionRoutingTests {
    @Test("boards follow the code prefix of six-digit codes", arguments: [
        ("600000", Board.sh), ("688981", .sh), ("000001", .sz), ("300750", .sz), ("430047", .bj), ("830799", .bj),
        ("920002", .bj), ("920118", .bj),
    ])
    func boardOfCode(code: String, board: Board) {
        #expect(Board.of(code: code) == board)
    }

    @Test("codes that are not six digits with a known prefix have no board", arguments: ["", "60000", "6000000", "900901", "200002", "910001", "60000A", "AAPL"])
    func noBoard(code: String) {
        #expect(Board.of(code: code) == nil)
    }

    @Test("signals_replaced updates the code-to-strategy reverse index")
    func signalsUpdateReverseIndex() {
        var b = ProjectionBuilder([Fixtures.signals("vw", ["600000", "000001"]), Fixtures.signals("mom", ["600000"])])
        #expect(b.projection.strategies.strategies(containing: "600000") == ["vw", "mom"])
        #expect(b.projection.strategies.strategies(containing: "000001") == ["vw"])

        b.apply(Fixtures.signals("vw", ["300750"]))
        #expect(b.projection.strategies.strategies(containing: "600000") == ["mom"])
        #expect(b.projection.strategies.strategies(containing: "000001").isEmpty)
        #expect(b.projection.strategies.strategies(containing: "300750") == ["vw"])
        #expect(b.projection.strategies.signals(of: "vw").map(\.code) == ["300750"])
    }

    @Test("replacing a strategy with an empty list forgets it")
    func emptySignalListRemovesStrategy() {
        let p = projection([Fixtures.signals("vw", ["600000"]), Fixtures.signals("vw", [])])
        #expect(p.strategies == StrategyIndex())
    }

    @Test("subscriptionsAffected returns stock, market and strategy subscriptions that have subscribers")
    func affectedSubscriptions() {
        let p = projection([
            Fixtures.signals("vw", ["600000"]), Fixtures.signals("mom", ["600000"]), Fixtures.signals("other", ["000001"]),
            Fixtures.connected("c1"), Fixtures.connected("c2"),
            Fixtures.subscribed("c1", .stock, "600000"), Fixtures.subscribed("c2", .market, "sh"),
            Fixtures.subscribed("c1", .strategy, "vw"), Fixtures.subscribed("c2", .strategy, "mom"),
            Fixtures.subscribed("c2", .strategy, "other"), Fixtures.subscribed("c2", .market, "sz"),
            Fixtures.subscribed("c1", .stock, "000001"),
        ])
        #expect(p.subscriptionsAffected(byCode: "600000") == [
            Fixtures.sub(.stock, "600000"), Fixtures.sub(.market, "sh"),
            Fixtures.sub(.strategy, "mom"), Fixtures.sub(.strategy, "vw"),
        ])
    }

    @Test("subscriptionsAffected ignores subscriptions without subscribers")
    func affectedIgnoresUnsubscribed() {
        let p = projection([
            Fixtures.signals("vw", ["600000"]), Fixtures.connected("c1"),
            Fixtures.subscribed("c1", .strategy, "vw"), Fixtures.unsubscribed("c1", .strategy, "vw"),
            Fixtures.subscribed("c1", .market, "sz"),
        ])
        #expect(p.subscriptionsAffected(byCode: "600000").isEmpty)
        #expect(p.subscriptionsAffected(byCode: "000001") == [Fixtures.sub(.market, "sz")])
    }

    @Test("a news item reaches all and its category; an empty or `all` category only all")
    func newsSubscriptions() {
        #expect(Fixtures.news("n", category: "macro").newsSubscriptions == [Fixtures.sub(.news, "all"), Fixtures.sub(.news, "macro")])
        #expect(Fixtures.news("n", category: "all").newsSubscriptions == [Fixtures.sub(.news, "all")])
        #expect(Fixtures.news("n", category: "").newsSubscriptions == [Fixtures.sub(.news, "all")])
    }

    @Test("last price per code and last bar per code and period are kept")
    func lastPricesAndBars() {
        let bar1 = KlineBar(code: "600000", period: "1m", open: 1, high: 2, low: 1, close: 2, volume: 1, start: 0, closed: false)
        var bar2 = bar1
        bar2.closed = true
        var bar5 = bar1
        bar5.period = "5m"
        let p = projection([
            .priceTicked(Fixtures.tick("600000", price: 1)), .priceTicked(Fixtures.tick("600000", price: 2)),
            .klineUpdated(bar1), .klineUpdated(bar2), .klineUpdated(bar5),
        ])
        #expect(p.lastPrices["600000"]?.price == 2)
        #expect(p.lastBars[BarKey(code: "600000", period: "1m")] == bar2)
        #expect(p.lastBars.count == 2)
    }

    @Test("the snapshot price set of a subscription lists its known prices by code")
    func knownPrices() {
        let p = projection([
            Fixtures.signals("vw", ["600000", "000001", "300750"]),
            .priceTicked(Fixtures.tick("600000", price: 1)), .priceTicked(Fixtures.tick("000001", price: 2)),
            .priceTicked(Fixtures.tick("688981", price: 3)),
        ])
        #expect(p.knownPrices(for: Fixtures.sub(.strategy, "vw")).map(\.code) == ["000001", "600000"])
        #expect(p.knownPrices(for: Fixtures.sub(.market, "sh")).map(\.code) == ["600000", "688981"])
        #expect(p.knownPrices(for: Fixtures.sub(.stock, "300750")).isEmpty)
    }

    @Test("a known price named by its code takes the name a signal list gave the code since; one a tick named keeps it")
    func knownPricesTakeASignalsNameForACodeNoTickNamed() {
        let p = projection([
            .priceTicked(Fixtures.tick("601888", price: 1, name: "601888")),
            .priceTicked(Fixtures.tick("600519", price: 2, name: "贵州茅台")),
            .signalsReplaced(SignalsReplaced(
                strategy: "vw", signals: [Signal(code: "601888", name: "中国中免"), Signal(code: "600519", name: "Moutai")])),
        ])
        #expect(p.knownPrices(for: Fixtures.sub(.strategy, "vw")).map(\.name) == ["贵州茅台", "中国中免"])
        #expect(p.knownPrices(for: Fixtures.sub(.stock, "601888")).map(\.name) == ["中国中免"])
        // A board's prices, from the maps taken off the store, are the market subscription's.
        let board = Projection.knownPrices(on: .sh, lastPrices: p.lastPrices, strategies: p.strategies)
        #expect(board == p.knownPrices(for: Fixtures.sub(.market, "sh")))
        #expect(board.map(\.name) == ["贵州茅台", "中国中免"])
        #expect(Projection.knownPrices(on: .sz, lastPrices: p.lastPrices, strategies: p.strategies).isEmpty)
    }

    @Test("the recent news ids keep the newest ids and drop the oldest beyond capacity")
    func newsIDWindowDropsOldest() {
        var window = NewsIDWindow()
        for index in 0..<(NewsIDWindow.capacity + 3) { window.append("n\(index)") }
        #expect(window.ids.count == NewsIDWindow.capacity)
        #expect(!window.contains("n2") && window.contains("n3") && window.ids.first == "n3")
        // An id published again (journals from before the window could hold one) becomes the newest.
        let addedAgain = window.append("n5")
        #expect(!addedAgain)
        #expect(window.ids.last == "n5" && window.ids.count == NewsIDWindow.capacity)
    }

    @Test("the news ring keeps the newest items and drops the oldest beyond capacity")
    func newsRingDropsOldest() {
        let total = Projection.newsCapacity + 7
        let p = projection((0..<total).map { .newsPublished(Fixtures.news("n\($0)")) })
        #expect(p.news.count == Projection.newsCapacity)
        #expect(p.news.first?.item.id == "n7")
        #expect(p.news.first?.seq == 8)
        #expect(p.news.last?.item.id == "n\(total - 1)")
        // Their ids stay known (`NewsIDWindow`): a new item may not repeat them.
        #expect(p.containsNews(id: "n6") && p.containsNews(id: "n7") && !p.containsNews(id: "n\(total)"))
        #expect(p.news(after: UInt64(total - 2)).map(\.item.id) == ["n\(total - 2)", "n\(total - 1)"])
    }
}
