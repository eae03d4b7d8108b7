import Foundation
import Journal
import Testing

@testable import Broker

/// The audit trail's filters: by client (with its user's alerts), by code (with tagged news and the
/// rules on it), by kind; and the cheap row check never drops an event the full check would keep.
@Suite struct EventFilterTests {
    private static let stream: [Event] = [
        Fixtures.connected("client_a", user: "alice"),
        Fixtures.connected("client_anon"),
        Fixtures.subscribed("client_a", .stock, "600519"),
        Fixtures.subscribed("client_anon", .news, "all"),
        .alertRuleSet(Fixtures.rule("r1", user: "alice", code: "600519")),
        .alertRuleSet(Fixtures.rule("r2", user: "client_anon", code: "000001")),
        .alertRuleSet(Fixtures.rule("r3", user: "carol", code: "600519")),
        .priceTicked(Fixtures.tick("600519", price: 12)),
        .priceTicked(Fixtures.tick("000001", price: 9)),
        .alertTriggered(AlertTriggered(ruleID: "r1", user: "alice", code: "600519", price: 12)),
        .newsPublished(NewsItem(id: "n1", title: "t", summary: "", url: "", codes: ["600519"], category: "company", publishedAt: 0)),
        .newsPublished(Fixtures.news("n2")),
        Fixtures.signals("volume_wave", ["000001", "600519"]),
        Fixtures.signals("breakout", ["000001"]),
        .alertRuleSet(Fixtures.rule("r3", user: "carol", code: "000001")),
        .alertRuleRemoved(AlertRuleRemoved(ruleID: "r3", user: "carol")),
        .alertRuleRemoved(AlertRuleRemoved(ruleID: "r1", user: "alice")),
        Fixtures.unsubscribed("client_a", .stock, "600519"),
        Fixtures.disconnected("client_a"),
        .sessionExpired(SessionExpired(clientID: "client_a")),
    ]

    /// 1-based positions in `stream` of the events the filter selects.
    private func selected(_ filter: EventFilter, in stream: [Event] = Self.stream) -> [Int] {
        var filter = filter
        var positions: [Int] = []
        for (index, event) in stream.enumerated() {
            let cheap = filter.mayMatch(kind: event.kind.rawValue, key: event.key)
            let full = filter.matches(event)
            #expect(cheap || !full, "mayMatch dropped event \(index + 1) that matches")
            if full { positions.append(index + 1) }
        }
        return positions
    }

    /// The client's users (a user's sessions) as learned from the whole journal first, as `journal events` does.
    private func learned(_ filter: EventFilter, from stream: [Event] = Self.stream) -> EventFilter {
        var filter = filter
        for event in stream where filter.learningQuery?.kinds.contains(event.kind) == true { filter.learn(event) }
        return filter
    }

    @Test func aClientsEventsIncludeItsSessionAndItsUsersAlerts() {
        #expect(selected(learned(EventFilter(clientID: "client_a"))) == [1, 3, 5, 10, 17, 18, 19, 20])
    }

    @Test func anAnonymousClientsAlertsAreThoseOwnedByItsSessionID() {
        #expect(selected(learned(EventFilter(clientID: "client_anon"))) == [2, 4, 6])
    }

    @Test func aCodesEventsIncludeTicksTaggedNewsRulesOnItSignalsAndStockSubscriptions() {
        // r3 moved from 600519 to 000001 (15) before it was removed (16): that removal is not about 600519.
        #expect(selected(EventFilter(code: "600519")) == [3, 5, 7, 8, 10, 11, 13, 17, 18])
        #expect(selected(EventFilter(code: "000001")) == [6, 9, 13, 14, 15, 16])
    }

    @Test func kindsNarrowAndCombineWithClientAndCode() {
        #expect(selected(EventFilter(kinds: [.priceTicked])) == [8, 9])
        #expect(selected(EventFilter(kinds: [.alertRuleSet, .alertRuleRemoved], code: "600519")) == [5, 7, 17])
        #expect(selected(learned(EventFilter(kinds: [.alertTriggered], clientID: "client_a"))) == [10])
        #expect(selected(learned(EventFilter(clientID: "client_a", code: "600519"))) == [3, 5, 10, 17, 18])
    }

