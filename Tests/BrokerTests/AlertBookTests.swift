import Testing
@testable import Broker

@Suite("Alerts")
struct AlertBookTests {
    @Test("conditions: above and below are inclusive, change_pct compares the absolute change", arguments: [
        (AlertCondition.above, 11.0, 11.0, true), (.above, 11.0, 10.99, false),
        (.below, 9.0, 9.0, true), (.below, 9.0, 9.01, false),
        (.changePercent, 5.0, 9.5, true), (.changePercent, 5.0, 10.5, true), (.changePercent, 5.0, 10.49, false),
        // 10 → 10.2 computes to 1.9999999999999929 % and is shown as 2 %: it meets 2 either way.
        (.changePercent, 2.0, 10.2, true), (.changePercent, 2.0, 9.8, true), (.changePercent, 2.0, 10.19, false),
        (.changePercent, 2.0, 10.1996, true),
    ])
    func conditions(condition: AlertCondition, threshold: Double, price: Double, met: Bool) {
        let rule = Fixtures.rule("r", condition, threshold)
        #expect(rule.isMet(by: Fixtures.tick("600000", price: price, prevClose: 10)) == met)
    }

    @Test("armed rules of the tick's code whose condition is met are due, sorted by id")
    func rulesToTriggerSortedAndScopedByCode() {
        let p = projection([
            .alertRuleSet(Fixtures.rule("r2", .above, 11)), .alertRuleSet(Fixtures.rule("r1", .above, 10)),
            .alertRuleSet(Fixtures.rule("r3", .below, 5)), .alertRuleSet(Fixtures.rule("x", code: "000001", .above, 1)),
        ])
        #expect(p.alerts.rulesToTrigger(for: Fixtures.tick("600000", price: 12)).map(\.id) == ["r1", "r2"])
    }

    @Test("a triggered rule stays quiet until a tick no longer meets it, then re-arms")
    func triggerAndRearm() {
        var b = ProjectionBuilder([.alertRuleSet(Fixtures.rule("r1", .above, 11))])
        let high = Fixtures.tick("600000", price: 12)
        b.apply([.priceTicked(high), .alertTriggered(AlertTriggered(ruleID: "r1", user: "alice", code: "600000", price: 12))])
        #expect(b.projection.alerts.isTriggered("r1"))
        b.apply(.priceTicked(Fixtures.tick("600000", price: 11.5)))
        #expect(b.projection.alerts.rulesToTrigger(for: high).isEmpty)

        b.apply(.priceTicked(Fixtures.tick("600000", price: 10)))
        #expect(!b.projection.alerts.isTriggered("r1"))
        #expect(b.projection.alerts.rulesToTrigger(for: high).map(\.id) == ["r1"])
    }

    /// A tick of `price` against `prevClose` at `hour` (Asia/Shanghai) on trading day `day`.
    private func tick(day: Int64, hour: Int64, price: Double, prevClose: Double, code: String = "600000") -> PriceTick {
        PriceTick(
            code: code, name: "X", price: price, volume: 1, prevClose: prevClose,
            timestamp: TradingCalendar.start(ofDay: day) + hour * 3_600_000_000)
    }

    @Test("a change_pct rule fired one day is armed again at its code's first tick of the next day")
    func changePercentRearmsOnANewTradingDay() {
        let change = Fixtures.rule("chg", .changePercent, 5)
        let above = Fixtures.rule("abv", .above, 10.5)
        var b = ProjectionBuilder([.alertRuleSet(change), .alertRuleSet(above)])
        let day = Int64(20_424)  // 2025-12-02
        let first = tick(day: day, hour: 14, price: 10.6, prevClose: 10)
        #expect(b.projection.alerts.firings(for: [first], after: b.projection.lastPrices).map(\.rule.id) == ["abv", "chg"])
        b.apply([
            .priceTicked(first), .alertTriggered(AlertTriggered(ruleID: "abv", user: "alice", code: "600000", price: 10.6)),
            .alertTriggered(AlertTriggered(ruleID: "chg", user: "alice", code: "600000", price: 10.6)),
        ])
        // Later the same day, still beyond: quiet.
        let later = tick(day: day, hour: 14, price: 10.7, prevClose: 10)
        #expect(b.projection.alerts.firings(for: [later], after: b.projection.lastPrices).isEmpty)
        b.apply(.priceTicked(later))

        // The next morning opens 5.6 % above yesterday's close: the change rule fires again; the
        // price rule, never cleared, stays quiet. Alone and at the end of a batch alike.
        let opening = tick(day: day + 1, hour: 9, price: 11.3, prevClose: 10.7)
        #expect(b.projection.alerts.firings(for: [opening], after: b.projection.lastPrices).map(\.rule.id) == ["chg"])
        #expect(b.projection.alerts.firings(for: [later, opening], after: b.projection.lastPrices).map(\.tick) == [1])
        b.apply([.priceTicked(opening), .alertTriggered(AlertTriggered(ruleID: "chg", user: "alice", code: "600000", price: 11.3))])
        #expect(b.projection.alerts.isTriggered("chg") && b.projection.alerts.isTriggered("abv"))

        // A new day's first tick that cannot tell (no previous close) still re-arms the change rule.
        b.apply(.priceTicked(tick(day: day + 2, hour: 9, price: 11.3, prevClose: 0)))
        #expect(!b.projection.alerts.isTriggered("chg") && b.projection.alerts.isTriggered("abv"))
    }

