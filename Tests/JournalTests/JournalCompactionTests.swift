import Foundation
import Journal
import Testing
import TestSupport

/// Compaction moves old rows into an archive and the hash chain survives: the live file verifies on
/// its own from its recorded base, archive + live verify as one chain, and every refusal changes nothing.
@Suite struct JournalCompactionTests {
    static let rows = 40

    /// A closed journal with `rows` rows and snapshots at `snapshots`.
    private func journal(rows: Int = Self.rows, snapshots: [UInt64] = [25]) async throws -> (TemporaryDirectory, String) {
        let dir = try TemporaryDirectory()
        let path = dir.path("j.sqlite")
        let journal = try Journal.open(path: path, options: JournalOptions(retainedSnapshots: 10))
        try await appendRecords(journal, count: rows)
        for seq in snapshots {
            try await journal.writeSnapshot(seq: seq, format: 1, data: Array("state@\(seq)".utf8))
        }
        journal.close()
        return (dir, path)
    }

    private func compact(_ path: String, before seq: UInt64, into archive: String) throws -> CompactionReport {
        try JournalCompactor(journalPath: path, archivePath: archive).compact(beforeSeq: seq)
    }

    /// As `brokerd journal verify` does: the files' order checked first, then the chain walked.
    private func verify(_ path: String, archives: [String] = []) throws -> VerificationReport {
        let reader = try JournalReader(path: path)
        let archives = try archives.map { try JournalReader(path: $0) }
        try JournalReader.requireOrdered(archives + [reader])
        return try reader.verify(after: archives)
    }

    /// Everything a refusal must leave untouched.
    private func fingerprint(_ path: String) throws -> [String] {
        let reader = try JournalReader(path: path)
        return try readAll(path).map { "\($0.seq):\($0.hash)" } + reader.snapshots().map { "snapshot \($0.seq)" }
            + ["base \(try reader.chainBase())"]
    }

    private func expectRefusal(
        _ path: String, before seq: UInt64, into archive: String, _ matches: (CompactionError) -> Bool,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let before = try fingerprint(path)
        let archiveExisted = FileManager.default.fileExists(atPath: archive)
        let archiveBefore = archiveExisted ? try readAll(archive) : []
        #expect(sourceLocation: sourceLocation) {
            try compact(path, before: seq, into: archive)
        } throws: { error in
            (error as? CompactionError).map(matches) ?? false
        }
        #expect(try fingerprint(path) == before, "the live journal changed", sourceLocation: sourceLocation)
        #expect(FileManager.default.fileExists(atPath: archive) == archiveExisted, sourceLocation: sourceLocation)
        if archiveExisted { #expect(try readAll(archive) == archiveBefore, sourceLocation: sourceLocation) }
    }

    @Test func compactionMovesRowsAndArchivePlusLiveVerifyAsOneChain() async throws {
        let (dir, path) = try await journal(snapshots: [10, 25, 30])
        let original = try readAll(path)
        let archive = dir.path("archive.sqlite")

        let report = try compact(path, before: 20, into: archive)

        #expect(report.copiedRows == 19 && report.removedRows == 19)
        #expect(report.base.seq == 19 && report.base.hash == original[18].hash && report.base.timestamp == original[18].timestamp)
        #expect(report.snapshotSeq == 30)
        #expect(try readAll(archive) == Array(original[0..<19]))
        #expect(try readAll(path) == Array(original[19...]))
        // Snapshots older than the new base would need archived rows to be of any use.
        #expect(try JournalReader(path: path).snapshots().map(\.seq) == [30, 25])
        #expect(try JournalReader(path: archive).isArchive())

        let live = try verify(path)
        #expect(live.isValid && live.baseSeq == 19 && live.checkedRows == 21 && live.lastSeq == 40)
        let whole = try verify(path, archives: [archive])
        #expect(whole.isValid && whole.baseSeq == 0 && whole.checkedRows == 40 && whole.lastSeq == 40)
        let alone = try verify(archive)
        #expect(alone.isValid && alone.lastSeq == 19)
        _ = dir
    }

