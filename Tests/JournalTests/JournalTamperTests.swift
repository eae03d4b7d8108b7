import Foundation
import Journal
import Testing

/// Each test changes a journal behind brokerd's back with raw SQL and expects `verify` to name the
/// first seq that no longer holds — for every position, not just one lucky row.
@Suite struct JournalTamperTests {
    static let rows = 40

    private func journalWithRows() async throws -> (TemporaryDirectory, String) {
        let (dir, path) = try await JournalTests.journalWithRows(Self.rows)
        #expect(try JournalReader(path: path).verify().isValid)
        return (dir, path)
    }

    private func firstBadSeq(_ path: String) throws -> UInt64? {
        try JournalReader(path: path).verify().firstBadSeq
    }

    @Test(arguments: [1, 2, 17, 39, 40])
    func editedPayloadIsNamed(seq: Int) async throws {
        let (dir, path) = try await journalWithRows()
        try rawSQL(path, "UPDATE events SET payload = X'DEADBEEF' WHERE seq = \(seq)")
        #expect(try firstBadSeq(path) == UInt64(seq))
        _ = dir
    }

    @Test(arguments: [1, 9, 40])
    func editedKindOrTimestampIsNamed(seq: Int) async throws {
        let (dir, path) = try await journalWithRows()
        try rawSQL(path, "UPDATE events SET kind = kind + 1 WHERE seq = \(seq)")
        #expect(try firstBadSeq(path) == UInt64(seq))
        try rawSQL(path, "UPDATE events SET kind = kind - 1, ts = ts + 5 WHERE seq = \(seq)")
        #expect(try firstBadSeq(path) == UInt64(seq))
        _ = dir
    }

    @Test(arguments: [1, 2, 20, 39, 40])
    func deletedRowIsNamed(seq: Int) async throws {
        let (dir, path) = try await journalWithRows()
        try rawSQL(path, "DELETE FROM events WHERE seq = \(seq)")
        #expect(try firstBadSeq(path) == UInt64(seq))
        _ = dir
    }

    @Test(arguments: [1, 20, 40])
    func insertedRowIsNamed(position: Int) async throws {
        let (dir, path) = try await journalWithRows()
        // Make room at `position` by renumbering the rows after it, then slip a row in.
        try rawSQL(path, """
            UPDATE events SET seq = -seq WHERE seq >= \(position);
            UPDATE events SET seq = -seq + 1 WHERE seq < 0;
            INSERT INTO events(seq, ts, kind, key, payload, hash)
                SELECT \(position), ts, kind, key, X'0102', hash FROM events WHERE seq = \(position + 1);
            """)
        #expect(try firstBadSeq(path) == UInt64(position))
        _ = dir
    }

    @Test func rowAppendedOutsideBrokerdIsNamed() async throws {
        let (dir, path) = try await journalWithRows()
        try rawSQL(path, """
            INSERT INTO events(seq, ts, kind, key, payload, hash)
                SELECT seq + 1, ts, kind, key, payload, hash FROM events WHERE seq = \(Self.rows);
            """)
        #expect(try firstBadSeq(path) == UInt64(Self.rows + 1))
        _ = dir
    }

    @Test(arguments: [1, 10, 39])
    func swappedRowsAreNamed(seq: Int) async throws {
        let (dir, path) = try await journalWithRows()
        let a = seq, b = seq + 1
        try rawSQL(path, """
            UPDATE events SET seq = -1 WHERE seq = \(a);
            UPDATE events SET seq = \(a) WHERE seq = \(b);
            UPDATE events SET seq = \(b) WHERE seq = -1;
            """)
        #expect(try firstBadSeq(path) == UInt64(a))
        _ = dir
    }

    @Test func aDamagedPageIsNamedAtTheFirstSeqThatCannotBeRead() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("j.sqlite")
        try await writeDamagedJournal(path)
        let lastReadable = try #require(lastSeqReadBeforeAnError(path))
        try #require(lastReadable > 0)

        let report = try JournalReader(path: path).verify()

        #expect(report.firstBadSeq == lastReadable + 1)
        #expect(report.checkedRows == lastReadable)
        #expect(report.problem?.contains("cannot be read from here on (database disk image is malformed)") == true, "\(report.problem ?? "")")
        _ = dir
    }

    /// A damaged page the walk over the rows never reads (here the snapshots'): every row chains,
    /// yet the file is damaged, and SQLite's own check says so.
    @Test func damageOutsideTheRowsIsFoundBySQLitesOwnCheck() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("j.sqlite")
        let journal = try Journal.open(path: path)
        try await appendRecords(journal, count: 50)
        try await journal.writeSnapshot(seq: 50, format: 1, data: Array(("snapshot-marker-" + String(repeating: "x", count: 200)).utf8))
        journal.close()
        try damagePage(holding: "snapshot-marker-", ofDatabaseAt: path)

        let report = try JournalReader(path: path).verify()
        #expect(!report.isValid)
        #expect(report.problem?.contains("SQLite's integrity check fails") == true, "\(report.problem ?? "")")
        _ = dir
    }

    @Test func aTamperedTailStopsTheWriterFromOpening() async throws {
        let (dir, path) = try await journalWithRows()
        try rawSQL(path, "DELETE FROM events WHERE seq = \(Self.rows)")
        #expect {
            try Journal.open(path: path)
        } throws: { error in
            if case .tampered = error as? JournalError { return true }
            return false
        }
        _ = dir
    }
}