    @Test func theJournalScanIsNarrowedToWhatCanMatch() {
        let client = learned(EventFilter(clientID: "client_a"))
        #expect(client.scanKeys == ["client_a", "alice"])
        #expect(client.scanKinds == EventFilter.clientKinds.union(EventFilter.alertKinds))
        let code = EventFilter(kinds: [.priceTicked], code: "600519")
        #expect(code.scanKeys == nil)
        #expect(code.scanKinds == [.priceTicked, .alertRuleSet, .alertRuleRemoved])
        #expect(EventFilter().scanKinds == nil && EventFilter().scanKeys == nil)
    }

    /// Alice's two sessions (one resumed), Bob's, and alerts of both.
    private static let users: [Event] = [
        Fixtures.connected("client_a1", user: "alice"),
        Fixtures.connected("client_b", user: "bob"),
        Fixtures.subscribed("client_a1", .stock, "600519"),
        Fixtures.subscribed("client_b", .stock, "600519"),
        Fixtures.disconnected("client_a1"),
        Fixtures.connected("client_a2", user: "alice"),
        .alertRuleSet(Fixtures.rule("r1", user: "alice", code: "600519")),
        .alertRuleSet(Fixtures.rule("r2", user: "bob", code: "600519")),
        .alertTriggered(AlertTriggered(ruleID: "r1", user: "alice", code: "600519", price: 12)),
        Fixtures.connected("client_a1", user: "alice"),
        Fixtures.unsubscribed("client_a1", .stock, "600519"),
        Fixtures.subscribed("client_a2", .news, "all"),
        .sessionExpired(SessionExpired(clientID: "client_a2")),
        .sessionExpired(SessionExpired(clientID: "client_b")),
    ]

    /// `selected` over `users`, the filter learned from the whole of it first.
    private func selectedOfUsers(_ filter: EventFilter) -> [Int] {
        selected(learned(filter, from: Self.users), in: Self.users)
    }

    @Test func aUsersEventsAreThoseOfEverySessionItConnectedAsAndItsAlerts() {
        #expect(selectedOfUsers(EventFilter(user: "alice")) == [1, 3, 5, 6, 7, 9, 10, 11, 12, 13])
        #expect(selectedOfUsers(EventFilter(user: "bob")) == [2, 4, 8, 14])
        #expect(selectedOfUsers(EventFilter(user: "carol")).isEmpty)
        #expect(selectedOfUsers(EventFilter(kinds: [.clientConnected], user: "alice")) == [1, 6, 10])
        #expect(selectedOfUsers(EventFilter(clientID: "client_a2", user: "alice")) == [6, 7, 9, 12, 13])
        #expect(selectedOfUsers(EventFilter(clientID: "client_b", user: "alice")).isEmpty)
        #expect(selectedOfUsers(EventFilter(code: "600519", user: "alice")) == [3, 7, 9, 11])
        // Only the user's sessions' rows and the user's alerts are read.
        var filter = EventFilter(user: "alice")
        for event in Self.users where event.kind == .clientConnected { filter.learn(event) }
        #expect(filter.scanKeys == ["client_a1", "client_a2", "alice"])
        #expect(filter.scanKinds == EventFilter.clientKinds.union(EventFilter.alertKinds))
    }

    @Test func aLineShowsSeqTimeKindKeyAndTheDecodedPayload() throws {
        let recorded = RecordedEvent(seq: 7, timestamp: 1_795_442_400_123_456, event: .priceTicked(Fixtures.tick("600519", price: 12)))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let line = String(decoding: try encoder.encode(EventLine(recorded)), as: UTF8.self)
        #expect(line == #"{"key":"600519","kind":"price_ticked","payload":{"code":"600519","name":"X","prev_close":10,"price":12,"timestamp":0,"volume":1},"seq":7,"ts":"2026-11-23T14:00:00.123456Z"}"#)

        let undecodable = JournalRecord(seq: 8, timestamp: 0, kind: 99, key: nil, payload: [1, 2], hash: [])
        let bad = String(decoding: try encoder.encode(EventLine(undecodable)), as: UTF8.self)
        #expect(bad.contains(#""kind":99"#) && bad.contains(#""payload_hex":"0102""#) && bad.contains(#""error":"unknown_kind"#))
    }
}
