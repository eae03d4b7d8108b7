import Broker
import Foundation
import Testing

@testable import Publishers

/// Two nodes sharing through a real redis-server: the outbound `RedisBroadcaster` of one and the
/// `RedisTickSource`s of both, which must skip their own node's messages.
@Suite(.serialized) struct RedisSharingTests {
    private static let nodeA = NodeOrigin(node: "node-a")
    private static let nodeB = NodeOrigin(node: "node-b")
    private static let fastBackoff = ReconnectBackoff(initial: .milliseconds(20), maximum: .milliseconds(200))

    /// A node's receiving side: its source subscribed to ticks, news and alerts, and what it got.
    private struct Receiver {
        let recorder: BatchRecorder
        let source: RedisTickSource

        /// With `readingLog`, it also reads the shared log from its start; with `nodeChannels`, the
        /// removals and nodes channels too.
        init(
            server: RedisServer, node: NodeOrigin?, readingLog: Bool = false, nodeChannels: Bool = false, ownEntries: OwnLogEntries? = nil,
            recorder: BatchRecorder = BatchRecorder(), streamCount: Int = 500, url: RedisURL? = nil
        ) throws {
            let channels = SharedChannels(tickChannel: "ticks")
            let configuration = RedisTickSourceConfiguration(
                url: url ?? server.url, channel: channels.ticks, newsChannel: channels.news, alertsChannel: channels.alerts,
                removalsChannel: nodeChannels ? channels.removals : nil, nodesChannel: nodeChannels ? channels.nodes : nil,
                log: readingLog ? channels.log : nil, node: node, streamCount: streamCount, backoff: fastBackoff)
            self.recorder = recorder
            source = try RedisTickSource(
                configuration: configuration, logResumeAfter: readingLog ? "0-0" : nil, ownEntries: ownEntries,
                deliverShared: recorder.deliverShared,
                deliverLogged: recorder.deliverLogged, deliver: recorder.deliver)
        }

        func start() async throws {
            source.start()
            try await eventually("the source to subscribe") { source.snapshot.state == .connected }
        }
    }

    private func broadcaster(
        _ url: RedisURL, origin: NodeOrigin = nodeA, logLength: Int? = nil, ownEntries: OwnLogEntries? = nil, capacity: Int = 10_000,
        capacityBytes: Int = 64 << 20,
        ioTimeout: Duration = .seconds(2)
    ) -> RedisBroadcaster {
        RedisBroadcaster(
            url: url, channels: SharedChannels(tickChannel: "ticks"), origin: origin, logLength: logLength, ownEntries: ownEntries,
            capacity: capacity,
            capacityBytes: capacityBytes,
            ioTimeout: ioTimeout, healthCheckInterval: .milliseconds(100), backoff: Self.fastBackoff)
    }

    private static let tick = FedTick(code: "600519", name: "贵州茅台", price: 1850.5, volume: 7, prevClose: 1825.2, timestamp: 1_700_000_000_000_000)
    private static let news = NewsItem(id: "n-1", title: "Q3", summary: "", url: "", codes: ["600519"], category: "company", publishedAt: 1)
    private static let rule = AlertRule(id: "rule_1", user: "alice", code: "600519", condition: .above, threshold: 1900)