    @Test func aSecondCompactionAppendsToTheSameArchive() async throws {
        let (dir, path) = try await journal(snapshots: [12, 33])
        let original = try readAll(path)
        let archive = dir.path("archive.sqlite")

        _ = try compact(path, before: 10, into: archive)
        let second = try compact(path, before: 30, into: archive)

        #expect(second.copiedRows == 20 && second.base.seq == 29)
        #expect(try readAll(archive) == Array(original[0..<29]))
        #expect(try verify(path, archives: [archive]).checkedRows == 40)
        #expect(try verify(path).baseSeq == 29)
        _ = dir
    }

    @Test func aFreshArchiveContinuesFromTheLiveBaseAndArchivesVerifyInOrder() async throws {
        let (dir, path) = try await journal(snapshots: [30])
        let first = dir.path("archive-1.sqlite")
        let second = dir.path("archive-2.sqlite")
        _ = try compact(path, before: 10, into: first)
        _ = try compact(path, before: 25, into: second)

        #expect(try verify(second).baseSeq == 9)
        let all = try verify(path, archives: [first, second])
        #expect(all.isValid && all.checkedRows == 40)
        // Out of order or one twice, the files are refused before any walk: not a broken chain.
        #expect(throws: UnlinkedFiles.self) { try verify(path, archives: [second, first]) }
        #expect(throws: UnlinkedFiles.self) { try verify(path, archives: [first, first]) }
        #expect(try JournalReader(path: path).verify(after: [second, first].map { try JournalReader(path: $0) }).firstBadSeq != nil)
        // Skipping the middle archive leaves a hole that is named.
        let hole = try verify(path, archives: [first])
        #expect(hole.firstBadSeq == 10 && hole.problem?.contains("in neither file") == true)
        _ = dir
    }

    @Test func theWriterAppendsToACompactedJournalAndTheChainHolds() async throws {
        let (dir, path) = try await journal()
        let archive = dir.path("archive.sqlite")
        _ = try compact(path, before: 20, into: archive)

        let reopened = try Journal.open(path: path)
        #expect(reopened.lastSeq == 40)
        let seqs = try await appendRecords(reopened, count: 5)
        reopened.close()

        #expect(seqs == Array(41...45))
        #expect(try verify(path).isValid)
        #expect(try verify(path, archives: [archive]).checkedRows == 45)
        _ = dir
    }

    @Test func reRunningAFinishedCompactionChangesNothing() async throws {
        let (dir, path) = try await journal()
        let archive = dir.path("archive.sqlite")
        _ = try compact(path, before: 20, into: archive)
        let before = try fingerprint(path)

        let again = try compact(path, before: 20, into: archive)

        #expect(again.alreadyDone && again.copiedRows == 0 && again.removedRows == 0)
        #expect(try fingerprint(path) == before)
        #expect(try readAll(archive).count == 19)
        _ = dir
    }

