import Testing
import TestSupport
@testable import Broker

@Suite("Projection serialization")
struct ProjectionSerializationTests {
    /// A projection touching every part of the state, gone clients and triggered rules included.
    static let rich: Projection = {
        var events: [Event] = [
            Fixtures.connected("c1", user: "alice"), Fixtures.connected("c2"), Fixtures.connected("c3"),
            Fixtures.subscribed("c1", .stock, "600000"), Fixtures.subscribed("c1", .alerts, "alice"),
            Fixtures.subscribed("c2", .market, "sz"), Fixtures.subscribed("c2", .strategy, "vw"),
            Fixtures.disconnected("c2", deadline: 5_000), Fixtures.disconnected("c3"), Fixtures.connected("c3"),
            Fixtures.signals("vw", ["600000", "000001"]), Fixtures.signals("mom", ["300750"]),
            .priceTicked(Fixtures.tick("600000", price: 12)), .priceTicked(Fixtures.tick("000001", price: 9)),
            .klineUpdated(KlineBar(code: "600000", period: "1m", open: 1, high: 2, low: 1, close: 2, volume: 3, start: 4, closed: true)),
            .alertRuleSet(Fixtures.rule("r1", .above, 11)), .alertRuleSet(Fixtures.rule("r2", user: "bob", .below, 1)),
            .alertTriggered(AlertTriggered(ruleID: "r1", user: "alice", code: "600000", price: 12)),
        ]
        events += (0..<5).map { .newsPublished(Fixtures.news("n\($0)")) }
        return projection(events)
    }()

    @Test("serialized state restores to an equal projection")
    func roundTrip() throws {
        let bytes = Self.rich.serialized()
        #expect(bytes.first == Projection.formatVersion)
        let restored = try Projection(serialized: bytes)
        #expect(restored == Self.rich)
        #expect(restored.serialized() == bytes)
        #expect(try Projection(serialized: Projection().serialized()) == Projection())
    }

    @Test("the same state built in a different order serializes to the same bytes")
    func sameStateSameBytes() {
        let forward = projection([
            Fixtures.connected("a"), Fixtures.connected("b"), Fixtures.connected("c"),
            Fixtures.subscribed("a", .stock, "1"), Fixtures.subscribed("a", .stock, "2"), Fixtures.subscribed("b", .stock, "1"),
            .priceTicked(Fixtures.tick("1", price: 1)), .priceTicked(Fixtures.tick("2", price: 2)),
            .alertRuleSet(Fixtures.rule("r1")), .alertRuleSet(Fixtures.rule("r2")),
        ])
        let shuffled = projection([
            // Connects at the same seqs as above, since connectedAt is part of the state.
            Fixtures.connected("a"), Fixtures.connected("b"), Fixtures.connected("c"), Fixtures.connected("z"),
            Fixtures.subscribed("z", .news, "all"), Fixtures.subscribed("b", .stock, "1"),
            Fixtures.subscribed("a", .stock, "2"), Fixtures.subscribed("a", .stock, "9"), Fixtures.subscribed("a", .stock, "1"),
            Fixtures.unsubscribed("a", .stock, "9"), Fixtures.disconnected("z"), .sessionExpired(SessionExpired(clientID: "z")),
            .priceTicked(Fixtures.tick("2", price: 2)), .priceTicked(Fixtures.tick("1", price: 1)),
            .alertRuleSet(Fixtures.rule("r2")), .alertRuleSet(Fixtures.rule("tmp")), .alertRuleSet(Fixtures.rule("r1")),
            .alertRuleRemoved(AlertRuleRemoved(ruleID: "tmp", user: "alice")),
        ])
        // Different histories differ in seq; align it so only the contents are compared.
        var a = forward
        var b = shuffled
        a.lastSeq = 100
        a.lastTimestamp = 1
        b.lastSeq = 100
        b.lastTimestamp = 1
        #expect(a == b)
        #expect(a.serialized() == b.serialized())
    }

    @Test("a resumed session keeps the start of its first connection through a snapshot")
    func resumedSessionStart() throws {
        let client = try #require(Self.rich.client("c3"))
        #expect(client.startedAt < client.connectedAt)
        #expect(try Projection(serialized: Self.rich.serialized()).client("c3")?.startedAt == client.startedAt)
    }

    @Test("a format 3 snapshot loads with the ids of its news items as the recent news ids")
    func formatThreeLoads() throws {
        let state = Self.rich
        try #require(!state.news.isEmpty)
        let bytes = try formatThreeSnapshot(fromFormatFour: state.serialized(), newsIDs: Array(state.newsIDs.ids))
        let loaded = try Projection(serialized: bytes)
        #expect(loaded == state)
        #expect(Array(loaded.newsIDs.ids) == state.news.map(\.item.id))
    }

