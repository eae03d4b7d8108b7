import Foundation
import Journal
import Testing

/// What the audit commands read: times as text, "the last seq at a time", key sets, consistent
/// verification and snapshots written beside a running writer.
@Suite struct JournalAuditReadTests {
    @Test(arguments: [
        ("2026-11-23T14:00:00Z", Int64(1_795_442_400_000_000)),
        ("2026-11-23T14:00Z", 1_795_442_400_000_000),
        ("2026-11-23T22:00:00+08:00", 1_795_442_400_000_000),
        ("2026-11-23T22:00:00+0800", 1_795_442_400_000_000),
        ("2026-11-23T09:30:00-04:30", 1_795_442_400_000_000),
        ("2026-11-23 14:00:00.5z", 1_795_442_400_500_000),
        ("2026-11-23T14:00:00.123456Z", 1_795_442_400_123_456),
        ("2026-11-23T14:00:00.123456789Z", 1_795_442_400_123_456),
        ("1970-01-01T00:00:00Z", 0),
        ("1969-12-31T23:59:59.999999Z", -1),
        ("2024-02-29T00:00:00Z", 1_709_164_800_000_000),
        ("1795442400000000", 1_795_442_400_000_000),
        ("-5", -5),
    ])
    func timesParseFromISO8601OrEpochMicroseconds(text: String, expected: Int64) {
        #expect(ISOTimestamp.parse(text) == expected)
    }

    @Test(arguments: [
        "", "yesterday", "2026-11-23", "2026-11-23T14:00:00", "2026-13-01T00:00:00Z", "2026-02-29T00:00:00Z",
        "2026-11-23T24:00:00Z", "2026-11-23T14:60:00Z", "2026-11-23T14:00:00.Z", "2026-11-23T14:00:00.1234567890Z",
        "2026-11-23T14:00:00Zjunk", "2026-11-23T14:00:00+25:00", "12e5", "-",
    ])
    func badTimesAreRejected(text: String) {
        #expect(ISOTimestamp.parse(text) == nil)
    }

    @Test(arguments: [0, -1, 1, 1_795_442_400_123_456, 951_782_400_000_000, -62_135_596_800_000_000] as [Int64])
    func formattedTimesParseBackExactly(microseconds: Int64) {
        let text = ISOTimestamp.format(microseconds: microseconds)
        #expect(text.count == 27 && text.hasSuffix("Z"))
        #expect(ISOTimestamp.parse(text) == microseconds)
    }

    @Test(arguments: [Int64.min, Int64.min + 1, -62_135_596_800_000_001, 253_402_300_800_000_000, Int64.max])
    func timesOutsideTheYears1To9999FormatAsTheirMicrosecondsAndParseBack(microseconds: Int64) {
        #expect(ISOTimestamp.format(microseconds: microseconds) == String(microseconds))
        #expect(ISOTimestamp.parse(String(microseconds)) == microseconds)
    }

    @Test func formattedTimesAreFoundationsCalendarDates() {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        var random = SystemRandomNumberGenerator()
        for _ in 0..<2_000 {
            let microseconds = Int64.random(in: -2_208_988_800_000_000...4_102_444_800_000_000, using: &random)  // 1900…2100
            let seconds = microseconds >= 0 ? microseconds / 1_000_000 : -((-microseconds + 999_999) / 1_000_000)
            let parts = calendar.dateComponents(
                [.year, .month, .day, .hour, .minute, .second], from: Date(timeIntervalSince1970: TimeInterval(seconds)))
            let expected = String(
                format: "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", parts.year!, parts.month!, parts.day!, parts.hour!, parts.minute!,
                parts.second!, Int(microseconds - seconds * 1_000_000))
            #expect(ISOTimestamp.format(microseconds: microseconds) == expected)
            #expect(ISOTimestamp.parse(expected) == microseconds)
        }
    }

    @Test func theFirstAndLastFormattableTimesAreDates() {
        #expect(ISOTimestamp.format(microseconds: ISOTimestamp.formattableRange.lowerBound) == "0001-01-01T00:00:00.000000Z")
        #expect(ISOTimestamp.format(microseconds: ISOTimestamp.formattableRange.upperBound) == "9999-12-31T23:59:59.999999Z")
    }

    @Test func formatShowsMicrosecondsInUTC() {
        #expect(ISOTimestamp.format(microseconds: 1_795_442_400_123_456) == "2026-11-23T14:00:00.123456Z")
        #expect(ISOTimestamp.format(microseconds: -1) == "1969-12-31T23:59:59.999999Z")
    }

