import Foundation
import Testing

@testable import Journal

/// Values brokerd never writes, put into a real journal with raw SQL: a negative seq, head or base,
/// a timestamp outside the years 0001–9999. Reading such a file gives a clear error, `verify` names
/// the first bad seq, opening it for appends is refused; nothing crashes.
@Suite struct JournalMalformedValueTests {
    static let rows = 40

    private func journalWithRows() async throws -> (TemporaryDirectory, String) {
        try await JournalTests.journalWithRows(Self.rows)
    }

    private func verify(_ path: String) throws -> VerificationReport {
        try JournalReader(path: path).verify()
    }

    /// Expects `body` to throw `JournalError.malformed` whose reason contains `text`.
    private func expectMalformed(
        _ text: String, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void
    ) {
        #expect(sourceLocation: sourceLocation) {
            try body()
        } throws: { error in
            guard case .malformed(let reason) = error as? JournalError else { return false }
            return reason.contains(text)
        }
    }

    /// Expects `Journal.open` to refuse the file as changed outside brokerd, saying `text`.
    private func expectOpenRefused(_ path: String, saying text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(sourceLocation: sourceLocation) {
            try Journal.open(path: path)
        } throws: { error in
            guard case .tampered(_, let reason) = error as? JournalError else { return false }
            return reason.contains(text)
        }
    }

    /// Rewrites row `seq` with `timestamp` and a hash that matches it, as a forger would.
    private func forge(_ path: String, seq: UInt64, timestamp: Int64) throws {
        let rows = try readAll(path)
        let index = Int(seq) - 1
        let previous = index == 0 ? JournalSchema.genesisHash : rows[index - 1].hash
        var row = rows[index]
        row.timestamp = timestamp
        var hasher = RecordHasher()
        let hash = hasher.hash(previous: previous, record: row)
        let hex = hash.map { String(format: "%02X", $0) }.joined()
        try rawSQL(path, "UPDATE events SET ts = \(timestamp), hash = X'\(hex)' WHERE seq = \(seq)")
    }

    @Test func aNegativeRowSeqIsNamedByVerifyAndRefusedByReads() async throws {
        let (dir, path) = try await journalWithRows()
        try rawSQL(path, "UPDATE events SET seq = -5 WHERE seq = 5")

        let report = try verify(path)
        #expect(report.firstBadSeq == 1)
        #expect(report.problem?.contains("row seq -5 is out of order") == true, "\(report.problem ?? "")")
        expectMalformed("a row with seq -5") { _ = try JournalReader(path: path).first() }
        expectMalformed("a row with seq -5") { _ = try JournalReader(path: path).statistics() }
        // Reads by seq range never reach it: they start at seq 0.
        #expect(try readAll(path).map(\.seq) == Array(1...4) + Array(6...40))
        _ = dir
    }

    @Test func aJournalWhoseEveryRowHasANegativeSeqIsRefusedAtOpen() async throws {
        let (dir, path) = try await journalWithRows()
        try rawSQL(path, "UPDATE events SET seq = -seq")

        expectOpenRefused(path, saying: "a row with seq -1")
        #expect(try verify(path).problem?.contains("row seq -40 is out of order") == true)
        _ = dir
    }

    @Test func aNegativeHeadSeqIsNamedByVerifyAndRefusedAtOpen() async throws {
        let (dir, path) = try await journalWithRows()
        try rawSQL(path, "UPDATE meta SET value = -1 WHERE key = 'head_seq'")

        let report = try verify(path)
        #expect(report.firstBadSeq == UInt64(Self.rows + 1))
        #expect(report.problem?.contains("head_seq -1 in its meta table") == true, "\(report.problem ?? "")")
        expectOpenRefused(path, saying: "head_seq -1 in its meta table")
        _ = dir
    }

    @Test func aHeadSeqThatIsNotANumberIsNamedByVerify() async throws {
        let (dir, path) = try await journalWithRows()
        try rawSQL(path, "UPDATE meta SET value = 'forty' WHERE key = 'head_seq'")

        #expect(try verify(path).problem?.contains("head_seq 'forty'") == true)
        expectOpenRefused(path, saying: "head_seq 'forty'")
        _ = dir
    }

    @Test func aNegativeBaseSeqIsNamedByVerifyAndRefusedByReads() async throws {
        let (dir, path) = try await journalWithRows()
        try rawSQL(path, "INSERT INTO meta(key, value) VALUES ('base_seq', -3)")

        let report = try verify(path)
        #expect(report.firstBadSeq == 1)
        #expect(report.problem?.contains("base_seq -3 in its meta table") == true, "\(report.problem ?? "")")
        expectMalformed("base_seq -3") { _ = try JournalReader(path: path).chainBase() }
        _ = dir
    }

    @Test func aSnapshotRowWithANegativeSeqIsLeftOutAndListedApart() async throws {
        let (dir, path) = try await journalWithRows()
        try rawSQL(path, """
            INSERT INTO snapshots(seq, ts, format, checksum, data) VALUES (-1, 0, 2, zeroblob(32), X'00');
            INSERT INTO snapshots(seq, ts, format, checksum, data) VALUES (-7, 0, 2, zeroblob(32), X'00');
            """)

        let reader = try JournalReader(path: path)
        #expect(try reader.snapshots().isEmpty)
        #expect(try reader.invalidSnapshotSeqs() == [-1, -7])
        #expect(try reader.statistics().invalidSnapshotSeqs == [-1, -7])
        _ = dir
    }

    @Test(arguments: [Int64.min, -62_135_596_800_000_001, 253_402_300_800_000_000, Int64.max])
    func aForgedTimestampOutsideTheYears1To9999IsNamedByVerify(timestamp: Int64) async throws {
        let (dir, path) = try await journalWithRows()
        try forge(path, seq: 17, timestamp: timestamp)

        let report = try verify(path)
        #expect(report.firstBadSeq == 17)
        #expect(report.problem?.contains("timestamp \(timestamp) is outside the years 0001–9999") == true, "\(report.problem ?? "")")
        _ = dir
    }

    @Test(arguments: [Int64.min, Int64.max])
    func aLastRowWithAnExtremeTimestampIsRefusedAtOpen(timestamp: Int64) async throws {
        let (dir, path) = try await journalWithRows()
        try rawSQL(path, "UPDATE events SET ts = \(timestamp) WHERE seq = \(Self.rows)")

        expectOpenRefused(path, saying: "its last row (seq \(Self.rows)) has timestamp \(timestamp), outside the years 0001–9999")
        // The reads show it as it is.
        #expect(try JournalReader(path: path).last()?.timestamp == timestamp)
        #expect(try verify(path).firstBadSeq == UInt64(Self.rows))
        _ = dir
    }

    @Test func aJournalThatEndsAtTheLargestSeqRefusesAppendsInsteadOfCrashing() async throws {
        let (dir, path) = try await journalWithRows()
        try rawSQL(path, """
            UPDATE events SET seq = 9223372036854775807 WHERE seq = \(Self.rows);
            UPDATE meta SET value = 9223372036854775807 WHERE key = 'head_seq';
            """)

        let journal = try Journal.open(path: path)
        #expect(journal.lastSeq == UInt64(Int64.max))
        await #expect {
            try await journal.append(record(1))
        } throws: { error in
            guard case .writeFailed(let sqlite) = error as? JournalError else { return false }
            return sqlite.message.contains("no seqs left")
        }
        journal.close()
        #expect(try readAll(path).count == Self.rows)
        _ = dir
    }
}
