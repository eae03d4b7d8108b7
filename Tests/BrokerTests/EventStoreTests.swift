import Foundation
import Journal
import Testing
import TestSupport

@testable import Broker

/// Random but valid-looking command streams, reproducible from a seed.
struct CommandGenerator {
    var random: SeededGenerator
    private var nextClient = 0
    private var nextRule = 0
    private var nextNews = 0
    private var connected: [String] = []
    private var gone: [String] = []
    private var rules: [(id: String, user: String)] = []
    static let codes = (0..<24).map { n in ["600", "000", "300", "688", "830"][n % 5] + String(format: "%03d", n) }
    static let strategies = ["volume_wave", "breakout", "mean_revert"]
    /// False for a history as brokerd wrote it before sources existed (snapshot format 1).
    private let ingestsFromSources: Bool

    init(seed: UInt64, ingestsFromSources: Bool = true) {
        random = SeededGenerator(seed: seed)
        self.ingestsFromSources = ingestsFromSources
    }

    private mutating func pick<T>(_ items: [T]) -> T { items[Int.random(in: 0..<items.count, using: &random)] }

    private mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &random) < p }

    mutating func next(now: Int64) -> Command {
        let roll = Int.random(in: 0..<100, using: &random)
        switch roll {
        case 0..<8 where connected.count < 40 || connected.isEmpty:
            nextClient += 1
            let id = "client_\(String(format: "%08x", nextClient))"
            connected.append(id)
            return .connect(clientID: id, user: chance(0.5) ? "user\(nextClient % 5)" : nil, remoteAddress: "127.0.0.1", node: "node-a")
        case 8..<11 where !connected.isEmpty:
            let id = connected.remove(at: Int.random(in: 0..<connected.count, using: &random))
            gone.append(id)
            return .disconnect(clientID: id, reason: pick([.closed, .heartbeatTimeout, .slowConsumer]), resumeDeadline: now + 300_000_000)
        case 11..<13 where !gone.isEmpty:
            let id = gone.remove(at: Int.random(in: 0..<gone.count, using: &random))
            if chance(0.5) {
                connected.append(id)
                return .connect(clientID: id, user: nil, remoteAddress: "127.0.0.2", node: "node-a", resuming: true)
            }
            return .expireSession(clientID: id)
        case 13..<30 where !connected.isEmpty:
            let subscription = randomSubscription()
            return .subscribe(clientID: pick(connected), subscription: subscription)
        case 30..<35 where !connected.isEmpty:
            return .unsubscribe(clientID: pick(connected), subscription: randomSubscription())
        case 35..<38:
            let codes = Array(Self.codes.shuffled(using: &random).prefix(Int.random(in: 1...6, using: &random)))
            return .replaceSignals(
                strategy: pick(Self.strategies),
                signals: codes.map { Signal(code: $0, name: "S\($0)", signalDate: "2026-11-23", reason: nil) })
        case 38..<42:
            nextNews += 1
            return .publishNews(NewsItem(
                id: "news-\(nextNews)", title: "Headline \(nextNews)", summary: "", url: "https://example.com/\(nextNews)",
                codes: chance(0.5) ? [pick(Self.codes)] : [], category: pick(["macro", "company"]), publishedAt: now))
        case 42..<46:
            nextRule += 1
            let user = "user\(Int.random(in: 0..<5, using: &random))"
            let id = "rule-\(nextRule)"
            rules.append((id, user))
            return .setAlertRule(AlertRule(
                id: id, user: user, code: pick(Self.codes), condition: pick([.above, .below, .changePercent]),
                threshold: Double(Int.random(in: 1...30, using: &random))))
        case 46..<48 where !rules.isEmpty:
            let rule = rules.remove(at: Int.random(in: 0..<rules.count, using: &random))
            return .removeAlertRule(ruleID: rule.id, user: rule.user)
        case 48..<50:
            let code = pick(Self.codes)
            let open = Double(Int.random(in: 10...20, using: &random))
            return .ingestBar(KlineBar(
                code: code, period: pick(["1m", "5m"]), open: open, high: open + 2, low: open - 1, close: open + 1,
                volume: 100, start: now / 60_000_000 * 60_000_000, closed: chance(0.3)))
        default:
            // Some leave out what the decider fills in from earlier ticks: replay must not guess again.
            let ticks = (0..<Int.random(in: 1...8, using: &random)).map { _ in
                FedTick(
                    code: pick(Self.codes), name: chance(0.2) ? nil : "Stock", price: Double(Int.random(in: 500...3_000, using: &random)) / 100,
                    volume: chance(0.2) ? nil : Int64.random(in: 0...1_000_000, using: &random), prevClose: chance(0.2) ? nil : 15, timestamp: now)
            }
            if chance(0.1), ingestsFromSources {
                return .ingestFromSource(ticks, source: "redis-stream:ticks", position: "\(now)-0")
            }
            return .ingestTicks(ticks)
        }
    }

    private mutating func randomSubscription() -> Subscription {
        switch Int.random(in: 0..<4, using: &random) {
        case 0: Subscription(type: .strategy, target: pick(Self.strategies))
        case 1: Subscription(type: .stock, target: pick(Self.codes))
        case 2: Subscription(type: .market, target: pick(["sh", "sz", "bj"]))
        default: Subscription(type: .news, target: pick(["all", "macro"]))
        }
    }
}

