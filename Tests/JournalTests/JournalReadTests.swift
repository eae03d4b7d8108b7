import Foundation
import Journal
import Testing

@Suite struct JournalReadTests {
    @Test func readsFilterBySeqRangeKindAndKey() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("j.sqlite")
        let journal = try Journal.open(path: path)
        for n in 0..<60 {
            _ = try await journal.append(record(n, kind: UInt16(1 + n % 3), key: "client_\(n % 4)"))
        }
        journal.close()

        #expect(try readAll(path, JournalQuery(fromSeq: 10, toSeq: 19)).map(\.seq) == Array(10...19))
        let kind2 = try readAll(path, JournalQuery(kinds: [2]))
        #expect(kind2.count == 20 && kind2.allSatisfy { $0.kind == 2 })
        let client1 = try readAll(path, JournalQuery(key: "client_1"))
        #expect(client1.map(\.seq) == stride(from: 2, through: 60, by: 4).map(UInt64.init))
        let both = try readAll(path, JournalQuery(fromSeq: 30, kinds: [1, 3], key: "client_0"))
        #expect(both.allSatisfy { $0.seq >= 30 && $0.kind != 2 && $0.key == "client_0" })
        #expect(!both.isEmpty)
    }

    @Test func aKeyIsStoredWholeAsItIsHashedEvenWithANULInIt() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("j.sqlite")
        let journal = try Journal.open(path: path)
        let keys = ["a\u{0}b", "", "\u{0}", "客户\u{0}端"]
        for (n, key) in keys.enumerated() { _ = try await journal.append(record(n, key: key)) }
        journal.close()

        #expect(try readAll(path).map(\.key) == keys)
        #expect(try JournalReader(path: path).verify().isValid)
        #expect(try readAll(path, JournalQuery(key: "a\u{0}b")).map(\.seq) == [1])
    }

    @Test func readsFilterByTimeUsingTheMonotonicTimestamps() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("j.sqlite")
        let journal = try Journal.open(path: path)
        try await appendRecords(journal, count: 10)
        try await Task.sleep(for: .milliseconds(20))
        let middle = WallClock.microsecondsNow()
        try await Task.sleep(for: .milliseconds(20))
        try await appendRecords(journal, count: 10)
        journal.close()

        let reader = try JournalReader(path: path)
        #expect(try reader.firstSeq(atOrAfter: middle) == 11)
        #expect(try readAll(path, JournalQuery(fromTime: middle)).map(\.seq) == Array(11...20))
        #expect(try readAll(path, JournalQuery(toTime: middle)).map(\.seq) == Array(1...10))
        #expect(try reader.firstSeq(atOrAfter: WallClock.microsecondsNow() + 1_000_000) == nil)
    }

    @Test func aReaderSeesCommittedRowsWhileTheWriterAppends() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("j.sqlite")
        let journal = try Journal.open(path: path)
        try await appendRecords(journal, count: 5)
        let reader = try journal.reader()
        #expect(try reader.last()?.seq == 5)
        try await appendRecords(journal, count: 5)
        #expect(try reader.last()?.seq == 10)
        journal.close()
    }

    @Test func snapshotsAreListedNewestFirstAndPruned() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("j.sqlite")
        let journal = try Journal.open(path: path, options: JournalOptions(retainedSnapshots: 2))
        for seq in [10, 20, 30] as [UInt64] {
            try await journal.writeSnapshot(seq: seq, format: 1, data: Array("state@\(seq)".utf8))
        }
        journal.close()

        let reader = try JournalReader(path: path)
        #expect(try reader.snapshots().map(\.seq) == [30, 20])
        #expect(try reader.snapshotData(seq: 30) == Array("state@30".utf8))
    }

    @Test func aSnapshotThatCannotBeStoredSaysSoNotThatAnAppendWasRefused() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("j.sqlite")
        let journal = try Journal.open(path: path)
        try await appendRecords(journal, count: 3)
        try rawSQL(path, "CREATE TRIGGER refuse BEFORE INSERT ON snapshots BEGIN SELECT RAISE(ABORT, 'no room for it'); END")

        // Written by the broker's writer, and by a tool beside it.
        await #expect {
            try await journal.writeSnapshot(seq: 3, format: 1, data: [1])
        } throws: { error in
            guard case .snapshotNotStored = error as? JournalError else { return false }
            return "\(error)" == "snapshot not stored: no room for it"
        }
        journal.close()
        #expect {
            try Journal.writeSnapshot(journalAt: path, seq: 3, format: 1, data: [1])
        } throws: { error in
            guard case .snapshotNotStored = error as? JournalError else { return false }
            return "\(error)" == "snapshot not stored: no room for it"
        }
        #expect(try JournalReader(path: path).snapshots().isEmpty)
        #expect(try readAll(path).count == 3)
    }

    @Test func aCorruptSnapshotIsRefusedWithItsSeq() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("j.sqlite")
        let journal = try Journal.open(path: path)
        try await journal.writeSnapshot(seq: 5, format: 1, data: Array("good state".utf8))
        journal.close()
        try rawSQL(path, "UPDATE snapshots SET data = X'00112233' WHERE seq = 5")

        #expect {
            try JournalReader(path: path).snapshotData(seq: 5)
        } throws: { error in
            if case .corruptSnapshot(seq: 5) = error as? JournalError { return true }
            return false
        }
    }
}
