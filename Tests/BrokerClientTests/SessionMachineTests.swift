import Testing
@testable import BrokerClient

/// What the client does after a connect reply, after a loss, and when the user changes subscriptions.
struct SessionMachineTests {
    let wanted: [Subscription] = [.strategy("volume_wave"), .news("all")]

    private func machine(maximumAttempts: Int? = 3) -> SessionMachine {
        SessionMachine(
            subscriptions: wanted,
            schedule: ReconnectSchedule(initialDelay: .seconds(2), jitter: 0, maximumAttempts: maximumAttempts))
    }

    /// A machine whose first session `client_1` opened at seq 10 and confirmed its subscriptions.
    private func machineWithOpenSession() -> SessionMachine {
        var session = machine()
        _ = session.connect(queryToken: nil)
        _ = session.received(.connected(Connected(clientID: "client_1", seq: 10, resumed: false)))
        for subscription in wanted { _ = session.received(.subscribed(subscription, seq: 11)) }
        return session
    }

    @Test func theFirstConnectIsFreshAndSubscribesEverythingWanted() {
        var session = machine()
        #expect(session.connect(queryToken: nil) == ConnectTarget(resume: nil, queryToken: nil))
        let reaction = session.received(.connected(Connected(clientID: "client_1", seq: 10, resumed: false)))
        #expect(reaction.state == .connected(clientID: "client_1"))
        #expect(reaction.commands.map(\.command) == [.subscribe(.news("all")), .subscribe(.strategy("volume_wave"))])
        #expect(!reaction.forward)
    }

    @Test func aReconnectResumesTheLastSessionFromTheLastSeqSeen() {
        var session = machineWithOpenSession()
        _ = session.received(.newsUpdate(Delivery(
            data: NewsItem(id: "n", title: "t", summary: "", url: "", codes: [], category: "c", publishedAt: 0),
            seq: 25, timestamp: "", subscription: .news("all"))))
        _ = session.connectionLost(random: 0.5)
        #expect(session.connect(queryToken: "jwt") == ConnectTarget(resume: ("client_1", 25), queryToken: "jwt"))
    }

    @Test func aReconnectBringsTheResumeTokenOfTheLastSessionOpened() {
        var session = machine()
        _ = session.connect(queryToken: nil)
        _ = session.received(.connected(Connected(clientID: "client_1", seq: 10, resumed: false, resumeToken: "aa11")))
        _ = session.connectionLost(random: 0.5)
        #expect(session.connect(queryToken: nil) == ConnectTarget(resume: ("client_1", 10), queryToken: nil, resumeToken: "aa11"))
        // Refused: a fresh session with its own token.
        _ = session.received(.connected(Connected(clientID: "client_2", seq: 20, resumed: false, resumeToken: "bb22")))
        _ = session.connectionLost(random: 0.5)
        #expect(session.connect(queryToken: nil) == ConnectTarget(resume: ("client_2", 20), queryToken: nil, resumeToken: "bb22"))
    }

    @Test func anAcceptedResumeSendsNothing() {
        var session = machineWithOpenSession()
        _ = session.connectionLost(random: 0.5)
        _ = session.connect(queryToken: nil)
        let reaction = session.received(.connected(Connected(clientID: "client_1", seq: 40, resumed: true)))
        #expect(reaction.state == .resumed(clientID: "client_1"))
        #expect(reaction.commands.isEmpty)
    }

    @Test func alertsConfirmedUnderTheUsersNameAreTheAlertsWanted() {
        var session = SessionMachine(
            subscriptions: [.alerts], schedule: ReconnectSchedule(initialDelay: .seconds(2), jitter: 0, maximumAttempts: 3))
        _ = session.connect(queryToken: nil)
        _ = session.received(.connected(Connected(clientID: "client_1", seq: 10, resumed: false)))
        // The broker answers alerts/me as the owner's own alerts.
        _ = session.received(.subscribed(Subscription(.alerts, "alice"), seq: 11))
        _ = session.connectionLost(random: 0.5)
        _ = session.connect(queryToken: nil)
        let reaction = session.received(.connected(Connected(clientID: "client_1", seq: 40, resumed: true)))
        #expect(reaction.commands.isEmpty, "held already: nothing to send again, nothing to unsubscribe")
    }

