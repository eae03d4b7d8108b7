import Testing
@testable import BrokerClient

/// How many subscription requests go out at a time, which reply answers which, and when they wait.
struct SubscriptionPacerTests {
    private let stocks = (0..<5).map { Subscription.stock(String(600_000 + $0)) }
    private let rateLimited = BrokerMessage.error(ServerError(error: "rate_limited", details: ""))

    @Test func atMostAWindowIsUnansweredAtATime() {
        var pacer = SubscriptionPacer(window: 2, retryDelay: .seconds(1))
        #expect(pacer.enqueue(stocks.map(ClientCommand.subscribe)).map(\.command) == [.subscribe(stocks[0]), .subscribe(stocks[1])])
        #expect(pacer.received(.subscribed(stocks[0], seq: 3), requestID: 1).send.map(\.command) == [.subscribe(stocks[2])])
        #expect(pacer.received(.subscribed(stocks[1], seq: 4), requestID: 2).send.map(\.command) == [.subscribe(stocks[3])])
        #expect(pacer.received(.error(ServerError(error: "not_subscribed", details: "")), requestID: 3).send.map(\.command)
            == [.subscribe(stocks[4])])
        #expect(pacer.inFlight.count == 2)
    }

    @Test func requestsAreNumberedFromOneOnEachConnection() {
        var pacer = SubscriptionPacer(window: 2, retryDelay: .seconds(1))
        #expect(pacer.enqueue(stocks.prefix(3).map(ClientCommand.subscribe)).map(\.id) == [1, 2])
        #expect(pacer.received(.subscribed(stocks[0], seq: 3), requestID: 1).send.map(\.id) == [3])
        pacer.reset()
        #expect(pacer.enqueue([.subscribe(stocks[0])]).map(\.id) == [1])
    }

    @Test func aReplyAnswersTheRequestItsIDNames() {
        var pacer = SubscriptionPacer(window: 3, retryDelay: .seconds(1))
        _ = pacer.enqueue(stocks.prefix(3).map(ClientCommand.subscribe))
        _ = pacer.received(.subscribed(stocks[1], seq: 3), requestID: 2)
        _ = pacer.received(.error(ServerError(error: "invalid_target", details: "")), requestID: 3)
        #expect(pacer.inFlight.map(\.command) == [.subscribe(stocks[0])])
    }

    @Test func anErrorAnsweringAnotherMessageFreesNoRoom() {
        var pacer = SubscriptionPacer(window: 1, retryDelay: .seconds(1))
        _ = pacer.enqueue([.subscribe(stocks[0]), .subscribe(stocks[1])])
        // A refused alert request, and an id this pacer never gave.
        let refusedAlert = BrokerMessage.error(ServerError(error: "invalid_threshold", details: ""))
        #expect(pacer.received(refusedAlert, requestID: IdentifiedCommand.untrackedID).send.isEmpty)
        #expect(pacer.received(refusedAlert, requestID: 99).send.isEmpty)
        #expect(pacer.inFlight.map(\.command) == [.subscribe(stocks[0])])
    }

    @Test func withoutIDsRepliesAnswerTheOldestRequestAsABrokerOlderThanIDsSendsThem() {
        var pacer = SubscriptionPacer(window: 3, retryDelay: .seconds(1))
        _ = pacer.enqueue(stocks.prefix(3).map(ClientCommand.subscribe))
        _ = pacer.received(.subscribed(stocks[0], seq: 3), requestID: nil)
        _ = pacer.received(.error(ServerError(error: "invalid_target", details: "")), requestID: nil)
        #expect(pacer.inFlight.map(\.command) == [.subscribe(stocks[2])])
        #expect(pacer.received(.unsubscribed(stocks[2], seq: 4), requestID: nil).send.isEmpty)
        #expect(pacer.inFlight.isEmpty)
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
        for code in ["resume_failed", "resume_incomplete", "invalid_since", "invalid_price_interval", "subscription_dropped"] {
            #expect(pacer.received(.error(ServerError(error: code, details: "")), requestID: nil).send.isEmpty)
        }
        #expect(pacer.received(.pong, requestID: nil).send.isEmpty)
        #expect(pacer.inFlight.count == 1)
    }

    @Test func aRateLimitRefusalHoldsEverythingBackUntilTheRetry() {
        var pacer = SubscriptionPacer(window: 4, retryDelay: .milliseconds(1_500))
        _ = pacer.enqueue(stocks.map(ClientCommand.subscribe))
        let refused = pacer.received(rateLimited, requestID: 1)
        #expect(refused.send.isEmpty)
        #expect(refused.retryAfter == .milliseconds(1_500))
        for id: UInt64 in 2...4 {
            let answered = pacer.received(rateLimited, requestID: id)
            #expect(answered.send.isEmpty && answered.retryAfter == nil, "held back, and one wait is enough")
        }
        #expect(pacer.enqueue([.unsubscribe(stocks[0])]).isEmpty)
        #expect(pacer.retry([.subscribe(stocks[1])]).map(\.command) == [.subscribe(stocks[4]), .unsubscribe(stocks[0])])
        #expect(pacer.queued == [.subscribe(stocks[1])])
    }

    @Test func theRetryAfterARefusalSendsNoRequestStillInFlight() {
        var pacer = SubscriptionPacer(window: 8, retryDelay: .seconds(1))
        _ = pacer.enqueue(stocks.prefix(3).map(ClientCommand.subscribe))
        _ = pacer.received(rateLimited, requestID: 2)
        // The broker holds none of them yet, but only the refused one needs asking again.
        let retried = pacer.retry(stocks.prefix(3).map(ClientCommand.subscribe))
        #expect(retried == [IdentifiedCommand(command: .subscribe(stocks[1]), id: 4)])
        #expect(pacer.inFlight.map(\.id) == [1, 3, 4])
    }

    @Test func aRefusedPingHoldsBackButAnswersNoRequest() {
        var pacer = SubscriptionPacer(window: 2, retryDelay: .seconds(1))
        _ = pacer.enqueue(stocks.prefix(2).map(ClientCommand.subscribe))
        #expect(pacer.received(rateLimited, requestID: IdentifiedCommand.untrackedID).retryAfter == .seconds(1))
        #expect(pacer.retry(stocks.prefix(2).map(ClientCommand.subscribe)).isEmpty, "both still in flight")
        #expect(pacer.inFlight.count == 2)
    }

    @Test func eachRefusalHalvesTheWindowUntilTheNextConnection() {
        // Replies outrun the broker's bucket: a window larger than what it accepts per round
        // would collect a strike per refusal beyond that, round after round, until a kick.
        var pacer = SubscriptionPacer(window: 10, retryDelay: .seconds(1))
        for expected in [5, 2, 1, 1] {
            _ = pacer.received(rateLimited, requestID: nil)
            _ = pacer.retry([])
            #expect(pacer.currentWindow == expected)
        }
        pacer.reset()
        #expect(pacer.currentWindow == 10)
    }

    @Test func aNewConnectionStartsEmpty() {
        var pacer = SubscriptionPacer(window: 1, retryDelay: .seconds(1))
        _ = pacer.enqueue(stocks.map(ClientCommand.subscribe))
        _ = pacer.received(rateLimited, requestID: 1)
        pacer.reset()
        #expect(pacer == SubscriptionPacer(window: 1, retryDelay: .seconds(1)))
    }

    @Test func subscribesOfOneKindWaitingTogetherGoOutAsOneRequestUpToTheBatchLimit() {
        var pacer = SubscriptionPacer(window: 2, retryDelay: .seconds(1), batchLimit: 3)
        let sent = pacer.enqueue([.subscribe(.news())] + stocks.map(ClientCommand.subscribe) + [.subscribe(.alerts), .unsubscribe(.market("sh"))])
        #expect(sent.map(\.command) == [.subscribe(.news()), .subscribeAll(Array(stocks.prefix(3)))], "one of a kind goes alone")
        #expect(pacer.queued == [.subscribe(stocks[3]), .subscribe(stocks[4]), .subscribe(.alerts), .unsubscribe(.market("sh"))])
        // The batch is answered by its last confirmation, each echoing its id.
        #expect(pacer.received(.subscribed(stocks[0], seq: 3), requestID: 2).send.isEmpty)
        #expect(pacer.received(.subscribed(stocks[1], seq: 3), requestID: 2).send.isEmpty)
        #expect(pacer.received(.subscribed(stocks[2], seq: 3), requestID: 2).send.map(\.command) == [.subscribeAll([stocks[3], stocks[4]])])
        #expect(pacer.received(.subscribed(.news(), seq: 4), requestID: 1).send.map(\.command) == [.subscribe(.alerts)], "alerts never batch")
    }

    @Test func aRefusedBatchIsAskedForAgainOneSubscriptionPerRequest() {
        var pacer = SubscriptionPacer(window: 10, retryDelay: .seconds(1), batchLimit: 10)
        _ = pacer.enqueue(stocks.prefix(3).map(ClientCommand.subscribe))
        #expect(pacer.inFlight.map(\.command) == [.subscribeAll(Array(stocks.prefix(3)))])
        // All or none: one target the token does not allow refuses the batch, not the others.
        let refusal = pacer.received(.error(ServerError(error: "not_authorized", details: "")), requestID: 1)
        #expect(refusal.refused == nil, "no subscription of it is given up")
        #expect(refusal.askedAlone, "the batch's error answers nothing the user asked")
        #expect(refusal.send.map(\.command) == stocks.prefix(3).map(ClientCommand.subscribe))
        #expect(refusal.send.map(\.id) == [2, 3, 4])
        // Asked for again later on this connection, still alone; a new connection batches again.
        let single = pacer.received(.error(ServerError(error: "not_authorized", details: "")), requestID: 2)
        #expect(single.refused == .subscribe(stocks[0]) && !single.askedAlone)
        #expect(pacer.enqueue([.subscribe(stocks[0]), .subscribe(stocks[4])]).map(\.command) == [.subscribe(stocks[0]), .subscribe(stocks[4])])
        pacer.reset()
        #expect(pacer.enqueue(stocks.prefix(2).map(ClientCommand.subscribe)).map(\.command) == [.subscribeAll(Array(stocks.prefix(2)))])
    }

    @Test func aRateLimitedBatchIsBatchedAgainAtTheRetryUnlessStillInFlight() {
        var pacer = SubscriptionPacer(window: 4, retryDelay: .seconds(1), batchLimit: 2)
        _ = pacer.enqueue(stocks.prefix(4).map(ClientCommand.subscribe))
        let refused = pacer.received(rateLimited, requestID: 1)
        #expect(refused.retryAfter == .seconds(1) && refused.send.isEmpty)
        // The window is halved to 2. The second batch (2, 3) is still in flight: its subscribes
        // are not asked for twice.
        let again = pacer.retry(stocks.prefix(4).map(ClientCommand.subscribe))
        #expect(again.map(\.command) == [.subscribeAll([stocks[0], stocks[1]])])
        #expect(pacer.queued.isEmpty)
    }
}
