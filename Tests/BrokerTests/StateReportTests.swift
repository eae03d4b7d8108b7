import Foundation
import Journal
import Testing

@testable import Broker

/// The replay report shows the whole state at a seq, sorted, with ISO times, and is deterministic.
@Suite struct StateReportTests {
    private static let events: [Event] = [
        Fixtures.signals("volume_wave", ["600519", "000001"]),
        Fixtures.connected("client_b", user: "bob"),
        .clientConnected(ClientConnected(clientID: "client_a", user: nil, remoteAddress: "10.0.0.1:5555", node: "node-a")),
        Fixtures.subscribed("client_a", .stock, "600519"),
        Fixtures.subscribed("client_a", .strategy, "volume_wave"),
        Fixtures.subscribed("client_b", .market, "sh"),
        .priceTicked(Fixtures.tick("600519", price: 12, prevClose: 10)),
        .priceTicked(Fixtures.tick("000001", price: 9, prevClose: 10)),
        .klineUpdated(KlineBar(code: "600519", period: "1m", open: 10, high: 12, low: 9, close: 12, volume: 5, start: 60_000_000, closed: true)),
        .alertRuleSet(Fixtures.rule("r2", user: "bob", code: "000001", .below, 9.5)),
        .alertRuleSet(Fixtures.rule("r1", user: "bob", code: "600519", .above, 11)),
        .alertTriggered(AlertTriggered(ruleID: "r1", user: "bob", code: "600519", price: 12)),
        .newsPublished(Fixtures.news("n1", category: "company")),
        Fixtures.disconnected("client_b", deadline: 1_000_000),
        .sourceAdvanced(SourceAdvanced(source: "redis-stream:ticks", position: "17-0")),
    ]

    @Test func theReportShowsClientsSubscriptionsPricesRulesAndSignals() {
        let report = projection(Self.events).report()

        #expect(report.lastSeq == 15)
        #expect(report.lastTime == "1970-01-01T00:00:00.000150Z")
        #expect(report.clients.map(\.clientID) == ["client_a", "client_b"])
        let a = report.clients[0]
        #expect(a.state == "connected" && a.user == nil && a.remote == "10.0.0.1:5555" && a.node == "node-a")
        #expect(a.subscriptions.map { "\($0.type):\($0.target)" } == ["strategy:volume_wave", "stock:600519"])
        #expect(a.goneSince == nil && a.reason == nil)
        let b = report.clients[1]
        #expect(b.state == "gone" && b.user == "bob" && b.reason == "closed")
        #expect(b.goneSince == "1970-01-01T00:00:00.000140Z" && b.resumeDeadline == "1970-01-01T00:00:01.000000Z")
        #expect(b.subscriptions.map(\.target) == ["sh"])
        #expect(report.connectedClients.map(\.clientID) == ["client_a"])

        #expect(report.prices.map(\.code) == ["000001", "600519"])
        #expect(report.prices[1].price == 12 && report.prices[1].change == 2 && report.prices[1].changePercent == 20)
        #expect(report.bars.map { "\($0.code)/\($0.period)" } == ["600519/1m"] && report.bars[0].closed)
        #expect(report.alertRules.map(\.id) == ["r1", "r2"])
        #expect(report.alertRules.map(\.triggered) == [true, false])
        #expect(report.signals.map(\.strategy) == ["volume_wave"])
        #expect(report.signals[0].signals.map(\.code) == ["600519", "000001"])
        #expect(report.news.map(\.id) == ["n1"] && report.news[0].seq == 13)
        #expect(report.sources == ["redis-stream:ticks": "17-0"])
    }

    @Test func theEmptyStateReportsSeqZeroWithoutATime() {
        let report = Projection().report()
        #expect(report.lastSeq == 0 && report.lastTime == nil && report.clients.isEmpty && report.prices.isEmpty)
    }

    @Test func equalStatesGiveByteEqualJSONWhateverTheirHistory() throws {
        // The same end state reached along two different paths (and the same path twice).
        var other = Self.events
        other.swapAt(3, 4)
        other.swapAt(6, 7)
        var first = projection(Self.events)
        var second = projection(other)
        // Align the times the paths differ in: only the state matters here.
        first.lastTimestamp = 0
        second.lastTimestamp = 0
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let a = try encoder.encode(first.report())
        let b = try encoder.encode(second.report())
        #expect(a == b)
        #expect(try encoder.encode(first.report()) == a)
        let text = String(decoding: a, as: UTF8.self)
        #expect(text.contains(#""alert_rules":[{"code":"600519","condition":"above","id":"r1","threshold":11,"triggered":true,"user":"bob"}"#))
        #expect(try JSONDecoder().decode(StateReport.self, from: a) == first.report())
    }
}
