import Broker
import Foundation
import Journal
import Logging
import Testing
import TestSupport

@testable import Publishers

/// The Redis tick source against a real redis-server per test.
@Suite(.serialized) struct RedisTickSourceTests {
    private static let tick = #"{"code":"600519","name":"贵州茅台","price":1850.5,"volume":12345678,"prev_close":1825.2}"#

    /// A started source plus what it received; stopped by `finish()`.
    private struct Harness {
        let server: RedisServer
        let commander: RedisCommander
        let recorder: BatchRecorder
        let source: RedisTickSource

        init(
            server: RedisServer, channel: String? = "ticks", stream: String? = nil, resumeAfter: String? = nil,
            recorder: BatchRecorder = BatchRecorder(), limits: Limits = Limits(), healthCheckInterval: Duration = .seconds(5),
            logger: Logger = Logger(label: "brokerd.redis")
        ) throws {
            self.server = server
            commander = try server.commander()
            self.recorder = recorder
            let configuration = RedisTickSourceConfiguration(
                url: server.url, channel: channel, stream: stream, streamBlock: .milliseconds(200),
                backoff: ReconnectBackoff(initial: .milliseconds(20), maximum: .milliseconds(200)),
                healthCheckInterval: healthCheckInterval, limits: limits)
            source = try RedisTickSource(configuration: configuration, resumeAfter: resumeAfter, logger: logger, deliver: recorder.deliver)
        }

        func startAndWaitUntilConnected() async throws {
            source.start()
            try await eventually("the source to connect") { source.snapshot.state == .connected }
        }

        func finish() async throws {
            try await finishes("stop()") { [source] in await source.stop() }
        }
    }

    @Test func aPublishedTickReachesTheCallback() async throws {
        let harness = try Harness(server: try await RedisServer())
        try await harness.startAndWaitUntilConnected()

        try harness.commander.publish(Self.tick)

        // The counter is updated once the callback has returned, so wait for both.
        try await eventually("one tick") { harness.recorder.ticks.count == 1 && harness.source.snapshot.ticks == 1 }
        let tick = try #require(harness.recorder.ticks.first)
        #expect(tick.code == "600519" && tick.name == "贵州茅台" && tick.price == 1850.5)
        #expect(tick.volume == 12_345_678 && tick.prevClose == 1825.2 && tick.timestamp > 0)
        #expect(harness.recorder.received.first?.streamID == nil)
        #expect(harness.source.snapshot.messages == 1)
        try await harness.finish()
    }