    @Test func aRefusedResumeSubscribesAgainAndResumesTheNewSessionNextTime() {
        var session = machineWithOpenSession()
        _ = session.connectionLost(random: 0.5)
        _ = session.connect(queryToken: nil)
        let reaction = session.received(.connected(Connected(clientID: "client_2", seq: 90, resumed: false)))
        #expect(reaction.state == .connected(clientID: "client_2"))
        #expect(reaction.commands.map(\.command) == [.subscribe(.news("all")), .subscribe(.strategy("volume_wave"))])
        _ = session.connectionLost(random: 0.5)
        #expect(session.connect(queryToken: nil) == ConnectTarget(resume: ("client_2", 90), queryToken: nil))
    }

    @Test func aResumeOfAnotherSessionCountsAsRefused() {
        var session = machineWithOpenSession()
        _ = session.connectionLost(random: 0.5)
        _ = session.connect(queryToken: nil)
        let reaction = session.received(.connected(Connected(clientID: "client_9", seq: 90, resumed: true)))
        #expect(reaction.state == .connected(clientID: "client_9"))
        #expect(reaction.commands.count == 2)
    }

    @Test func changesMadeWhileDisconnectedAreSentAfterAResume() {
        var session = machineWithOpenSession()
        _ = session.connectionLost(random: 0.5)
        #expect(session.subscribe(.stock("600519")).isEmpty)
        #expect(session.unsubscribe(.news("all")).isEmpty)
        _ = session.connect(queryToken: nil)
        let reaction = session.received(.connected(Connected(clientID: "client_1", seq: 40, resumed: true)))
        #expect(reaction.commands.map(\.command) == [.subscribe(.stock("600519")), .unsubscribe(.news("all"))])
    }

    @Test func anUnconfirmedSubscribeIsSentAgainAfterAResume() {
        var session = machine()
        _ = session.connect(queryToken: nil)
        _ = session.received(.connected(Connected(clientID: "client_1", seq: 10, resumed: false)))
        _ = session.received(.subscribed(.news("all"), seq: 11))
        // The strategy subscribe was sent but its confirmation never came.
        _ = session.connectionLost(random: 0.5)
        _ = session.connect(queryToken: nil)
        let reaction = session.received(.connected(Connected(clientID: "client_1", seq: 40, resumed: true)))
        #expect(reaction.commands.map(\.command) == [.subscribe(.strategy("volume_wave"))])
    }

    @Test func whileOpenSubscriptionChangesGoOutAtOnceAndOnlyOnce() {
        var session = machineWithOpenSession()
        #expect(session.subscribe(.stock("600519")).map(\.command) == [.subscribe(.stock("600519"))])
        _ = session.received(.subscribed(.stock("600519"), seq: 12))
        #expect(session.subscribe(.stock("600519")).isEmpty)
        #expect(session.unsubscribe(.stock("600519")).map(\.command) == [.unsubscribe(.stock("600519"))])
        #expect(session.unsubscribe(.stock("600519")).isEmpty)
    }

    @Test func subscribingAgainToARefusedSubscriptionAsksForItAgain() {
        var session = machineWithOpenSession()
        #expect(session.subscribe(.stock("600519")).map(\.command) == [.subscribe(.stock("600519"))])
        _ = session.received(.error(ServerError(error: "too_many_subscriptions", details: "at most 100")))
        // Wanted but not held: the user's subscribe sends it again.
        #expect(session.subscribe(.stock("600519")).map(\.command) == [.subscribe(.stock("600519"))])
    }

    @Test func aRefusedBatchsErrorIsNotTheUsersButTheRefusalOfEachSubscriptionIs() {
        let stocks: [Subscription] = [.stock("600519"), .stock("000001"), .stock("601398")]
        var session = SessionMachine(
            subscriptions: stocks, schedule: ReconnectSchedule(initialDelay: .seconds(2), jitter: 0, maximumAttempts: 3),
            pacer: SubscriptionPacer(window: 10, retryDelay: .seconds(1), batchLimit: 10))
        _ = session.connect(queryToken: nil)
        let opened = session.received(.connected(Connected(clientID: "client_1", seq: 10, resumed: false)))
        #expect(opened.commands.count == 1, "one batch")
        let batchRefused = session.received(.error(ServerError(error: "not_authorized", details: "")), requestID: opened.commands[0].id)
        #expect(!batchRefused.forward && batchRefused.commands.count == 3)
        let stockRefused = session.received(.error(ServerError(error: "not_authorized", details: "")), requestID: batchRefused.commands[0].id)
        #expect(stockRefused.forward, "this one answers a subscription of the user's")
    }

