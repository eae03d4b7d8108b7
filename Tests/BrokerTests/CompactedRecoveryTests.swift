import Foundation
import Journal
import Testing
import TestSupport

@testable import Broker

/// A compacted journal recovers to exactly the state of the uncompacted one, from its snapshot;
/// states before the compaction point come back with the archive, and never silently without it.
@Suite struct CompactedRecoveryTests {
    private let loader = ProjectionLoader(logger: .init(label: "test"))

    /// Runs generated commands one by one; refused commands write nothing and are skipped.
    private func drive(_ store: EventStore, _ generator: inout CommandGenerator, count: Int) async throws {
        for _ in 0..<count {
            do {
                try await store.execute(generator.next(now: WallClock.microsecondsNow()))
            } catch is BrokerError {}
        }
    }

    /// A journal with a store-written snapshot in the middle; returns it with a copy taken before compaction.
    private func journalWithHistory(
        seed: UInt64, ingestsFromSources: Bool = true
    ) async throws -> (dir: TemporaryDirectory, live: String, uncompacted: String, snapshotSeq: UInt64, state: Projection) {
        let dir = try TemporaryDirectory()
        let path = dir.path("j.sqlite")
        let journal = try Journal.open(path: path)
        let store = try EventStore(journal: journal, snapshotInterval: 1_000_000)
        var generator = CommandGenerator(seed: seed, ingestsFromSources: ingestsFromSources)
        try await drive(store, &generator, count: 600)
        try await store.snapshot()
        let snapshotSeq = await store.projection.lastSeq
        try await drive(store, &generator, count: 400)
        let state = await store.projection
        journal.close()
        let uncompacted = dir.path("uncompacted.sqlite")
        try FileManager.default.copyItem(atPath: path, toPath: uncompacted)
        return (dir, path, uncompacted, snapshotSeq, state)
    }

    private func compact(_ path: String, before seq: UInt64, into archive: String) throws -> CompactionReport {
        try JournalCompactor(journalPath: path, archivePath: archive).compact(beforeSeq: seq)
    }