@Suite struct EventStoreTests {
    /// Runs `count` generated commands through a store, `concurrency` at a time; refusals are fine.
    private func drive(_ store: EventStore, generator: inout CommandGenerator, count: Int, concurrency: Int) async throws {
        var issued = 0
        while issued < count {
            let projection = await store.projection
            // Alert rules that the last ticks armed get triggered, as the alert publisher will do.
            var commands: [Command] = []
            for price in projection.lastPrices.values.sorted(by: { $0.code < $1.code }).prefix(3) {
                for rule in projection.alerts.rulesToTrigger(for: price) {
                    commands.append(.triggerAlert(ruleID: rule.id, price: price.price))
                }
            }
            while commands.count < concurrency {
                commands.append(generator.next(now: WallClock.microsecondsNow()))
            }
            issued += commands.count
            try await withThrowingTaskGroup(of: Void.self) { group in
                for command in commands {
                    group.addTask {
                        do {
                            try await store.execute(command)
                        } catch is BrokerError {
                            // Refused commands write nothing; the projections must agree regardless.
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
    }

    /// A store on a new journal at `path` that writes snapshots only when asked, with 200 events
    /// of `generator` driven into it.
    private func drivenStore(at path: String, generator: inout CommandGenerator) async throws -> (Journal, EventStore) {
        let journal = try Journal.open(path: path)
        let store = try EventStore(journal: journal, snapshotInterval: 1_000_000)
        try await drive(store, generator: &generator, count: 200, concurrency: 4)
        return (journal, store)
    }

    private func fullReplay(_ path: String, untilSeq: UInt64? = nil) throws -> Projection {
        try ProjectionLoader(logger: .init(label: "test")).load(from: JournalReader(path: path), untilSeq: untilSeq, useSnapshots: false).projection
    }

    @Test(arguments: [1, 2, 3] as [UInt64])
    func snapshotPlusTailEqualsFullReplayEqualsLiveState(seed: UInt64) async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("j.sqlite")
        let journal = try Journal.open(path: path)
        let store = try EventStore(journal: journal, snapshotInterval: 97)
        var generator = CommandGenerator(seed: seed)
        try await drive(store, generator: &generator, count: 2_500, concurrency: 8)
        let live = await store.projection
        journal.close()

        #expect(live.lastSeq > 1_000)
        let full = try fullReplay(path)
        #expect(full.serialized() == live.serialized())
        #expect(full == live)

        // From the snapshots the store wrote on its own, plus the tail.
        let reader = try JournalReader(path: path)
        #expect(!(try reader.snapshots()).isEmpty)
        let recovered = try ProjectionLoader(logger: .init(label: "test")).load(from: reader)
        #expect(recovered.snapshotSeq != nil)
        #expect(recovered.projection.serialized() == live.serialized())

        // From a snapshot at random seqs, plus the tail.
        var random = SeededGenerator(seed: seed &* 31)
        for _ in 0..<5 {
            let seq = UInt64.random(in: 1..<live.lastSeq, using: &random)
            var state = try Projection(serialized: try fullReplay(path, untilSeq: seq).serialized())
            #expect(state.lastSeq == seq)
            let tail = try reader.records(JournalQuery(fromSeq: seq + 1))
            while let record = try tail.next() {
                state.apply(RecordedEvent(
                    seq: record.seq, timestamp: record.timestamp,
                    event: try EventCodec.decode(kind: record.kind, payload: record.payload)))
            }
            #expect(state.serialized() == live.serialized(), "snapshot at seq \(seq) + tail differs")
        }
    }

    /// A reloaded `snapshot_interval`: a shorter one writes a snapshot as soon as that many events
    /// are applied since the last (at once when they already are), a longer one writes none sooner.
    @Test func aChangedSnapshotIntervalTakesEffectFromTheLastSnapshot() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("j.sqlite")
        var generator = CommandGenerator(seed: 7)
        let (journal, store) = try await drivenStore(at: path, generator: &generator)
        let reader = try JournalReader(path: path)
        #expect(try reader.snapshots().isEmpty)

        let due = await store.projection.lastSeq
        await store.setSnapshotInterval(50)
        // Snapshots are written off the store's executor: waits for `count` of them.
        func snapshotSeqs(atLeast count: Int) async throws -> [UInt64] {
            for _ in 0..<400 {
                let seqs = try reader.snapshots().map(\.seq).sorted()
                if seqs.count >= count { return seqs }
                try await Task.sleep(for: .milliseconds(10))
            }
            return try reader.snapshots().map(\.seq).sorted()
        }
        #expect(try await snapshotSeqs(atLeast: 1) == [due], "written at once: more than 50 events since none")

        try await drive(store, generator: &generator, count: 150, concurrency: 1)
        // The oldest may be pruned (three are kept): those after `due` are at least 50 events apart.
        let newer = try await snapshotSeqs(atLeast: 2).filter { $0 > due }
        #expect(!newer.isEmpty && zip([due] + newer, newer).allSatisfy { $1 - $0 >= 50 }, "\(due) then \(newer)")

        await store.setSnapshotInterval(1_000_000)
        let before = try reader.snapshots().map(\.seq).max()
        try await drive(store, generator: &generator, count: 100, concurrency: 1)
        try await Task.sleep(for: .milliseconds(100))
        #expect(try reader.snapshots().map(\.seq).max() == before, "none within the longer interval")
        journal.close()
    }

    @Test func reopenedStoreContinuesFromTheSameState() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("j.sqlite")
        var generator = CommandGenerator(seed: 42)
        let first = try Journal.open(path: path)
        let store = try EventStore(journal: first, snapshotInterval: 50)
        try await drive(store, generator: &generator, count: 400, concurrency: 4)
        let before = await store.projection
        first.close()

        let second = try Journal.open(path: path)
        let reopened = try EventStore(journal: second, snapshotInterval: 50)
        #expect(await reopened.projection == before)
        #expect(reopened.recovery.snapshotSeq != nil)
        try await drive(reopened, generator: &generator, count: 200, concurrency: 4)
        let after = await reopened.projection
        second.close()
        #expect(try fullReplay(path) == after)
    }

    @Test func aCorruptSnapshotIsSkippedForAnOlderOneOrAFullReplay() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("j.sqlite")
        var generator = CommandGenerator(seed: 7)
        let (journal, store) = try await drivenStore(at: path, generator: &generator)
        try await store.snapshot()
        try await drive(store, generator: &generator, count: 200, concurrency: 4)
        try await store.snapshot()
        let live = await store.projection
        let newest = try #require(try journal.reader().snapshots().first)
        // A snapshot whose checksum holds but whose bytes do not decode, written through the API.
        try await journal.writeSnapshot(seq: newest.seq + 1, format: Int64(Projection.formatVersion), data: [0xFF, 0x01, 0x02])
        journal.close()
        try rawSQL(path, "UPDATE snapshots SET data = X'00' WHERE seq = \(newest.seq)")

        let recovered = try ProjectionLoader(logger: .init(label: "test")).load(from: JournalReader(path: path))
        #expect(recovered.skippedSnapshots.map(\.seq) == [newest.seq + 1, newest.seq])
        #expect(recovered.snapshotSeq != nil && recovered.snapshotSeq! < newest.seq)
        #expect(recovered.projection == live)
    }

    /// The journal lost its last rows (cut off, restored from an older copy) but kept a later
    /// snapshot: the state is rebuilt from the rows there are, not taken from beyond them.
    @Test func aSnapshotPastTheJournalsLastRowIsSkipped() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("j.sqlite")
        let journal = try Journal.open(path: path)
        let store = try EventStore(journal: journal, snapshotInterval: 1_000_000)
        var generator = CommandGenerator(seed: 9)
        try await drive(store, generator: &generator, count: 100, concurrency: 1)
        let kept = await store.projection
        try await drive(store, generator: &generator, count: 100, concurrency: 1)
        try await store.snapshot()
        let snapshotSeq = await store.projection.lastSeq
        journal.close()
        try rawSQL(path, "DELETE FROM events WHERE seq > \(kept.lastSeq)")
        // The anchor set to the rows there are, as a restored copy would have it (with the anchor
        // past them, a replay to the end refuses the file: `ReplayChainCheckTests`).
        try rawSQL(path, """
            UPDATE meta SET value = \(kept.lastSeq) WHERE key = 'head_seq';
            UPDATE meta SET value = (SELECT hash FROM events WHERE seq = \(kept.lastSeq)) WHERE key = 'head_hash';
            """)

        let recovered = try ProjectionLoader(logger: .init(label: "test")).load(from: JournalReader(path: path))
        #expect(recovered.skippedSnapshots.map(\.seq) == [snapshotSeq])
        #expect(recovered.skippedSnapshots.first?.reason.contains("past the journal's last row \(kept.lastSeq)") == true)
        #expect(recovered.projection == kept)

        // Served again: the snapshot is removed, so once appends pass its seq it is not taken for
        // the state there.
        let reopened = try Journal.open(path: path)
        #expect(reopened.removedSnapshotSeqs == [snapshotSeq])
        let served = try EventStore(journal: reopened, snapshotInterval: 1_000_000)
        #expect(await served.projection == kept)
        try await drive(served, generator: &generator, count: 200, concurrency: 1)
        let later = await served.projection
        #expect(later.lastSeq > snapshotSeq)
        reopened.close()
        #expect(try JournalReader(path: path).snapshots().isEmpty)
        #expect(try ProjectionLoader(logger: .init(label: "test")).load(from: JournalReader(path: path)).projection == later)
    }