    @Test func anArrayAndATicksObjectBothArriveInOrder() async throws {
        let harness = try Harness(server: try await RedisServer())
        try await harness.startAndWaitUntilConnected()

        try harness.commander.publish(#"[{"code":"600000","price":10.5},{"code":"000001","price":12.25,"volume":7}]"#)
        try harness.commander.publish(#"{"ticks":[{"code":"600036","price":35.1,"prev_close":34.9},{"code":"601318","price":48}]}"#)

        try await eventually("four ticks") { harness.recorder.ticks.count == 4 }
        #expect(harness.recorder.ticks.map(\.code) == ["600000", "000001", "600036", "601318"])
        // Optional fields stay left out, as in POST /api/ticks: the decider fills them in from what it knows.
        #expect(harness.recorder.ticks[0].name == nil && harness.recorder.ticks[0].volume == nil && harness.recorder.ticks[0].prevClose == nil)
        #expect(harness.recorder.ticks[1].volume == 7 && harness.recorder.ticks[2].prevClose == 34.9)
        try await harness.finish()
    }

    @Test func malformedMessagesAreCountedAndTheNextGoodOneStillArrives() async throws {
        let harness = try Harness(server: try await RedisServer())
        try await harness.startAndWaitUntilConnected()

        try harness.commander.publish("this is not json")
        try harness.commander.publish(#"{"code":"600519"}"#)  // no price
        try harness.commander.publish(#"{"code":"600519","price":-1}"#)  // the decider would refuse it
        try harness.commander.publish(Self.tick)

        try await eventually("the good tick") { harness.recorder.ticks.count == 1 }
        let snapshot = harness.source.snapshot
        #expect(snapshot.malformed == 3)
        #expect(snapshot.messages == 4)
        #expect(snapshot.state == .connected)
        try await harness.finish()
    }

    @Test func theGoodTicksOfAStreamEntryArriveAndEachBadOneIsCounted() async throws {
        let server = try await RedisServer()
        let harness = try Harness(server: server, channel: nil, stream: "ticks-stream", resumeAfter: "0-0")
        let entry = try harness.commander.xadd(
            "ticks-stream", ["tick": #"[{"code":"600000","price":"10.5"},{"code":"000001","price":12},null]"#])
        try await harness.startAndWaitUntilConnected()

        try await eventually("the entry") { harness.recorder.received.last?.streamID == entry }
        #expect(harness.recorder.ticks.map(\.code) == ["000001"])
        #expect(harness.source.snapshot.malformed == 2)
        try await harness.finish()
    }

    @Test func aBatchTheBrokerRefusesIsSkippedAndReadingGoesOn() async throws {
        let recorder = BatchRecorder(refusing: { $0.ticks.first?.code == "000001" })
        let harness = try Harness(server: try await RedisServer(), recorder: recorder)
        try await harness.startAndWaitUntilConnected()

        try harness.commander.publish(#"{"code":"000001","price":12}"#)
        try await eventually("the refusal") { harness.source.snapshot.deliveryFailures == 1 }
        try harness.commander.publish(Self.tick)

        try await eventually("the tick after the refused one") { recorder.ticks.count == 1 }
        #expect(recorder.ticks.first?.code == "600519")
        #expect(harness.source.snapshot.deliveryFailures == 1)
        try await harness.finish()
    }

    @Test func aBurstOfMessagesArrivesCompleteAndInOrder() async throws {
        let harness = try Harness(server: try await RedisServer())
        try await harness.startAndWaitUntilConnected()

        let codes = (0..<2_000).map { String(format: "6%05d", $0) }
        for code in codes { try harness.commander.publish(#"{"code":"\#(code)","price":10}"#) }

        try await eventually("all ticks of the burst") { harness.recorder.ticks.count == codes.count }
        #expect(harness.recorder.ticks.map(\.code) == codes)
        try await harness.finish()
    }

    @Test func ticksReadJustBeforeRedisClosesTheConnectionAreStillDelivered() async throws {
        let server = try await RedisServer()
        let commander = try server.commander()
        let recorder = BatchRecorder()
        // The first batch is held in the callback, so the messages after it wait unread on the socket.
        let entered = Flag()
        let released = Flag()
        let source = try RedisTickSource(
            configuration: RedisTickSourceConfiguration(
                url: server.url, backoff: ReconnectBackoff(initial: .milliseconds(20), maximum: .milliseconds(200)))
        ) { batch in
            entered.set()
            while !released.isSet { try await Task.sleep(for: .milliseconds(5)) }
            try await recorder.deliver(batch)
        }
        source.start()
        try await eventually("the source to connect") { source.snapshot.state == .connected }
        try commander.publish(#"{"code":"600519","price":1850}"#)
        try await eventually("the first batch to be in the callback") { entered.isSet }

        try commander.publish(#"{"code":"000001","price":12}"#)
        try commander.publish(#"{"code":"600036","price":35}"#)
        // Redis closes the connection right behind the two messages: the reader reads them, then the end.
        try commander.killSubscribers()
        released.set()

        try await eventually("all three ticks") { recorder.ticks.count == 3 }
        #expect(recorder.ticks.map(\.code) == ["600519", "000001", "600036"])
        try await eventually("the source to reconnect") { source.snapshot.reconnects == 1 }
        try await finishes("stop()") { await source.stop() }
    }

    @Test func streamEntriesArriveWithTheirIDsAndAResumedSourceGetsOnlyNewerOnes() async throws {
        let server = try await RedisServer()
        let commander = try server.commander()
        let first = try commander.xadd("ticks-stream", ["tick": Self.tick])
        let second = try commander.xadd("ticks-stream", ["code": "600000", "name": "浦发银行", "price": "10.5", "volume": "100"])
        let third = try commander.xadd("ticks-stream", ["tick": #"[{"code":"000001","price":12},{"code":"600036","price":35}]"#])

        let reader = try Harness(server: server, channel: nil, stream: "ticks-stream", resumeAfter: "0-0")
        try await reader.startAndWaitUntilConnected()
        try await eventually("all three entries") { reader.recorder.received.last?.streamID == third }
        try await reader.finish()
        #expect(reader.recorder.ticks.map(\.code) == ["600519", "600000", "000001", "600036"])
        #expect(reader.recorder.ticks[1].name == "浦发银行" && reader.recorder.ticks[1].volume == 100)
        #expect(reader.source.snapshot.lastStreamID == third)
        #expect(first < second && second < third)

        // What a broker restart does: journal the last id, start over with it.
        let fourth = try commander.xadd("ticks-stream", ["code": "601318", "price": "48"])
        let fifth = try commander.xadd("ticks-stream", ["code": "600887", "price": "30"])
        let resumed = try Harness(server: server, channel: nil, stream: "ticks-stream", resumeAfter: third)
        try await resumed.startAndWaitUntilConnected()
        try await eventually("the two newer entries") { resumed.recorder.received.last?.streamID == fifth }
        try await resumed.finish()

        #expect(resumed.recorder.ticks.map(\.code) == ["601318", "600887"])
        #expect(resumed.recorder.received.compactMap(\.streamID).allSatisfy { $0 == fourth || $0 == fifth })
    }

    @Test func aStreamTrimmedPastTheResumePositionIsLoggedAndCountedAsAGapAndReadingGoesOn() async throws {
        let server = try await RedisServer()
        let commander = try server.commander()
        let journaled = try commander.xadd("ticks-stream", ["code": "600000", "price": "10"])
        try commander.xadd("ticks-stream", ["code": "600001", "price": "11"])
        let kept = try commander.xadd("ticks-stream", ["code": "600002", "price": "12"])
        try commander.xtrim("ticks-stream", maxLength: 1)

        let logs = LogRecorder()
        let harness = try Harness(server: server, channel: nil, stream: "ticks-stream", resumeAfter: journaled, logger: logs.logger())
        try await harness.startAndWaitUntilConnected()

        try await eventually("the entry after the gap") { harness.recorder.received.last?.streamID == kept }
        #expect(harness.recorder.ticks.map(\.code) == ["600002"])
        #expect(harness.source.snapshot.gaps == 1)
        let errors = logs.all.filter { $0.level == .error }
        #expect(errors.count == 1)
        #expect(errors.first?.metadata["after"] == journaled && errors.first?.metadata["first_entry"] == kept)
        try await harness.finish()
    }

    /// `0-0` is the position pinned while the stream was empty: reading after it takes every
    /// entry, so entries added since are no gap.
    @Test func resumingFromTheStartOfAStreamIsNoGap() async throws {
        let server = try await RedisServer()
        let commander = try server.commander()
        try commander.xadd("ticks-stream", ["code": "600000", "price": "10"])
        let second = try commander.xadd("ticks-stream", ["code": "600001", "price": "11"])
        let logs = LogRecorder()
        let harness = try Harness(server: server, channel: nil, stream: "ticks-stream", resumeAfter: "0-0", logger: logs.logger())
        try await harness.startAndWaitUntilConnected()
        try await eventually("both entries") { harness.recorder.received.last?.streamID == second }
        #expect(harness.recorder.ticks.map(\.code) == ["600000", "600001"])
        #expect(harness.source.snapshot.gaps == 0)
        #expect(logs.all.filter { $0.level == .error }.isEmpty)
        try await harness.finish()
    }

    /// Entries added after `0-0` was pinned and trimmed away before any was read are a gap too:
    /// the stream says more were ever added than it holds.
    @Test func entriesTrimmedBeforeAnyWasReadAfterTheStartAreAGap() async throws {
        let server = try await RedisServer()
        let commander = try server.commander()
        try commander.xadd("ticks-stream", ["code": "600000", "price": "10"])
        let kept = try commander.xadd("ticks-stream", ["code": "600001", "price": "11"])
        try commander.xtrim("ticks-stream", maxLength: 1)
        let logs = LogRecorder()
        let harness = try Harness(server: server, channel: nil, stream: "ticks-stream", resumeAfter: "0-0", logger: logs.logger())
        try await harness.startAndWaitUntilConnected()
        try await eventually("the entry kept") { harness.recorder.received.last?.streamID == kept }
        #expect(harness.recorder.ticks.map(\.code) == ["600001"])
        #expect(harness.source.snapshot.gaps == 1)
        let errors = logs.all.filter { $0.level == .error }
        #expect(errors.count == 1 && errors.first?.metadata["after"] == "0-0" && errors.first?.metadata["first_entry"] == kept)
        try await harness.finish()
    }

    @Test func aStreamEntryWithMoreTicksThanOneBatchTakesIsRefusedWholeAndThePositionMovesPastIt() async throws {
        let server = try await RedisServer()
        let logs = LogRecorder()
        let harness = try Harness(
            server: server, channel: nil, stream: "ticks-stream", resumeAfter: "0-0", limits: Limits(maxTicksPerBatch: 3),
            logger: logs.logger())
        try harness.commander.xadd("ticks-stream", ["tick": #"[{"code":"600000","price":1},{"code":"600001","price":1}]"#])
        let tooLarge = try harness.commander.xadd(
            "ticks-stream", ["tick": "[" + (2...5).map { #"{"code":"60000\#($0)","price":1}"# }.joined(separator: ",") + "]"])
        try await harness.startAndWaitUntilConnected()

        // Split, its first parts would be journaled without its id, and read and journaled again after a restart.
        try await eventually("the entry before it, with the refused entry's id") { harness.recorder.received.last?.streamID == tooLarge }
        #expect(harness.recorder.ticks.map(\.code) == ["600000", "600001"])
        #expect(harness.source.snapshot.malformed == 1)
        #expect(logs.all.contains { $0.message.contains("malformed") && $0.metadata["reason"]?.contains("\(tooLarge) holds 4 ticks") == true })
        let after = try harness.commander.xadd("ticks-stream", ["code": "600009", "price": "1"])
        try await eventually("the entry after it") { harness.recorder.received.last?.streamID == after }
        #expect(harness.recorder.ticks.map(\.code) == ["600000", "600001", "600009"])
        try await harness.finish()
    }

    @Test func aPubSubMessageWithMoreTicksThanOneBatchTakesIsSplit() async throws {
        let harness = try Harness(server: try await RedisServer(), limits: Limits(maxTicksPerBatch: 3))
        try await harness.startAndWaitUntilConnected()

        try harness.commander.publish("[" + (0...4).map { #"{"code":"60000\#($0)","price":1}"# }.joined(separator: ",") + "]")

        try await eventually("all five ticks") { harness.recorder.ticks.count == 5 }
        #expect(harness.recorder.received.map(\.ticks.count) == [3, 2])
        try await harness.finish()
    }

    @Test func aStreamBatchTheJournalCouldNotTakeIsDeliveredAgainNotSkipped() async throws {
        let server = try await RedisServer()
        let commander = try server.commander()
        try commander.xadd("ticks-stream", ["code": "600519", "price": "1850"])
        let dir = try TemporaryDirectory()
        let journal = try Journal.open(path: dir.path("j.sqlite"))
        defer { journal.close() }
        let store = try EventStore(journal: journal)
        let position = "redis-stream:ticks-stream"
        let source = try RedisTickSource(
            configuration: RedisTickSourceConfiguration(
                url: server.url, channel: nil, stream: "ticks-stream", streamBlock: .milliseconds(200),
                backoff: ReconnectBackoff(initial: .milliseconds(20), maximum: .milliseconds(200))),
            resumeAfter: "0-0"
        ) { batch in
            // As the broker does: a stream batch's ticks and its position in one commit.
            if let id = batch.streamID {
                try await store.execute(.ingestFromSource(batch.ticks, source: position, position: id))
            } else {
                try await store.execute(.ingestTicks(batch.ticks))
            }
        }

        // As while an offline `journal compact` runs: appends fail once their busy timeout is over.
        let lock = try JournalWriteLock(path: dir.path("j.sqlite"))
        source.start()
        try await eventually("the first entry's commit to fail", within: .seconds(60)) { source.snapshot.deliveryFailures >= 1 }
        lock.release()
        let second = try commander.xadd("ticks-stream", ["code": "000001", "price": "12"])

        var journaledPosition: String?
        for _ in 0..<2_000 where journaledPosition != second {
            try await Task.sleep(for: .milliseconds(10))
            journaledPosition = await store.read { $0.sourcePositions[position] }
        }
        try await finishes("stop()") { await source.stop() }
        #expect(journaledPosition == second)
        let journaled = await store.read { projection in ["600519", "000001"].filter { projection.lastPrices[$0] != nil } }
        #expect(journaled == ["600519", "000001"], "the entry whose commit failed is journaled too")
    }

    @Test func aStreamBatchTheBrokerRefusesIsSkippedAndReadingGoesOn() async throws {
        let server = try await RedisServer()
        let recorder = BatchRecorder(refusing: { $0.ticks.first?.code == "000001" })
        let harness = try Harness(server: server, channel: nil, stream: "ticks-stream", resumeAfter: "0-0", recorder: recorder)
        try harness.commander.xadd("ticks-stream", ["code": "000001", "price": "12"])
        try await harness.startAndWaitUntilConnected()
        try await eventually("the refusal") { harness.source.snapshot.deliveryFailures == 1 }
        let good = try harness.commander.xadd("ticks-stream", ["code": "600519", "price": "1850"])

        try await eventually("the entry after the refused one") { recorder.received.last?.streamID == good }
        #expect(recorder.ticks.map(\.code) == ["600519"])
        #expect(harness.source.snapshot.deliveryFailures == 1)
        try await harness.finish()
    }

    @Test func withoutAResumeIDOnlyEntriesAddedAfterTheStartArrive() async throws {
        let server = try await RedisServer()
        let commander = try server.commander()
        try commander.xadd("ticks-stream", ["code": "000001", "price": "12"])

        let harness = try Harness(server: server, channel: nil, stream: "ticks-stream")
        try await harness.startAndWaitUntilConnected()
        let newer = try commander.xadd("ticks-stream", ["code": "600000", "price": "10.5"])

        try await eventually("the newer entry") { harness.recorder.received.last?.streamID == newer }
        #expect(harness.recorder.ticks.map(\.code) == ["600000"])
        try await harness.finish()
    }

    /// A Redis that stops answering (frozen, stuck in a slow command) keeps the connection: the
    /// subscription PINGs it after a quiet spell and, with no answer, is no longer `connected`
    /// (/readyz and the stats said connected for as long as it lasted). Once it answers again,
    /// ticks flow again.
    @Test func aSubscriptionToARedisThatStoppedAnsweringIsNotConnected() async throws {
        let server = try await RedisServer()
        defer { server.thaw() }
        let harness = try Harness(server: server, healthCheckInterval: .milliseconds(200))
        try await harness.startAndWaitUntilConnected()
        try await Task.sleep(for: .milliseconds(600))
        #expect(harness.source.snapshot.state == .connected, "a quiet Redis that answers its PINGs stays connected")

        server.freeze()
        try await eventually("the source to see Redis gone") { harness.source.snapshot.state != .connected }
        server.thaw()
        try await eventually("the source to reconnect") { harness.source.snapshot.state == .connected }
        try harness.commander.publish(Self.tick)
        try await eventually("a tick after Redis answers again") { harness.recorder.ticks.count == 1 }
        try await harness.finish()
    }

    @Test func afterRedisIsKilledAndRestartedTicksFlowAgain() async throws {
        let server = try await RedisServer()
        let harness = try Harness(server: server, channel: "ticks", stream: "ticks-stream")
        try await harness.startAndWaitUntilConnected()
        try harness.commander.publish(Self.tick)
        try harness.commander.xadd("ticks-stream", ["code": "600000", "price": "10.5"])
        try await eventually("ticks before the crash") { harness.recorder.ticks.count == 2 }

        server.kill()
        try await eventually("the source to back off") {
            harness.source.snapshot.channelState == .backingOff && harness.source.snapshot.streamState == .backingOff
        }
        #expect(harness.source.snapshot.lastError != nil)
        try await server.start()
        try await eventually("the source to reconnect") { harness.source.snapshot.state == .connected }

        let commander = try server.commander()
        try commander.publish(#"{"code":"000001","price":12}"#)
        try commander.xadd("ticks-stream", ["code": "600036", "price": "35"])
        try await eventually("ticks after the restart") { harness.recorder.ticks.count == 4 }
        #expect(Set(harness.recorder.ticks.suffix(2).map(\.code)) == ["000001", "600036"])
        #expect(harness.source.snapshot.reconnects >= 2)
        try await harness.finish()
    }

    @Test func aReadRedisRefusesEveryTimeBacksOffEverLongerAndWarnsOnce() async throws {
        let server = try await RedisServer()
        // Connecting works; every XREAD is refused (WRONGTYPE).
        try server.commander().set("ticks-stream", "not a stream")
        let logs = LogRecorder()
        let source = try RedisTickSource(
            configuration: RedisTickSourceConfiguration(
                url: server.url, channel: nil, stream: "ticks-stream",
                backoff: ReconnectBackoff(initial: .milliseconds(10), maximum: .seconds(1))),
            resumeAfter: "0-0", logger: logs.logger(), deliver: { _ in })
        source.start()

        func retries() -> [(attempt: String, delay: Double)] {
            logs.all.filter { $0.message == "Redis reconnect failed" }.map { line in
                (line.metadata["attempt"] ?? "", Double(line.metadata["retryIn"]?.split(separator: " ").first ?? "") ?? 0)
            }
        }
        try await eventually("four failed sessions") { retries().count >= 3 }
        try await finishes("stop()") { await source.stop() }

        #expect(source.snapshot.lastError?.contains("WRONGTYPE") == true)
        #expect(logs.all.filter { $0.level == .warning }.count == 1, "one warning for the whole outage")
        #expect(!logs.all.contains { $0.message.contains("restored") })
        #expect(source.snapshot.reconnects == 0)
        let fourth = try #require(retries().first { $0.attempt == "4" })
        // Doubling from 10 ms: the fourth wait is 40 to 80 ms, longer than a first one (5 to 10 ms) could be.
        #expect(fourth.delay >= 0.04)
    }

    @Test func stopEndsTheReadersAndClosesTheirConnections() async throws {
        let harness = try Harness(server: try await RedisServer(), channel: "ticks", stream: "ticks-stream")
        try await harness.startAndWaitUntilConnected()
        #expect(try harness.commander.subscribers() == 1)

        try await harness.finish()

        let snapshot = harness.source.snapshot
        #expect(snapshot.state == .stopped && snapshot.channelState == .stopped && snapshot.streamState == .stopped)
        try await eventually("Redis to see the subscriber go") { try harness.commander.subscribers() == 0 }
        try harness.commander.publish(Self.tick)
        #expect(harness.recorder.ticks.isEmpty)
    }

    @Test func stopInterruptsABackoffWhenRedisIsUnreachable() async throws {
        let url = RedisURL(host: "127.0.0.1", port: try RedisServer.freePort())
        let configuration = RedisTickSourceConfiguration(
            url: url, stream: "ticks-stream", backoff: ReconnectBackoff(initial: .seconds(30), maximum: .seconds(30)))
        let source = try RedisTickSource(configuration: configuration, deliver: { _ in })
        source.start()
        try await eventually("the source to back off") { source.snapshot.state == .backingOff }

        try await finishes("stop() during a 30 s backoff", within: .seconds(10)) { await source.stop() }
        #expect(source.snapshot.state == .stopped)
        #expect(source.snapshot.lastError?.contains("cannot connect") == true)
    }

    @Test func aConnectionWhoseNameRedisRefusesServesAsAnyOther() async throws {
        let server = try await RedisServer()
        let admin = try server.commander()
        // A user whose ACL allows everything but CLIENT.
        #expect(try admin.command("ACL", "SETUSER", "feeder", "on", ">feeder-secret", "~*", "&*", "+@all", "-client") == .status("OK"))
        let url = RedisURL(host: server.url.host, port: server.url.port, user: "feeder", password: "feeder-secret")
        let connection = try RedisConnection(url: url, timeout: .seconds(2), name: "brokerd:node-a:channel")
        connection.setReadTimeout(.seconds(2))
        #expect(try connection.command(["PING"]) == .status("PONG"))
        #expect(try admin.clientIDsByName()["brokerd:node-a:channel"] == nil, "Redis refused the name")
        let named = try RedisConnection(url: server.url, timeout: .seconds(2), name: "brokerd:node-a:channel")
        #expect(try admin.clientIDsByName()["brokerd:node-a:channel"] != nil, "the default user may name it")
        named.close()
        connection.close()
    }

    @Test func aSourceNeedsAChannelOrAStreamAndAValidResumeID() throws {
        let url = RedisURL(host: "127.0.0.1")
        #expect(throws: RedisError.self) {
            try RedisTickSource(configuration: .init(url: url, channel: nil, stream: nil), deliver: { _ in })
        }
        #expect(throws: RedisError.self) {
            try RedisTickSource(configuration: .init(url: url, stream: "s"), resumeAfter: "yesterday", deliver: { _ in })
        }
        #expect(throws: Never.self) {
            try RedisTickSource(configuration: .init(url: url, stream: "s"), resumeAfter: "1700000000000-3", deliver: { _ in })
        }
    }
}
