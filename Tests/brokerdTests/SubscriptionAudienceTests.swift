import Broker
import HummingbirdCore
import Testing

@testable import brokerd

/// The rows of `GET /api/websocket/subscriptions`, from an index's map and who is connected.
struct SubscriptionAudienceTests {
    private let subscribers: [Subscription: Set<String>] = [
        Subscription(type: .strategy, target: "volume_wave"): ["c1", "c2", "c3"],
        Subscription(type: .stock, target: "600519"): ["c1", "c4"],
        Subscription(type: .stock, target: "000001"): ["c2", "c3"],
        Subscription(type: .news, target: "all"): ["c4"],
        Subscription(type: .market, target: "sh"): ["c2", "c5", "c6", "c7"],
    ]
    private let connected: Set<String> = ["c1", "c2", "c4"]

    private func rows(_ query: SubscriptionAudience.Query) -> (rows: [SubscriptionAudience.Row], matched: Int) {
        SubscriptionAudience.rows(subscribers, matching: query, isConnected: connected.contains)
    }

    @Test func everySubscriptionMostSubscribedFirstThenByTypeAndTarget() {
        let (rows, matched) = rows(SubscriptionAudience.Query())
        #expect(matched == 5)
        #expect(rows.map { "\($0.type):\($0.target)" } == ["market:sh", "strategy:volume_wave", "stock:000001", "stock:600519", "news:all"])
        #expect(rows.map(\.subscribers) == [4, 3, 2, 2, 1])
        // Gone sessions hold their subscriptions but are not connected.
        #expect(rows.map(\.connected) == [1, 2, 1, 2, 1])
        #expect(rows.allSatisfy { $0.clients == nil }, "ids only when a target is named")
    }

    @Test func aTypeATargetAndALimitNarrowIt() {
        let stocks = rows(SubscriptionAudience.Query(type: .stock))
        #expect(stocks.rows.map(\.target) == ["000001", "600519"] && stocks.matched == 2)

        let one = rows(SubscriptionAudience.Query(type: .strategy, target: "volume_wave"))
        #expect(one.rows == [.init(type: "strategy", target: "volume_wave", subscribers: 3, connected: 2, clients: ["c1", "c2", "c3"])])

        let limited = rows(SubscriptionAudience.Query(limit: 2))
        #expect(limited.rows.map(\.target) == ["sh", "volume_wave"] && limited.matched == 5, "count says how many matched")

        #expect(rows(SubscriptionAudience.Query(type: .alerts)).matched == 0)
        #expect(rows(SubscriptionAudience.Query(target: "nothing")).rows.isEmpty)
    }

    /// Another node's subscribers of the same target are added: sessions and connections summed,
    /// client ids joined, and the rows ranked again.
    @Test func otherNodesRowsOfOneTargetAreSummedAndRankedAgain() {
        let here = [
            SubscriptionAudience.Row(type: "stock", target: "sh", subscribers: 1, connected: 1, clients: ["c1"]),
            SubscriptionAudience.Row(type: "market", target: "sh", subscribers: 2, connected: 1, clients: ["c2", "c5"]),
        ]
        let nodeB = [SubscriptionAudience.Row(type: "stock", target: "sh", subscribers: 2, connected: 2, clients: ["b1", "b0"])]
        let nodeC = [SubscriptionAudience.Row(type: "news", target: "sh", subscribers: 1, connected: 0, clients: ["x9"])]
        let merged = SubscriptionAudience.merged(here, [nodeB, nodeC])
        #expect(merged.map { "\($0.type):\($0.subscribers):\($0.connected)" } == ["stock:3:3", "market:2:1", "news:1:0"])
        #expect(merged.first?.clients == ["b0", "b1", "c1"])
        #expect(SubscriptionAudience.merged([], [nodeB]) == nodeB, "none here: the other node's")
        #expect(SubscriptionAudience.merged(here, []) == [here[1], here[0]].sorted { $0.subscribers > $1.subscribers })
    }

    @Test func countsFromAForgedAnswerAreSummedWithoutOverflowing() {
        let here = [SubscriptionAudience.Row(type: "stock", target: "sh", subscribers: 1, connected: 1, clients: nil)]
        let forged = [SubscriptionAudience.Row(type: "stock", target: "sh", subscribers: Int.max, connected: Int.min, clients: nil)]
        let merged = SubscriptionAudience.merged(here, [forged, forged])
        #expect(merged.map { "\($0.subscribers) \($0.connected)" } == ["\(Int.max) \(Int.min)"])
    }

    @Test func theQueryIsReadFromTheURLAndBadValuesAreRefused() throws {
        #expect(try SubscriptionAudience.query(URI("/api/websocket/subscriptions")) == SubscriptionAudience.Query())
        let full = try SubscriptionAudience.query(URI("/api/websocket/subscriptions?type=news&target=all&limit=7"))
        #expect(full == SubscriptionAudience.Query(type: .news, target: "all", limit: 7))
        for (query, error) in [
            ("type=stocks", "invalid_type"), ("type=", "invalid_type"), ("target=", "invalid_target"), ("limit=0", "invalid_limit"),
            ("limit=100001", "invalid_limit"), ("limit=ten", "invalid_limit"), ("limit=-1", "invalid_limit"),
        ] {
            do {
                let accepted = try SubscriptionAudience.query(URI("/api/websocket/subscriptions?\(query)"))
                Issue.record("\(query) was taken as \(accepted)")
            } catch let refusal as APIError {
                #expect(refusal.error == error && refusal.status == .badRequest, "\(query): \(refusal.details)")
            }
        }
    }
}
