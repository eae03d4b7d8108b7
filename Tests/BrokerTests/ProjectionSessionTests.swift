import Testing
@testable import Broker

@Suite("Projection: sessions and subscriptions")
struct ProjectionSessionTests {
    @Test("connect adds a connected client with the event time")
    func connectAddsClient() {
        let p = projection([Fixtures.connected("c1", user: "alice")])
        let client = p.client("c1")
        #expect(client?.state == .connected)
        #expect(client?.user == "alice")
        #expect(client?.connectedAt == 10)
        #expect(p.lastSeq == 1 && p.lastTimestamp == 10)
    }

    @Test("disconnect marks the client gone and keeps its subscriptions")
    func disconnectKeepsSubscriptions() {
        let p = projection([
            Fixtures.connected("c1"), Fixtures.subscribed("c1", .stock, "600000"),
            Fixtures.disconnected("c1", deadline: 999),
        ])
        #expect(p.client("c1")?.state == .gone(since: 30, reason: .closed, resumeDeadline: 999))
        #expect(p.subscriptions.subscriptions(of: "c1") == [Fixtures.sub(.stock, "600000")])
        #expect(p.client("c1")?.isResumable(at: 999) == true)
        #expect(p.client("c1")?.isResumable(at: 1_000) == false)
    }

    @Test("a second disconnect of a gone session moves its deadline; it stays gone since the first")
    func aSecondDisconnectMovesTheDeadlineOnly() {
        let p = projection([
            Fixtures.connected("c1"), Fixtures.disconnected("c1", deadline: 999),
            .clientDisconnected(ClientDisconnected(clientID: "c1", reason: .shutdown, resumeDeadline: 5_000)),
        ])
        #expect(p.client("c1")?.state == .gone(since: 20, reason: .shutdown, resumeDeadline: 5_000))
        #expect(p.client("c1")?.isResumable(at: 4_000) == true)
    }

    @Test("connect of a gone client resumes it with its subscriptions and updated details")
    func resumeRestoresSubscriptions() {
        let p = projection([
            Fixtures.connected("c1"), Fixtures.subscribed("c1", .market, "sh"), Fixtures.disconnected("c1"),
            .clientConnected(ClientConnected(clientID: "c1", user: "bob", remoteAddress: "1.2.3.4", node: "n2")),
        ])
        let client = p.client("c1")
        #expect(client?.state == .connected)
        #expect(client?.user == "bob" && client?.remoteAddress == "1.2.3.4" && client?.node == "n2")
        #expect(client?.connectedAt == 40)
        #expect(p.subscriptions.subscribers(of: Fixtures.sub(.market, "sh")) == ["c1"])
    }

    @Test("a session keeps the time it started through resumes; one opened after an expiry starts anew")
    func sessionStartSurvivesResumes() {
        var p = projection([
            Fixtures.connected("c1"), Fixtures.disconnected("c1"), Fixtures.connected("c1"), Fixtures.disconnected("c1"),
            Fixtures.connected("c1"),
        ])
        #expect(p.client("c1")?.startedAt == 10)
        #expect(p.client("c1")?.connectedAt == 50)
        p.apply(RecordedEvent(seq: 6, timestamp: 60, event: Fixtures.disconnected("c1")))
        p.apply(RecordedEvent(seq: 7, timestamp: 70, event: .sessionExpired(SessionExpired(clientID: "c1"))))
        p.apply(RecordedEvent(seq: 8, timestamp: 80, event: Fixtures.connected("c1")))
        #expect(p.client("c1")?.startedAt == 80)
    }

    @Test("session expiry removes the client and all its subscriptions from both indexes")
    func expiryRemovesEverything() {
        let p = projection([
            Fixtures.connected("c1"), Fixtures.connected("c2"),
            Fixtures.subscribed("c1", .stock, "600000"), Fixtures.subscribed("c1", .news, "all"),
            Fixtures.subscribed("c2", .stock, "600000"),
            Fixtures.disconnected("c1"), .sessionExpired(SessionExpired(clientID: "c1")),
        ])
        #expect(p.client("c1") == nil)
        #expect(p.subscriptions.subscriptions(of: "c1").isEmpty)
        #expect(p.subscriptions.subscribers(of: Fixtures.sub(.stock, "600000")) == ["c2"])
        #expect(!p.subscriptions.hasSubscribers(Fixtures.sub(.news, "all")))
        #expect(p.subscriptions.count == 1)
    }