    /// `brokerd journal snapshot` beside a busy broker: rows committed while the loader reads must
    /// not look like a hole in the history (the loader read the journal's end after its rows).
    @Test func aLoadBesideAWriterStopsAtTheLastRowThereWhenItBegan() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("j.sqlite")
        let journal = try Journal.open(path: path)
        let store = try EventStore(journal: journal, snapshotInterval: 1_000_000)
        var generator = CommandGenerator(seed: 7)
        try await drive(store, &generator, count: 2_000)
        let writing = Task {
            var more = CommandGenerator(seed: 8)
            while !Task.isCancelled { try await drive(store, &more, count: 10) }
        }
        defer { writing.cancel() }
        let reader = try JournalReader(path: path)
        for attempt in 0..<30 {
            let before = try #require(try reader.last()?.seq)
            let loaded = try loader.load(from: reader, useSnapshots: false)
            #expect(loaded.projection.lastSeq >= before, "attempt \(attempt)")
        }
        writing.cancel()
        _ = await writing.result
        journal.close()
    }

    @Test(arguments: [11, 12] as [UInt64])
    func aCompactedJournalRecoversTheSameProjectionAsTheUncompactedOne(seed: UInt64) async throws {
        let history = try await journalWithHistory(seed: seed)
        let archive = history.dir.path("archive.sqlite")
        let report = try compact(history.live, before: history.snapshotSeq + 1, into: archive)
        #expect(report.base.seq == history.snapshotSeq)

        let compacted = try loader.load(from: JournalReader(path: history.live))
        let uncompacted = try loader.load(from: JournalReader(path: history.uncompacted), useSnapshots: false)
        #expect(compacted.snapshotSeq == history.snapshotSeq)
        #expect(compacted.projection == uncompacted.projection)
        #expect(compacted.projection.serialized() == history.state.serialized())

        // The broker's own start-up (EventStore over Journal.open) on the compacted file, then more work.
        let journal = try Journal.open(path: history.live)
        let store = try EventStore(journal: journal)
        #expect(await store.projection == history.state)
        var generator = CommandGenerator(seed: seed &+ 100)
        try await drive(store, &generator, count: 200)
        let after = await store.projection
        journal.close()
        let replayed = try loader.load(
            from: JournalReader(path: history.live), archives: [JournalReader(path: archive)], useSnapshots: false)
        #expect(replayed.projection == after)
        #expect(try JournalReader(path: history.live).verify(after: [JournalReader(path: archive)]).isValid)
        _ = history.dir
    }

    @Test func statesBeforeTheCompactionPointNeedTheArchive() async throws {
        let history = try await journalWithHistory(seed: 21)
        try #require(history.snapshotSeq > 200)
        let archive = history.dir.path("archive.sqlite")
        _ = try compact(history.live, before: history.snapshotSeq - 100, into: archive)
        let live = try JournalReader(path: history.live)
        let full = try JournalReader(path: history.uncompacted)

        for seq in [1, history.snapshotSeq / 2, history.snapshotSeq - 101, history.snapshotSeq - 50, history.snapshotSeq + 10] {
            let expected = try loader.load(from: full, untilSeq: seq, useSnapshots: false).projection
            let withArchive = try loader.load(from: live, archives: [JournalReader(path: archive)], untilSeq: seq)
            #expect(withArchive.projection == expected, "state at seq \(seq)")
        }
        // Between the base and the snapshot, the live file alone has neither the rows nor a snapshot.
        #expect(throws: MissingHistory.self) { try loader.load(from: live, untilSeq: history.snapshotSeq - 50) }
        #expect(throws: MissingHistory.self) { try loader.load(from: live, untilSeq: 5) }
        #expect(throws: MissingHistory.self) { try loader.load(from: live, useSnapshots: false) }
        #expect(try loader.load(from: live, untilSeq: history.snapshotSeq + 10).projection.lastSeq == history.snapshotSeq + 10)
        _ = history.dir
    }

    @Test func aCompactedJournalWhoseSnapshotIsCorruptRefusesToRecoverInsteadOfGuessing() async throws {
        let history = try await journalWithHistory(seed: 31)
        _ = try compact(history.live, before: history.snapshotSeq + 1, into: history.dir.path("archive.sqlite"))
        try rawSQL(history.live, "UPDATE snapshots SET data = X'00'")

        #expect(throws: MissingHistory.self) { try loader.load(from: JournalReader(path: history.live)) }
        let journal = try Journal.open(path: history.live)
        #expect(throws: MissingHistory.self) { try EventStore(journal: journal) }
        journal.close()
        _ = history.dir
    }

    /// The snapshot a build before format 2 (f5fc3b0) wrote of `projection`, whose sessions it
    /// knew as starting at their latest connects.
    private func formatOneSnapshot(of projection: Projection) throws -> [UInt8] {
        try TestSupport.formatOneSnapshot(
            fromFormatFour: Self.withoutSessionStarts(projection).serialized(), newsIDs: Array(projection.newsIDs.ids))
    }

    /// `projection` as formats 1 and 2 knew it: every session started at its latest connect.
    private static func withoutSessionStarts(_ projection: Projection) -> Projection {
        var old = projection
        for id in old.clients.keys { old.clients[id]!.startedAt = old.clients[id]!.connectedAt }
        return old
    }

    /// Replaces the journal's snapshots with one of `format` holding `data` at `seq`.
    private func replaceSnapshots(_ path: String, seq: UInt64, format: Int64, data: [UInt8]) throws {
        try rawSQL(path, "DELETE FROM snapshots")
        _ = try Journal.writeSnapshot(journalAt: path, seq: seq, format: format, data: data)
    }

    @Test func aCompactedJournalRecoversFromAFormat1Snapshot() async throws {
        let history = try await journalWithHistory(seed: 51, ingestsFromSources: false)
        let atSnapshot = try loader.load(
            from: JournalReader(path: history.uncompacted), untilSeq: history.snapshotSeq, useSnapshots: false).projection
        try replaceSnapshots(history.live, seq: history.snapshotSeq, format: 1, data: formatOneSnapshot(of: atSnapshot))
        _ = try compact(history.live, before: history.snapshotSeq + 1, into: history.dir.path("archive.sqlite"))

        let recovered = try loader.load(from: JournalReader(path: history.live))
        #expect(recovered.snapshotSeq == history.snapshotSeq)
        #expect(recovered.skippedSnapshots.isEmpty, "\(recovered.skippedSnapshots)")
        // Format 1 had no sessions' starts: a session resumed before the snapshot counts from its
        // latest connect as of the snapshot (as the builds that wrote it did); all else is equal.
        #expect(Self.withoutSessionStarts(recovered.projection) == Self.withoutSessionStarts(history.state))
        #expect(recovered.projection.clients.values.allSatisfy { $0.startedAt <= $0.connectedAt })
        let journal = try Journal.open(path: history.live)
        #expect(Self.withoutSessionStarts(try await EventStore(journal: journal).projection) == Self.withoutSessionStarts(history.state))
        journal.close()
        _ = history.dir
    }

    @Test(arguments: [0, Int64(Projection.formatVersion) + 1, -1] as [Int64])
    func aSnapshotOfAFormatThisBuildDoesNotReadIsSkippedSayingSo(format: Int64) async throws {
        let history = try await journalWithHistory(seed: 52)
        let atSnapshot = try loader.load(
            from: JournalReader(path: history.uncompacted), untilSeq: history.snapshotSeq, useSnapshots: false).projection
        try replaceSnapshots(history.live, seq: history.snapshotSeq, format: format, data: atSnapshot.serialized())

        let recovered = try loader.load(from: JournalReader(path: history.live))
        #expect(recovered.snapshotSeq == nil)
        let reason = try #require(recovered.skippedSnapshots.first?.reason)
        #expect(reason.contains("format \(format) is \(format > Int64(Projection.formatVersion) ? "newer" : "unknown")"), "\(reason)")
        #expect(reason.contains("this build reads formats 1...\(Projection.formatVersion)"), "\(reason)")
        #expect(recovered.projection == history.state)
        _ = history.dir
    }

    @Test func aHoleInTheJournalIsAnErrorNotASilentlyWrongState() async throws {
        let history = try await journalWithHistory(seed: 41)
        try rawSQL(history.uncompacted, "DELETE FROM events WHERE seq = 10")
        #expect {
            try loader.load(from: JournalReader(path: history.uncompacted), useSnapshots: false)
        } throws: { error in
            (error as? MissingHistory)?.missing == 10...10
        }
        _ = history.dir
    }
}
