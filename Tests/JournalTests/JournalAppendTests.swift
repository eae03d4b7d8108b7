import Foundation
import Testing

@testable import Journal

@Suite struct JournalAppendTests {
    /// The page cache a journal opens with (`journal_cache_mib`) is the writer's and each of its
    /// readers'; a reader opened on its own gets the default.
    @Test func theWriterAndItsReadersHaveThePageCacheAskedFor() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("j.sqlite")
        var options = JournalOptions()
        options.cacheMiB = 3
        let journal = try Journal.open(path: path, options: options)
        _ = try await journal.append(record(0))
        #expect(try await journal.writerPageCacheKiB() == 3 * 1024)
        #expect(try journal.reader().pageCacheKiB() == 3 * 1024)
        #expect(try JournalReader(path: path).pageCacheKiB() == Int64(JournalOptions.defaultCacheMiB) * 1024)
        journal.close()
        let reopened = try Journal.open(path: path)
        #expect(try await reopened.writerPageCacheKiB() == Int64(JournalOptions.defaultCacheMiB) * 1024)
        reopened.close()
    }

    /// A reload of `journal_cache_mib` sets the writer's page cache between two commits, and each
    /// reader's opened after it; appends go on.
    @Test func thePageCacheChangesOnAnOpenJournal() async throws {
        let dir = try TemporaryDirectory()
        let journal = try Journal.open(path: dir.path("j.sqlite"))
        defer { journal.close() }
        _ = try await journal.append(record(0))
        let earlier = try journal.reader()
        try await journal.setCacheMiB(2)
        #expect(journal.cacheMiB == 2 && journal.options.cacheMiB == JournalOptions.defaultCacheMiB)
        #expect(try await journal.writerPageCacheKiB() == 2 * 1024)
        #expect(try journal.reader().pageCacheKiB() == 2 * 1024)
        #expect(try earlier.pageCacheKiB() == Int64(JournalOptions.defaultCacheMiB) * 1024, "a reader open keeps its own")
        let appended = try await journal.append(record(1))
        #expect(try journal.reader().last() == appended)
    }

    /// A reload of `durability` sets the writer's `PRAGMA synchronous` between two commits.
    @Test func theDurabilityChangesOnAnOpenJournalAndAppendsGoOn() async throws {
        let dir = try TemporaryDirectory()
        let journal = try Journal.open(path: dir.path("j.sqlite"))
        #expect(journal.durability == .normal)
        #expect(try await journal.writerSynchronous() == 1)
        _ = try await journal.append(record(0))

        try await journal.setDurability(.full)
        #expect(journal.durability == .full && journal.options.durability == .normal)
        #expect(try await journal.writerSynchronous() == 2)
        let position = try await journal.append(record(1))
        #expect(position.seq == 2)

        try await journal.setDurability(.normal)
        #expect(try await journal.writerSynchronous() == 1 && journal.durability == .normal)
        journal.close()
        await #expect(throws: JournalError.self) { try await journal.setDurability(.full) }
        #expect(journal.durability == .normal, "a change that failed is not taken")
    }

    @Test func appendsGetConsecutiveSeqsAndReadBackUnchanged() async throws {
        let dir = try TemporaryDirectory()
        let journal = try Journal.open(path: dir.path("j.sqlite"))
        let seqs = try await appendRecords(journal, count: 100)
        journal.close()

        #expect(seqs == Array(1...100))
        let records = try readAll(dir.path("j.sqlite"))
        #expect(records.map(\.seq) == Array(1...100))
        #expect(records.map { String(decoding: $0.payload, as: UTF8.self) } == (0..<100).map { "event-\($0)" })
        #expect(records.allSatisfy { $0.hash.count == 32 })
    }

    @Test func sixtyFourConcurrentAppendersGetUniqueGapFreeSeqs() async throws {
        let dir = try TemporaryDirectory()
        let journal = try Journal.open(path: dir.path("j.sqlite"))
        let seqs = try await withThrowingTaskGroup(of: [UInt64].self) { group in
            for appender in 0..<64 {
                group.addTask {
                    var mine: [UInt64] = []
                    for n in 0..<50 { mine.append(try await journal.append(record(appender * 1000 + n)).seq) }
                    return mine
                }
            }
            return try await group.reduce(into: [UInt64]()) { $0 += $1 }
        }
        journal.close()

        #expect(seqs.count == 64 * 50)
        #expect(Set(seqs).count == seqs.count)
        #expect(seqs.sorted() == Array(1...UInt64(64 * 50)))
        #expect(try JournalReader(path: dir.path("j.sqlite")).verify().isValid)
    }

    @Test func batchAppendIsOneContiguousRange() async throws {
        let dir = try TemporaryDirectory()
        let journal = try Journal.open(path: dir.path("j.sqlite"))
        try await appendRecords(journal, count: 3)
        let positions = try await journal.append(contentsOf: (0..<200).map { record($0) })
        journal.close()

        #expect(positions.map(\.seq) == Array(4...203))
        #expect(Set(positions.map(\.timestamp)).count == 1)
    }

    @Test func timestampsNeverDecreaseAndSeqContinuesAfterReopen() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("j.sqlite")
        let first = try Journal.open(path: path)
        try await appendRecords(first, count: 10)
        first.close()
        let second = try Journal.open(path: path)
        #expect(second.lastSeq == 10)
        let next = try await second.append(record(99))
        second.close()

        #expect(next.seq == 11)
        let timestamps = try readAll(path).map(\.timestamp)
        #expect(timestamps == timestamps.sorted())
        #expect(try JournalReader(path: path).verify().isValid)
    }

    /// Rows recording what happened earlier carry that time, never one before the last row's, and
    /// the rows after them go back to their commit time; the chain holds.
    @Test func stampedAppendsCarryTheirTimeButNeverGoBack() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("j.sqlite")
        let journal = try Journal.open(path: path)
        let first = try await journal.append(record(1))
        let stamped = try await journal.append(contentsOf: [record(2), record(3)], stampedAt: first.timestamp + 1)
        let tooEarly = try await journal.append(contentsOf: [record(4)], stampedAt: first.timestamp - 1_000_000)
        try await Task.sleep(for: .milliseconds(2))
        let later = try await journal.append(record(5))
        journal.close()

        #expect(stamped.map(\.seq) == [2, 3] && stamped.allSatisfy { $0.timestamp == first.timestamp + 1 })
        #expect(tooEarly.first?.timestamp == first.timestamp + 1)
        #expect(later.timestamp > first.timestamp + 1)
        let rows = try readAll(path)
        #expect(rows.map(\.timestamp) == [first.timestamp, first.timestamp + 1, first.timestamp + 1, first.timestamp + 1, later.timestamp])
        #expect(try JournalReader(path: path).verify().isValid)
    }

    /// The sign of life an appender records is what the next one to open the file reads, apart
    /// from the rows: their chain and head are untouched.
    @Test func theLastSignOfLifeRecordedIsReadByTheNextOpen() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("j.sqlite")
        let first = try Journal.open(path: path)
        #expect(first.lastAliveBeforeOpen == nil)
        try await appendRecords(first, count: 3)
        try await first.recordAlive()
        let before = WallClock.microsecondsNow()
        try await Task.sleep(for: .milliseconds(2))
        try await first.recordAlive()
        first.close()

        let second = try Journal.open(path: path)
        let alive = try #require(second.lastAliveBeforeOpen)
        #expect(alive > before && alive <= WallClock.microsecondsNow())
        #expect(second.lastSeq == 3)
        // Rows appended without a sign of life after them (as a build that does not record one
        // appends): the time no longer tells when their writer stopped.
        _ = try await second.append(record(4))
        second.close()
        let third = try Journal.open(path: path)
        #expect(third.lastAliveBeforeOpen == nil)
        third.close()
        #expect(try JournalReader(path: path).verify().isValid)
    }

    @Test func appendAfterCloseThrowsClosed() async throws {
        let dir = try TemporaryDirectory()
        let journal = try Journal.open(path: dir.path("j.sqlite"))
        journal.close()
        await #expect(throws: JournalError.self) { try await journal.append(record(1)) }
    }

    @Test func fullDurabilityCommitsTheSameWay() async throws {
        let dir = try TemporaryDirectory()
        let journal = try Journal.open(path: dir.path("j.sqlite"), options: JournalOptions(durability: .full))
        let seqs = try await appendRecords(journal, count: 20)
        journal.close()
        #expect(seqs == Array(1...20))
    }

    @Test func diskFullRefusesTheAppendAndKeepsTheJournalConsistent() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("j.sqlite")
        let journal = try Journal.open(path: path, options: JournalOptions(maxSizeBytes: 256 * 1024))
        var acknowledged: [UInt64] = []
        var failure: (any Error)?
        let big = [UInt8](repeating: 7, count: 4_000)
        for n in 0..<1_000 {
            do {
                acknowledged.append(try await journal.append(NewRecord(kind: 1, key: "k\(n)", payload: big)).seq)
            } catch {
                failure = error
                break
            }
        }
        let lastBeforeFailure = journal.lastSeq
        journal.close()

        guard case .diskFull = failure as? JournalError else {
            Issue.record("expected diskFull, got \(String(describing: failure))")
            return
        }
        #expect(lastBeforeFailure == acknowledged.last)
        let records = try readAll(path)
        #expect(records.map(\.seq) == acknowledged)
        #expect(try JournalReader(path: path).verify().isValid)

        // With room again, the journal continues exactly where it stopped.
        let reopened = try Journal.open(path: path)
        let next = try await reopened.append(record(1))
        reopened.close()
        #expect(next.seq == (acknowledged.last ?? 0) + 1)
        #expect(try JournalReader(path: path).verify().isValid)
    }

    @Test func theLatestFailedCommitIsReportedUntilACommitSucceeds() async throws {
        let dir = try TemporaryDirectory()
        let journal = try Journal.open(path: dir.path("j.sqlite"), options: JournalOptions(maxSizeBytes: 256 * 1024))
        defer { journal.close() }
        _ = try await journal.append(record(1))
        #expect(journal.statistics.lastCommitFailure == nil)
        #expect(journal.statistics.failedCommits == 0)

        // Too big for the room left; a small event after it still fits.
        let before = Int64(Date().timeIntervalSince1970 * 1_000_000)
        await #expect(throws: JournalError.self) {
            try await journal.append(NewRecord(kind: 1, key: "big", payload: [UInt8](repeating: 7, count: 400_000)))
        }
        let failure = try #require(journal.statistics.lastCommitFailure)
        #expect(failure.timestamp >= before)
        #expect(failure.reason.contains("full"), "\(failure.reason)")
        #expect(journal.statistics.failedCommits == 1)

        _ = try await journal.append(record(2))
        #expect(journal.statistics.lastCommitFailure == nil)
        #expect(journal.statistics.failedCommits == 1)
    }
}
