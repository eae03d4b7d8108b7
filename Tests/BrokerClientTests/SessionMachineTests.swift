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
        #expect(reaction.commands == [.subscribe(.news("all")), .subscribe(.strategy("volume_wave"))])
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

    @Test func anAcceptedResumeSendsNothing() {
        var session = machineWithOpenSession()
        _ = session.connectionLost(random: 0.5)
        _ = session.connect(queryToken: nil)
        let reaction = session.received(.connected(Connected(clientID: "client_1", seq: 40, resumed: true)))
        #expect(reaction.state == .resumed(clientID: "client_1"))
        #expect(reaction.commands.isEmpty)
    }

    @Test func aRefusedResumeSubscribesAgainAndResumesTheNewSessionNextTime() {
        var session = machineWithOpenSession()
        _ = session.connectionLost(random: 0.5)
        _ = session.connect(queryToken: nil)
        let reaction = session.received(.connected(Connected(clientID: "client_2", seq: 90, resumed: false)))
        #expect(reaction.state == .connected(clientID: "client_2"))
        #expect(reaction.commands == [.subscribe(.news("all")), .subscribe(.strategy("volume_wave"))])
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
        #expect(session.subscribe(.stock("600519")) == nil)
        #expect(session.unsubscribe(.news("all")) == nil)
        _ = session.connect(queryToken: nil)
        let reaction = session.received(.connected(Connected(clientID: "client_1", seq: 40, resumed: true)))
        #expect(reaction.commands == [.subscribe(.stock("600519")), .unsubscribe(.news("all"))])
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
        #expect(reaction.commands == [.subscribe(.strategy("volume_wave"))])
    }

    @Test func whileOpenSubscriptionChangesGoOutAtOnceAndOnlyOnce() {
        var session = machineWithOpenSession()
        #expect(session.subscribe(.stock("600519")) == .subscribe(.stock("600519")))
        #expect(session.subscribe(.stock("600519")) == nil)
        #expect(session.unsubscribe(.stock("600519")) == .unsubscribe(.stock("600519")))
        #expect(session.unsubscribe(.stock("600519")) == nil)
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
}
