import Journal
import Testing
import TestSupport

@testable import Broker

/// A replay (start-up, `journal replay`, `journal snapshot`) builds the journal's state, not an
/// edited one's: every row it applies must chain to the row before it.
@Suite struct ReplayChainCheckTests {
    private let loader = ProjectionLoader(logger: .init(label: "test"))

    /// Ticks of three codes, one row each (seqs 1...3), then `more` ticks of a fourth; with
    /// `snapshotAt`, a snapshot of the state at that seq.
    private func journal(in dir: TemporaryDirectory, more: Int = 0, snapshotAt snapshotSeq: UInt64? = nil) async throws -> String {
        let path = dir.path("j.sqlite")
        let journal = try Journal.open(path: path)
        defer { journal.close() }
        let events = [Fixtures.tick("600519", price: 1_800), Fixtures.tick("000001", price: 12), Fixtures.tick("300750", price: 200)]
            + (0..<more).map { Fixtures.tick("601318", price: 50 + Double($0)) }
        var projection = Projection()
        for tick in events {
            let event = Event.priceTicked(tick)
            let position = try await journal.append(NewRecord(kind: event.kind.rawValue, key: tick.code, payload: EventCodec.encode(event)))
            projection.apply(RecordedEvent(seq: position.seq, timestamp: position.timestamp, event: event))
            if position.seq == snapshotSeq {
                try await journal.writeSnapshot(seq: position.seq, format: Int64(Projection.formatVersion), data: projection.serialized())
            }
        }
        return path
    }

    /// Row `seq` gets the payload of row `source`: a valid event of the same kind, so only the
    /// chain tells the edit (the loader would decode and apply it).
    private func replacePayload(_ path: String, ofSeq seq: UInt64, withThatOf source: UInt64) throws {
        try rawSQL(path, "UPDATE events SET payload = (SELECT payload FROM events WHERE seq = \(source)) WHERE seq = \(seq)")
    }

