import Testing
@testable import BrokerClient

/// How many subscription requests go out at a time, and when they wait.
struct SubscriptionPacerTests {
    private let stocks = (0..<5).map { Subscription.stock(String(600_000 + $0)) }

    @Test func atMostAWindowIsUnansweredAtATime() {
        var pacer = SubscriptionPacer(window: 2, retryDelay: .seconds(1))
        #expect(pacer.enqueue(stocks.map(ClientCommand.subscribe)) == [.subscribe(stocks[0]), .subscribe(stocks[1])])
        #expect(pacer.received(.subscribed(stocks[0], seq: 3)).send == [.subscribe(stocks[2])])
        #expect(pacer.received(.unsubscribed(stocks[4], seq: 4)).send == [.subscribe(stocks[3])])
        #expect(pacer.received(.error(ServerError(error: "not_subscribed", details: ""))).send == [.subscribe(stocks[4])])
        #expect(pacer.unanswered == 2)
    }

    @Test func aLaterRequestForASubscriptionReplacesAQueuedOne() {
        var pacer = SubscriptionPacer(window: 1, retryDelay: .seconds(1))
        _ = pacer.enqueue([.subscribe(stocks[0])])
        _ = pacer.enqueue([.subscribe(stocks[1]), .subscribe(stocks[2])])
        _ = pacer.enqueue([.unsubscribe(stocks[1])])
        #expect(pacer.queued == [.subscribe(stocks[2]), .unsubscribe(stocks[1])])
    }

    @Test func errorsTheBrokerSendsUnpromptedAnswerNoRequest() {
        var pacer = SubscriptionPacer(window: 1, retryDelay: .seconds(1))
        _ = pacer.enqueue([.subscribe(stocks[0]), .subscribe(stocks[1])])
        for code in ["resume_failed", "resume_incomplete", "invalid_since", "subscription_dropped"] {
            #expect(pacer.received(.error(ServerError(error: code, details: ""))).send.isEmpty)
        }
        #expect(pacer.received(.pong).send.isEmpty)
        #expect(pacer.unanswered == 1)
    }

    @Test func aRateLimitRefusalHoldsEverythingBackUntilTheRetry() {
        var pacer = SubscriptionPacer(window: 4, retryDelay: .milliseconds(1_500))
        _ = pacer.enqueue(stocks.map(ClientCommand.subscribe))
        let refused = pacer.received(.error(ServerError(error: "rate_limited", details: "")))
        #expect(refused.send.isEmpty)
        #expect(refused.retryAfter == .milliseconds(1_500))
        for _ in 1..<4 {
            let answered = pacer.received(.error(ServerError(error: "rate_limited", details: "")))
            #expect(answered.send.isEmpty && answered.retryAfter == nil, "held back, and one wait is enough")
        }
        #expect(pacer.enqueue([.unsubscribe(stocks[0])]).isEmpty)
        #expect(pacer.retry([.subscribe(stocks[1])]) == [.subscribe(stocks[4]), .unsubscribe(stocks[0])])
        #expect(pacer.queued == [.subscribe(stocks[1])])
    }

    @Test func eachRefusalHalvesTheWindowUntilTheNextConnection() {
        // Replies outrun the broker's bucket: a window larger than what it accepts per round
        // would collect a strike per refusal beyond that, round after round, until a kick.
        var pacer = SubscriptionPacer(window: 10, retryDelay: .seconds(1))
        let refused = ServerError(error: "rate_limited", details: "")
        for expected in [5, 2, 1, 1] {
            _ = pacer.received(.error(refused))
            _ = pacer.retry([])
            #expect(pacer.currentWindow == expected)
        }
        pacer.reset()
        #expect(pacer.currentWindow == 10)
    }

    @Test func aNewConnectionStartsEmpty() {
        var pacer = SubscriptionPacer(window: 1, retryDelay: .seconds(1))
        _ = pacer.enqueue(stocks.map(ClientCommand.subscribe))
        _ = pacer.received(.error(ServerError(error: "rate_limited", details: "")))
        pacer.reset()
        #expect(pacer == SubscriptionPacer(window: 1, retryDelay: .seconds(1)))
    }
}