    @Test func theSharedLogIsReadInItsOrderWithEachPositionAndTheWritersOwnEntriesMarked() async throws {
        let server = try await RedisServer()
        let refusing = BatchRecorder(refusingLogged: { $0 == .signalsReplaced(strategy: "refused", signals: []) })
        let b = try Receiver(server: server, node: Self.nodeB, readingLog: true, recorder: refusing)
        let a = try Receiver(server: server, node: Self.nodeA, readingLog: true)
        try await b.start()
        try await a.start()
        let publisher = broadcaster(server.url, logLength: 1_000)
        publisher.start()
        try await eventually("the publisher to connect") { publisher.snapshot.state == .connected }
        #expect(publisher.offer(.news(Self.news)))
        #expect(publisher.offer(.ticks([Self.tick])))
        #expect(publisher.offer(.alertRuleSet(Self.rule)))
        try await eventually("three updates published") { publisher.snapshot.published == 3 }
        let commander = try server.commander()
        // An entry that is not an update, and one the broker refuses: each is read past.
        let malformed = try commander.xadd("ticks:log", ["kind": "ticks", "message": "{}"])
        let refusedSignals = #"{"node":"node-c","instance":"c","strategy":"refused","signals":[]}"#
        let refused = try commander.xadd("ticks:log", ["kind": "signals", "message": refusedSignals])

        try await eventually("both to read the whole log") { b.recorder.logged.count == 4 && a.recorder.logged.count == 4 }

        let read = b.recorder.logged
        #expect(read.map(\.update) == [.news(Self.news), .alertRuleSet(Self.rule), nil, nil], "ticks are not in the log")
        #expect(read.map(\.own) == [false, false, false, false])
        #expect(Array(read.map(\.position).suffix(2)) == [malformed, refused])
        let positions = read.compactMap { StreamID($0.position) }
        #expect(positions.count == 4 && zip(positions, positions.dropFirst()).allSatisfy { $0 < $1 })
        #expect(a.recorder.logged.map(\.own) == [true, true, false, false], "the writer's own entries are marked")
        // The source counts an entry, and moves its position past it, once the recorder has
        // answered: after the recorder holds it (CI once read the snapshot in between).
        try await eventually("the source to count the last entries") {
            let snapshot = b.source.snapshot
            return snapshot.malformed == 1 && snapshot.deliveryFailures == 1 && snapshot.lastLogID == refused
        }
        let snapshot = b.source.snapshot
        #expect(snapshot.logState == .connected)
        // The pub/sub copies name the log, so a node reading it skips them.
        #expect(b.recorder.shared.isEmpty && snapshot.logCopiesSkipped == 2, "\(snapshot)")
        #expect(b.recorder.ticks == [Self.tick])

        await publisher.stop()
        await a.source.stop()
        await b.source.stop()
    }

    @Test func aNewLogLengthTrimsTheSharedLogFromTheNextAppend() async throws {
        let server = try await RedisServer()
        let publisher = broadcaster(server.url, logLength: 1_000_000)
        publisher.start()
        try await eventually("the publisher to connect") { publisher.snapshot.state == .connected }
        func publish(_ range: ClosedRange<Int>) async throws {
            for index in range {
                var item = Self.news
                item.id = "n-\(index)"
                #expect(publisher.offer(.news(item)))
            }
            try await eventually("the news published") { publisher.snapshot.published == range.upperBound }
        }
        let commander = try server.commander()
        try await publish(1...300)
        #expect(try commander.command("XLEN", "ticks:log") == .integer(300))

        publisher.setLogLength(10)
        #expect(publisher.logLength == 10)
        try await publish(301...600)
        // `MAXLEN ~` trims whole nodes of the stream (100 entries each): about 10, never 600.
        guard case .integer(let length) = try commander.command("XLEN", "ticks:log") else { throw Timeout(description: "XLEN") }
        #expect(length >= 10 && length <= 200, "\(length)")

        let withoutLog = broadcaster(server.url)
        withoutLog.setLogLength(10)
        #expect(withoutLog.logLength == nil, "a node writing no log starts none")
        await publisher.stop()
    }