    @Test("a batch fires and re-arms tick by tick, not by the state after its last tick")
    func batchFiresTickByTick() throws {
        let rule = Fixtures.rule("r1", .above, 100)
        let fired = projection([
            .alertRuleSet(rule), .priceTicked(Fixtures.tick("600000", price: 101)),
            .alertTriggered(AlertTriggered(ruleID: "r1", user: "alice", code: "600000", price: 101)),
        ])
        let ticks = [102.0, 99, 101, 103, 98].map { Fixtures.tick("600000", price: $0) }
        // 102: still fired, quiet. 99: clears, re-arms. 101: crosses again, fires. 103: quiet. 98: re-arms.
        let firings = fired.alerts.firings(for: ticks)
        #expect(firings.map(\.tick) == [2])
        #expect(firings.map(\.rule) == [rule])
        // Applying the batch's events one by one ends where the batch's evaluation did: armed.
        var events: [Event] = []
        for (index, tick) in ticks.enumerated() {
            events.append(.priceTicked(tick))
            if firings.contains(where: { $0.tick == index }) {
                events.append(.alertTriggered(AlertTriggered(ruleID: "r1", user: "alice", code: "600000", price: tick.price)))
            }
        }
        var builder = ProjectionBuilder([])
        builder.projection = fired
        builder.apply(events)
        #expect(!builder.projection.alerts.isTriggered("r1"))
    }

    @Test("a change_pct rule neither fires nor re-arms on a tick without a previous close")
    func changePercentIgnoresUnknownPreviousClose() {
        var b = ProjectionBuilder([.alertRuleSet(Fixtures.rule("r1", .changePercent, 5))])
        let unknown = Fixtures.tick("600000", price: 106, prevClose: 0)
        #expect(b.projection.alerts.firings(for: [unknown]).isEmpty)
        let up = Fixtures.tick("600000", price: 106, prevClose: 100)
        #expect(b.projection.alerts.firings(for: [up, unknown, up]).map(\.tick) == [0])
        b.apply([.priceTicked(up), .alertTriggered(AlertTriggered(ruleID: "r1", user: "alice", code: "600000", price: 106))])
        b.apply(.priceTicked(unknown))
        #expect(b.projection.alerts.isTriggered("r1"))
        // A zero-threshold rule is not "met" by an unknown change either.
        let zero = projection([.alertRuleSet(Fixtures.rule("z", .changePercent, 0))])
        #expect(zero.alerts.firings(for: [unknown]).isEmpty)
    }

    @Test("setting a rule again replaces it, re-arms it and moves its code index")
    func setReplaces() {
        let p = projection([
            .alertRuleSet(Fixtures.rule("r1", code: "600000")),
            .alertTriggered(AlertTriggered(ruleID: "r1", user: "alice", code: "600000", price: 12)),
            .alertRuleSet(Fixtures.rule("r1", code: "000001")),
        ])
        #expect(!p.alerts.isTriggered("r1"))
        #expect(p.alerts.rules(ofCode: "600000").isEmpty)
        #expect(p.alerts.rules(ofCode: "000001").map(\.id) == ["r1"])
        #expect(p.alerts.rules(ofUser: "alice").count == 1)
    }

    @Test("removing a rule clears every index; a removal naming another owner is ignored")
    func removeClearsIndexes() {
        var b = ProjectionBuilder([.alertRuleSet(Fixtures.rule("r1"))])
        b.apply(.alertRuleRemoved(AlertRuleRemoved(ruleID: "r1", user: "mallory")))
        #expect(b.projection.alerts.count == 1)
        b.apply(.alertRuleRemoved(AlertRuleRemoved(ruleID: "r1", user: "alice")))
        #expect(b.projection.alerts == AlertBook())
    }

    @Test("triggering an unknown rule is ignored")
    func unknownTriggerIgnored() {
        let p = projection([.alertTriggered(AlertTriggered(ruleID: "nope", user: "a", code: "1", price: 1))])
        #expect(p.alerts == AlertBook())
    }
}