    @Test func aSubscriptionReplyMovesTheResumePointToItsSeq() {
        var session = machine()
        _ = session.connect(queryToken: nil)
        _ = session.received(.connected(Connected(clientID: "client_1", seq: 10, resumed: false)))
        _ = session.received(.subscribed(.news("all"), seq: 14))
        _ = session.connectionLost(random: 0.5)
        // Not 10: the resume would replay news published before the subscription.
        #expect(session.connect(queryToken: nil) == ConnectTarget(resume: ("client_1", 14), queryToken: nil))
    }

    /// A machine wanting `count` stock subscriptions, sending `window` requests at a time.
    private func machine(wantingStocks count: Int, window: Int) -> (SessionMachine, [Subscription]) {
        let stocks = (0..<count).map { Subscription.stock(String(600_000 + $0)) }
        let session = SessionMachine(
            subscriptions: stocks, schedule: ReconnectSchedule(jitter: 0),
            pacer: SubscriptionPacer(window: window, retryDelay: .seconds(1)))
        return (session, stocks)
    }

    @Test func aFreshSessionSubscribesAWindowAtATimeAndTheRestAsRepliesCome() {
        var (session, stocks) = machine(wantingStocks: 25, window: 10)
        _ = session.connect(queryToken: nil)
        let opened = session.received(.connected(Connected(clientID: "client_1", seq: 10, resumed: false)))
        #expect(opened.commands.map(\.command) == stocks.prefix(10).map(ClientCommand.subscribe))
        #expect(opened.commands.map(\.id) == Array(1...10))
        #expect(session.received(.subscribed(stocks[0], seq: 11), requestID: 1).commands.map(\.command) == [.subscribe(stocks[10])])
        // A refusal answers a request too.
        let refusal = ServerError(error: "invalid_target", details: "")
        #expect(session.received(.error(refusal), requestID: 2).commands.map(\.command) == [.subscribe(stocks[11])])
        // Unprompted errors answer none.
        #expect(session.received(.error(ServerError(error: "resume_failed", details: ""))).commands.isEmpty)
        var sent = 12
        for (offset, stock) in stocks.enumerated().dropFirst(2) {
            sent += session.received(.subscribed(stock, seq: 12), requestID: UInt64(offset + 1)).commands.count
        }
        #expect(sent == 25)
    }

    @Test func anErrorAnsweringAnAlertRequestMakesNoRoomForASubscription() {
        var (session, stocks) = machine(wantingStocks: 3, window: 2)
        _ = session.connect(queryToken: nil)
        _ = session.received(.connected(Connected(clientID: "client_1", seq: 10, resumed: false)))
        let refusedAlert = ServerError(error: "invalid_threshold", details: "threshold must be positive")
        let reaction = session.received(.error(refusedAlert), requestID: IdentifiedCommand.untrackedID)
        #expect(reaction.commands.isEmpty, "both subscribes are still unanswered")
        #expect(reaction.forward)
        #expect(session.received(.subscribed(stocks[0], seq: 11), requestID: 1).commands.map(\.command) == [.subscribe(stocks[2])])
    }

    @Test func aBrokerOlderThanRequestIDsIsAnsweredInRequestOrder() {
        var (session, stocks) = machine(wantingStocks: 4, window: 2)
        _ = session.connect(queryToken: nil)
        _ = session.received(.connected(Connected(clientID: "client_1", seq: 10, resumed: false)))
        // Its replies echo no id: each answers the oldest request, an error too, unless unprompted.
        #expect(session.received(.subscribed(stocks[0], seq: 11)).commands.map(\.command) == [.subscribe(stocks[2])])
        #expect(session.received(.error(ServerError(error: "resume_failed", details: ""))).commands.isEmpty)
        #expect(session.received(.error(ServerError(error: "invalid_target", details: ""))).commands.map(\.command) == [.subscribe(stocks[3])])
        #expect(session.pacer.inFlight.map(\.command) == [.subscribe(stocks[2]), .subscribe(stocks[3])])
    }