    @Test("events about unknown clients change nothing but the seq")
    func unknownClientEventsAreIgnored() {
        var expected = Projection()
        expected.lastSeq = 4
        expected.lastTimestamp = 40
        let p = projection([
            Fixtures.disconnected("ghost"), .sessionExpired(SessionExpired(clientID: "ghost")),
            Fixtures.subscribed("ghost", .stock, "600000"), Fixtures.unsubscribed("ghost", .stock, "600000"),
        ])
        #expect(p == expected)
    }

    @Test("subscribe and unsubscribe keep forward index, reverse index and counts consistent")
    func indexesStayConsistent() {
        var b = ProjectionBuilder([
            Fixtures.connected("c1"), Fixtures.connected("c2"),
            Fixtures.subscribed("c1", .stock, "600000"), Fixtures.subscribed("c2", .stock, "600000"),
            Fixtures.subscribed("c1", .strategy, "vw"), Fixtures.subscribed("c1", .stock, "600000"),
        ])
        let index = b.projection.subscriptions
        #expect(index.subscribers(of: Fixtures.sub(.stock, "600000")) == ["c1", "c2"])
        #expect(index.subscriptions(of: "c1") == [Fixtures.sub(.stock, "600000"), Fixtures.sub(.strategy, "vw")])
        #expect(index.count(of: .stock) == 2 && index.count(of: .strategy) == 1 && index.count == 3)

        b.apply([Fixtures.unsubscribed("c1", .stock, "600000"), Fixtures.unsubscribed("c1", .strategy, "vw")])
        let after = b.projection.subscriptions
        #expect(after.subscribers(of: Fixtures.sub(.stock, "600000")) == ["c2"])
        #expect(!after.hasSubscribers(Fixtures.sub(.strategy, "vw")))
        #expect(after.subscriptions(of: "c1").isEmpty)
        #expect(after.count(of: .strategy) == 0 && after.count == 1)
    }

    @Test("subscribing then unsubscribing leaves an index equal to one that never subscribed")
    func unsubscribeLeavesNoResidue() {
        let touched = projection([Fixtures.connected("c1"), Fixtures.subscribed("c1", .stock, "1"), Fixtures.unsubscribed("c1", .stock, "1")])
        var untouched = projection([Fixtures.connected("c1")])
        untouched.lastSeq = 3
        untouched.lastTimestamp = 30
        #expect(touched == untouched)
    }
}

@Suite("SubscriptionIndex: versions of a subscription's subscribers")
struct SubscriptionIndexVersionTests {
    private let vw = Fixtures.sub(.strategy, "vw")
    private let sh = Fixtures.sub(.market, "sh")

    @Test("a subscription without subscribers has version 0; each change of its subscribers a new one")
    func versionsFollowChanges() {
        var index = SubscriptionIndex()
        #expect(index.version(of: vw) == 0)

        index.insert(clientID: "c1", subscription: vw)
        let first = index.version(of: vw)
        #expect(first != 0)
        index.insert(clientID: "c1", subscription: vw)
        #expect(index.version(of: vw) == first, "a repeated subscribe changes nothing")

        index.insert(clientID: "c2", subscription: vw)
        let second = index.version(of: vw)
        #expect(second != first)
        index.remove(clientID: "c2", subscription: vw)
        #expect(index.version(of: vw) != second && index.version(of: vw) != first, "same subscribers as before, a new stamp")

        index.removeAll(of: "c1")
        #expect(index.version(of: vw) == 0)
    }

    @Test("changes of other subscriptions leave a version alone")
    func otherSubscriptionsDoNotChangeIt() {
        var index = SubscriptionIndex()
        index.insert(clientID: "c1", subscription: vw)
        let version = index.version(of: vw)
        index.insert(clientID: "c1", subscription: sh)
        index.insert(clientID: "c2", subscription: sh)
        index.remove(clientID: "c1", subscription: sh)
        #expect(index.version(of: vw) == version)
        index.removeAll(of: "c2")
        #expect(index.version(of: vw) == version)
    }

    @Test("versions are unique across indexes, and indexes with the same pairs are equal whatever their versions")
    func versionsAreStampsNotContents() {
        var a = SubscriptionIndex()
        var b = SubscriptionIndex()
        a.insert(clientID: "c1", subscription: vw)
        b.insert(clientID: "c1", subscription: vw)
        #expect(a.version(of: vw) != b.version(of: vw))
        #expect(a == b)

        var copy = a
        #expect(copy.version(of: vw) == a.version(of: vw), "a copy holds the same subscribers")
        copy.insert(clientID: "c2", subscription: vw)
        a.insert(clientID: "c3", subscription: vw)
        #expect(copy.version(of: vw) != a.version(of: vw))
        #expect(copy != a)
    }
}
