import Testing
@testable import BrokerClient

/// The `since` of a resume: the highest seq of a push or subscription reply seen; a resumed connect does not move it.
struct ResumePositionTests {
    private func news(seq: UInt64) -> BrokerMessage {
        .newsUpdate(Delivery(
            data: NewsItem(id: "n\(seq)", title: "t", summary: "", url: "", codes: [], category: "c", publishedAt: 0),
            seq: seq, timestamp: "", subscription: .news("all")))
    }

    private func prices(seq: UInt64) -> BrokerMessage {
        .priceUpdate(PriceUpdate(entries: [], seq: seq, timestamp: "", subscription: .strategy("s")))
    }

    @Test func aFreshSessionStartsAtItsConnect() {
        var position = ResumePosition()
        position.observe(.connected(Connected(clientID: "c", seq: 100, resumed: false)))
        #expect(position.since == 100)
    }

    @Test func aFreshSessionAfterARefusedResumeStartsOver() {
        var position = ResumePosition(since: 50)
        position.observe(.connected(Connected(clientID: "c2", seq: 300, resumed: false)))
        #expect(position.since == 300)
    }

    @Test func aResumedSessionKeepsItsPositionUntilTheReplayArrives() {
        var position = ResumePosition(since: 50)
        position.observe(.connected(Connected(clientID: "c", seq: 300, resumed: true)))
        #expect(position.since == 50)
        position.observe(news(seq: 120))
        #expect(position.since == 120)
    }

    @Test func barsNewsAlertsAndCustomPushesAdvanceIt() {
        var position = ResumePosition(since: 1)
        position.observe(news(seq: 5))
        #expect(position.since == 5)
        position.observe(.klineUpdate(Delivery(
            data: KlineBar(code: "600519", period: "1m", open: 1, high: 1, low: 1, close: 1, volume: 0, start: 0, closed: true),
            seq: 6, timestamp: "", subscription: .stock("600519"))))
        #expect(position.since == 6)
        position.observe(.alert(Delivery(
            data: AlertNotice(ruleID: "r", code: "600519", condition: nil, threshold: nil, price: 1, user: "u", triggeredAt: 0),
            seq: 7, timestamp: "", subscription: nil)))
        #expect(position.since == 7)
        position.observe(.other(type: "volume_spike", seq: 8, json: "{}"))
        #expect(position.since == 8)
    }

    @Test func priceUpdatesAdvanceItToo() {
        // The broker never lets a merged price update overtake an older news item (OutboxQueue).
        var position = ResumePosition(since: 10)
        position.observe(prices(seq: 500))
        #expect(position.since == 500)
    }

    @Test func subscriptionRepliesAdvanceItToTheSeqOfTheirChange() {
        // Every push before the reply has arrived: a resume from the connect would replay news
        // published before the news subscription.
        var position = ResumePosition(since: 10)
        position.observe(.subscribed(.news("all"), seq: 14))
        #expect(position.since == 14)
        position.observe(.unsubscribed(.stock("600519"), seq: 17))
        #expect(position.since == 17)
        position.observe(.subscribed(.stock("000001"), seq: 12))
        #expect(position.since == 17)
    }

    @Test func aSubscriptionReplyWithoutASeqDoesNotMoveIt() {
        var position = ResumePosition(since: 10)
        position.observe(.subscribed(.news("all"), seq: nil))
        #expect(position.since == 10)
    }

    @Test func otherRepliesDoNotMoveIt() {
        var position = ResumePosition(since: 10)
        position.observe(.error(ServerError(error: "rate_limited", details: "")))
        position.observe(.pong)
        #expect(position.since == 10)
    }

    @Test func itNeverGoesBack() {
        var position = ResumePosition(since: 10)
        position.observe(news(seq: 20))
        position.observe(news(seq: 15))
        #expect(position.since == 20)
    }
}