    @Test("recent news ids beyond the items kept whole survive a snapshot, in order")
    func newsIDsRoundTrip() throws {
        var state = Projection()
        let total = Projection.newsCapacity + 20
        for index in 0..<total {
            state.apply(RecordedEvent(seq: UInt64(index + 1), timestamp: 1, event: .newsPublished(Fixtures.news("n\(index)"))))
        }
        let loaded = try Projection(serialized: state.serialized())
        #expect(loaded == state)
        #expect(loaded.newsIDs.ids.count == total && loaded.containsNews(id: "n0") && loaded.news.count == Projection.newsCapacity)
    }

    @Test("news ids that do not end with the news items' ids, or repeat, are corrupt")
    func newsIDsChecked() throws {
        var state = Projection()
        state.apply(RecordedEvent(seq: 1, timestamp: 1, event: .newsPublished(Fixtures.news("n1"))))
        let good = state.serialized()
        // The section is the last bytes: count 1, then "n1" (length 2). Swapped for other ids:
        let base = Array(good.dropLast(4))
        for section: [UInt8] in [[1, 2, 0x6E, 0x32], [2, 2, 0x6E, 0x31, 2, 0x6E, 0x31]] {
            #expect(throws: CodecError.self) { try Projection(serialized: base + section) }
        }
        #expect(try Projection(serialized: base + [1, 2, 0x6E, 0x31]) == state)
    }

    @Test("a format 2 snapshot loads, each session started at its latest connect")
    func formatTwoLoads() throws {
        var state = Self.rich
        state.clients["c3"]!.startedAt = state.clients["c3"]!.connectedAt
        // Format 3 ends with the list of resumed sessions' starts, empty here; format 2 had none.
        var bytes = try formatThreeSnapshot(fromFormatFour: state.serialized(), newsIDs: Array(state.newsIDs.ids))
        try #require(bytes.first == 3 && bytes.last == 0)
        bytes.removeLast()
        bytes[0] = 2
        #expect(try Projection(serialized: bytes) == state)
    }

    @Test("a session start that is not before its latest connect is corrupt")
    func lateSessionStartIsCorrupt() throws {
        var state = Self.rich
        state.clients["c3"]!.startedAt = state.clients["c3"]!.connectedAt + 1
        #expect(throws: CodecError.corrupt("session start of 'c3' names no session, or is not before its latest connect")) {
            try Projection(serialized: state.serialized())
        }
    }

    @Test("every truncation of a snapshot throws instead of trapping")
    func everyTruncationThrows() {
        let bytes = Self.rich.serialized()
        for length in 0..<bytes.count {
            #expect(throws: CodecError.self) { try Projection(serialized: Array(bytes[0..<length])) }
        }
    }

    @Test("a newer snapshot format version throws unsupportedVersion")
    func newerVersionThrows() {
        var bytes = Self.rich.serialized()
        bytes[0] = Projection.formatVersion + 1
        #expect(throws: CodecError.unsupportedVersion(found: Projection.formatVersion + 1, supported: Projection.formatVersion)) {
            try Projection(serialized: bytes)
        }
    }

    @Test("trailing bytes after a snapshot throw")
    func trailingBytesThrow() {
        #expect(throws: CodecError.trailingBytes(count: 2)) { try Projection(serialized: Projection().serialized() + [0, 0]) }
    }

    @Test("duplicated keys in a snapshot are rejected as corrupt")
    func duplicateKeysAreCorrupt() {
        var w = BinaryWriter()
        w.write(byte: Projection.formatVersion)
        w.write(varint: 1)
        w.write(signed: 1)
        let client = ClientRecord(id: "c", user: nil, remoteAddress: nil, node: "n", connectedAt: 0, state: .connected)
        w.write(array: [client, client])
        #expect(throws: CodecError.corrupt("client ids out of order or duplicated at 'c'")) { try Projection(serialized: w.bytes) }
    }

    @Test("every single-byte corruption of a snapshot either loads or throws, never traps")
    func byteFlipsNeverTrap() {
        let bytes = Self.rich.serialized()
        for index in bytes.indices {
            for value: UInt8 in [0x00, 0x01, 0xFF] {
                var corrupt = bytes
                corrupt[index] = value
                _ = try? Projection(serialized: corrupt)
            }
        }
    }
}