    @Test func aFullReplayRefusesARowEditedIntoAnotherValidEventAtItsSeq() async throws {
        let dir = try TemporaryDirectory()
        let path = try await journal(in: dir)
        try replacePayload(path, ofSeq: 2, withThatOf: 3)

        #expect {
            try loader.load(from: JournalReader(path: path), useSnapshots: false)
        } throws: { error in
            let broken = error as? BrokenChain
            return broken?.seq == 2 && broken?.path == path && "\(error)".contains("run `brokerd journal verify`")
        }
    }

    @Test func startUpRefusesARowEditedAfterTheSnapshotItStartsFrom() async throws {
        let dir = try TemporaryDirectory()
        let path = try await journal(in: dir, more: 3, snapshotAt: 2)
        try replacePayload(path, ofSeq: 5, withThatOf: 6)

        #expect {
            try loader.load(from: JournalReader(path: path))
        } throws: { error in
            (error as? BrokenChain)?.seq == 5
        }
    }

    /// The first row replayed after a snapshot chains to the stored hash of the snapshot's row.
    @Test func startUpRefusesTheFirstRowAfterTheSnapshotWhenItWasEdited() async throws {
        let dir = try TemporaryDirectory()
        let path = try await journal(in: dir, more: 2, snapshotAt: 3)
        try replacePayload(path, ofSeq: 4, withThatOf: 5)

        #expect {
            try loader.load(from: JournalReader(path: path))
        } throws: { error in
            (error as? BrokenChain)?.seq == 4
        }
    }

    /// The check vouches for the rows replayed: a state at a seq before an edited row is the
    /// journal's, and is given.
    @Test func aReplayUpToASeqBeforeTheEditedRowGivesTheStateThere() async throws {
        let dir = try TemporaryDirectory()
        let path = try await journal(in: dir, more: 2)
        try replacePayload(path, ofSeq: 4, withThatOf: 5)

        let recovered = try loader.load(from: JournalReader(path: path), untilSeq: 3, useSnapshots: false)
        #expect(recovered.projection.lastSeq == 3)
        #expect(recovered.projection.lastPrices.keys.sorted() == ["000001", "300750", "600519"])
    }

    /// The last row has no row after it to chain to: the head anchor (the seq and hash the last
    /// commit recorded) vouches for it. Edited and re-hashed, it chained.
    @Test func aLastRowEditedAndReHashedIsRefusedByReplayAndByOpening() async throws {
        let dir = try TemporaryDirectory()
        let path = try await journal(in: dir, more: 2)
        try replacePayload(path, ofSeq: 5, withThatOf: 4)
        try rechain(path, anchor: false)

        #expect {
            try loader.load(from: JournalReader(path: path), useSnapshots: false)
        } throws: { error in
            let broken = error as? BrokenChain
            return broken?.seq == 5 && broken?.problem == BrokenChain.notCommitted
        }
        #expect {
            try Journal.open(path: path)
        } throws: { error in
            guard case JournalError.tampered(_, let reason) = error else { return false }
            return reason.contains("its last row (seq 5) differs from the one the last commit recorded")
        }
        // The state before it is still the journal's.
        #expect(try loader.load(from: JournalReader(path: path), untilSeq: 4, useSnapshots: false).projection.lastSeq == 4)
    }

    /// Rows cut off the end chain as far as they go: the head anchor tells that the last rows
    /// committed are gone. A replay to the end (`journal replay`, `journal snapshot`) refuses the
    /// file, with or without a snapshot past its last row; the state at a seq it holds is kept.
    @Test func aReplayToTheEndRefusesAJournalWhoseLastCommittedRowsAreGone() async throws {
        let dir = try TemporaryDirectory()
        let path = try await journal(in: dir, more: 3, snapshotAt: 6)
        try rawSQL(path, "DELETE FROM events WHERE seq >= 5")

        for useSnapshots in [true, false] {
            #expect {
                try loader.load(from: JournalReader(path: path), useSnapshots: useSnapshots)
            } throws: { error in
                let broken = error as? BrokenChain
                return broken?.seq == 5 && broken?.problem == BrokenChain.cutOff(through: 6)
            }
        }
        #expect(try loader.load(from: JournalReader(path: path), untilSeq: 4).projection.lastSeq == 4)
        #expect(try loader.load(from: JournalReader(path: path), untilSeq: 3).projection.lastSeq == 3)
    }

    /// Rows are read a batch ahead of applying them; a hole after an edited row must not hide it.
    @Test func theFirstProblemInSeqOrderIsReportedWhenAHoleFollowsAnEditedRow() async throws {
        let dir = try TemporaryDirectory()
        let path = try await journal(in: dir, more: 10)
        try replacePayload(path, ofSeq: 5, withThatOf: 6)
        try rawSQL(path, "DELETE FROM events WHERE seq = 9")

        #expect {
            try loader.load(from: JournalReader(path: path), useSnapshots: false)
        } throws: { error in
            (error as? BrokenChain)?.seq == 5
        }
    }

    /// Rows are replayed in batches (`ProjectionLoader.rowsPerBatch`), each checked apart: the
    /// first row of a batch chains to the last of the one before.
    @Test func anEditedRowFirstInItsBatchIsRefusedAsAnyOther() async throws {
        let dir = try TemporaryDirectory()
        let first = UInt64(ProjectionLoader.rowsPerBatch) + 1
        let path = try await journal(in: dir, more: Int(first) + 10)
        try replacePayload(path, ofSeq: first, withThatOf: first + 1)

        #expect {
            try loader.load(from: JournalReader(path: path), useSnapshots: false)
        } throws: { error in
            (error as? BrokenChain)?.seq == first
        }
    }

    @Test func anUneditedJournalOfSeveralBatchesReplaysFromASnapshotAndFromTheStart() async throws {
        let dir = try TemporaryDirectory()
        let rows = 2 * ProjectionLoader.rowsPerBatch + 100
        let path = try await journal(in: dir, more: rows - 3, snapshotAt: 2)

        let fromSnapshot = try loader.load(from: JournalReader(path: path))
        let fromStart = try loader.load(from: JournalReader(path: path), useSnapshots: false)
        #expect(fromSnapshot.snapshotSeq == 2)
        #expect(fromSnapshot.replayedEvents == UInt64(rows - 2))
        #expect(fromSnapshot.projection == fromStart.projection)
        #expect(fromStart.projection.lastSeq == UInt64(rows))
        #expect(fromStart.projection.lastPrices["601318"]?.price == 50 + Double(rows - 4))
    }
}