    @Test func lastSeqAtOrBeforeATimeIsTheLastEventNotAfterIt() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("j.sqlite")
        let journal = try Journal.open(path: path)
        try await appendRecords(journal, count: 3)
        try await Task.sleep(for: .milliseconds(5))
        try await appendRecords(journal, count: 3)
        journal.close()
        let rows = try readAll(path)
        let reader = try JournalReader(path: path)

        #expect(try reader.lastSeq(atOrBefore: rows[0].timestamp - 1) == nil)
        for row in rows {
            // Every row at or before its own time; none of the later rows (whose times are larger).
            let expected = rows.last { $0.timestamp <= row.timestamp }!.seq
            #expect(try reader.lastSeq(atOrBefore: row.timestamp) == expected)
        }
        #expect(try reader.lastSeq(atOrBefore: rows[3].timestamp - 1) == 3)
        #expect(try reader.lastSeq(atOrBefore: .max) == 6)
        _ = dir
    }

    @Test func readsFilterByASetOfKeys() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("j.sqlite")
        let journal = try Journal.open(path: path)
        for n in 0..<30 { _ = try await journal.append(record(n, kind: UInt16(1 + n % 2), key: "k\(n % 5)")) }
        journal.close()

        let some = try readAll(path, JournalQuery(keys: ["k1", "k3"]))
        #expect(some.count == 12 && some.allSatisfy { $0.key == "k1" || $0.key == "k3" })
        let withKind = try readAll(path, JournalQuery(kinds: [2], keys: ["k1", "k3"]))
        #expect(!withKind.isEmpty && withKind.allSatisfy { $0.kind == 2 && ($0.key == "k1" || $0.key == "k3") })
        #expect(try readAll(path, JournalQuery(keys: [])).isEmpty)
        #expect(try readAll(path, JournalQuery(key: "k1", keys: ["k1", "k2"])).allSatisfy { $0.key == "k1" })
        _ = dir
    }

    @Test func verifyWhileTheWriterAppendsNeverReportsABrokenChain() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("j.sqlite")
        let journal = try Journal.open(path: path)
        try await appendRecords(journal, count: 50)
        let appending = Task {
            for n in 0..<400 { _ = try await journal.append(contentsOf: [record(n), record(n + 1)]) }
        }
        let reader = try JournalReader(path: path)
        // Most of these run while commits land between the walk and the head-anchor check.
        var reports: [VerificationReport] = []
        for _ in 0..<150 { reports.append(try reader.verify()) }
        try await appending.value
        journal.close()

        let broken = reports.filter { !$0.isValid }.count
        #expect(broken == 0, "\(reports.first { !$0.isValid }?.problem ?? "")")
        #expect(try JournalReader(path: path).verify().checkedRows == 850)
        _ = dir
    }

    @Test func aSnapshotIsWrittenBesideAnOpenWriter() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("j.sqlite")
        let journal = try Journal.open(path: path)
        try await appendRecords(journal, count: 20)

        let stored = try Journal.writeSnapshot(journalAt: path, seq: 20, format: 1, data: Array("state".utf8))
        let more = try await appendRecords(journal, count: 5)
        journal.close()

        #expect(stored.map(\.seq) == [20])
        #expect(more == Array(21...25))
        let reader = try JournalReader(path: path)
        #expect(try reader.snapshotData(seq: 20) == Array("state".utf8))
        #expect(try reader.verify().isValid)
        let statistics = try reader.statistics()
        #expect(statistics.rowCount == 25 && statistics.snapshots.map(\.checksumOK) == [true])
        _ = dir
    }

    @Test func statisticsCountRowsByKindAndFlagCorruptSnapshots() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("j.sqlite")
        let journal = try Journal.open(path: path)
        for n in 0..<12 { _ = try await journal.append(record(n, kind: UInt16(1 + n % 3))) }
        try await journal.writeSnapshot(seq: 6, format: 1, data: [1, 2])
        try await journal.writeSnapshot(seq: 12, format: 1, data: [3, 4])
        journal.close()
        try rawSQL(path, "UPDATE snapshots SET data = X'FF' WHERE seq = 6")

        let statistics = try JournalReader(path: path).statistics()
        #expect(statistics.countsByKind == [1: 4, 2: 4, 3: 4])
        #expect(statistics.first?.seq == 1 && statistics.last?.seq == 12 && statistics.base == .genesis)
        #expect(statistics.snapshots.map(\.info.seq) == [12, 6])
        #expect(statistics.snapshots.map(\.checksumOK) == [true, false])
        _ = dir
    }
}