    @Test func afterARateLimitRefusalItWaitsThenAsksAgainForWhatIsNotHeld() {
        var (session, stocks) = machine(wantingStocks: 12, window: 10)
        _ = session.connect(queryToken: nil)
        var sent = session.received(.connected(Connected(clientID: "client_1", seq: 10, resumed: false))).commands
        for (offset, stock) in stocks.prefix(5).enumerated() {
            sent += session.received(.subscribed(stock, seq: 11), requestID: UInt64(offset + 1)).commands
        }
        #expect(sent.map(\.command) == stocks.map(ClientCommand.subscribe))

        let refused = ServerError(error: "rate_limited", details: "slow down")
        let first = session.received(.error(refused), requestID: 6)
        #expect(first.retryAfter == .seconds(1))
        #expect(first.commands.isEmpty)
        #expect(first.forward, "the user sees the refusal")
        for id: UInt64 in 7...12 {
            let next = session.received(.error(refused), requestID: id)
            #expect(next.commands.isEmpty && next.retryAfter == nil, "one wait for a run of refusals")
        }
        // The window is halved: 5 of the 7 refused now, the others as replies come.
        #expect(session.retryRefused().map(\.command) == stocks[5..<10].map(ClientCommand.subscribe))
        #expect(session.received(.subscribed(stocks[5], seq: 12), requestID: 13).commands.map(\.command) == [.subscribe(stocks[10])])
    }

    @Test func theRetryAfterARateLimitRefusalAsksOnlyForWhatIsNotInFlight() {
        var (session, stocks) = machine(wantingStocks: 3, window: 8)
        _ = session.connect(queryToken: nil)
        _ = session.received(.connected(Connected(clientID: "client_1", seq: 10, resumed: false)))
        _ = session.received(.subscribed(stocks[0], seq: 11), requestID: 1)
        #expect(session.received(.error(ServerError(error: "rate_limited", details: "")), requestID: 2).retryAfter == .seconds(1))
        // stocks[2] is not held yet either, but its request is still to be answered.
        #expect(session.retryRefused() == [IdentifiedCommand(command: .subscribe(stocks[1]), id: 4)])
        _ = session.received(.subscribed(stocks[2], seq: 12), requestID: 3)
        _ = session.received(.subscribed(stocks[1], seq: 13), requestID: 4)
        #expect(session.ledger.changes().isEmpty)
        #expect(session.pacer.inFlight.isEmpty)
    }

    /// One refused for good (too many subscriptions) is not asked for again round after round of
    /// rate-limit retries (each sent more refusals); the user naming it again, or a fresh session, does.
    @Test func aSubscriptionRefusedForGoodIsNotAskedForAgainUntilTheUserAsks() {
        var (session, stocks) = machine(wantingStocks: 3, window: 8)
        _ = session.connect(queryToken: nil)
        _ = session.received(.connected(Connected(clientID: "client_1", seq: 10, resumed: false)))
        _ = session.received(.subscribed(stocks[0], seq: 11), requestID: 1)
        _ = session.received(.error(ServerError(error: "too_many_subscriptions", details: "limit 1")), requestID: 2)
        #expect(session.received(.error(ServerError(error: "rate_limited", details: "")), requestID: 3).retryAfter == .seconds(1))
        #expect(session.retryRefused() == [IdentifiedCommand(command: .subscribe(stocks[2]), id: 4)])
        #expect(session.ledger.declined == [stocks[1]])
        #expect(session.subscribe(stocks[1]).map(\.command) == [.subscribe(stocks[1])], "asked again by the user")
        #expect(session.ledger.declined.isEmpty)
    }

    /// An unsubscribe the broker answers `not_subscribed` (it applied it before the reply was
    /// lost) means the subscription is not held: not sent again on every resume.
    @Test func anUnsubscribeAnsweredNotSubscribedIsNotHeld() throws {
        var session = machineWithOpenSession()
        let commands = session.unsubscribe(wanted[1])
        let id = try #require(commands.first?.id)
        _ = session.received(.error(ServerError(error: "not_subscribed", details: "")), requestID: id)
        #expect(!session.ledger.holds(wanted[1]))
        #expect(session.ledger.changes().isEmpty)
    }

