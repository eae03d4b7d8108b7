import Testing
@testable import Broker

@Suite("Decider")
struct DeciderTests {
    static let limits = Limits(maxSubscriptionsPerClient: 3)

    /// alice (user) and anon (no user) connected; gone disconnected; one rule; one news item.
    static let state = projection([
        Fixtures.connected("c1", user: "alice"), Fixtures.connected("anon"), Fixtures.connected("gone"), Fixtures.disconnected("gone"),
        Fixtures.subscribed("c1", .stock, "600000"),
        .alertRuleSet(Fixtures.rule("r1")), .alertRuleSet(Fixtures.rule("r2")),
        .alertTriggered(AlertTriggered(ruleID: "r2", user: "alice", code: "600000", price: 12)),
        .newsPublished(Fixtures.news("n1")), Fixtures.signals("vw", ["600000"]),
    ])

    func decide(_ command: Command, state: Projection = DeciderTests.state) throws(BrokerError) -> [Event] {
        try Decider.decide(command, state: state, limits: Self.limits)
    }

    func expectRefused(_ command: Command, _ expected: BrokerError, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(throws: expected, sourceLocation: sourceLocation) { try decide(command) }
    }

    // MARK: Sessions

    @Test("connect of a new id yields client_connected")
    func connectNew() throws {
        #expect(try decide(.connect(clientID: "new", user: nil, remoteAddress: "1.1.1.1", node: "n")) == [
            .clientConnected(ClientConnected(clientID: "new", user: nil, remoteAddress: "1.1.1.1", node: "n")),
        ])
    }

    @Test("a resume connects a gone id; a new session needs a free id; a connected id is refused either way")
    func connectExisting() throws {
        #expect(try decide(.connect(clientID: "gone", user: nil, remoteAddress: nil, node: "n", resuming: true)).count == 1)
        expectRefused(.connect(clientID: "gone", user: nil, remoteAddress: nil, node: "n"), .clientIDTaken(clientID: "gone"))
        expectRefused(.connect(clientID: "expired", user: nil, remoteAddress: nil, node: "n", resuming: true), .unknownClient(clientID: "expired"))
        for resuming in [false, true] {
            expectRefused(
                .connect(clientID: "c1", user: nil, remoteAddress: nil, node: "n", resuming: resuming), .clientAlreadyConnected(clientID: "c1"))
        }
    }

    @Test("connect with an empty client id is refused")
    func connectInvalidID() {
        expectRefused(.connect(clientID: "", user: nil, remoteAddress: nil, node: "n"), .invalidClientID(clientID: "", reason: "is empty"))
    }

    @Test("disconnect needs a connected client")
    func disconnectNeedsConnected() {
        expectRefused(.disconnect(clientID: "nope", reason: .closed, resumeDeadline: 0), .unknownClient(clientID: "nope"))
        expectRefused(.disconnect(clientID: "gone", reason: .closed, resumeDeadline: 0), .clientNotConnected(clientID: "gone"))
    }

    @Test("expiry needs a gone client")
    func expiryNeedsGone() throws {
        #expect(try decide(.expireSession(clientID: "gone")) == [.sessionExpired(SessionExpired(clientID: "gone"))])
        expectRefused(.expireSession(clientID: "c1"), .clientStillConnected(clientID: "c1"))
        expectRefused(.expireSession(clientID: "nope"), .unknownClient(clientID: "nope"))
    }

    // MARK: Subscriptions

    @Test("an anonymous session's alert rules are removed with it; a user's rules stay")
    func expiryRemovesAnonymousRules() throws {
        let state = projection([
            Fixtures.connected("anon"), .alertRuleSet(Fixtures.rule("a2", user: "anon")), .alertRuleSet(Fixtures.rule("a1", user: "anon")),
            Fixtures.disconnected("anon"),
            Fixtures.connected("c1", user: "alice"), .alertRuleSet(Fixtures.rule("r1")), Fixtures.disconnected("c1"),
        ])
        #expect(try decide(.expireSession(clientID: "anon"), state: state) == [
            .alertRuleRemoved(AlertRuleRemoved(ruleID: "a1", user: "anon")),
            .alertRuleRemoved(AlertRuleRemoved(ruleID: "a2", user: "anon")),
            .sessionExpired(SessionExpired(clientID: "anon")),
        ])
        #expect(try decide(.expireSession(clientID: "c1"), state: state) == [.sessionExpired(SessionExpired(clientID: "c1"))])
    }

    @Test("subscribe yields subscribed; subscribing again is idempotent with no events")
    func subscribeIdempotent() throws {
        #expect(try decide(.subscribe(clientID: "c1", subscription: Fixtures.sub(.market, "sh"))) == [Fixtures.subscribed("c1", .market, "sh")])
        #expect(try decide(.subscribe(clientID: "c1", subscription: Fixtures.sub(.stock, "600000"))).isEmpty)
    }

    @Test("subscribe needs a known, connected client")
    func subscribeNeedsConnectedClient() {
        expectRefused(.subscribe(clientID: "nope", subscription: Fixtures.sub(.stock, "1")), .unknownClient(clientID: "nope"))
        expectRefused(.subscribe(clientID: "gone", subscription: Fixtures.sub(.stock, "1")), .clientNotConnected(clientID: "gone"))
    }

    @Test("bad targets are refused with invalid_target", arguments: [
        Subscription(type: .strategy, target: ""),
        Subscription(type: .strategy, target: String(repeating: "x", count: 65)),
        Subscription(type: .news, target: "bad\u{0007}"),
        Subscription(type: .stock, target: "60 0000"),
        Subscription(type: .stock, target: "12345678901234567"),
        Subscription(type: .market, target: "nyse"),
        Subscription(type: .alerts, target: "bob"),
    ])
    func badTargets(subscription: Subscription) {
        #expect {
            try decide(.subscribe(clientID: "c1", subscription: subscription))
        } throws: { error in
            (error as? BrokerError)?.error == "invalid_target"
        }
    }

    @Test("alerts target me resolves to the user, or to the client id when anonymous")
    func alertsMeResolvesOwner() throws {
        #expect(try decide(.subscribe(clientID: "c1", subscription: Fixtures.sub(.alerts, "me"))) == [Fixtures.subscribed("c1", .alerts, "alice")])
        #expect(try decide(.subscribe(clientID: "c1", subscription: Fixtures.sub(.alerts, "alice"))) == [Fixtures.subscribed("c1", .alerts, "alice")])
        #expect(try decide(.subscribe(clientID: "anon", subscription: Fixtures.sub(.alerts, "me"))) == [Fixtures.subscribed("anon", .alerts, "anon")])
    }

    @Test("subscribing beyond the per-client limit is refused")
    func tooManySubscriptions() {
        let full = projection([
            Fixtures.connected("c1"), Fixtures.subscribed("c1", .stock, "1"), Fixtures.subscribed("c1", .stock, "2"),
            Fixtures.subscribed("c1", .stock, "3"),
        ])
        #expect(throws: BrokerError.tooManySubscriptions(limit: 3)) {
            try decide(.subscribe(clientID: "c1", subscription: Fixtures.sub(.stock, "4")), state: full)
        }
        #expect(throws: Never.self) { try decide(.subscribe(clientID: "c1", subscription: Fixtures.sub(.stock, "3")), state: full) }
    }

    @Test("several subscriptions at once: the new ones each once, all or none")
    func subscribeSeveral() throws {
        let stock = { (code: String) in Fixtures.sub(.stock, code) }
        // c1 holds 600000: it is left alone, 600001 comes once, and the limit of 3 counts all.
        #expect(try decide(.subscribeAll(clientID: "c1", subscriptions: [stock("600000"), stock("600001"), stock("600001")])) == [
            Fixtures.subscribed("c1", .stock, "600001"),
        ])
        #expect(try decide(.subscribeAll(clientID: "c1", subscriptions: [stock("600001"), stock("600002")])).count == 2)
        expectRefused(.subscribeAll(clientID: "c1", subscriptions: [stock("600001"), stock("600002"), stock("600003")]), .tooManySubscriptions(limit: 3))
        // One bad target refuses the others with it.
        #expect(throws: BrokerError.self) {
            try decide(.subscribeAll(clientID: "c1", subscriptions: [stock("600001"), stock("not a code")]))
        }
        expectRefused(.subscribeAll(clientID: "gone", subscriptions: [stock("600001")]), .clientNotConnected(clientID: "gone"))
    }

    @Test("several unsubscriptions at once: each must be held, all or none")
    func unsubscribeSeveral() throws {
        let state = projection([
            Fixtures.connected("c1"), Fixtures.subscribed("c1", .stock, "600000"), Fixtures.subscribed("c1", .news, "all"),
        ])
        #expect(try decide(.unsubscribeAll(clientID: "c1", subscriptions: [Fixtures.sub(.news, "all"), Fixtures.sub(.stock, "600000")]), state: state) == [
            Fixtures.unsubscribed("c1", .news, "all"), Fixtures.unsubscribed("c1", .stock, "600000"),
        ])
        #expect(throws: BrokerError.notSubscribed(Fixtures.sub(.stock, "600001"))) {
            try decide(.unsubscribeAll(clientID: "c1", subscriptions: [Fixtures.sub(.stock, "600000"), Fixtures.sub(.stock, "600001")]), state: state)
        }
    }

    @Test("unsubscribe of something not subscribed is refused with not_subscribed")
    func unsubscribeNotSubscribed() throws {
        expectRefused(.unsubscribe(clientID: "c1", subscription: Fixtures.sub(.stock, "000001")), .notSubscribed(Fixtures.sub(.stock, "000001")))
        #expect(try decide(.unsubscribe(clientID: "c1", subscription: Fixtures.sub(.stock, "600000"))) == [Fixtures.unsubscribed("c1", .stock, "600000")])
    }

    // MARK: Market data

    @Test("a valid tick batch yields one price_ticked per tick in order")
    func ticksAccepted() throws {
        let ticks = [Fixtures.tick("600000", price: 1), Fixtures.tick("000001", price: 2, prevClose: 0)]
        #expect(try decide(.ingestTicks(ticks.map(FedTick.init))) == ticks.map { .priceTicked($0) })
    }

    /// 600000 ticked named, with volume and previous close; 000001 is only in a signal list, by name.
    static let known = projection([
        .priceTicked(PriceTick(code: "600000", name: "浦发银行", price: 10.2, volume: 12_345, prevClose: 10, timestamp: 1)),
        .signalsReplaced(SignalsReplaced(strategy: "vw", signals: [Signal(code: "000001", name: "平安银行"), Signal(code: "300750", name: "300750")])),
    ])

    @Test("a tick that leaves out name, volume and prev_close takes them from the code's last tick")
    func leftOutFieldsComeFromTheLastTick() throws {
        let events = try decide(.ingestTicks([FedTick(code: "600000", price: 10.3, timestamp: 2)]), state: Self.known)
        #expect(events == [.priceTicked(PriceTick(code: "600000", name: "浦发银行", price: 10.3, volume: 12_345, prevClose: 10, timestamp: 2))])
        // A previous close of 0 says "unknown" too.
        let zero = try decide(.ingestTicks([FedTick(code: "600000", price: 10.3, prevClose: 0, timestamp: 2)]), state: Self.known)
        #expect(zero == events)
    }

    @Test("on a later trading day a left-out volume is 0 and the previous close is the last price known")
    func leftOutFieldsOfANewDay() throws {
        // Self.known's tick of 600000 is at t=1 (1970-01-01 08:00 Shanghai); the next Shanghai day
        // begins 16 hours later.
        let nextDay = TradingCalendar.start(ofDay: TradingCalendar.day(of: 1) + 1) + 3_600_000_000
        let events = try decide(.ingestTicks([FedTick(code: "600000", price: 10.3, timestamp: nextDay)]), state: Self.known)
        let known = try #require(Self.known.lastPrices["600000"])
        #expect(events == [.priceTicked(PriceTick(code: "600000", name: "浦发银行", price: 10.3, volume: 0, prevClose: known.price, timestamp: nextDay))])
        // Still that day, a tick with a volume again: later ticks of the day take it.
        var state = Self.known
        for (offset, event) in events.enumerated() {
            state.apply(RecordedEvent(seq: state.lastSeq + 1 + UInt64(offset), timestamp: nextDay, event: event))
        }
        let later = try decide(.ingestTicks([FedTick(code: "600000", price: 10.4, timestamp: nextDay + 1)]), state: state)
        #expect(later == [.priceTicked(PriceTick(code: "600000", name: "浦发银行", price: 10.4, volume: 0, prevClose: known.price, timestamp: nextDay + 1))])
    }

    @Test("what a tick carries wins over what is known of the code")
    func carriedFieldsWin() throws {
        let tick = PriceTick(code: "600000", name: "浦发", price: 10.3, volume: 0, prevClose: 9, timestamp: 2)
        #expect(try decide(.ingestTicks([FedTick(code: "600000", name: "浦发", price: 10.3, volume: 0, prevClose: 9, timestamp: 2)]), state: Self.known)
            == [.priceTicked(tick)])
    }

    @Test("a name no tick gave comes from a signal list, else is the code; an unknown volume or prev_close is 0")
    func nameFromSignalsElseCode() throws {
        let events = try decide(
            .ingestTicks([FedTick(code: "000001", price: 11, timestamp: 2), FedTick(code: "300750", price: 30, timestamp: 2)]), state: Self.known)
        #expect(events == [
            .priceTicked(PriceTick(code: "000001", name: "平安银行", price: 11, volume: 0, prevClose: 0, timestamp: 2)),
            .priceTicked(PriceTick(code: "300750", name: "300750", price: 30, volume: 0, prevClose: 0, timestamp: 2)),
        ])
        // A last tick named by its code (nothing was known then) does not hide the signal list's name.
        var state = Self.known
        state.apply(RecordedEvent(seq: 3, timestamp: 3, event: .priceTicked(PriceTick(code: "000001", name: "000001", price: 11, volume: 5, prevClose: 0, timestamp: 2))))
        #expect(try decide(.ingestTicks([FedTick(code: "000001", price: 12, timestamp: 4)]), state: state)
            == [.priceTicked(PriceTick(code: "000001", name: "平安银行", price: 12, volume: 5, prevClose: 0, timestamp: 4))])
    }

    @Test("a tick takes what it leaves out from an earlier tick of its own batch")
    func leftOutFieldsComeFromTheBatch() throws {
        let events = try decide(.ingestTicks([
            FedTick(code: "600000", name: "浦发银行B", price: 10.3, volume: 20_000, prevClose: 10.1, timestamp: 2),
            FedTick(code: "600000", price: 10.4, timestamp: 3),
        ]), state: Self.known)
        #expect(events.last == .priceTicked(PriceTick(code: "600000", name: "浦发银行B", price: 10.4, volume: 20_000, prevClose: 10.1, timestamp: 3)))
    }

    @Test("a change_pct rule sees the previous close a tick left out")
    func changePercentRuleSeesTheKnownPreviousClose() throws {
        var state = Self.known
        state.apply(RecordedEvent(seq: 3, timestamp: 3, event: .alertRuleSet(Fixtures.rule("pct", .changePercent, 5))))
        let events = try decide(.ingestTicks([FedTick(code: "600000", price: 10.6, timestamp: 4)]), state: state)
        #expect(events.last == .alertTriggered(AlertTriggered(firing: Fixtures.rule("pct", .changePercent, 5), at: 10.6)))
    }

    @Test("a tick that meets an armed rule is followed by its alert_triggered, in the same batch")
    func ticksFireAlerts() throws {
        // r1 (above 11) is armed, r2 (above 11) fired already.
        let ticks = [Fixtures.tick("600000", price: 12), Fixtures.tick("600000", price: 10), Fixtures.tick("600000", price: 13)]
        #expect(try decide(.ingestTicks(ticks.map(FedTick.init))) == [
            .priceTicked(ticks[0]), .alertTriggered(AlertTriggered(firing: Fixtures.rule("r1"), at: 12)),
            .priceTicked(ticks[1]),
            .priceTicked(ticks[2]),
            .alertTriggered(AlertTriggered(firing: Fixtures.rule("r1"), at: 13)),
            .alertTriggered(AlertTriggered(firing: Fixtures.rule("r2"), at: 13)),
        ])
    }

    @Test("one bad tick rejects the whole batch and names its index", arguments: [
        PriceTick(code: "bad code", name: "", price: 1, volume: 0, prevClose: 1, timestamp: 0),
        PriceTick(code: "600000", name: String(repeating: "n", count: 65), price: 1, volume: 0, prevClose: 1, timestamp: 0),
        PriceTick(code: "600000", name: "", price: 0, volume: 0, prevClose: 1, timestamp: 0),
        PriceTick(code: "600000", name: "", price: .nan, volume: 0, prevClose: 1, timestamp: 0),
        PriceTick(code: "600000", name: "", price: .infinity, volume: 0, prevClose: 1, timestamp: 0),
        PriceTick(code: "600000", name: "", price: 1, volume: 0, prevClose: -1, timestamp: 0),
        PriceTick(code: "600000", name: "", price: 1, volume: -1, prevClose: 1, timestamp: 0),
        // Finite prices whose change or change percent would not be.
        PriceTick(code: "600000", name: "", price: 1e306, volume: 0, prevClose: 1, timestamp: 0),
        PriceTick(code: "600000", name: "", price: 1, volume: 0, prevClose: .leastNonzeroMagnitude, timestamp: 0),
        // Timestamps that would overflow the clock arithmetic of fan-out and bar building.
        PriceTick(code: "600000", name: "", price: 1, volume: 0, prevClose: 1, timestamp: .max),
        PriceTick(code: "600000", name: "", price: 1, volume: 0, prevClose: 1, timestamp: .min),
        PriceTick(code: "600000", name: "", price: 1, volume: 0, prevClose: 1, timestamp: -1),
        PriceTick(code: "600000", name: "", price: 1, volume: 0, prevClose: 1, timestamp: FieldRules.timestampRange.upperBound + 1),
        // One character, 65 scalars: the limit counts scalars, not grapheme clusters.
        PriceTick(code: "600000", name: "a" + String(repeating: "\u{301}", count: 64), price: 1, volume: 0, prevClose: 1, timestamp: 0),
        // A NUL and a terminal escape in a name the journal tools print.
        PriceTick(code: "600000", name: "a\u{0}\u{1B}[31mb", price: 1, volume: 0, prevClose: 1, timestamp: 0),
    ])
    func badTickRejectsBatch(bad: PriceTick) {
        #expect {
            try decide(.ingestTicks([FedTick(Fixtures.tick("600000", price: 1)), FedTick(bad)]))
        } throws: { error in
            guard case .invalidTick(let index, _, _) = error as? BrokerError else { return false }
            return index == 1
        }
    }

    @Test("a batch over the limit is refused")
    func tooManyTicks() {
        let ticks = Array(repeating: Fixtures.tick("600000", price: 1), count: 3)
        #expect(throws: BrokerError.tooManyTicks(count: 3, limit: 2)) {
            try Decider.decide(.ingestTicks(ticks.map(FedTick.init)), state: Self.state, limits: Limits(maxTicksPerBatch: 2))
        }
    }

    static let goodBar = KlineBar(code: "600000", period: "5m", open: 10, high: 11, low: 9, close: 10.5, volume: 1, start: 0, closed: false)

    @Test("a valid bar yields kline_updated")
    func barAccepted() throws {
        #expect(try decide(.ingestBar(Self.goodBar)) == [.klineUpdated(Self.goodBar)])
    }

    static func bar(_ change: (inout KlineBar) -> Void) -> KlineBar {
        var bar = goodBar
        change(&bar)
        return bar
    }

    @Test("inconsistent or unknown bars are refused with invalid_bar", arguments: [
        bar { $0.period = "7m" },
        bar { $0.high = 10.2 },  // below close
        bar { $0.low = 10.2 },  // above open
        bar { $0.open = .nan },
        bar { $0.close = 0 },
        bar { $0.volume = -1 },
        bar { $0.code = "" },
        bar { $0.start = .max },
        bar { $0.high = 1e300 },
        bar { $0.start = -60_000_000 },
    ])
    func badBars(bar: KlineBar) {
        #expect {
            try decide(.ingestBar(bar))
        } throws: { error in
            (error as? BrokerError)?.error == "invalid_bar"
        }
    }

    @Test("a bar of a grid period must start on its grid", arguments: [("1m", 60_000_000 as Int64), ("5m", 300_000_000), ("15m", 900_000_000), ("30m", 1_800_000_000)])
    func gridBarsStartOnTheirGrid(period: String, length: Int64) throws {
        let start: Int64 = 1_764_000_000_000_000
        let onGrid = Self.bar { $0.period = period; $0.start = start }
        #expect(try decide(.ingestBar(onGrid)) == [.klineUpdated(onGrid)])
        let off = Self.bar { $0.period = period; $0.start = start + 1_000_000 }
        expectRefused(.ingestBar(off), .invalidBar(code: "600000", reason:
            "has start \(start + 1_000_000), not on the \(period) grid: \(period) bars start at multiples of \(length) µs "
            + "(this one's period starts at \(start)), or leave start out for the current period"))
    }

    @Test("60m, day and week bars may start where their vendor labels them", arguments: ["60m", "1d", "1w"])
    func otherPeriodsStartAnywhere(period: String) throws {
        // 09:30 Asia/Shanghai, on 2025-11-24.
        let bar = Self.bar { $0.period = period; $0.start = 1_763_947_800_000_000 }
        #expect(try decide(.ingestBar(bar)) == [.klineUpdated(bar)])
    }

    @Test("the current bar's start: the grid, the Asia/Shanghai day and its Monday; none for 60m")
    func barStartOfAPeriod() {
        // 2025-11-26 (a Wednesday) 10:47:15 Asia/Shanghai = 02:47:15 UTC.
        let time: Int64 = 1_764_125_235_000_000
        #expect(FieldRules.barStart(period: "1m", containing: time) == 1_764_125_220_000_000)
        #expect(FieldRules.barStart(period: "5m", containing: time) == 1_764_125_100_000_000)
        #expect(FieldRules.barStart(period: "30m", containing: time) == 1_764_124_200_000_000)
        // 2025-11-26 00:00 and Monday 2025-11-24 00:00 Asia/Shanghai, 16:00 UTC the day before.
        #expect(FieldRules.barStart(period: "1d", containing: time) == 1_764_086_400_000_000)
        #expect(FieldRules.barStart(period: "1w", containing: time) == 1_763_913_600_000_000)
        // 23:30 UTC on the 25th is already the 26th in Shanghai.
        #expect(FieldRules.barStart(period: "1d", containing: 1_764_113_400_000_000) == 1_764_086_400_000_000)
        #expect(FieldRules.barStart(period: "60m", containing: time) == nil)
        #expect(FieldRules.barStart(period: "7m", containing: time) == nil)
    }

    @Test("a grid period's bar from outside may not start after the broker's clock (give or take 5 s)")
    func futureBars() {
        let now: Int64 = 1_764_124_275_000_000
        let next = Self.bar { $0.period = "1m"; $0.start = 1_764_124_320_000_000 }
        #expect(FieldRules.futureBarProblem(next, now: now)?.contains("cannot start in the future") == true)
        #expect(FieldRules.futureBarProblem(next, now: next.start - FieldRules.clockTolerance) == nil)
        #expect(FieldRules.futureBarProblem(Self.bar { $0.period = "1d"; $0.start = next.start }, now: now) == nil)
    }

    @Test("a bar sent without start is of the code's current bar: an A-share's at the session's edges as its ticks are binned")
    func barStartOfACodeAtTheSessionsEdges() {
        // 2025-11-26 09:27:13 and 11:30:20 Asia/Shanghai.
        let auction: Int64 = 1_764_120_433_000_000, afterMorning: Int64 = 1_764_127_820_000_000
        let opening: Int64 = 1_764_120_600_000_000
        #expect(FieldRules.barStart(period: "1m", code: "600519", sentAt: auction) == opening)
        #expect(FieldRules.barStart(period: "5m", code: "600519", sentAt: auction) == opening)
        #expect(FieldRules.barStart(period: "1m", code: "900901", sentAt: auction) == opening - 180_000_000, "a B-share: its own minute")
        #expect(FieldRules.barStart(period: "1m", code: "600519", sentAt: afterMorning) == opening + 119 * 60_000_000, "11:29")
        #expect(FieldRules.barStart(period: "5m", code: "600519", sentAt: afterMorning) == opening + 115 * 60_000_000, "11:25")
        #expect(FieldRules.barStart(period: "1d", code: "600519", sentAt: auction) == 1_764_086_400_000_000)
        #expect(FieldRules.barStart(period: "60m", code: "600519", sentAt: auction) == nil)
    }

    @Test("during the opening auction an A-share's 09:30 bar is not in the future; a later one, or a B-share's, is")
    func theFirstBarDuringTheOpeningAuction() {
        // 2025-11-26 09:25:00 Asia/Shanghai, and the 09:30 bar.
        let now: Int64 = 1_764_120_300_000_000
        let opening = Self.bar { $0.code = "600519"; $0.period = "1m"; $0.start = 1_764_120_600_000_000 }
        #expect(FieldRules.futureBarProblem(opening, now: now) == nil)
        #expect(FieldRules.futureBarProblem(Self.bar { $0 = opening; $0.period = "5m" }, now: now) == nil)
        #expect(FieldRules.futureBarProblem(Self.bar { $0 = opening; $0.start += 60_000_000 }, now: now) != nil)
        #expect(FieldRules.futureBarProblem(Self.bar { $0 = opening; $0.code = "900901" }, now: now) != nil)
        // Just after 11:30 the 11:30 bar is no more in the future than before.
        let afterMorning: Int64 = 1_764_127_820_000_000
        #expect(FieldRules.futureBarProblem(Self.bar { $0 = opening; $0.start = afterMorning - 20_000_000 }, now: afterMorning) == nil)
    }

    @Test("a batch of bars is one kline_updated each, in order, or refused whole")
    func barBatches() throws {
        let other = Self.bar { $0.code = "000001" }
        #expect(try decide(.ingestBars([Self.goodBar, other])) == [.klineUpdated(Self.goodBar), .klineUpdated(other)])
        #expect {
            try decide(.ingestBars([Self.goodBar, Self.bar { $0.volume = -1 }]))
        } throws: { error in
            (error as? BrokerError)?.error == "invalid_bar"
        }
    }

    @Test("a batch of more bars than the limit is refused whole")
    func tooManyBars() {
        #expect {
            try Decider.decide(.ingestBars([Self.goodBar, Self.goodBar, Self.goodBar]), state: Self.state, limits: Limits(maxBarsPerBatch: 2))
        } throws: { error in
            guard case .invalidRequest(let field, let reason) = error as? BrokerError else { return false }
            return field == "klines" && reason.contains("3 bars") && reason.contains("limit is 2")
        }
        #expect(throws: Never.self) {
            try Decider.decide(.ingestBars([Self.goodBar, Self.goodBar]), state: Self.state, limits: Limits(maxBarsPerBatch: 2))
        }
    }

    @Test("a news item tagged with more codes than the limit is refused")
    func tooManyNewsCodes() {
        var item = Fixtures.news("n9")
        item.codes = ["600000", "600001", "600002"]
        #expect {
            try Decider.decide(.publishNews(item), state: Self.state, limits: Limits(maxCodesPerNews: 2))
        } throws: { error in
            guard case .invalidNews(let id, let reason) = error as? BrokerError else { return false }
            return id == "n9" && reason == "is tagged with 3 codes, the limit is 2"
        }
        #expect(throws: Never.self) { try Decider.decide(.publishNews(item), state: Self.state, limits: Limits(maxCodesPerNews: 3)) }
    }

    @Test("a news id stays taken after its item left the items kept whole")
    func newsIDTakenBeyondTheRing() {
        var state = Projection()
        for index in 0...Projection.newsCapacity {
            state.apply(RecordedEvent(seq: UInt64(index + 1), timestamp: 1, event: .newsPublished(Fixtures.news("n\(index)"))))
        }
        #expect(!state.news.contains { $0.item.id == "n0" })
        #expect(throws: BrokerError.duplicateNews(id: "n0")) {
            try Decider.decide(.publishNews(Fixtures.news("n0")), state: state, limits: Limits())
        }
    }

    @Test("news needs an id, a title and a category, and the id must be new")
    func newsValidation() throws {
        #expect(try decide(.publishNews(Fixtures.news("n2"))) == [.newsPublished(Fixtures.news("n2"))])
        expectRefused(.publishNews(Fixtures.news("n1")), .duplicateNews(id: "n1"))
        #expect(throws: BrokerError.invalidNews(id: "", reason: "id is empty")) { try decide(.publishNews(Fixtures.news(""))) }
        var untitled = Fixtures.news("n3")
        untitled.title = " "
        expectRefused(.publishNews(untitled), .invalidNews(id: "n3", reason: "has an empty title"))
        var future = Fixtures.news("n4")
        future.publishedAt = .max
        #expect { try decide(.publishNews(future)) } throws: { ($0 as? BrokerError)?.error == "invalid_news" }
        var uncategorized = Fixtures.news("n5")
        uncategorized.category = ""
        expectRefused(.publishNews(uncategorized), .invalidNews(id: "n5", reason: "category is empty"))
    }

    @Test("timestamps from 1970 to 2100 in microseconds are accepted, at both ends")
    func timestampRangeEnds() throws {
        for timestamp in [FieldRules.timestampRange.lowerBound, 1_764_000_000_000_000, FieldRules.timestampRange.upperBound] {
            let tick = PriceTick(code: "600000", name: "", price: 1, volume: 0, prevClose: 1, timestamp: timestamp)
            #expect(try decide(.ingestTicks([FedTick(tick)])) == [.priceTicked(tick)])
            let bar = Self.bar { $0.start = timestamp }
            #expect(try decide(.ingestBar(bar)) == [.klineUpdated(bar)])
        }
    }

    @Test("length limits count Unicode scalars, so combining marks cannot stretch a short target")
    func lengthsCountScalars() {
        // 1 character of 64 scalars, and 64 Han characters of one scalar each.
        let stretched = "a" + String(repeating: "\u{301}", count: 64)
        #expect(FieldRules.identifierProblem(stretched, maxLength: 64) == "is 65 characters long, the limit is 64")
        #expect(FieldRules.identifierProblem(String(repeating: "贵", count: 64), maxLength: 64) == nil)
        expectRefused(
            .subscribe(clientID: "c1", subscription: Subscription(type: .strategy, target: stretched)),
            .invalidTarget(type: .strategy, target: stretched, reason: "is 65 characters long, the limit is 64"))
    }

    // MARK: Alerts

    @Test("a valid rule yields alert_rule_set; re-setting an identical armed rule yields nothing")
    func ruleAccepted() throws {
        #expect(try decide(.setAlertRule(Fixtures.rule("r9"))) == [.alertRuleSet(Fixtures.rule("r9"))])
        #expect(try decide(.setAlertRule(Fixtures.rule("r1"))).isEmpty)
        #expect(try decide(.setAlertRule(Fixtures.rule("r2"))) == [.alertRuleSet(Fixtures.rule("r2"))])
    }

    @Test("invalid rules are refused", arguments: [
        Fixtures.rule("r9", .above, .infinity), Fixtures.rule("r9", code: "bad code"), Fixtures.rule("r9", user: ""),
        Fixtures.rule("", user: "alice"), Fixtures.rule("r9", .changePercent, -1),
        // Thresholds no tick can cross: every price is above -5 and none is above 1e300.
        Fixtures.rule("r9", .above, -5), Fixtures.rule("r9", .below, -5), Fixtures.rule("r9", .above, 1e300),
        Fixtures.rule("r9", .below, 0), Fixtures.rule("r9", .changePercent, 0), Fixtures.rule("r9", .changePercent, 1e300),
    ])
    func badRules(rule: AlertRule) {
        #expect {
            try decide(.setAlertRule(rule))
        } throws: { error in
            (error as? BrokerError)?.error == "invalid_alert_rule"
        }
    }

    @Test("thresholds at the ends of what ticks can reach are accepted")
    func thresholdEnds() throws {
        for rule in [
            Fixtures.rule("r9", .above, FieldRules.priceRange.lowerBound), Fixtures.rule("r9", .below, FieldRules.priceRange.upperBound),
            Fixtures.rule("r9", .changePercent, 0.01), Fixtures.rule("r9", .changePercent, FieldRules.maxChangePercentThreshold),
        ] {
            #expect(try decide(.setAlertRule(rule)) == [.alertRuleSet(rule)])
        }
        #expect {
            try decide(.setAlertRule(Fixtures.rule("r9", .above, -5)))
        } throws: { error in
            (error as? BrokerError)?.details.contains("a price threshold must be a finite number from") == true
        }
    }

    @Test("a rule id owned by another user cannot be set")
    func ruleIDTaken() {
        expectRefused(.setAlertRule(Fixtures.rule("r1", user: "bob")), .alertRuleIDTaken(ruleID: "r1"))
    }

    @Test("removing a missing rule or another user's rule is refused")
    func removeValidation() throws {
        #expect(try decide(.removeAlertRule(ruleID: "r1", user: "alice")) == [.alertRuleRemoved(AlertRuleRemoved(ruleID: "r1", user: "alice"))])
        expectRefused(.removeAlertRule(ruleID: "r1", user: "bob"), .unknownAlertRule(ruleID: "r1"))
        expectRefused(.removeAlertRule(ruleID: "nope", user: "alice"), .unknownAlertRule(ruleID: "nope"))
    }

    @Test("triggering needs an armed rule")
    func triggerValidation() throws {
        #expect(try decide(.triggerAlert(ruleID: "r1", price: 12)) == [
            .alertTriggered(AlertTriggered(firing: Fixtures.rule("r1"), at: 12)),
        ])
        expectRefused(.triggerAlert(ruleID: "r2", price: 12), .alertAlreadyTriggered(ruleID: "r2"))
        expectRefused(.triggerAlert(ruleID: "nope", price: 12), .unknownAlertRule(ruleID: "nope"))
    }

    @Test("a user at the rule limit cannot add another rule")
    func tooManyRules() {
        #expect(throws: BrokerError.tooManyAlertRules(user: "alice", limit: 2)) {
            try Decider.decide(.setAlertRule(Fixtures.rule("r9")), state: Self.state, limits: Limits(maxAlertRulesPerUser: 2))
        }
    }

    // MARK: Signals

    @Test("replacing signals yields signals_replaced; an unchanged list yields nothing")
    func signalsAccepted() throws {
        let list = [Signal(code: "000001", name: "x")]
        #expect(try decide(.replaceSignals(strategy: "vw", signals: list)) == [.signalsReplaced(SignalsReplaced(strategy: "vw", signals: list, addedCodes: ["000001"]))])
        #expect(try decide(.replaceSignals(strategy: "vw", signals: [Signal(code: "600000", name: "600000")])).isEmpty)
    }

    @Test("signals_replaced names the codes the new list added, in list order")
    func signalsReplacedNamesTheAddedCodes() throws {
        // vw holds 600000.
        let list = [Signal(code: "300750", name: "a"), Signal(code: "600000", name: "b"), Signal(code: "000001", name: "c")]
        #expect(try decide(.replaceSignals(strategy: "vw", signals: list)) == [
            .signalsReplaced(SignalsReplaced(strategy: "vw", signals: list, addedCodes: ["300750", "000001"])),
        ])
        #expect(try decide(.replaceSignals(strategy: "vw", signals: [Signal(code: "600000", name: "renamed")])) == [
            .signalsReplaced(SignalsReplaced(strategy: "vw", signals: [Signal(code: "600000", name: "renamed")], addedCodes: [])),
        ])
        #expect(try decide(.replaceSignals(strategy: "new", signals: list)) == [
            .signalsReplaced(SignalsReplaced(strategy: "new", signals: list, addedCodes: ["300750", "600000", "000001"])),
        ])
    }

    @Test("bad strategy names, bad codes and duplicate codes are refused", arguments: [
        ("", [Signal(code: "1", name: "")]),
        ("vw", [Signal(code: "bad code", name: "")]),
        ("vw", [Signal(code: "1", name: ""), Signal(code: "1", name: "again")]),
        ("vw", [Signal(code: "1", name: "a\u{1B}[2J")]),
        ("vw", [Signal(code: "1", name: "", signalDate: "2026-12-03\u{0}")]),
        ("vw", [Signal(code: "1", name: "", signalDate: String(repeating: "9", count: 65))]),
        ("vw", [Signal(code: "1", name: "", reason: String(repeating: "r", count: 1_025))]),
    ])
    func badSignals(strategy: String, signals: [Signal]) {
        #expect {
            try decide(.replaceSignals(strategy: strategy, signals: signals))
        } throws: { error in
            (error as? BrokerError)?.error == "invalid_signals"
        }
    }

    // MARK: The shared log

    func logged(_ update: Command, own: Bool) throws(BrokerError) -> [Event] {
        try decide(.applyLogged(update, own: own, source: "redis-log:ticks:log", position: "7-0"))
    }

    static let advanced = Event.sourceAdvanced(SourceAdvanced(source: "redis-log:ticks:log", position: "7-0"))

    @Test("a logged update records how far the log was read, with what it changes or alone")
    func loggedUpdatesAdvanceTheLog() throws {
        let list = [Signal(code: "000001", name: "000001")]
        for own in [false, true] {
            #expect(try logged(.replaceSignals(strategy: "vw", signals: list), own: own) == [
                .signalsReplaced(SignalsReplaced(strategy: "vw", signals: list, addedCodes: ["000001"])), Self.advanced,
            ])
            // What the state holds already: nothing but the position.
            #expect(try logged(.replaceSignals(strategy: "vw", signals: [Signal(code: "600000", name: "600000")]), own: own) == [Self.advanced])
            #expect(try logged(.publishNews(Fixtures.news("n1")), own: own) == [Self.advanced])
            #expect(try logged(.publishNews(Fixtures.news("n2")), own: own) == [.newsPublished(Fixtures.news("n2")), Self.advanced])
            #expect(try logged(.removeAlertRule(ruleID: "gone", user: "alice"), own: own) == [Self.advanced])
            #expect(try logged(.removeAlertRule(ruleID: "r1", user: "bob"), own: own) == [Self.advanced])
            #expect(try logged(.removeAlertRule(ruleID: "r1", user: "alice"), own: own) == [
                .alertRuleRemoved(AlertRuleRemoved(ruleID: "r1", user: "alice")), Self.advanced,
            ])
            #expect(try logged(.setAlertRule(Fixtures.rule("r1")), own: own) == [Self.advanced])
        }
    }

    @Test("a fired rule set again by another node re-arms; this node's own echo of it does not")
    func loggedRuleEchoDoesNotRearm() throws {
        #expect(try logged(.setAlertRule(Fixtures.rule("r2")), own: false) == [.alertRuleSet(Fixtures.rule("r2")), Self.advanced])
        #expect(try logged(.setAlertRule(Fixtures.rule("r2")), own: true) == [Self.advanced])
        // Changed meanwhile on another node, so the log's later own version wins again.
        #expect(try logged(.setAlertRule(Fixtures.rule("r1", .above, 12)), own: true) == [.alertRuleSet(Fixtures.rule("r1", .above, 12)), Self.advanced])
    }

    @Test("another node's bars are ingested; this node's own are journaled already")
    func loggedBars() throws {
        let bar = Self.bar { _ in }
        #expect(try logged(.ingestBars([bar]), own: false) == [.klineUpdated(bar), Self.advanced])
        #expect(try logged(.ingestBars([bar]), own: true) == [Self.advanced])
    }

    @Test("the log's order decides a rule past the checks of a node taking a new one: another user's id, the user's count")
    func loggedRulesPassTheTakingNodesChecks() throws {
        let bobs = Fixtures.rule("r1", user: "bob")
        #expect(try logged(.setAlertRule(bobs), own: false) == [.alertRuleSet(bobs), Self.advanced])
        #expect(throws: BrokerError.alertRuleIDTaken(ruleID: "r1")) { try decide(.setAlertRule(bobs)) }
        let full = try Decider.decide(
            .applyLogged(.setAlertRule(Fixtures.rule("r9")), own: false, source: "redis-log:ticks:log", position: "7-0"), state: Self.state,
            limits: Limits(maxAlertRulesPerUser: 2))
        #expect(full == [.alertRuleSet(Fixtures.rule("r9")), Self.advanced])
    }

    @Test("another item under a news id this node holds is refused, not hidden; the same item is nothing new")
    func loggedNewsOfATakenID() throws {
        var other = Fixtures.news("n1")
        other.title = "another title"
        #expect(throws: BrokerError.duplicateNews(id: "n1")) { try logged(.publishNews(other), own: false) }
        #expect(try logged(.publishNews(Fixtures.news("n1")), own: false) == [Self.advanced])
    }

    @Test("another node's bars are taken when newer than this node's or an update of its latest, not again")
    func loggedBarsAreNotTakenTwice() throws {
        let latest = Self.bar { _ in }
        let state = projection([.klineUpdated(latest)])
        func logged(_ bar: KlineBar) throws(BrokerError) -> [Event] {
            try Decider.decide(.applyLogged(.ingestBars([bar]), own: false, source: "redis-log:ticks:log", position: "7-0"), state: state, limits: Self.limits)
        }
        #expect(try logged(latest) == [Self.advanced])
        #expect(try logged(Self.bar { $0.start -= 300_000_000 }) == [Self.advanced])
        let updated = Self.bar { $0.close = 10.1 }
        #expect(try logged(updated) == [.klineUpdated(updated), Self.advanced])
        let next = Self.bar { $0.start += 300_000_000 }
        #expect(try logged(next) == [.klineUpdated(next), Self.advanced])
    }

    @Test("a logged update is checked as the same update from anywhere; the log carries no sessions or ticks")
    func loggedUpdatesAreChecked() {
        #expect(throws: BrokerError.invalidAlertRule(ruleID: "r9", reason: "has threshold nan; it must be a finite number")) {
            try logged(.setAlertRule(Fixtures.rule("r9", .above, .nan)), own: false)
        }
        for command: Command in [.ingestTicks([]), .expireSession(clientID: "gone"), .applyLogged(.publishNews(Fixtures.news("n3")), own: false, source: "s", position: "1-0")] {
            #expect(throws: BrokerError.self) { try logged(command, own: false) }
        }
        expectRefused(
            .applyLogged(.publishNews(Fixtures.news("n3")), own: false, source: "", position: "1-0"),
            .invalidRequest(field: "source", reason: "a logged update needs a source name and a position"))
    }

    @Test("logged updates of one log are decided one after the other")
    func loggedUpdatesShareTheLogsKey() {
        let keys = Command.applyLogged(.publishNews(Fixtures.news("n3")), own: false, source: "redis-log:x", position: "1-0").conflictKeys
        #expect(keys == ["news:n3", "source:redis-log:x"])
    }

    // MARK: Errors

    @Test("every error has a snake_case code and a non-empty details hint")
    func errorsAreDescribed() {
        let errors: [BrokerError] = [
            .unknownClient(clientID: "c"), .tooManySubscriptions(limit: 1), .notSubscribed(Fixtures.sub(.stock, "1")),
            .invalidTarget(type: .stock, target: String(repeating: "y", count: 500), reason: "is bad"),
        ]
        for error in errors {
            #expect(error.error.allSatisfy { $0.isLowercase || $0 == "_" })
            #expect(!error.details.isEmpty)
            #expect(error.details.count < 300)
        }
    }
}