    /// Another journal's archive given with a journal holding the same seqs: named as such, not as
    /// an interrupted compaction (which sent the operator to `compact`, which refused the pair).
    @Test func anotherJournalsArchiveIsNamedAsSuchNotAsAnInterruptedCompaction() async throws {
        let (dir, path) = try await journal()
        let (otherDir, other) = try await journal()
        let archive = dir.path("archive.sqlite")
        _ = try compact(path, before: 20, into: archive)

        let report = try verify(other, archives: [archive])
        #expect(report.firstBadSeq == 1)
        #expect(report.problem?.contains("\(archive) is not an archive of \(other)") == true, "\(report)")
        #expect(report.problem?.contains("interrupted") == false)
        #expect {
            try JournalReader.requireLinked([JournalReader(path: archive), JournalReader(path: other)])
        } throws: { error in
            let text = "\(error)"
            return text.contains("\(archive) is not an archive of \(other)") && !text.contains("interrupted")
        }
        _ = otherDir
    }

    @Test func aCrashBetweenArchiveAndDeleteIsFinishedByTheNextRun() async throws {
        let (dir, path) = try await journal()
        let original = try readAll(path)
        let copy = dir.path("before.sqlite")
        try FileManager.default.copyItem(atPath: path, toPath: copy)
        let archive = dir.path("archive.sqlite")
        _ = try compact(path, before: 20, into: archive)
        // The archive was written but the live delete never happened: put the old live file back.
        try FileManager.default.removeItem(atPath: path)
        try FileManager.default.copyItem(atPath: copy, toPath: path)
        let overlap = try verify(path, archives: [archive])
        #expect(overlap.firstBadSeq == 1 && overlap.problem?.contains("interrupted compaction") == true)
        #expect {
            try JournalReader.requireLinked([JournalReader(path: archive), JournalReader(path: path)])
        } throws: { error in
            "\(error)".contains("an interrupted compaction")
        }

        let finished = try compact(path, before: 20, into: archive)

        #expect(finished.finishedInterruptedRun && finished.copiedRows == 0 && finished.removedRows == 19)
        #expect(try readAll(path) == Array(original[19...]))
        #expect(try verify(path, archives: [archive]).checkedRows == 40)
        _ = dir
    }

    @Test func anArchiveCutOffMidWriteIsNamedAsSuchByTheReadOnlyTools() async throws {
        let (dir, path) = try await journal()
        let archive = dir.path("archive.sqlite")
        _ = try compact(path, before: 20, into: archive)
        let cut = dir.path("cut.sqlite")
        try copyCutOffMidWrite(archive, to: cut, running: "CREATE TABLE filler(x); INSERT INTO filler SELECT randomblob(4000) FROM events")

        // Not "attempt to write a readonly database": what happened, and what finishes it.
        #expect {
            try JournalReader(path: cut)
        } throws: { error in
            guard case .unfinishedWrite(let named) = error as? JournalError, named == cut else { return false }
            return "\(error)".contains("-journal is beside it") && "\(error)".contains("run the same command again")
        }
        // A read-write connection (the next compact run's) rolls the cut-off write back.
        try rawSQL(cut, "SELECT count(*) FROM events")
        #expect(try readAll(cut) == readAll(archive))
        #expect(try verify(cut).isValid)
        _ = dir
    }

    @Test func anInterruptedDeleteLeavesBothFilesConsistentAndTheNextRunFinishesIt() async throws {
        let (dir, path) = try await journal(snapshots: [30])
        let original = try readAll(path)
        let archive = dir.path("archive.sqlite")
        var compactor = JournalCompactor(journalPath: path, archivePath: archive)
        compactor.rowsPerDeleteTransaction = 5
        // The third delete transaction fails midway, as a full disk or an I/O error would fail it.
        try rawSQL(path, "CREATE TRIGGER interrupt BEFORE DELETE ON events WHEN old.seq = 13 BEGIN SELECT RAISE(ABORT, 'interrupted'); END")

        #expect {
            try compactor.compact(beforeSeq: 20)
        } throws: { error in
            guard case .failed(let sqlite) = error as? CompactionError, sqlite.message == "interrupted" else { return false }
            return "\(error)".hasPrefix("compaction stopped: interrupted; no row was lost") && !"\(error)".contains("append")
        }

        // Two transactions went through, each leaving both files consistent.
        #expect(try JournalReader(path: path).chainBase().seq == 10)
        #expect(try readAll(path) == Array(original[10...]))
        #expect(try verify(path).isValid)
        #expect(try readAll(archive) == Array(original[0..<19]))
        #expect(try verify(archive).isValid)
        let both = try verify(path, archives: [archive])
        #expect(both.firstBadSeq == 11 && both.problem?.contains("interrupted compaction") == true)

        try rawSQL(path, "DROP TRIGGER interrupt")
        let finished = try compactor.compact(beforeSeq: 20)

        #expect(finished.finishedInterruptedRun && finished.copiedRows == 0 && finished.removedRows == 9)
        #expect(finished.base.seq == 19)
        #expect(try readAll(path) == Array(original[19...]))
        #expect(try verify(path, archives: [archive]).checkedRows == 40)
        _ = dir
    }

    @Test func aCrashFollowedByALargerCompactionCopiesOnlyTheMissingRows() async throws {
        let (dir, path) = try await journal(snapshots: [25])
        let copy = dir.path("before.sqlite")
        try FileManager.default.copyItem(atPath: path, toPath: copy)
        let archive = dir.path("archive.sqlite")
        _ = try compact(path, before: 20, into: archive)
        try FileManager.default.removeItem(atPath: path)
        try FileManager.default.copyItem(atPath: copy, toPath: path)

        let finished = try compact(path, before: 26, into: archive)

        #expect(finished.finishedInterruptedRun && finished.copiedRows == 6 && finished.removedRows == 25)
        #expect(try verify(path, archives: [archive]).checkedRows == 40)
        _ = dir
    }

    @Test func refusedWithoutASnapshotThatRecoveryCouldStartFrom() async throws {
        let (dir, path) = try await journal(snapshots: [10])
        try expectRefusal(path, before: 20, into: dir.path("archive.sqlite")) {
            if case .noUsableSnapshot(neededSeq: 19, _) = $0 { return true }
            return false
        }
        _ = dir
    }

    @Test func refusedWhenTheOnlySnapshotIsCorruptOrRejected() async throws {
        let (dir, path) = try await journal(snapshots: [25])
        try rawSQL(path, "UPDATE snapshots SET data = X'00' WHERE seq = 25")
        try expectRefusal(path, before: 20, into: dir.path("archive.sqlite")) {
            if case .noUsableSnapshot = $0 { return true }
            return false
        }
        let (otherDir, other) = try await journal(snapshots: [25])
        let rejecting = JournalCompactor(journalPath: other, archivePath: otherDir.path("a.sqlite")) { _, _ in "undecodable" }
        #expect(throws: CompactionError.self) { try rejecting.compact(beforeSeq: 20) }
        #expect(try readAll(other).count == Self.rows)
        _ = dir
        _ = otherDir
    }

    @Test(arguments: [0, 1, 41, 1_000] as [UInt64])
    func refusedWhenBeforeSeqIsOutOfRange(seq: UInt64) async throws {
        let (dir, path) = try await journal(snapshots: [40])
        try expectRefusal(path, before: seq, into: dir.path("archive.sqlite")) {
            if case .beforeSeqOutOfRange = $0 { return true }
            return false
        }
        _ = dir
    }

    @Test func refusedWhenBeforeSeqIsAlreadyArchived() async throws {
        let (dir, path) = try await journal(snapshots: [30])
        let archive = dir.path("archive.sqlite")
        _ = try compact(path, before: 20, into: archive)
        try expectRefusal(path, before: 10, into: archive) {
            if case .beforeSeqOutOfRange(requested: 10, firstSeq: 20, lastSeq: 40) = $0 { return true }
            return false
        }
        _ = dir
    }

    @Test func refusedWhenTheArchiveBelongsToAnotherJournal() async throws {
        let (dir, path) = try await journal(snapshots: [30])
        let (otherDir, other) = try await journal(rows: 50, snapshots: [30])
        // Same seqs, different timestamps: the other journal's archive cannot continue this chain.
        let foreign = otherDir.path("archive.sqlite")
        _ = try compact(other, before: 20, into: foreign)
        _ = try compact(path, before: 20, into: dir.path("archive.sqlite"))
        try expectRefusal(path, before: 30, into: foreign) {
            if case .archiveDoesNotContinue = $0 { return true }
            return false
        }
        _ = dir
        _ = otherDir
    }

    @Test func refusedWhenTheArchiveEndsBeforeTheJournalBegins() async throws {
        let (dir, path) = try await journal(snapshots: [35])
        let first = dir.path("archive-1.sqlite")
        _ = try compact(path, before: 10, into: first)
        _ = try compact(path, before: 20, into: dir.path("archive-2.sqlite"))
        try expectRefusal(path, before: 30, into: first) {
            if case .archiveDoesNotContinue(_, let reason) = $0 { return reason.contains("another archive") }
            return false
        }
        _ = dir
    }

    @Test func refusedWhenTheArchiveIsALiveJournalOrTheJournalItself() async throws {
        let (dir, path) = try await journal(snapshots: [30])
        let (otherDir, other) = try await journal()
        try expectRefusal(path, before: 20, into: other) {
            if case .archiveDoesNotContinue(_, let reason) = $0 { return reason.contains("live journal") }
            return false
        }
        try expectRefusal(path, before: 20, into: path) {
            if case .sameFile = $0 { return true }
            return false
        }
        _ = dir
        _ = otherDir
    }

    @Test func refusedWhenTheLiveChainIsBroken() async throws {
        let (dir, path) = try await journal(snapshots: [30])
        try rawSQL(path, "UPDATE events SET payload = X'00' WHERE seq = 35")
        try expectRefusal(path, before: 20, into: dir.path("archive.sqlite")) {
            if case .liveChainBroken(let report) = $0 { return report.firstBadSeq == 35 }
            return false
        }
        _ = dir
    }

    @Test(arguments: [1, 7, 19] as [Int])
    func tamperingInTheArchiveIsNamed(seq: Int) async throws {
        let (dir, path) = try await journal()
        let archive = dir.path("archive.sqlite")
        _ = try compact(path, before: 20, into: archive)
        try rawSQL(archive, "UPDATE events SET payload = X'DEADBEEF' WHERE seq = \(seq)")

        let report = try verify(path, archives: [archive])
        #expect(report.firstBadSeq == UInt64(seq))
        #expect(report.path == archive)
        // The live file alone still verifies from its base: only the archive is bad.
        #expect(try verify(path).isValid)
        _ = dir
    }

    @Test func aDeletedArchiveTailIsNamed() async throws {
        let (dir, path) = try await journal()
        let archive = dir.path("archive.sqlite")
        _ = try compact(path, before: 20, into: archive)
        try rawSQL(archive, "DELETE FROM events WHERE seq = 19")
        #expect(try verify(path, archives: [archive]).firstBadSeq == 19)
        _ = dir
    }

    @Test(arguments: [20, 31, 40] as [Int])
    func tamperingInTheCompactedLiveFileIsNamed(seq: Int) async throws {
        let (dir, path) = try await journal()
        let archive = dir.path("archive.sqlite")
        _ = try compact(path, before: 20, into: archive)
        try rawSQL(path, "UPDATE events SET payload = X'DEADBEEF' WHERE seq = \(seq)")
        #expect(try verify(path).firstBadSeq == UInt64(seq))
        #expect(try verify(path, archives: [archive]).firstBadSeq == UInt64(seq))
        _ = dir
    }

    @Test func aForgedChainBaseIsNamedAtTheFirstLiveRow() async throws {
        let (dir, path) = try await journal()
        let archive = dir.path("archive.sqlite")
        _ = try compact(path, before: 20, into: archive)
        try rawSQL(path, "UPDATE meta SET value = zeroblob(32) WHERE key = 'base_hash'")

        #expect(try verify(path).firstBadSeq == 20)
        let across = try verify(path, archives: [archive])
        #expect(across.firstBadSeq == 20 && across.problem?.contains("does not match") == true)
        _ = dir
    }

    @Test func brokerdRefusesToServeAnArchive() async throws {
        let (dir, path) = try await journal()
        let archive = dir.path("archive.sqlite")
        _ = try compact(path, before: 20, into: archive)
        #expect {
            try Journal.open(path: archive)
        } throws: { error in
            if case .notAJournal(_, let reason) = error as? JournalError { return reason.contains("archive") }
            return false
        }
        _ = dir
    }

    @Test func compactionWhileTheWriterAppendsKeepsEveryRow() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("j.sqlite")
        let archive = dir.path("archive.sqlite")
        let journal = try Journal.open(path: path)
        try await appendRecords(journal, count: 200)
        try await journal.writeSnapshot(seq: 150, format: 1, data: [1])
        let appending = Task { try await appendRecords(journal, count: 300) }

        let report = try compact(path, before: 100, into: archive)
        let appended = try await appending.value
        journal.close()

        #expect(report.base.seq == 99)
        #expect(appended.last == 500)
        #expect(try readAll(path).map(\.seq) == Array(100...500))
        #expect(try verify(path, archives: [archive]).checkedRows == 500)
        _ = dir
    }
}