    /// Requests the broker carried out but whose replies went with the connection: the resumed
    /// session asks again for what is wanted of them, whatever was confirmed before (it sent
    /// nothing, and got pushes for the wrong subscriptions).
    @Test func requestsUnansweredWhenTheConnectionWentAreAskedAgainOnResume() {
        var session = machineWithOpenSession()
        let dropped = wanted[0], added = Subscription.stock("000001")
        _ = session.unsubscribe(dropped)
        _ = session.subscribe(added)
        _ = session.connectionLost(random: 0.5)
        // Offline, the user changes both back.
        _ = session.subscribe(dropped)
        _ = session.unsubscribe(added)
        _ = session.connect(queryToken: nil)
        let resumed = session.received(.connected(Connected(clientID: "client_1", seq: 20, resumed: true)))
        #expect(Set(resumed.commands.map(\.command)) == [.subscribe(dropped), .unsubscribe(added)])
        #expect(session.ledger.uncertain.isEmpty)
    }

    @Test func aNewConnectionIsNotHeldBackByTheLastOnesRefusal() {
        var (session, stocks) = machine(wantingStocks: 3, window: 10)
        _ = session.connect(queryToken: nil)
        _ = session.received(.connected(Connected(clientID: "client_1", seq: 10, resumed: false)))
        _ = session.received(.error(ServerError(error: "rate_limited", details: "")))
        _ = session.connectionLost(random: 0.5)
        _ = session.connect(queryToken: nil)
        let reopened = session.received(.connected(Connected(clientID: "client_2", seq: 20, resumed: false)))
        #expect(reopened.commands.map(\.command) == stocks.map(ClientCommand.subscribe))
        #expect(session.retryRefused().isEmpty, "a wait begun on the old connection sends nothing on this one")
    }

    @Test func lossesBackOffAndGiveUpAfterTheLastAttempt() {
        var session = machine(maximumAttempts: 3)
        _ = session.connect(queryToken: nil)
        #expect(session.connectionLost(random: 0.5) == .reconnect(attempt: 1, after: .seconds(2)))
        _ = session.connect(queryToken: nil)
        #expect(session.connectionLost(random: 0.5) == .reconnect(attempt: 2, after: .seconds(4)))
        _ = session.connect(queryToken: nil)
        #expect(session.connectionLost(random: 0.5) == .reconnect(attempt: 3, after: .seconds(8)))
        _ = session.connect(queryToken: nil)
        #expect(session.connectionLost(random: 0.5) == .giveUp)
    }

    @Test func anOpenedSessionStartsTheBackoffOver() {
        var session = machine(maximumAttempts: 3)
        _ = session.connect(queryToken: nil)
        _ = session.connectionLost(random: 0.5)
        _ = session.connect(queryToken: nil)
        _ = session.connectionLost(random: 0.5)
        _ = session.connect(queryToken: nil)
        _ = session.received(.connected(Connected(clientID: "client_1", seq: 10, resumed: false)))
        #expect(session.connectionLost(random: 0.5) == .reconnect(attempt: 1, after: .seconds(2)))
    }

    @Test func pongsStayWithTheHeartbeatAndPushesGoToTheUser() {
        var session = machineWithOpenSession()
        #expect(!session.received(.pong).forward)
        #expect(session.received(.error(ServerError(error: "rate_limited", details: "slow down"))).forward)
    }

    /// After a loss the broker may not have seen, a resume comes 5.5 s after the last frame sent:
    /// sooner, the broker finds the session still connected, heard from lately, and starts a fresh
    /// one (what the client missed is lost). A close by the broker needs no wait.
    @Test func aResumeAfterAnUnseenLossWaitsUntilTheBrokerWouldHandTheSessionOver() {
        let planned = Duration.seconds(2)
        #expect(SessionMachine.resumeDelay(planned: planned, after: .dropped("reset"), sinceLastSent: .seconds(1)) == .milliseconds(4_500))
        #expect(SessionMachine.resumeDelay(planned: planned, after: .heartbeatTimedOut, sinceLastSent: .milliseconds(500)) == .seconds(5))
        #expect(SessionMachine.resumeDelay(planned: planned, after: .dropped("reset"), sinceLastSent: .seconds(30)) == planned)
        #expect(SessionMachine.resumeDelay(planned: planned, after: .dropped("reset"), sinceLastSent: nil) == planned)
        #expect(SessionMachine.resumeDelay(planned: planned, after: .closedByBroker(code: 1001, reason: nil), sinceLastSent: .seconds(1)) == planned)
        #expect(SessionMachine.resumeDelay(planned: .seconds(16), after: .dropped("reset"), sinceLastSent: .seconds(1)) == .seconds(16))
    }
}