    @Test func aRefusedCommandWritesNothing() async throws {
        let dir = try TemporaryDirectory()
        let journal = try Journal.open(path: dir.path("j.sqlite"))
        let store = try EventStore(journal: journal)
        await #expect(throws: BrokerError.self) {
            try await store.execute(.subscribe(clientID: "client_00000001", subscription: Subscription(type: .stock, target: "600519")))
        }
        #expect(journal.lastSeq == 0)
        #expect(await store.projection.lastSeq == 0)
        journal.close()
    }

    @Test func aFailedAppendLeavesTheProjectionUnchanged() async throws {
        let dir = try TemporaryDirectory()
        let journal = try Journal.open(path: dir.path("j.sqlite"), options: JournalOptions(maxSizeBytes: 128 * 1024))
        let store = try EventStore(journal: journal)
        let bigNews = { (n: Int) in
            NewsItem(id: "n\(n)", title: "t", summary: String(repeating: "x", count: 8_000), url: "", codes: [], category: "macro", publishedAt: 0)
        }
        var failed = false
        for n in 0..<100 {
            let before = await store.projection
            do {
                try await store.execute(.publishNews(bigNews(n)))
            } catch is JournalError {
                failed = true
                #expect(await store.projection == before)
                break
            }
        }
        #expect(failed)
        journal.close()
    }
}