    @Test func theLogsReaderIsCatchingUpUntilItReadsToTheEndAndNotWhileRedisCannotBeReached() async throws {
        let server = try await RedisServer()
        let commander = try server.commander()
        for index in 1...5 {
            try commander.xadd("ticks:log", ["kind": "news", "message": #"{"node":"node-z","news":{"id":"n\#(index)","title":"t"}}"#])
        }
        let gated = BatchRecorder()
        gated.closeLogGate()
        let reader = try Receiver(server: server, node: Self.nodeB, readingLog: true, recorder: gated, streamCount: 2)
        #expect(reader.source.snapshot.logCatchingUp, "not started counts as on its way")
        reader.source.start()
        try await eventually("the reader to connect") { reader.source.snapshot.logState == .connected }
        // The first reads bring 2 of 5 entries each: not at the end, whatever the broker takes.
        #expect(reader.source.snapshot.logCatchingUp && !reader.source.snapshot.logCaughtUp)
        gated.openLogGate()
        try await eventually("all five read") { gated.logged.count == 5 }
        try await eventually("the end reached") { reader.source.snapshot.logCaughtUp }
        #expect(!reader.source.snapshot.logCatchingUp)
        await reader.source.stop()

        // Nobody listens here: the first attempt fails, and the node serves what it has.
        let nowhere = RedisURL(host: "127.0.0.1", port: try RedisServer.freePort())
        let unreachable = try Receiver(server: server, node: Self.nodeB, readingLog: true, url: nowhere)
        unreachable.source.start()
        try await eventually("the first attempt to fail") { unreachable.source.snapshot.logState == .backingOff }
        #expect(!unreachable.source.snapshot.logCatchingUp && !unreachable.source.snapshot.logCaughtUp)
        await unreachable.source.stop()
    }

    @Test func anOwnLogEntryOfARuleWrittenAgainSinceIsReadBackAsItsPositionAlone() async throws {
        let server = try await RedisServer()
        let ownEntries = OwnLogEntries()
        let publisher = broadcaster(server.url, logLength: 1_000, ownEntries: ownEntries)
        publisher.start()
        try await eventually("the publisher to connect") { publisher.snapshot.state == .connected }
        var changed = Self.rule
        changed.threshold = 1950
        let signals = SharedUpdate.signalsReplaced(strategy: "vw", signals: [Signal(code: "600519", name: "贵州茅台")])
        for update in [SharedUpdate.alertRuleSet(Self.rule), .alertRuleSet(changed), signals] { #expect(publisher.offer(update)) }
        try await eventually("three updates published") { publisher.snapshot.published == 3 }

        let a = try Receiver(server: server, node: Self.nodeA, readingLog: true, ownEntries: ownEntries)
        let b = try Receiver(server: server, node: Self.nodeB, readingLog: true)
        try await a.start()
        try await b.start()
        try await eventually("both to read the log") { a.recorder.logged.count == 3 && b.recorder.logged.count == 3 }
        #expect(a.recorder.logged.map(\.update) == [nil, .alertRuleSet(changed), signals], "the writer skips its superseded rule")
        #expect(a.recorder.logged.map(\.own) == [true, true, true])
        #expect(b.recorder.logged.map(\.update) == [.alertRuleSet(Self.rule), .alertRuleSet(changed), signals], "the others read everything")
        #expect(ownEntries.pending == 0)

        await publisher.stop()
        await a.source.stop()
        await b.source.stop()
    }

    @Test func whatOneNodeOffersReachesTheOtherNodeOnceAndIsSkippedByItself() async throws {
        let server = try await RedisServer()
        let a = try Receiver(server: server, node: Self.nodeA)
        let b = try Receiver(server: server, node: Self.nodeB)
        try await a.start()
        try await b.start()
        let publisher = broadcaster(server.url)
        publisher.start()
        try await eventually("the publisher to connect") { publisher.snapshot.state == .connected }

        #expect(publisher.offer(.ticks([Self.tick])))
        #expect(publisher.offer(.news(Self.news)))
        #expect(publisher.offer(.alertRuleSet(Self.rule)))
        #expect(publisher.offer(.alertRuleRemoved(ruleID: "rule_1", user: "alice")))
        // An external feeder's untagged tick, after the node's messages: every node ingests it.
        try await eventually("four messages published") { publisher.snapshot.published == 4 }
        try server.commander().publish(#"{"code":"000001","price":11}"#)

        try await eventually("node B to get everything") { b.recorder.ticks.count == 2 && b.recorder.shared.count == 3 }
        try await eventually("node A to have seen the feeder's tick") { a.recorder.ticks.count == 1 }
        #expect(b.recorder.ticks.first == Self.tick, "A's tick, with A's timestamp")
        #expect(b.recorder.ticks.map(\.code) == ["600519", "000001"], "then the feeder's")
        #expect(b.recorder.shared == [.news(Self.news), .alertRuleSet(Self.rule), .alertRuleRemoved(ruleID: "rule_1", user: "alice")])
        #expect(a.recorder.ticks.map(\.code) == ["000001"], "A skips its own tick")
        #expect(a.recorder.shared.isEmpty, "A skips its own news and alert rules")
        #expect(a.source.snapshot.ownSkipped == 4 && a.source.snapshot.nodeIDConflicts == 0)
        #expect(b.source.snapshot.ownSkipped == 0 && b.source.snapshot.shared == 3)
        #expect(publisher.snapshot.dropped == 0)

        await publisher.stop()
        await a.source.stop()
        await b.source.stop()
        #expect(publisher.snapshot.state == .stopped)
        #expect(!publisher.offer(.ticks([Self.tick])), "nothing is taken after stop")
    }

    @Test func whatTheNodesChannelsBringIsHandedOverWithoutHoldingUpTheTicks() async throws {
        let server = try await RedisServer()
        let b = try Receiver(server: server, node: Self.nodeB, nodeChannels: true)
        try await b.start()
        let started = b.source.snapshot
        #expect(started.channelState == .connected && started.controlState == .connected, "two subscriptions, each connected")
        #expect(try server.commander().subscribers(of: "ticks:removals") == 1 && server.commander().subscribers(of: "ticks") == 1)
        let withoutNodeChannels = try Receiver(server: server, node: Self.nodeA)
        #expect(withoutNodeChannels.source.snapshot.controlState == nil, "no nodes' channels, no such connection")

        // An operator's removal (any message on the nodes' channels: a lookup's answer of a
        // megabyte) whose hand-over takes long, then ticks behind it.
        b.recorder.closeSharedGate()
        #expect(try server.commander().publish(#"{"remove_user":{"user":"alice"}}"#, to: "ticks:removals") == 1)
        try await eventually("the removal to wait at the gate") { b.recorder.sharedWaitingAtGate == 1 }
        #expect(try server.commander().publish(#"{"code":"600519","price":1850.5}"#) == 1)
        #expect(try server.commander().publish(#"{"code":"000001","price":11}"#) == 1)
        try await eventually("the ticks to arrive while the removal is still being handed over") { b.recorder.ticks.count == 2 }
        #expect(b.recorder.shared.isEmpty && b.recorder.sharedWaitingAtGate == 1)

        b.recorder.openSharedGate()
        try await eventually("the removal to be taken") { b.recorder.shared.count == 1 }
        guard case .userRemoved(let removal) = b.recorder.shared.first else {
            Issue.record("expected a user's removal, got \(b.recorder.shared)")
            return
        }
        #expect(removal.user == "alice")
        #expect(b.recorder.ticks.map(\.code) == ["600519", "000001"])

        // Each connection is named for its node and role; Redis cutting the nodes' one alone
        // leaves the ticks' untouched, and it comes back.
        let named = try server.commander().clientIDsByName()
        let (tickID, controlID) = (try #require(named["brokerd:node-b:channel"]), try #require(named["brokerd:node-b:control"]))
        try server.commander().killClient(id: controlID)
        try await eventually("the nodes' subscription to come back") {
            let now = try server.commander().clientIDsByName()
            return now["brokerd:node-b:control"].map { $0 != controlID } == true && b.source.snapshot.controlState == .connected
        }
        #expect(try server.commander().clientIDsByName()["brokerd:node-b:channel"] == tickID, "the tick subscription's connection is the same")
        #expect(b.source.snapshot.reconnects == 1)
        #expect(try server.commander().publish(#"{"code":"600036","price":40}"#) == 1)
        try await eventually("a tick after the cut to arrive") { b.recorder.ticks.count == 3 }
        await b.source.stop()
        let stopped = b.source.snapshot
        #expect(stopped.channelState == .stopped && stopped.controlState == .stopped)
        #expect(try server.commander().subscribers(of: "ticks:removals") == 0 && server.commander().subscribers(of: "ticks") == 0)
    }

    @Test func anotherProcessWithTheSameNodeIDIsSkippedAndReported() async throws {
        let server = try await RedisServer()
        let receiver = try Receiver(server: server, node: Self.nodeA)
        try await receiver.start()
        let impostor = broadcaster(server.url, origin: NodeOrigin(node: Self.nodeA.node))
        impostor.start()
        try await eventually("the publisher to connect") { impostor.snapshot.state == .connected }

        impostor.offer(.ticks([Self.tick]))

        try await eventually("the conflict to be counted") { receiver.source.snapshot.nodeIDConflicts == 1 }
        #expect(receiver.recorder.ticks.isEmpty)
        #expect(receiver.source.snapshot.ownSkipped == 1)
        await impostor.stop()
        await receiver.source.stop()
    }

    @Test func whileRedisIsDownOffersAreDroppedAndCountedAndSharingResumesAfterItsRestart() async throws {
        let server = try await RedisServer()
        let b = try Receiver(server: server, node: Self.nodeB)
        try await b.start()
        let publisher = broadcaster(server.url)
        publisher.start()
        try await eventually("the publisher to connect") { publisher.snapshot.state == .connected }

        server.kill()
        // Idle, the publisher notices through its health check; offers are then dropped at once.
        try await eventually("the publisher to see the outage") { publisher.snapshot.state == .backingOff }
        #expect(!publisher.offer(.ticks([Self.tick])))
        #expect(!publisher.offer(.news(Self.news)))
        let down = publisher.snapshot
        #expect(down.dropped == 2 && down.outages == 1 && down.published == 0)
        #expect(down.lastError != nil)

        try await server.start()
        try await eventually("both sides to reconnect") { publisher.snapshot.state == .connected && b.source.snapshot.state == .connected }
        #expect(publisher.offer(.ticks([Self.tick])))
        try await eventually("the tick after the outage") { b.recorder.ticks.count == 1 }
        #expect(b.recorder.shared.isEmpty, "what was dropped is not sent later")
        #expect(publisher.snapshot.outages == 1, "one outage, however many reconnect attempts")

        await publisher.stop()
        await b.source.stop()
    }

    /// While Redis is down, what is for the shared log is held (ticks are dropped) and, once it is
    /// back, appended to the log in the order it was offered, without a late pub/sub copy. Held
    /// updates stay counted for the node's log reader; a stop drops them and takes that back.
    @Test func whileRedisIsDownUpdatesForTheLogAreHeldAndAppendedOnceItIsBack() async throws {
        let server = try await RedisServer()
        let b = try Receiver(server: server, node: Self.nodeB, readingLog: true)
        try await b.start()
        let own = OwnLogEntries()
        let publisher = broadcaster(server.url, logLength: 1_000, ownEntries: own)
        publisher.start()
        try await eventually("the publisher to connect") { publisher.snapshot.state == .connected }

        server.kill()
        try await eventually("the publisher to see the outage") { publisher.snapshot.state == .backingOff }
        #expect(!publisher.offer(.ticks([Self.tick])))
        #expect(publisher.offer(.news(Self.news)))
        #expect(publisher.offer(.alertRuleSet(Self.rule)))
        let down = publisher.snapshot
        #expect(down.held == 2 && down.dropped == 1 && down.published == 0, "\(down)")
        #expect(own.hasUnread(.alertRuleSet(Self.rule)), "counted for the log's reader while held")

        try await server.start()
        try await eventually("the held updates appended") { publisher.snapshot.appendedLate == 2 }
        try await eventually("b to read them from the log") { b.recorder.logged.count == 2 }
        #expect(b.recorder.logged.map(\.update) == [.news(Self.news), .alertRuleSet(Self.rule)])
        #expect(b.recorder.shared.isEmpty && b.recorder.ticks.isEmpty, "nothing published late")
        let up = publisher.snapshot
        #expect(up.held == 0 && up.published == 0 && up.dropped == 1, "\(up)")

        server.kill()
        try await eventually("the second outage") { publisher.snapshot.state == .backingOff }
        let list = SharedUpdate.signalsReplaced(strategy: "held", signals: [])
        #expect(publisher.offer(list))
        #expect(own.hasUnread(list))
        await publisher.stop()
        let stopped = publisher.snapshot
        #expect(stopped.held == 0 && stopped.dropped == 2 && stopped.appendedLate == 2, "\(stopped)")
        #expect(!own.hasUnread(list), "what a stop drops is not waited for")
        await b.source.stop()
    }

    /// The publisher is not connected, and says it is because the instance is a replica.
    private static func expectLeftAsAReplica(_ snapshot: RedisBroadcasterSnapshot, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(
            snapshot.state != .connected && snapshot.lastError?.contains("is a read-only replica") == true, "\(snapshot)",
            sourceLocation: sourceLocation)
    }

    /// Promotes the instance `commander` is connected to (`REPLICAOF NO ONE`), expects `publisher`
    /// to connect to it and publish a tick there, and stops the publisher.
    private static func expectPublishingAfterPromoting(_ commander: RedisCommander, publisher: RedisBroadcaster) async throws {
        #expect(try commander.command("REPLICAOF", "NO", "ONE") == .status("OK"))
        try await eventually("the publisher to connect to the master it is now") { publisher.snapshot.state == .connected }
        #expect(publisher.offer(.ticks([Self.tick])))
        try await eventually("the tick published") { publisher.snapshot.published == 1 }
        await publisher.stop()
    }

    /// A replica takes PUBLISH for its own subscribers alone and refuses XADD: a publisher whose
    /// address leads to one (a failover under way, a `redis_url` that names one) is not connected,
    /// as in an outage, until the instance is the master.
    @Test func aReplicaIsNotPublishedToUntilItIsTheMaster() async throws {
        let (server, master) = (try await RedisServer(), try await RedisServer())
        let commander = try server.commander()
        #expect(try commander.command("REPLICAOF", "127.0.0.1", "\(master.port)") == .status("OK"))
        let publisher = broadcaster(server.url, logLength: 1_000)
        publisher.start()
        try await eventually("the replica to be an outage") { publisher.snapshot.outages >= 1 }
        try await Task.sleep(for: .milliseconds(500))
        // Backing off, or connecting again (to find a replica again): never connected.
        Self.expectLeftAsAReplica(publisher.snapshot)
        #expect(!publisher.offer(.ticks([Self.tick])), "ticks are not queued for a replica")

        try await Self.expectPublishingAfterPromoting(commander, publisher: publisher)
    }

    /// With the log off nothing is refused on a master demoted under the publisher (a replica takes
    /// PUBLISH for its own subscribers alone): the publisher asks `ROLE` again every health check,
    /// so it stops publishing there, as in an outage, until the instance is the master again.
    @Test func aMasterDemotedUnderThePublisherWithTheLogOffIsLeft() async throws {
        let (server, master) = (try await RedisServer(), try await RedisServer())
        let commander = try server.commander()
        let publisher = broadcaster(server.url)
        publisher.start()
        try await eventually("the publisher to connect") { publisher.snapshot.state == .connected }

        #expect(try commander.command("REPLICAOF", "127.0.0.1", "\(master.port)") == .status("OK"))
        try await eventually("the replica to be an outage") { publisher.snapshot.outages == 1 }
        Self.expectLeftAsAReplica(publisher.snapshot)
        #expect(!publisher.offer(.ticks([Self.tick])), "no tick queued for a replica")

        try await Self.expectPublishingAfterPromoting(commander, publisher: publisher)
    }

    /// A user the ACL denies `ROLE` (least privilege) is taken at its word: its publisher connects
    /// and publishes, as before the check.
    @Test func aPublisherWhoseUserMayNotAskROLEPublishes() async throws {
        let server = try await RedisServer()
        let admin = try server.commander()
        #expect(try admin.command("ACL", "SETUSER", "broker", "on", ">pw", "~*", "&*", "+@all", "-role") == .status("OK"))
        var url = server.url
        (url.user, url.password) = ("broker", "pw")
        let refusal = try RedisCommander(url: url).command("ROLE")
        #expect({ if case .error(let message) = refusal { message.hasPrefix("NOPERM") } else { false } }(), "\(refusal)")
        let publisher = broadcaster(url, logLength: 1_000)
        publisher.start()
        try await eventually("the publisher to connect") { publisher.snapshot.state == .connected }
        #expect(publisher.offer(.news(Self.news)))
        try await eventually("the news published and logged") { publisher.snapshot.published == 1 }
        #expect(try admin.command("XLEN", "ticks:log") == .integer(1))
        await publisher.stop()
    }

    /// The master is made a replica under a connected publisher (a failover): the XADD it refuses
    /// (`READONLY`) is an outage, not a refusal, so what was for the log is held, not dropped, and
    /// appended once the instance is the master again.
    @Test func aMasterDemotedUnderThePublisherHoldsWhatIsForTheLog() async throws {
        let (server, master) = (try await RedisServer(), try await RedisServer())
        let commander = try server.commander()
        let publisher = broadcaster(server.url, logLength: 1_000)
        publisher.start()
        try await eventually("the publisher to connect") { publisher.snapshot.state == .connected }
        #expect(publisher.offer(.news(Self.news)))
        try await eventually("the news published") { publisher.snapshot.published == 1 }

        #expect(try commander.command("REPLICAOF", "127.0.0.1", "\(master.port)") == .status("OK"))
        // Its copy of the master's (empty) data set replaces its own: the log is gone too.
        try await eventually("the replica's sync") { try commander.command("XLEN", "ticks:log") == .integer(0) }
        #expect(publisher.offer(.alertRuleSet(Self.rule)))
        try await eventually("the refusal to be an outage") { publisher.snapshot.held == 1 }
        let down = publisher.snapshot
        #expect(down.dropped == 0 && down.published == 1, "\(down)")
        Self.expectLeftAsAReplica(down)

        #expect(try commander.command("REPLICAOF", "NO", "ONE") == .status("OK"))
        try await eventually("the held rule appended") { publisher.snapshot.appendedLate == 1 }
        #expect(try commander.command("XLEN", "ticks:log") == .integer(1))
        let up = publisher.snapshot
        #expect(up.held == 0 && up.dropped == 0 && up.state == .connected, "\(up)")
        await publisher.stop()
    }

    /// A Redis that takes connections and answers nothing is not connected: the publisher's
    /// state, /readyz and the stats said `connected` (and the log "sharing resumed") while a Redis
    /// stuck in a slow command answered nothing.
    @Test func aRedisThatTakesConnectionsButAnswersNothingIsNotConnected() async throws {
        let hanging = try BlackholeListener()
        let publisher = broadcaster(RedisURL(host: "127.0.0.1", port: hanging.port), ioTimeout: .milliseconds(300))
        publisher.start()
        try await eventually("the outage to show") { publisher.snapshot.outages >= 1 }
        try await Task.sleep(for: .milliseconds(700))
        #expect(publisher.snapshot.state != .connected, "\(publisher.snapshot)")
        #expect(!publisher.offer(.ticks([Self.tick])), "not queued for a Redis that answers nothing")
        try await finishes("stop() with Redis hanging", within: .seconds(10)) { await publisher.stop() }
    }

    @Test func aHangingRedisFillsTheQueueAndFurtherOffersAreDroppedWithoutWaiting() async throws {
        let server = try await RedisServer()
        defer { server.thaw() }
        let publisher = broadcaster(server.url, capacity: 2, ioTimeout: .seconds(1))
        #expect(!publisher.offer(.ticks([Self.tick])), "dropped before start")
        publisher.start()
        try await eventually("the publisher to connect") { publisher.snapshot.state == .connected }
        server.freeze()

        // The thread takes what is queued when it wakes (one or both of the first two updates, in
        // one pipeline) and waits for a reply that never comes; the queue holds two more; the rest
        // are dropped, and no offer waits for Redis. At most 2 in flight + 2 queued: ≥ 7 dropped.
        let results = (0..<11).map { _ in publisher.offer(.ticks([Self.tick])) }
        #expect(results.filter { !$0 }.count >= 7)
        #expect(publisher.snapshot.queued <= 2)

        try await finishes("stop() with Redis hanging", within: .seconds(10)) { await publisher.stop() }
        let stopped = publisher.snapshot
        #expect(stopped.state == .stopped && stopped.published == 0)
        #expect(stopped.dropped == 12, "every offer is accounted for")
    }

    /// A heartbeat that could not go out is never counted as dropped (the next one says the same):
    /// not when the queue is full, not in flight or queued when Redis stops answering, not at a
    /// stop. CI once saw `dropped` one higher than the ticks lost, a heartbeat queued at an outage.
    @Test func heartbeatsThatCannotGoOutAreNotCountedAsDropped() async throws {
        let server = try await RedisServer()
        defer { server.thaw() }
        let publisher = broadcaster(server.url, capacity: 2, ioTimeout: .milliseconds(500))
        publisher.start()
        try await eventually("the publisher to connect") { publisher.snapshot.state == .connected }
        server.freeze()

        let heartbeat = SharedUpdate.nodeHeartbeat(NodeHeartbeat(
            origin: Self.nodeA, state: .serving, connections: 0, sessions: 0, ticksPerSecond: 0, journalSeq: 0,
            startedAt: 1_700_000_000_000_000, sentAt: 1_700_000_005_000_000))
        // In flight, queued and refused for a full queue alike; then, past the I/O timeout, the
        // outage takes what was unsent and queued.
        let ticks = (0..<6).map { _ in [publisher.offer(heartbeat), publisher.offer(.ticks([Self.tick]))] }.count
        try await eventually("the outage to show") { publisher.snapshot.state == .backingOff }
        #expect(!publisher.offer(heartbeat) && !publisher.offer(.ticks([Self.tick])), "dropped during the outage")
        try await finishes("stop() with Redis hanging", within: .seconds(10)) { await publisher.stop() }
        #expect(!publisher.offer(heartbeat), "dropped after the stop")
        let stopped = publisher.snapshot
        #expect(stopped.published == 0 && stopped.dropped == ticks + 1, "\(stopped)")
    }

    /// The queue is bounded by memory too: large updates (signal lists of thousands of signals)
    /// fill it long before 10,000 of them wait. One larger than the bound alone is still taken.
    @Test func theQueueIsBoundedByBytesAsWellAsByCount() async throws {
        let server = try await RedisServer()
        defer { server.thaw() }
        let list = SharedUpdate.signalsReplaced(
            strategy: "s", signals: (0..<100).map { Signal(code: String(600_000 + $0), name: "Name \($0)", reason: String(repeating: "r", count: 100)) })
        #expect((20_000...40_000).contains(list.approximateBytes), "\(list.approximateBytes)")
        let publisher = broadcaster(server.url, capacityBytes: 3 * list.approximateBytes, ioTimeout: .seconds(1))
        publisher.start()
        try await eventually("the publisher to connect") { publisher.snapshot.state == .connected }
        server.freeze()

        // At most 3 queued and what the hanging thread took (at most 3 more): ≥ 14 of 20 dropped.
        let results = (0..<20).map { _ in publisher.offer(list) }
        #expect(results.filter { !$0 }.count >= 14, "\(results)")
        let snapshot = publisher.snapshot
        #expect(snapshot.queued <= 3 && snapshot.queuedBytes <= snapshot.capacityBytes, "\(snapshot)")

        try await finishes("stop() with Redis hanging", within: .seconds(10)) { await publisher.stop() }
        server.thaw()
        let alone = broadcaster(server.url, capacityBytes: 1_000, ioTimeout: .seconds(1))
        alone.start()
        try await eventually("the publisher to connect") { alone.snapshot.state == .connected }
        server.freeze()
        #expect(alone.offer(list), "larger than the bound, into an empty queue")
        try await finishes("stop() with Redis hanging", within: .seconds(10)) { await alone.stop() }
    }
}
